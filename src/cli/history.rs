//! The stack's history: an entry for every `up`, `destroy`, `refresh`, `restore`, `rollback`,
//! `adopt`, `state import` and `force-unlock`, kept beside the state in its backend
//! (`ams_engine::state::history`: a local directory, or objects under the S3 state's prefix).
//!
//! A run writes its entry as `started` before it does anything (a store that refuses the write
//! fails the command before any change), and completes it when the command ends: succeeded,
//! failed with its error, or interrupted (a signal). An entry left `started` by a run that was
//! killed reads as interrupted once its process is provably gone (as a stale lock does).
//! What the entry holds: when, who (the caller's identity from STS, the user and host), the
//! command, the counts, the result, the duration, the plan's summary, and the stack file's text
//! and the image pins it applied, which `history diff` compares and `rollback` goes back to.
//!
//! The counts and the plan come from the apply path, which notes them here ([`note_plan`],
//! [`note_report`]) for the one command this process runs.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::Workspace;
use crate::config::StackConfig;
use crate::render;
use ams_engine::state::{history, HistoryStore, LockInfo};
use ams_engine::{ApplyReport, Op, Plan};

/// How a run ended.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Written before the command did anything; not completed (yet).
    Started,
    Succeeded,
    Failed,
    Interrupted,
}

/// What a run changed, by kind of step.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counts {
    pub created: usize,
    pub updated: usize,
    pub replaced: usize,
    pub deleted: usize,
}

/// A plan in short: its counts and the steps that change something.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct PlanSummary {
    pub changes: Counts,
    /// `(op, name)` of each step that is not `same`, in plan order.
    pub steps: Vec<(Op, String)>,
    pub pending_deletes: Vec<String>,
}

/// One entry of the history.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub number: u64,
    pub stack: String,
    /// The command, as `ams-stack COMMAND` was asked (`up`, `rollback 3`, ...).
    pub command: String,
    pub result: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the run started and ended (RFC 3339, UTC), and how long it took.
    pub started: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The caller's identity (STS GetCallerIdentity's ARN), or why it is unknown.
    pub identity: String,
    /// The run's process: user, host, pid (to tell an interrupted run from a running one).
    pub run: LockInfo,
    /// What the run changed (absent when it applied nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<Counts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanSummary>,
    /// The stack file the run applied, its text and SHA-256.
    pub stack_file: String,
    pub stack_file_sha256: String,
    /// The image pins (the state's `image.*` lookups) after the run.
    #[serde(default)]
    pub images: BTreeMap<String, Json>,
    pub ams_stack_version: String,
}

impl Entry {
    /// The result as people read it: a `started` entry whose process is gone was interrupted.
    pub fn shown_result(&self) -> &'static str {
        match self.result {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
            Outcome::Started if self.run.is_stale() => "interrupted",
            Outcome::Started => "unfinished",
        }
    }
}

/// What the apply path tells the history of this process's one command.
#[derive(Default)]
struct Notes {
    plan: Option<PlanSummary>,
    counts: Option<Counts>,
    cancelled: bool,
    /// The stack file text the run applied, when it is not the file's (a rollback's).
    stack_text: Option<String>,
    /// This run's own entry, once written.
    number: Option<u64>,
}

fn notes() -> std::sync::MutexGuard<'static, Notes> {
    static NOTES: OnceLock<Mutex<Notes>> = OnceLock::new();
    let notes = NOTES.get_or_init(|| Mutex::new(Notes::default()));
    notes
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn plan_counts(plan: &Plan) -> Counts {
    Counts {
        created: plan.count(Op::Create),
        updated: plan.count(Op::Update),
        replaced: plan.count(Op::Replace),
        deleted: plan.count(Op::Delete) + plan.pending_deletes.len(),
    }
}

