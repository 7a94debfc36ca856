use app_metrics::EventPayload;
#[derive(EventPayload)]
struct Event {
    digest: Vec<u8>,
}

fn main() {}
