use app_metrics::EventPayload;
#[derive(EventPayload)]
struct Event {
    timestamp_ns: String,
}

fn main() {}
