use app_metrics::EventPayload;
#[derive(EventPayload)]
struct Event<T> {
    value: T,
}

fn main() {}
