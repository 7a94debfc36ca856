use app_metrics::EventPayload;
#[derive(EventPayload)]
struct Event;

fn main() {}
