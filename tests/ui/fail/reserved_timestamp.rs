use app_metrics::EventPayload;
#[derive(EventPayload)]
struct Event {
    timestamp: String,
}

fn main() {}
