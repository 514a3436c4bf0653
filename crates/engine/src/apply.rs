//! Apply: carries out a plan, in dependency order, as much in parallel as the graph allows.
//!
//! A dispatcher loop owns the state. It starts every step whose dependencies are done (up to
//! `parallel` at once, those with the most work behind them first), records each result in the
//! state and saves it before anything else happens. On the first failure, or when cancelled,
//! it starts nothing new, lets the steps in flight finish and saves what they did.
//!
//! Forward work (create, update, create replacement) runs first in dependency order; deletions
//! (of replaced resources and of resources gone from the program) run afterwards in reverse
//! order. A replaced resource moves to `pending_deletes` in the same save that records its
//! replacement, so it cannot be forgotten.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::event::{Event, EventSink, StepOp};
use super::expr::{contains_unknown, resolve};
use super::plan::{Op, Plan};
use super::provider::{Provider, ProviderError, StepContext};
use crate::state::{now_rfc3339, PendingOperation, ResourceState, State, StateBackend, StateError};

pub struct ApplyOptions {
    /// How many steps may run at once.
    pub parallel: usize,
    /// Cancelled: start no new step, finish those in flight.
    pub cancel: CancellationToken,
    /// Cancelled: stop waiting for the steps in flight too. Their creates stay pending in the
    /// state, and the next run resolves them.
    pub abandon: CancellationToken,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            parallel: 16,
            cancel: CancellationToken::new(),
            abandon: CancellationToken::new(),
        }
    }
}

/// A step that failed, with the provider's error.
#[derive(Clone, Debug)]
pub struct StepFailure {
    pub name: String,
    pub type_name: String,
    pub op: StepOp,
    pub error: ProviderError,
}

/// What an apply did.
#[derive(Clone, Debug, Default)]
pub struct ApplyReport {
    pub done: Vec<(String, StepOp, Duration)>,
    pub failures: Vec<StepFailure>,
    /// Steps never started because of a failure or a cancellation.
    pub not_started: Vec<String>,
    pub cancelled: bool,
    pub elapsed: Duration,
}

impl ApplyReport {
    pub fn succeeded(&self) -> bool {
        self.failures.is_empty() && !self.cancelled && self.not_started.is_empty()
    }

    pub fn count(&self, op: StepOp) -> usize {
        self.done.iter().filter(|(_, o, _)| *o == op).count()
    }

