use app_metrics::EventPayload;
#[derive(EventPayload)]
struct Event {
    #[event(rename = "timestamp")]
    when: String,
}

fn main() {}
