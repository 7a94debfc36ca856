use app_metrics::EventPayload;
struct Location {
    lat: f64,
}

#[derive(EventPayload)]
struct Event {
    rows: i64,
    tags: Vec<String>,
    size: u64,
    location: Location,
}

fn main() {}
