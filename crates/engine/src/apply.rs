//! Apply: carries out a plan, in dependency order, as much in parallel as the graph allows.
//!
//! A dispatcher loop owns the state. It starts every step whose dependencies are done (up to
//! `parallel` at once, those with the most work behind them first), and records each step's
//! beginning and end through the [`Journal`], which writes each change before anything else
//! happens. On the first failure, or when cancelled, it starts nothing new, lets the steps in
//! flight finish and records what they did.
//!
//! Forward work (create, update, replacement's create) runs first in dependency order;
//! deletions (of replaced resources and of resources gone from the program) run afterwards in
//! reverse order. A replaced resource moves to `pending_deletes` in the same change that
//! records its replacement, so it cannot be forgotten.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::event::{Event, EventSink};
use super::expr::{contains_unknown, resolve};
use super::journal::{Begun, Journal};
use super::outputs::{live_output, outputs};
use super::plan::Plan;
use super::provider::{Provider, ProviderError, StepContext};
use super::report::{ApplyReport, StepFailure};
use crate::op::Op;
use crate::state::{Move, ResourceState, State, StateBackend, StateError};
use order::{deletion_waits, dependents_count, forward_waits, waited_by};

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
    op: Op,
    /// Forward work: the declared arguments and dependencies.
    args: Json,
    dependencies: Vec<String>,
    /// Update and deletion: the resource as it exists.
    current: Option<ResourceState>,
}

/// Carries out `plan` against `state`, recording every change through `backend` as it is made.
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
    // The deletions an earlier run left pending: only those the plan shows are carried out;
    // those of this run's replacements, always.
    let earlier: BTreeSet<String> = state.pending_deletes.iter().map(|r| r.id.clone()).collect();

    let stored: HashMap<&str, &ResourceState> = state
        .resources
        .iter()
        .map(|r| (r.name.as_str(), r))
        .collect();
    let forward: Vec<Work> = plan
        .steps
        .iter()
        .filter(|step| matches!(step.op, Op::Create | Op::Update | Op::Replace))
        .map(|step| Work {
            name: step.name.clone(),
            type_name: step.type_name.clone(),
            op: step.op,
            args: step.args.clone(),
            dependencies: step.dependencies.iter().cloned().collect(),
            current: stored.get(step.name.as_str()).map(|r| (*r).clone()),
        })
        .collect();
    let waits = forward_waits(&forward);
    let mut dispatcher = Dispatcher {
        provider: provider.clone(),
        journal: Journal::new(backend, events.clone()),
        events: events.clone(),
        options,
    };
    let result = dispatcher.run(forward, waits, state, &mut report).await;

    let result = match result {
        Ok(()) if report.failures.is_empty() && !report.cancelled => {
            let removed: BTreeSet<&str> = plan
                .steps
                .iter()
                .filter(|s| s.op == Op::Delete)
                .map(|s| s.name.as_str())
                .collect();
            let shown: BTreeSet<&str> = plan.pending_deletes.iter().map(String::as_str).collect();
            let mut deletions: Vec<Work> = state
                .pending_deletes
                .iter()
                .filter(|r| !earlier.contains(&r.id) || shown.contains(r.name.as_str()))
                .map(|r| deletion(r, Op::DeleteReplaced))
                .collect();
            deletions.extend(
                state
                    .resources
                    .iter()
                    .filter(|r| removed.contains(r.name.as_str()))
                    .map(|r| deletion(r, Op::Delete)),
            );
            let waits = deletion_waits(&deletions);
            dispatcher.run(deletions, waits, state, &mut report).await
        }
        other => other,
    };

    let result = match result {
        Ok(()) if report.succeeded() => {
            let outputs = outputs(plan, state);
            dispatcher.journal.outputs(state, outputs).await
        }
        other => other,
    };
    // Whatever happened, what was recorded is folded into the stored state.
    let closed = dispatcher.journal.close(state).await;
    result.and(closed).map_err(ApplyError::Save)?;
    report.elapsed = started.elapsed();
    Ok(report)
}

