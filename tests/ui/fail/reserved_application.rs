use app_metrics::EventPayload;
#[derive(EventPayload)]
struct Event {
    application: String,
}

fn main() {}