    /// The longest chain of dependent steps that ran, by their summed durations.
    pub fn critical_chain(&self, plan: &Plan) -> Option<(Vec<String>, Duration)> {
        let depends: BTreeMap<&str, &BTreeSet<String>> = plan
            .steps
            .iter()
            .map(|s| (s.name.as_str(), &s.dependencies))
            .collect();
        // `done` is in completion order, so every predecessor is seen before its successor.
        let mut best: Vec<(Duration, Option<usize>)> = Vec::with_capacity(self.done.len());
        for (i, (name, op, took)) in self.done.iter().enumerate() {
            let deleting = matches!(op, StepOp::Delete | StepOp::DeleteReplaced);
            let before = self.done[..i]
                .iter()
                .enumerate()
                .filter(|(_, (other, other_op, _))| {
                    let other_deleting =
                        matches!(other_op, StepOp::Delete | StepOp::DeleteReplaced);
                    match (deleting, other_deleting) {
                        (false, false) => depends
                            .get(name.as_str())
                            .is_some_and(|d| d.contains(other)),
                        (true, true) => depends
                            .get(other.as_str())
                            .is_some_and(|d| d.contains(name)),
                        _ => false,
                    }
                })
                .max_by_key(|(j, _)| best[*j].0)
                .map(|(j, _)| j);
            best.push((*took + before.map_or(Duration::ZERO, |j| best[j].0), before));
        }
        let (mut at, total) = best
            .iter()
            .enumerate()
            .max_by_key(|(_, b)| b.0)
            .map(|(i, b)| (Some(i), b.0))?;
        let mut chain = Vec::new();
        while let Some(i) = at {
            chain.push(self.done[i].0.clone());
            at = best[i].1;
        }
        chain.reverse();
        Some((chain, total))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("state could not be saved; everything applied so far is still in memory and was not lost in the cloud")]
    Save(#[source] StateError),
}

/// One unit of work for the dispatcher.
#[derive(Clone)]
struct Work {
    name: String,
    type_name: String,
    op: StepOp,
    /// Forward work: the declared arguments and dependencies.
    args: Json,
    dependencies: Vec<String>,
    /// Update and deletion: the resource as it exists.
    current: Option<ResourceState>,
}

enum Outcome {
    Made { resource: ResourceState },
    Deleted { name: String, id: String },
}

/// Carries out `plan` against `state`, saving through `backend` after every step.
/// The stack outputs the plan declares, resolved from what `state` holds.
pub fn outputs(plan: &Plan, state: &State) -> BTreeMap<String, Json> {
    plan.outputs
        .iter()
        .map(|(key, value)| {
            (
                key.clone(),
                resolve(value, &|r, k| live_output(state, r, k)),
            )
        })
        .collect()
}

pub async fn apply(
    plan: &Plan,
    state: &mut State,
    provider: Arc<dyn Provider>,
    backend: &dyn StateBackend,
    events: EventSink,
    options: &ApplyOptions,
) -> Result<ApplyReport, ApplyError> {
    let started = Instant::now();
    let mut report = ApplyReport::default();
    // The deletions an earlier run left pending: only those the plan shows are carried out (a
    // plan restricted by `--target` shows only its targets'); those of this run's replacements,
    // always.
    let earlier: BTreeSet<String> = state.pending_deletes.iter().map(|r| r.id.clone()).collect();

    let forward: Vec<Work> = plan
        .steps
        .iter()
        .filter_map(|step| {
            let op = match step.op {
                Op::Create => StepOp::Create,
                Op::Update => StepOp::Update,
                Op::Replace => StepOp::CreateReplacement,
                Op::Same | Op::Delete => return None,
            };
            Some(Work {
                name: step.name.clone(),
                type_name: step.type_name.clone(),
                op,
                args: step.args.clone(),
                dependencies: step.dependencies.iter().cloned().collect(),
                current: state.get(&step.name).cloned(),
            })
        })
        .collect();
    let waits = forward_waits(&forward);
    let dispatcher = Dispatcher {
        provider: provider.clone(),
        backend,
        events: events.clone(),
        options,
    };
    dispatcher.run(forward, waits, state, &mut report).await?;

    if report.failures.is_empty() && !report.cancelled {
        let removed: BTreeSet<&str> = plan
            .steps
            .iter()
            .filter(|s| s.op == Op::Delete)
            .map(|s| s.name.as_str())
            .collect();
        let mut deletions: Vec<Work> = state
            .pending_deletes
            .iter()
            .filter(|r| !earlier.contains(&r.id) || plan.pending_deletes.contains(&r.name))
            .map(|r| deletion(r, StepOp::DeleteReplaced))
            .collect();
        deletions.extend(
            state
                .resources
                .iter()
                .filter(|r| removed.contains(r.name.as_str()))
                .map(|r| deletion(r, StepOp::Delete)),
        );
        let waits = deletion_waits(&deletions);
        dispatcher.run(deletions, waits, state, &mut report).await?;
    }

    if report.succeeded() {
        let outputs = outputs(plan, state);
        if outputs != state.outputs {
            state.outputs = outputs;
            dispatcher.save(state).await?;
        }
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

fn deletion(resource: &ResourceState, op: StepOp) -> Work {
    Work {
        name: resource.name.clone(),
        type_name: resource.type_name.clone(),
        op,
        args: Json::Null,
        dependencies: resource.dependencies.clone(),
        current: Some(resource.clone()),
    }
}

fn live_output(state: &State, resource: &str, key: &str) -> Option<Json> {
    state
        .get(resource)
        .and_then(|r| r.outputs.get(key))
        .cloned()
}

/// For each forward step, the forward steps it waits for: those it depends on.
fn forward_waits(work: &[Work]) -> Vec<BTreeSet<usize>> {
    let index: BTreeMap<&str, usize> = work
        .iter()
        .enumerate()
        .map(|(i, w)| (w.name.as_str(), i))
        .collect();
    work.iter()
        .map(|w| {
            w.dependencies
                .iter()
                .filter_map(|d| index.get(d.as_str()).copied())
                .collect()
        })
        .collect()
}

/// For each deletion, the deletions it waits for: those of everything that depends on it.
fn deletion_waits(work: &[Work]) -> Vec<BTreeSet<usize>> {
    work.iter()
        .enumerate()
        .map(|(i, w)| {
            work.iter()
                .enumerate()
                .filter(|(j, other)| *j != i && other.dependencies.contains(&w.name))
                .map(|(j, _)| j)
                .collect()
        })
        .collect()
}

struct Dispatcher<'a> {
    provider: Arc<dyn Provider>,
    backend: &'a dyn StateBackend,
    events: EventSink,
    options: &'a ApplyOptions,
}

impl Dispatcher<'_> {
    async fn save(&self, state: &mut State) -> Result<(), ApplyError> {
        state.serial += 1;
        state.updated = Some(now_rfc3339());
        self.backend.save(state).await.map_err(ApplyError::Save)?;
        (self.events)(Event::Saved {
            serial: state.serial,
        });
        Ok(())
    }

    async fn run(
        &self,
        work: Vec<Work>,
        waits: Vec<BTreeSet<usize>>,
        state: &mut State,
        report: &mut ApplyReport,
    ) -> Result<(), ApplyError> {
        let priority = dependents_count(&waits);
        let mut waiting_on: Vec<usize> = waits.iter().map(BTreeSet::len).collect();
        let mut ready: BTreeSet<(Reverse<usize>, usize)> = (0..work.len())
            .filter(|&i| waiting_on[i] == 0)
            .map(|i| (Reverse(priority[i]), i))
            .collect();
        let mut started = vec![false; work.len()];
        let mut in_flight: JoinSet<(usize, Result<Outcome, ProviderError>, Duration)> =
            JoinSet::new();
        let mut stopping = false;
        let mut save_error = None;

        loop {
            while !stopping && in_flight.len() < self.options.parallel.max(1) {
                let Some((_, i)) = ready.pop_first() else {
                    break;
                };
                started[i] = true;
                let item = work[i].clone();
                let inputs = resolve(&item.args, &|r, k| live_output(state, r, k));
                let mut ctx = StepContext::new(
                    &state.stack,
                    &item.name,
                    &item.type_name,
                    self.events.clone(),
                );
                if item.op == StepOp::CreateReplacement {
                    ctx.replacing = item.current.as_ref().map(|c| c.id.clone());
                }
                if matches!(item.op, StepOp::Create | StepOp::CreateReplacement) {
                    // Recorded before the cloud is asked: a crash from here on leaves a trace.
                    let token = format!("{:032x}", rand::random::<u128>());
                    state.pending.retain(|p| p.name != item.name);
                    state.pending.push(PendingOperation {
                        name: item.name.clone(),
                        type_name: item.type_name.clone(),
                        operation: item.op,
                        token: token.clone(),
                        inputs: inputs.clone(),
                        dependencies: item.dependencies.clone(),
                        started: now_rfc3339(),
                    });
                    if let Err(e) = self.save(state).await {
                        stopping = true;
                        save_error.get_or_insert(e);
                        started[i] = false;
                        break;
                    }
                    ctx = ctx.with_token(&token);
                }
                (self.events)(Event::Started {
                    name: item.name.clone(),
                    type_name: item.type_name.clone(),
                    op: item.op,
                });
                let provider = self.provider.clone();
                in_flight.spawn(async move {
                    let begun = Instant::now();
                    let outcome = execute(provider.as_ref(), &ctx, &item, inputs).await;
                    (i, outcome, begun.elapsed())
                });
            }
            if in_flight.is_empty() {
                break;
            }
            let joined = tokio::select! {
                joined = in_flight.join_next() => joined,
                () = self.options.abandon.cancelled() => {
                    in_flight.abort_all();
                    report.cancelled = true;
                    (self.events)(Event::Stopping { reason: "abandoning the steps in flight; they stay pending in the state".into() });
                    break;
                }
                () = self.options.cancel.cancelled(), if !stopping => {
                    stopping = true;
                    report.cancelled = true;
                    (self.events)(Event::Stopping { reason: "interrupted: finishing the steps in flight".into() });
                    continue;
                }
            };
            let Some(joined) = joined else { break };
            let (i, outcome, elapsed) = match joined {
                Ok(result) => result,
                Err(join_error) => {
                    // A panicking step is a bug; its resource's fate is unknown, so stop.
                    stopping = true;
                    report.failures.push(StepFailure {
                        name: "(unknown)".into(),
                        type_name: String::new(),
                        op: StepOp::Create,
                        error: ProviderError::new(format!("a step panicked: {join_error}")),
                    });
                    continue;
                }
            };
            let item = &work[i];
            match outcome {
                Ok(outcome) => {
                    let id = record(state, item, outcome);
                    report.done.push((item.name.clone(), item.op, elapsed));
                    (self.events)(Event::Done {
                        name: item.name.clone(),
                        type_name: item.type_name.clone(),
                        op: item.op,
                        id,
                        elapsed_ms: Event::elapsed(elapsed),
                    });
                    if let Err(e) = self.save(state).await {
                        stopping = true;
                        save_error.get_or_insert(e);
                    }
                    for (j, w) in waits.iter().enumerate() {
                        if w.contains(&i) {
                            waiting_on[j] -= 1;
                            if waiting_on[j] == 0 {
                                ready.insert((Reverse(priority[j]), j));
                            }
                        }
                    }
                }
                Err(error) => {
                    (self.events)(Event::Failed {
                        name: item.name.clone(),
                        type_name: item.type_name.clone(),
                        op: item.op,
                        error: error.to_string(),
                    });
                    report.failures.push(StepFailure {
                        name: item.name.clone(),
                        type_name: item.type_name.clone(),
                        op: item.op,
                        error,
                    });
                    if !stopping {
                        stopping = true;
                        (self.events)(Event::Stopping {
                            reason: format!("{} failed: finishing the steps in flight", item.name),
                        });
                    }
                }
            }
        }
        report.not_started.extend(
            work.iter()
                .zip(&started)
                .filter(|(_, s)| !**s)
                .map(|(w, _)| w.name.clone()),
        );
        match save_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// What became of a create that an earlier run started and did not see finish.
#[derive(Clone, Debug)]
pub struct Resolution {
    pub name: String,
    pub type_name: String,
    /// The resource found and adopted, or `None`: it does not exist and will be created.
    pub adopted: Option<String>,
}

/// Resolves the pending creates of an interrupted run: each resource is looked up and adopted
/// into `state` (finished as its inputs asked), or confirmed absent. The caller saves.
pub async fn resolve_pending(
    state: &mut State,
    provider: &dyn Provider,
    events: EventSink,
    read_only: bool,
    settle: Duration,
) -> Result<Vec<Resolution>, StepFailure> {
    // A request sent just before the crash may still be at work in the cloud: let it land.
    let newest = state
        .pending
        .iter()
        .filter_map(|p| humantime::parse_rfc3339(&p.started).ok())
        .max();
    if let Some(waited) = newest.and_then(|t| std::time::SystemTime::now().duration_since(t).ok()) {
        if waited < settle {
            tokio::time::sleep(settle - waited).await;
        }
    }
    let mut resolutions = Vec::new();
    for pending in std::mem::take(&mut state.pending) {
        let mut ctx = StepContext::new(
            &state.stack,
            &pending.name,
            &pending.type_name,
            events.clone(),
        )
        .with_token(&pending.token);
        ctx.read_only = read_only;
        if pending.operation == StepOp::CreateReplacement {
            ctx.replacing = state.get(&pending.name).map(|r| r.id.clone());
        }
        let found = match provider.find(&ctx, &pending.inputs).await {
            Ok(found) => found,
            Err(error) => {
                // Keep what is not resolved yet for the next run.
                state.pending.push(pending.clone());
                return Err(StepFailure {
                    name: pending.name.clone(),
                    type_name: pending.type_name.clone(),
                    op: StepOp::Create,
                    error,
                });
            }
        };
        let adopted = found.map(|created| {
            if pending.operation == StepOp::CreateReplacement {
                if let Some(old) = state.remove(&pending.name) {
                    state.pending_deletes.push(old);
                }
            }
            state.upsert(ResourceState {
                name: pending.name.clone(),
                type_name: pending.type_name.clone(),
                id: created.id.clone(),
                inputs: pending.inputs.clone(),
                outputs: created.outputs,
                dependencies: pending.dependencies.clone(),
            });
            created.id
        });
        resolutions.push(Resolution {
            name: pending.name,
            type_name: pending.type_name,
            adopted,
        });
    }
    Ok(resolutions)
}

/// Number of transitive dependents of each item: those with more work behind them go first.
fn dependents_count(waits: &[BTreeSet<usize>]) -> Vec<usize> {
    (0..waits.len())
        .map(|i| {
            let mut seen = BTreeSet::new();
            let mut frontier = vec![i];
            while let Some(node) = frontier.pop() {
                for (j, w) in waits.iter().enumerate() {
                    if w.contains(&node) && seen.insert(j) {
                        frontier.push(j);
                    }
                }
            }
            seen.len()
        })
        .collect()
}

async fn execute(
    provider: &dyn Provider,
    ctx: &StepContext,
    item: &Work,
    inputs: Json,
) -> Result<Outcome, ProviderError> {
    if item.op != StepOp::Delete && item.op != StepOp::DeleteReplaced && contains_unknown(&inputs) {
        return Err(ProviderError::new(format!(
            "an input of {} refers to an output its dependency did not produce: {inputs}",
            item.name
        )));
    }
    let made = |id: String, outputs: Json, inputs: Json| Outcome::Made {
        resource: ResourceState {
            name: item.name.clone(),
            type_name: item.type_name.clone(),
            id,
            inputs,
            outputs,
            dependencies: item.dependencies.clone(),
        },
    };
    match (item.op, &item.current) {
        (StepOp::Create | StepOp::CreateReplacement, _) => {
            let created = provider.create(ctx, &inputs).await?;
            Ok(made(created.id, created.outputs, inputs))
        }
        (StepOp::Update, Some(current)) => {
            let outputs = provider.update(ctx, current, &inputs).await?;
            Ok(made(current.id.clone(), outputs, inputs))
        }
        (StepOp::Delete | StepOp::DeleteReplaced, Some(current)) => {
            provider.delete(ctx, current).await?;
            Ok(Outcome::Deleted {
                name: current.name.clone(),
                id: current.id.clone(),
            })
        }
        (op, None) => Err(ProviderError::new(format!(
            "{} has no state to {}",
            item.name,
            op.verb()
        ))),
    }
}

/// Writes an outcome into the state; returns the resource's id.
fn record(state: &mut State, item: &Work, outcome: Outcome) -> String {
    match outcome {
        Outcome::Made { resource } => {
            let id = resource.id.clone();
            if item.op == StepOp::CreateReplacement {
                if let Some(old) = state.remove(&resource.name) {
                    state.pending_deletes.push(old);
                }
            }
            state.pending.retain(|p| p.name != resource.name);
            state.upsert(resource);
            id
        }
        Outcome::Deleted { name, id } => {
            state
                .pending_deletes
                .retain(|r| !(r.name == name && r.id == id));
            state.resources.retain(|r| !(r.name == name && r.id == id));
            id
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::sync::Mutex;

    use super::*;
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
        _dir: tempfile::TempDir,
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
                _dir: dir,
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

        fn order(&self, op: StepOp) -> Vec<String> {
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
    async fn creates_dependencies_first_in_parallel_and_saves_after_every_step() {
        let run = Run::new();
        let provider = Arc::new(MemoryProvider::with_delay(Duration::from_millis(20)));
        let mut state = State::empty("test");
        let plan = plan(&program(4, "eu"), &state).expect("plan");
        let report = run.apply(&plan, &mut state, &provider, 3).await;
        assert!(report.succeeded());
        assert_eq!(provider.live_count(), 8);
        let order = run.order(StepOp::Create);
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
            "per create: one save of the pending operation before, one of the result after"
        );
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
        let order = run.order(StepOp::Delete);
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
        let resolutions =
            resolve_pending(&mut state, provider.as_ref(), sink, false, Duration::ZERO)
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
}
