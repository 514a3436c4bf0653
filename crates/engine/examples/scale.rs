//! The engine at scale, as a benchmark (not a test): `plan()` and `apply()` on synthetic graphs
//! of in-memory resources (`testing::MemoryProvider`, no cloud, no delay), and what apply's own
//! bookkeeping costs per step as the graph grows (every change of the state is recorded through
//! the local backend: a line appended to its journal and flushed, the snapshot rewritten when the
//! journal outgrows it and once at the end).
//!
//!     cargo run --release -p ams-engine --example scale [PLAN_SIZES] [APPLY_SIZES]
//!
//! Sizes are comma-separated resource counts (default: 250,1000,4000,10000 for both). Each
//! graph is buckets, each with one object that refers to it, so half the resources depend on
//! another. Apply runs twice per size: with the state kept by the local backend, and kept
//! nowhere (apply's own cost without the disk's). Prints one line per run; docs/BENCHMARKS.md
//! keeps them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ams_engine::state::{LocalBackend, LockInfo, State, StateBackend, StateError};
use ams_engine::testing::{Bucket, MemoryProvider, Object};
use ams_engine::{apply, plan, ApplyOptions, EventSink, Input, Program};

/// `count` resources: `count / 2` buckets, each with an object in it.
fn program(count: usize) -> Program {
    let mut program = Program::new();
    for i in 0..count / 2 {
        let bucket = program
            .add(&format!("bucket-{i}"), Bucket::args("eu"))
            .expect("a new name");
        program
            .add(
                &format!("object-{i}"),
                Object::args(Input::from(bucket.id()), 1),
            )
            .expect("a new name");
    }
    program
}

/// The sizes named by argument `index`, or `default`.
fn sizes(index: usize, default: &[usize]) -> Vec<usize> {
    std::env::args()
        .nth(index)
        .map(|list| {
            list.split(',')
                .map(|n| n.trim().parse().expect("a resource count"))
                .collect()
        })
        .unwrap_or_else(|| default.to_vec())
}

fn millis(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    const SIZES: [usize; 4] = [250, 1000, 4000, 10_000];
    for count in sizes(1, &SIZES) {
        let declared = program(count);
        let empty = State::empty("scale");
        // The median of five, so that one slow run (a page fault, a neighbour) does not count.
        let mut times: Vec<Duration> = (0..5)
            .map(|_| {
                let started = Instant::now();
                let planned = plan(&declared, &empty).expect("no cycle");
                assert_eq!(planned.steps.len(), count / 2 * 2);
                started.elapsed()
            })
            .collect();
        times.sort();
        println!(
            "plan     {count:>6} resources: {:>9.1} ms (median of 5)",
            millis(times[2])
        );
    }
    for count in sizes(2, &SIZES) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let on_disk = LocalBackend::new(dir.path(), "scale");
        for (backend, kept) in [
            (&on_disk as &dyn StateBackend, "local"),
            (&Nowhere, "nowhere"),
        ] {
            let (elapsed, changes) = applied(count, backend).await;
            println!(
                "apply    {count:>6} resources, state kept {kept:>7}: {:>9.1} ms, {:>7.3} ms a step, {changes} changes",
                millis(elapsed),
                millis(elapsed) / count as f64,
            );
        }
    }
}

/// Applies a fresh graph of `count` resources, its state kept by `backend`: how long it took,
/// and how many changes the state went through.
async fn applied(count: usize, backend: &dyn StateBackend) -> (Duration, u64) {
    let declared = program(count);
    let mut state = State::empty("scale");
    let provider = Arc::new(MemoryProvider::default());
    let events: EventSink = Arc::new(|_| {});
    let planned = plan(&declared, &state).expect("no cycle");
    let started = Instant::now();
    let report = apply(
        &planned,
        &mut state,
        provider,
        backend,
        events,
        &ApplyOptions::default(),
    )
    .await
    .expect("applied");
    let elapsed = started.elapsed();
    assert!(report.succeeded(), "every step succeeded");
    (elapsed, state.serial)
}

/// A backend that keeps nothing: apply's own cost, without the disk's.
struct Nowhere;

#[async_trait::async_trait]
impl StateBackend for Nowhere {
    fn location(&self) -> String {
        "nowhere".into()
    }
    async fn lock(&self, operation: &str) -> Result<LockInfo, StateError> {
        Ok(LockInfo::new(operation))
    }
    async fn unlock(&self, _lock: &LockInfo) -> Result<(), StateError> {
        Ok(())
    }
    async fn force_unlock(&self, _lock_id: &str) -> Result<LockInfo, StateError> {
        Ok(LockInfo::unreadable())
    }
    async fn load(&self) -> Result<State, StateError> {
        Ok(State::empty("scale"))
    }
    async fn save(&self, _state: &State) -> Result<(), StateError> {
        Ok(())
    }
}
