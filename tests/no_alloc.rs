//! Encoding into a buffer with enough capacity allocates nothing (counted by a global
//! allocator wrapper that counts per thread, so tests running in parallel cannot disturb
//! it).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use app_metrics::{EventMetadata, EventPayload};
use chrono::{NaiveDate, NaiveTime, TimeDelta, Utc};
use common::{Everything, QueryEvent, QueryType};
use uuid::Uuid;

struct Counting;

thread_local! {
    // Const-initialised, no destructor: safe to use inside the allocator. Per thread, so
    // tests running in parallel cannot see each other's allocations.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: a thread being torn down may still allocate.
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by this thread while `f` runs.
fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn encoding_into_a_large_enough_buffer_allocates_nothing() {
    let meta = EventMetadata::now("app".into());
    let query = QueryEvent {
        r#type: QueryType::Sync,
        duration: Duration::from_millis(1250),
        username: Some("someone with a long name".into()),
        rows: 1_000_000,
    };
    let everything = Everything {
        a_bool: true,
        an_i8: -1,
        an_i16: -300,
        an_i32: 70_000,
        an_i64: i64::MIN,
        a_u8: 255,
        a_u16: 65535,
        a_u32: u32::MAX,
        an_f32: 1.5,
        an_f64: -2.25,
        a_string: "é".repeat(50),
        a_static_str: "static",
        a_boxed_str: "boxed".into(),
        an_arc_str: "arc".into(),
        a_cow: "cow".into(),
        a_duration: Duration::from_secs(3),
        a_time_delta: TimeDelta::seconds(-3),
        a_datetime: Utc::now(),
        a_date: NaiveDate::from_ymd_opt(1969, 7, 20).unwrap(),
        a_time: NaiveTime::from_hms_opt(20, 17, 40).unwrap(),
        a_uuid: Uuid::new_v4(),
        a_kind: QueryType::Async,
        maybe_kind: Some(QueryType::Sync),
        maybe_bool: None,
        maybe_i64: Some(7),
        maybe_u32: None,
        maybe_f32: Some(0.5),
        maybe_string: Some("x".into()),
        maybe_duration: Some(Duration::from_nanos(1)),
        maybe_datetime: None,
        maybe_date: None,
        maybe_time: None,
        maybe_uuid: Some(Uuid::nil()),
    };
    let mut buf = Vec::with_capacity(4096);
    let count = allocations_during(|| {
        for _ in 0..100 {
            buf.clear();
            meta.encode_avro(&mut buf);
            query.encode_avro(&mut buf);
            buf.clear();
            meta.encode_avro(&mut buf);
            everything.encode_avro(&mut buf);
        }
    });
    assert_eq!(count, 0, "encoding allocated {count} times");
    assert!(!buf.is_empty());
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the test above against a counter that never counts.
    let count = allocations_during(|| drop(std::hint::black_box(vec![1u8; 64])));
    assert!(count >= 1);
}
