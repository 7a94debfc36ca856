use app_metrics::EventPayload;
#[derive(EventPayload)]
struct Event {
    maybe: Option<Option<i64>>,
}

fn main() {}
