use app_metrics::EventPayload;
#[derive(EventPayload)]
#[event(rename_all = "kebab-case")]
struct Event {
    row_count: i64,
}

fn main() {}
