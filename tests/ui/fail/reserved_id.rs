use app_metrics::EventPayload;
#[derive(EventPayload)]
struct Event {
    id: String,
}

fn main() {}
