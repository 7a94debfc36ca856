use app_metrics::EventPayload;
#[derive(EventPayload)]
struct Event {
    tags: Vec<String>,
}

fn main() {}
