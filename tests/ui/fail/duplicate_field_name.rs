use app_metrics::EventPayload;
#[derive(EventPayload)]
struct Event {
    #[event(rename = "rows")]
    row_count: i64,
    rows: i64,
}

fn main() {}
