use app_metrics::EventPayload;
use std::collections::BTreeMap;

#[derive(EventPayload)]
struct Event {
    labels: BTreeMap<String, i64>,
}

fn main() {}
