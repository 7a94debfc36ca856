use app_metrics::EventEnum;
use std::marker::PhantomData;

#[derive(EventEnum)]
enum Mode<T> {
    Read,
    Write,
    #[allow(dead_code)]
    Never(PhantomData<T>),
}

fn main() {}