/// The plan a run is about to apply.
pub fn note_plan(plan: &Plan) {
    notes().plan = Some(PlanSummary {
        changes: plan_counts(plan),
        steps: plan
            .steps
            .iter()
            .filter(|s| s.op != Op::Same)
            .map(|s| (s.op, s.name.clone()))
            .collect(),
        pending_deletes: plan.pending_deletes.clone(),
    });
}

/// What an apply did.
pub fn note_report(report: &ApplyReport) {
    let mut notes = notes();
    notes.counts = Some(Counts {
        created: report.count(Op::Create),
        updated: report.count(Op::Update),
        replaced: report.count(Op::Replace),
        deleted: report.count(Op::Delete) + report.count(Op::DeleteReplaced),
    });
    notes.cancelled |= report.cancelled;
}

/// The number of this run's own entry (`rollback` must not go back to itself).
pub fn this_run() -> Option<u64> {
    notes().number
}

/// Whether this run's apply started (it then changed the cloud, at least in part).
pub fn applied() -> bool {
    notes().counts.is_some()
}

/// The stack file text this run applies, when it is not the stack file's (a rollback).
pub fn note_stack_text(text: &str) {
    notes().stack_text = Some(text.to_string());
}

/// The stack's history store: beside its state.
pub async fn store(
    workspace: &Workspace,
    config: &StackConfig,
    aws: &ams_aws::Aws,
) -> Box<dyn HistoryStore> {
    workspace.history(config, aws)
}

/// Runs `work` (the command `command` of stack `stack`) with its history entry: written as
/// started before `work` runs (an error then: `work` does not run), completed after. A stack
/// whose file cannot be read gets no entry: `work` says what is wrong, changing nothing.
/// The one way a command records itself (`adopt` calls it too).
pub async fn record<F>(
    workspace: &Workspace,
    stack: Option<String>,
    command: &str,
    work: F,
) -> Result<()>
where
    F: Future<Output = Result<()>>,
{
    let Ok(name) = workspace.stack_name(stack) else {
        return work.await;
    };
    let Ok(config) = workspace.config(&name) else {
        return work.await;
    };
    record_with(workspace, &config, command, work).await
}

/// [`record`] for a stack whose file the command itself writes (`adopt`): `config` is the stack
/// as it will be; its file's text is read when the command ends if it did not exist before.
pub async fn record_with<F>(
    workspace: &Workspace,
    config: &StackConfig,
    command: &str,
    work: F,
) -> Result<()>
where
    F: Future<Output = Result<()>>,
{
    let run = Run::begin(workspace, config, command).await?;
    let result = work.await;
    run.finish(workspace, config, &result).await?;
    result
}

/// A run whose entry was written as started.
struct Run {
    store: Box<dyn HistoryStore>,
    aws: std::sync::Arc<ams_aws::Aws>,
    entry: Entry,
    clock: Instant,
}

