use app_metrics::EventPayload;
#[derive(EventPayload)]
struct Event {
    count: usize,
}

fn main() {}
