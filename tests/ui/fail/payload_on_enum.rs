use app_metrics::EventPayload;
#[derive(EventPayload)]
enum Event {
    Started,
}

fn main() {}
