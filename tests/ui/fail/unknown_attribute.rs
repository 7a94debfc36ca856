use app_metrics::EventPayload;
#[derive(EventPayload)]
struct Event {
    #[event(skip)]
    rows: i64,
}

fn main() {}
