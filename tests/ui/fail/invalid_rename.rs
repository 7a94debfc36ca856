use app_metrics::EventPayload;
#[derive(EventPayload)]
struct Event {
    #[event(rename = "query-type")]
    query_type: String,
}

fn main() {}
