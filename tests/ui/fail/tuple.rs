use app_metrics::EventPayload;
#[derive(EventPayload)]
struct Event {
    point: (f64, f64),
}

fn main() {}