impl Run {
    async fn begin(workspace: &Workspace, config: &StackConfig, command: &str) -> Result<Run> {
        let aws = super::session::connect(config).await?;
        let store = store(workspace, config, &aws).await;
        let identity = match ams_aws::lookup::caller(&aws).await {
            Ok((arn, _)) => arn,
            Err(e) => format!("unknown ({e})"),
        };
        let text = match std::fs::read_to_string(&config.path) {
            Ok(text) => text,
            // Written by the command itself (`adopt`): read when it ends.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", config.path.display()))
            }
        };
        let entry = Entry {
            number: 0,
            stack: config.name.clone(),
            command: command.to_string(),
            result: Outcome::Started,
            error: None,
            started: ams_engine::state::now_rfc3339(),
            finished: None,
            duration_ms: None,
            identity,
            run: LockInfo::new(command),
            counts: None,
            plan: None,
            stack_file_sha256: super::plans::sha256(text.as_bytes()),
            stack_file: text,
            images: BTreeMap::new(),
            ams_stack_version: super::plans::VERSION.into(),
        };
        let text_of = |number: u64| {
            let mut entry = entry.clone();
            entry.number = number;
            serde_json::to_string_pretty(&entry).unwrap_or_default()
        };
        let number = history::append(store.as_ref(), &text_of)
            .await
            .map_err(|e| {
                anyhow!(
                    "cannot write the history entry of this `{command}` ({e}); nothing was changed"
                )
            })?;
        let mut entry = entry;
        entry.number = number;
        notes().number = Some(number);
        Ok(Run {
            store,
            aws,
            entry,
            clock: Instant::now(),
        })
    }

    async fn finish(
        mut self,
        workspace: &Workspace,
        config: &StackConfig,
        result: &Result<()>,
    ) -> Result<()> {
        let (plan, counts, cancelled, stack_text) = {
            let mut notes = notes();
            (
                notes.plan.take(),
                notes.counts.take(),
                std::mem::take(&mut notes.cancelled),
                notes.stack_text.take(),
            )
        };
        let entry = &mut self.entry;
        entry.result = match result {
            Ok(()) => Outcome::Succeeded,
            Err(_) if cancelled => Outcome::Interrupted,
            Err(_) => Outcome::Failed,
        };
        entry.error = result.as_ref().err().map(|e| format!("{e:#}"));
        entry.finished = Some(ams_engine::state::now_rfc3339());
        entry.duration_ms = Some(u64::try_from(self.clock.elapsed().as_millis()).unwrap_or(0));
        entry.plan = plan;
        entry.counts = counts;
        let stack_text = stack_text.or_else(|| {
            let unread = entry.stack_file.is_empty();
            unread
                .then(|| std::fs::read_to_string(&config.path).ok())
                .flatten()
        });
        if let Some(text) = stack_text {
            entry.stack_file_sha256 = super::plans::sha256(text.as_bytes());
            entry.stack_file = text;
        }
        if let Ok(backend) = workspace.backend(config, Some(&self.aws)).await {
            if let Ok(state) = backend.load().await {
                entry.images = pins(&state);
            }
        }
        let text = serde_json::to_string_pretty(&entry).unwrap_or_default();
        let number = entry.number;
        if let Err(e) = self.store.replace(number, &text).await {
            let done = if result.is_ok() { "succeeded" } else { "ended" };
            bail!(
                "the `{}` {done}, but its history entry {number} in {} could not be completed: {e}",
                entry.command,
                self.store.location()
            );
        }
        if let Some(keep) = config.history_keep {
            prune(self.store.as_ref(), keep).await;
        }
        Ok(())
    }
}

/// The image pins of a state: its `image.*` lookups.
pub fn pins(state: &ams_engine::state::State) -> BTreeMap<String, Json> {
    state
        .lookups
        .iter()
        .filter(|(key, _)| key.starts_with("image."))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// Removes the oldest entries beyond `keep`; a failure is said, not fatal (the run is done).
async fn prune(store: &dyn HistoryStore, keep: u32) {
    let Ok(numbers) = store.numbers().await else {
        return;
    };
    let keep = usize::try_from(keep).unwrap_or(usize::MAX);
    for number in numbers.iter().take(numbers.len().saturating_sub(keep)) {
        if let Err(e) = store.delete(*number).await {
            render::err(&format!(
                "warning: cannot remove history entry {number} beyond `history_keep`: {e}"
            ));
            return;
        }
    }
}

/// Every entry of `store`, in order; an entry that does not parse is an error naming it.
pub async fn entries(store: &dyn HistoryStore) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for number in store.numbers().await? {
        entries.push(entry(store, number).await?);
    }
    Ok(entries)
}

/// Entry `number` of `store`.
pub async fn entry(store: &dyn HistoryStore, number: u64) -> Result<Entry> {
    let location = format!(
        "{}/{}",
        store.location().trim_end_matches('/'),
        history::entry_name(number)
    );
    let Some(text) = store.read(number).await? else {
        bail!("no history entry {number} in {}", store.location());
    };
    serde_json::from_str(&text).with_context(|| format!("history entry {location} is not readable"))
}
