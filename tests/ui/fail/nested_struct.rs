use app_metrics::EventPayload;
struct Location {
    lat: f64,
}

#[derive(EventPayload)]
struct Event {
    location: Location,
}

fn main() {}
