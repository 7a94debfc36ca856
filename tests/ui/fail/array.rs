use app_metrics::EventPayload;
#[derive(EventPayload)]
struct Event {
    samples: [f64; 3],
}

fn main() {}
