use app_metrics::EventEnum;

#[derive(EventEnum)]
enum Outcome {
    Success,
    Failure(String),
    Retry { attempts: u32 },
}

fn main() {}
