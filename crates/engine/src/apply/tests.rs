use std::sync::atomic::Ordering;
use std::sync::Mutex;

use super::*;
use crate::resolve_pending;
use crate::state::LocalBackend;
use crate::testing::{Bucket, MemoryProvider, Object};
use crate::{plan, Input, Op, Program};

/// `n` buckets, each with one object.
fn program(n: usize, region: &str) -> Program {
    let mut program = Program::new();
    for i in 0..n {
        let bucket = program
            .add(&format!("bucket-{i}"), Bucket::args(region))
            .expect("bucket");
        program
            .add(
                &format!("object-{i}"),
                Object::args(Input::from(bucket.id()), 1),
            )
            .expect("object");
    }
    program
}

struct Run {
    dir: tempfile::TempDir,
    backend: LocalBackend,
    events: Arc<Mutex<Vec<Event>>>,
}

/// A run, an empty in-memory cloud and an empty state.
fn fresh() -> (Run, Arc<MemoryProvider>, State) {
    let provider = Arc::new(MemoryProvider::default());
    (Run::new(), provider, State::empty("test"))
}

impl Run {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let backend = LocalBackend::new(dir.path(), "test");
        Run {
            dir,
            backend,
            events: Arc::default(),
        }
    }

    async fn apply(
        &self,
        plan: &Plan,
        state: &mut State,
        provider: &Arc<MemoryProvider>,
        parallel: usize,
    ) -> ApplyReport {
        let events = self.events.clone();
        let sink: EventSink = Arc::new(move |e| events.lock().expect("events").push(e));
        let options = ApplyOptions {
            parallel,
            ..ApplyOptions::default()
        };
        apply(plan, state, provider.clone(), &self.backend, sink, &options)
            .await
            .expect("saved")
    }

    fn order(&self, op: Op) -> Vec<String> {
        let events = self.events.lock().expect("events");
        events
            .iter()
            .filter_map(|e| match e {
                Event::Done { name, op: o, .. } if *o == op => Some(name.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Where `{what}-{i}` stands in `order`.
fn place(order: &[String], what: &str, i: usize) -> usize {
    let name = format!("{what}-{i}");
    order.iter().position(|n| *n == name).expect(&name)
}

#[tokio::test]
async fn creates_dependencies_first_in_parallel_and_records_every_change() {
    let run = Run::new();
    let provider = Arc::new(MemoryProvider::with_delay(Duration::from_millis(20)));
    let mut state = State::empty("test");
    let plan = plan(&program(4, "eu"), &state).expect("plan");
    let report = run.apply(&plan, &mut state, &provider, 3).await;
    assert!(report.succeeded());
    assert_eq!(provider.live_count(), 8);
    let order = run.order(Op::Create);
    for i in 0..4 {
        let (bucket, object) = (place(&order, "bucket", i), place(&order, "object", i));
        assert!(bucket < object, "bucket-{i} before object-{i}: {order:?}");
    }
    let max = provider.max_in_flight.load(Ordering::SeqCst);
    assert!(
        (2..=3).contains(&max),
        "ran {max} at once with --parallel 3"
    );
    assert_eq!(
        run.backend
            .load()
            .await
            .expect("saved state")
            .resources
            .len(),
        8
    );
    assert_eq!(
        state.serial, 16,
        "per create: one change recorded before (its pending record), one after (its result)"
    );
    let saved_events = run
        .events
        .lock()
        .expect("events")
        .iter()
        .filter(|e| matches!(e, Event::Saved { .. }))
        .count();
    assert_eq!(saved_events, 16, "one write a change");
    assert!(
        !run.dir.path().join("test.journal").exists(),
        "the run's journal is folded into the snapshot at its end"
    );
    let snapshot = std::fs::read_to_string(run.dir.path().join("test.json")).expect("snapshot");
    let snapshot = crate::state::parse_state(&snapshot, "test.json", "test").expect("a state");
    assert_eq!(snapshot, state, "the snapshot alone holds the whole state");
}

#[tokio::test]
async fn a_failure_stops_new_work_and_keeps_what_was_done() {
    let (run, provider, mut state) = fresh();
    provider.fail("bucket-1");
    let plan = plan(&program(2, "eu"), &state).expect("plan");
    let report = run.apply(&plan, &mut state, &provider, 1).await;
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].name, "bucket-1");
    assert_eq!(
        report.failures[0].error.code.as_deref(),
        Some("InjectedFailure")
    );
    assert!(!report.not_started.is_empty());
    let saved = run.backend.load().await.expect("state");
    let names: Vec<&str> = saved.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names.len(),
        provider.live_count(),
        "everything live is in the state: {names:?}"
    );
    assert!(!names.contains(&"bucket-1"));
}

#[tokio::test]
async fn replacement_creates_first_then_deletes_the_old_one() {
    let (run, provider, mut state) = fresh();
    let first = plan(&program(1, "eu"), &state).expect("plan");
    run.apply(&first, &mut state, &provider, 4).await;
    let old_bucket = state.get("bucket-0").expect("bucket").id.clone();

    let second = plan(&program(1, "us"), &state).expect("plan");
    let report = run.apply(&second, &mut state, &provider, 4).await;
    assert!(report.succeeded());
    let calls = provider.calls();
    let created = calls
        .iter()
        .rposition(|c| c == "create bucket-0")
        .expect("created");
    let deleted = calls
        .iter()
        .position(|c| c == "delete bucket-0")
        .expect("deleted");
    assert!(created < deleted, "{calls:?}");
    // The old object goes before the old bucket it was in.
    assert!(
        calls
            .iter()
            .position(|c| c == "delete object-0")
            .expect("object deleted")
            < deleted,
        "{calls:?}"
    );
    assert_ne!(state.get("bucket-0").expect("bucket").id, old_bucket);
    assert!(state.pending_deletes.is_empty());
    assert_eq!(provider.live_count(), 2);
}

#[tokio::test]
async fn a_targeted_plan_deletes_only_the_pending_deletes_it_shows() {
    let (run, provider, mut state) = fresh();
    run.apply(
        &plan(&program(2, "eu"), &state).expect("plan"),
        &mut state,
        &provider,
        4,
    )
    .await;
    // An earlier run replaced bucket-1 and could not delete the old one.
    let mut old = state.get("bucket-1").expect("bucket").clone();
    old.id = "old-bucket-1".into();
    state.pending_deletes.push(old);

    let mut targeted = plan(&program(2, "eu"), &state).expect("plan");
    targeted
        .restrict(&["object-0".to_string()], false)
        .expect("known target");
    assert!(targeted.pending_deletes.is_empty(), "not shown");
    let report = run.apply(&targeted, &mut state, &provider, 4).await;
    assert!(report.succeeded());
    assert!(
        !provider.calls().contains(&"delete bucket-1".to_string()),
        "what the plan did not show is not deleted: {:?}",
        provider.calls()
    );
    assert_eq!(state.pending_deletes.len(), 1, "and stays pending");

    let whole = plan(&program(2, "eu"), &state).expect("plan");
    assert_eq!(whole.pending_deletes, ["bucket-1"]);
    assert!(run
        .apply(&whole, &mut state, &provider, 4)
        .await
        .succeeded());
    assert!(provider.calls().contains(&"delete bucket-1".to_string()));
    assert!(state.pending_deletes.is_empty());
}

#[tokio::test]
async fn destroy_deletes_dependents_first_and_empties_the_state() {
    let (run, provider, mut state) = fresh();
    run.apply(
        &plan(&program(3, "eu"), &state).expect("plan"),
        &mut state,
        &provider,
        4,
    )
    .await;
    let report = run
        .apply(
            &crate::destroy_plan(&state).expect("plan"),
            &mut state,
            &provider,
            4,
        )
        .await;
    assert!(report.succeeded());
    assert_eq!(provider.live_count(), 0);
    assert!(state.is_empty());
    let order = run.order(Op::Delete);
    for i in 0..3 {
        let (bucket, object) = (place(&order, "bucket", i), place(&order, "object", i));
        assert!(object < bucket, "{order:?}");
    }
}

#[tokio::test]
async fn a_lost_answer_is_adopted_on_the_next_run_not_made_twice() {
    let (run, provider, mut state) = fresh();
    provider.lose_answer("bucket-0");
    let program = program(1, "eu");
    let report = run
        .apply(
            &plan(&program, &state).expect("plan"),
            &mut state,
            &provider,
            4,
        )
        .await;
    assert_eq!(report.failures.len(), 1);
    assert_eq!(
        provider.live_count(),
        1,
        "the bucket was made though its answer was lost"
    );
    let saved = run.backend.load().await.expect("state");
    assert_eq!(
        saved.pending.len(),
        1,
        "the pending create is in the saved state"
    );
    assert!(saved.resources.is_empty());

    let mut state = saved;
    let sink: EventSink = Arc::new(|_| {});
    let resolutions = resolve_pending(&mut state, provider.as_ref(), sink, false, Duration::ZERO)
        .await
        .expect("resolved");
    assert_eq!(resolutions.len(), 1);
    assert!(resolutions[0].adopted.is_some(), "found and adopted");
    assert!(state.pending.is_empty());
    let next = plan(&program, &state).expect("plan");
    assert_eq!(
        next.count(Op::Same),
        1,
        "the adopted bucket matches the program"
    );
    let report = run.apply(&next, &mut state, &provider, 4).await;
    assert!(report.succeeded());
    assert_eq!(
        provider.live_count(),
        2,
        "one bucket, one object: nothing made twice"
    );
}

#[tokio::test]
async fn cancelling_starts_nothing_new() {
    let (run, provider, mut state) = fresh();
    let plan = plan(&program(2, "eu"), &state).expect("plan");
    let options = ApplyOptions {
        parallel: 1,
        ..ApplyOptions::default()
    };
    options.cancel.cancel();
    let sink: EventSink = Arc::new(|_| {});
    let report = apply(
        &plan,
        &mut state,
        provider.clone(),
        &run.backend,
        sink,
        &options,
    )
    .await
    .expect("apply");
    assert!(report.cancelled);
    assert!(provider.live_count() <= 1, "at most the first step ran");
    assert_eq!(state.resources.len(), provider.live_count());
}
