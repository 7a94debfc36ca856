use app_metrics::EventPayload;
#[derive(EventPayload)]
struct Event {
    bytes: u64,
}

fn main() {}