fn deletion(resource: &ResourceState, op: Op) -> Work {
    Work {
        name: resource.name.clone(),
        type_name: resource.type_name.clone(),
        op,
        args: Json::Null,
        dependencies: resource.dependencies.clone(),
        current: Some(resource.clone()),
    }
}

struct Dispatcher<'a> {
    provider: Arc<dyn Provider>,
    journal: Journal<'a>,
    events: EventSink,
    options: &'a ApplyOptions,
}

impl Dispatcher<'_> {
    async fn run(
        &mut self,
        work: Vec<Work>,
        waits: Vec<BTreeSet<usize>>,
        state: &mut State,
        report: &mut ApplyReport,
    ) -> Result<(), StateError> {
        let dependents = waited_by(&waits);
        let priority = dependents_count(&dependents);
        let mut waiting_on: Vec<usize> = waits.iter().map(BTreeSet::len).collect();
        let mut ready: BTreeSet<(Reverse<usize>, usize)> = (0..work.len())
            .filter(|&i| waiting_on[i] == 0)
            .map(|i| (Reverse(priority[i]), i))
            .collect();
        let mut started = vec![false; work.len()];
        let mut in_flight: JoinSet<(usize, Result<Move, ProviderError>, Duration)> = JoinSet::new();
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
                if item.op == Op::Replace {
                    ctx.replacing = item.current.as_ref().map(|c| c.id.clone());
                }
                if item.op.creates() {
                    let begun = Begun {
                        name: &item.name,
                        type_name: &item.type_name,
                        op: item.op,
                        inputs: &inputs,
                        dependencies: &item.dependencies,
                    };
                    match self.journal.begin(state, begun).await {
                        Ok(token) => ctx = ctx.with_token(&token),
                        Err(e) => {
                            stopping = true;
                            save_error.get_or_insert(e);
                            started[i] = false;
                            break;
                        }
                    }
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
                        op: Op::Create,
                        error: ProviderError::new(format!("a step panicked: {join_error}")),
                    });
                    continue;
                }
            };
            let item = &work[i];
            match outcome {
                Ok(done) => {
                    let id = match &done {
                        Move::Made { resource, .. } => resource.id.clone(),
                        Move::Deleted { id, .. } => id.clone(),
                        // `execute` ends a step with nothing else.
                        _ => String::new(),
                    };
                    report.done.push((item.name.clone(), item.op, elapsed));
                    (self.events)(Event::Done {
                        name: item.name.clone(),
                        type_name: item.type_name.clone(),
                        op: item.op,
                        id,
                        elapsed_ms: Event::elapsed(elapsed),
                    });
                    if let Err(e) = self.journal.end(state, done).await {
                        stopping = true;
                        save_error.get_or_insert(e);
                    }
                    for &j in &dependents[i] {
                        waiting_on[j] -= 1;
                        if waiting_on[j] == 0 {
                            ready.insert((Reverse(priority[j]), j));
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

/// Asks the cloud for one step; what it did, as the change to record.
async fn execute(
    provider: &dyn Provider,
    ctx: &StepContext,
    item: &Work,
    inputs: Json,
) -> Result<Move, ProviderError> {
    if !item.op.deletes() && contains_unknown(&inputs) {
        return Err(ProviderError::new(format!(
            "an input of {} refers to an output its dependency did not produce: {inputs}",
            item.name
        )));
    }
    let made = |id: String, outputs: Json, inputs: Json| Move::Made {
        op: item.op,
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
        (Op::Create | Op::Replace, _) => {
            let created = provider.create(ctx, &inputs).await?;
            Ok(made(created.id, created.outputs, inputs))
        }
        (Op::Update, Some(current)) => {
            let outputs = provider.update(ctx, current, &inputs).await?;
            Ok(made(current.id.clone(), outputs, inputs))
        }
        // Never dispatched: a step that changes nothing asks the cloud nothing.
        (Op::Same, Some(current)) => Ok(made(
            current.id.clone(),
            current.outputs.clone(),
            current.inputs.clone(),
        )),
        (Op::Delete | Op::DeleteReplaced, Some(current)) => {
            provider.delete(ctx, current).await?;
            Ok(Move::Deleted {
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

mod order;
#[cfg(test)]
mod tests;
