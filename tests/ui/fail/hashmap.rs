use app_metrics::EventPayload;
use std::collections::HashMap;

#[derive(EventPayload)]
struct Event {
    labels: HashMap<String, String>,
}

fn main() {}
