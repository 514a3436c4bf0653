//! The engine at scale, as a benchmark (not a test): `plan()` and `apply()` on synthetic graphs
//! of in-memory resources (`testing::MemoryProvider`, no cloud, no delay), and what apply's own
//! bookkeeping costs per step as the graph grows (the state is saved after every step, through
//! the local backend: temp file, fsync, rename).
//!
//!     cargo run --release -p ams-engine --example scale [PLAN_SIZES] [APPLY_SIZES]
//!
//! Sizes are comma-separated resource counts (default: plan 1000,5000,10000; apply
//! 250,500,1000,2000). Each graph is buckets, each with one object that refers to it, so half
//! the resources depend on another. Prints one line per size; docs/BENCHMARKS.md keeps them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ams_engine::state::{LocalBackend, State};
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
    for count in sizes(1, &[1000, 5000, 10_000]) {
        let declared = program(count);
        let empty = State::empty("scale");
        let started = Instant::now();
        let planned = plan(&declared, &empty).expect("no cycle");
        let elapsed = started.elapsed();
        println!(
            "plan     {count:>6} resources: {:>9.1} ms ({} steps)",
            millis(elapsed),
            planned.steps.len()
        );
    }
    for count in sizes(2, &[250, 500, 1000, 2000]) {
        let declared = program(count);
        let mut state = State::empty("scale");
        let dir = tempfile::tempdir().expect("a temp dir");
        let backend = LocalBackend::new(dir.path(), "scale");
        let provider = Arc::new(MemoryProvider::default());
        let events: EventSink = Arc::new(|_| {});
        let planned = plan(&declared, &state).expect("no cycle");
        let started = Instant::now();
        let report = apply(
            &planned,
            &mut state,
            provider,
            &backend,
            events,
            &ApplyOptions::default(),
        )
        .await
        .expect("applied");
        let elapsed = started.elapsed();
        assert!(report.succeeded(), "every step succeeded");
        println!(
            "apply    {count:>6} resources: {:>9.1} ms, {:>7.3} ms a step, {} state saves",
            millis(elapsed),
            millis(elapsed) / count as f64,
            state.serial
        );
    }
}
