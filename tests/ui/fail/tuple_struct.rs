use app_metrics::EventPayload;
#[derive(EventPayload)]
struct Event(i64, String);

fn main() {}
