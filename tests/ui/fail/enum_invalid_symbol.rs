use app_metrics::EventEnum;

#[derive(EventEnum)]
enum Mode {
    #[event(rename = "read-only")]
    ReadOnly,
    #[event(rename = "rw")]
    ReadWrite,
    #[event(rename = "rw")]
    Admin,
}

fn main() {}
