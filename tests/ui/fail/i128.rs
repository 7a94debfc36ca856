use app_metrics::EventPayload;
#[derive(EventPayload)]
struct Event {
    big: i128,
}

fn main() {}
