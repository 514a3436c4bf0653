//! `up` and `destroy`: plan, show, confirm, apply under the stack's lock.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use serde_json::json;

use super::hints::hint;
use super::preview::show;
use super::session::{
    below_plan, connect, cost_lines, program, refuse_blocking, resolve_pending, restrict,
    write_call_log,
};
use super::{backup, guard, images, session, ApplyArgs, ChangeArgs, PlanArgs, Workspace};
use crate::cluster::{self, checks};
use crate::render::{self, Mode, Progress, Styles};
use ams_aws::{Aws, AwsProvider};
use ams_engine::state::{State, StateBackend};
use ams_engine::{self, ApplyOptions, ApplyReport, EventSink, Op, Plan};

pub async fn up(
    workspace: &Workspace,
    styles: &Styles,
    args: PlanArgs,
    change: ChangeArgs,
    apply: ApplyArgs,
    plan_file: Option<&std::path::Path>,
) -> Result<()> {
    let opened = open(workspace, args.stack.clone()).await?;
    let mut options = Converge {
        args,
        change,
        apply,
        saved: None,
    };
    if let Some(file) = plan_file {
        super::plans::prepare_up(&opened, file, &mut options).await?;
    }
    converge(&opened, styles, "up", options, |_| ()).await
}

/// What `up` and `restore` are asked.
pub struct Converge {
    pub args: PlanArgs,
    pub change: ChangeArgs,
    pub apply: ApplyArgs,
    /// `up --plan FILE`: the saved plan this run must match exactly, or change nothing.
    pub saved: Option<(std::path::PathBuf, super::plans::SavedPlan)>,
}

/// Brings the stack to what the program declares, under its lock: `prepare` adjusts the loaded
/// state first (`restore` names the snapshot the data volume is made from).
pub async fn converge(
    opened: &Opened,
    styles: &Styles,
    operation: &str,
    options: Converge,
    prepare: impl FnOnce(&mut State),
) -> Result<()> {
    let Converge {
        args,
        change,
        apply: ApplyArgs { yes, parallel },
        saved,
    } = options;
    let (name, config, aws, backend) = opened;
    let backend = backend.as_ref();
    let result = locked(backend, operation, async {
        let mut state = load_resolved(backend, aws, styles).await?;
        if let Some((file, saved)) = &saved {
            saved.check_serial(file, &state)?;
        }
        session::left_suspended(aws, &mut state, styles).await?;
        if args.refresh {
            session::refresh(aws, &mut state, styles, args.json).await?;
            if let Some((file, saved)) = &saved {
                saved.check_cloud(file, &state)?;
            }
        }
        if change.update_images && !args.targets.is_empty() {
            bail!("--update-images re-pins the images of the whole stack: it does not go with --target");
        }
        prepare(&mut state);
        let (program, images) = program(aws, config, &state, change.update_images).await?;
        images::show_updated(&images, change.update_images);
        let mut plan = ams_engine::plan(&program, &state)?;
        restrict(&mut plan, &args.targets, false, styles)?;
        if let Some((file, saved)) = &saved {
            saved.check_plan(file, &plan, &images)?;
        }
        super::history::note_plan(&plan);
        present(&plan, styles, args.json);
        let findings = checks::check_planned(&program, Some(&plan), config);
        if !args.json {
            below_plan(&plan, &program, &findings, &state, &config.region, styles);
        }
        guard::refuse(&plan, &change.allow_replace)?;
        let on_root = data_on_root(&mut state);
        guard::refuse_root_data(&plan, on_root, &change.allow_replace)?;
        let pinned = images.pin(&mut state);
        let protected = program.protected();
        let protection_changed = state.protected != protected;
        state.protected = protected;
        if plan.has_changes() {
            refuse_blocking(&findings)?;
            super::preflight::user_data_fits(&plan)?;
            super::preflight::licence_parameter(aws, config).await?;
            super::preflight::foreign_records(aws, &program, &state).await?;
            if let Some(note) = super::preflight::ebs_key_note(aws, &plan, &state).await {
                render::err(&note);
            }
            confirm(&format!("Apply these changes to stack `{name}`?"), yes)?;
            super::preflight::images_launchable(aws, &plan).await?;
            backup::before_losses(aws, &plan, &state, "replaced").await?;
            run(&plan, &mut state, opened, parallel, styles, args.json).await?;
            if on_root && plan.losses().iter().any(|s| s.name == cluster::MONGODB) {
                // The new instance keeps its data on the data volume.
                state.lookups.remove(DATA_ON_ROOT);
                backend.save(&state).await?;
            }
        } else {
            let outputs = ams_engine::outputs(&plan, &state);
            if pinned || protection_changed || outputs != state.outputs {
                // Nothing to change in the cloud; what the stack records of it is brought up
                // to date (the images in use, protection, outputs).
                state.outputs = outputs;
                backend.save(&state).await?;
            }
            if args.json {
                println!(
                    "{}",
                    json!({ "kind": "summary", "succeeded": true, "outputs": state.outputs })
                );
            }
        }
        if !args.json {
            render::err("");
            render::err("Outputs:");
            render::err(&render::outputs(&state.outputs, false));
        }
        Ok(())
    })
    .await;
    write_call_log(aws);
    result
}

/// What a `destroy` may lose that it otherwise keeps.
pub struct Losses {
    /// MongoDB's data volume goes without a final snapshot.
    pub skip_final_snapshot: bool,
    /// The recordings bucket is emptied (refused while it holds any, without this).
    pub delete_recordings: bool,
}

pub async fn destroy(
    workspace: &Workspace,
    styles: &Styles,
    args: PlanArgs,
    ApplyArgs { yes, parallel }: ApplyArgs,
    Losses {
        skip_final_snapshot,
        delete_recordings,
    }: Losses,
) -> Result<()> {
    let opened = &open(workspace, args.stack.clone()).await?;
    let (name, config, aws, backend) = opened;
    let backend = backend.as_ref();
    let result = locked(backend, "destroy", async {
        let mut state = load_resolved(backend, aws, styles).await?;
        if state.is_empty() {
            render::err(&format!(
                "Stack `{name}` has no resources: nothing to destroy."
            ));
            return Ok(());
        }
        let mut plan = ams_engine::destroy_plan(&state)?;
        restrict(&mut plan, &args.targets, true, styles)?;
        super::history::note_plan(&plan);
        present(&plan, styles, args.json);
        if !args.json && args.targets.is_empty() {
            render::err("");
            render::err(&cost_lines(None, &state, &config.region));
        }
        if skip_final_snapshot {
            render::err(
                "--skip-final-snapshot: MongoDB's data volume is deleted without a snapshot.",
            );
        }
        let recordings = backup::recordings_held(aws, &plan, &state).await?;
        if !recordings.is_empty() && !delete_recordings {
            bail!(
                "refusing to destroy: {}; they are yours. Copy what you keep, then `ams-stack destroy {name} --delete-recordings`; nothing was changed",
                recordings
                    .iter()
                    .map(|(bucket, held)| format!("bucket {bucket} holds {held} recordings or versions"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        confirm(&format!("Delete these resources of stack `{name}`?"), yes)?;
        if !skip_final_snapshot {
            backup::before_losses(aws, &plan, &state, "final").await?;
        }
        for (bucket, _) in &recordings {
            let deleted = ams_aws::s3::delete_everything_in(aws, bucket).await?;
            render::err(&format!(
                "--delete-recordings: deleted {deleted} recordings and versions from {bucket}."
            ));
        }
        run(&plan, &mut state, opened, parallel, styles, args.json).await?;
        if state.is_empty() {
            // Gone: a new stack of this name looks its images up afresh.
            state.lookups.clear();
            state.protected.clear();
            backend.save(&state).await?;
        }
        Ok(())
    })
    .await;
    write_call_log(aws);
    result
}

/// The state's lookup key that says MongoDB's data is still on its instance's root volume.
const DATA_ON_ROOT: &str = "mongodb.data_on_root";

/// Whether MongoDB's data is still on its instance's root volume: a stack made before the data
/// volume (its MongoDB exists, its data volume does not yet), recorded until the instance is
/// replaced, since the first `up` creates the volume but the running database does not use it.
fn data_on_root(state: &mut State) -> bool {
    if state.get(cluster::MONGODB).is_some() && state.get(cluster::MONGODB_DATA).is_none() {
        state.lookups.insert(DATA_ON_ROOT.into(), json!(true));
    }
    state.lookups.contains_key(DATA_ON_ROOT)
}

/// A stack opened for a change: its name, its file, its AWS clients and its state backend.
pub type Opened = (
    String,
    crate::config::StackConfig,
    Arc<Aws>,
    Box<dyn StateBackend>,
);

/// The stack named (or selected), its AWS clients and its state backend.
pub async fn open(workspace: &Workspace, stack: Option<String>) -> Result<Opened> {
    let name = workspace.stack_name(stack)?;
    let config = workspace.config(&name)?;
    let aws = connect(&config).await?;
    let backend = workspace.backend(&config, Some(&aws)).await?;
    Ok((name, config, aws, backend))
}

/// The stored state, with what an interrupted run left pending resolved and saved.
async fn load_resolved(
    backend: &dyn StateBackend,
    aws: &Arc<Aws>,
    styles: &Styles,
) -> Result<State> {
    let mut state = backend.load().await?;
    if !state.pending.is_empty() {
        resolve_pending(aws, &mut state, styles, false).await?;
        backend.save(&state).await?;
    }
    Ok(state)
}

/// The plan on stderr, or as the first JSON line on stdout.
fn present(plan: &Plan, styles: &Styles, json: bool) {
    if json {
        let mut line = render::plan_json(plan);
        line["kind"] = json!("plan");
        println!("{line}");
    } else {
        show(plan, styles, false);
    }
}

/// SIGINT (Ctrl-C) and SIGTERM, as one stream.
struct Signals {
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        Signals {
            #[cfg(unix)]
            terminate: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .ok(),
        }
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some(terminate) = self.terminate.as_mut() {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs `work` holding the stack's lock, and releases it whatever happens.
pub async fn locked<F: std::future::Future<Output = Result<()>>>(
    backend: &dyn StateBackend,
    operation: &str,
    work: F,
) -> Result<()> {
    let lock = backend.lock(operation).await?;
    let result = work.await;
    if let Err(e) = backend.unlock(&lock).await {
        render::err(&format!("warning: {e}"));
    }
    result
}

pub(super) fn confirm(question: &str, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("refusing to change the stack without confirmation: stdin is not a terminal; pass --yes");
    }
    eprint!("\n{question} Type `yes` to go on: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != "yes" {
        bail!("cancelled: nothing was changed");
    }
    Ok(())
}

/// Applies `plan` to the opened stack's cloud, saving `state` to its backend as steps finish.
async fn run(
    plan: &Plan,
    state: &mut State,
    (_, _, aws, backend): &Opened,
    parallel: usize,
    styles: &Styles,
    json: bool,
) -> Result<()> {
    let options = ApplyOptions {
        parallel,
        ..ApplyOptions::default()
    };
    let (cancel, abandon) = (options.cancel.clone(), options.abandon.clone());
    let interrupt = tokio::spawn(async move {
        let mut signals = Signals::new();
        signals.next().await;
        render::err("\nInterrupted: finishing the steps in flight and saving the state (interrupt again to stop waiting).");
        cancel.cancel();
        signals.next().await;
        // The state holds everything finished; what was in flight is recorded as pending and
        // resolved by the next run.
        abandon.cancel();
    });
    let mode = if json {
        Mode::Json
    } else if console::Term::stderr().is_term() {
        Mode::Live
    } else {
        Mode::Lines
    };
    let progress = Arc::new(Progress::new(mode, styles.clone()));
    let sink = progress.clone();
    let events: EventSink = Arc::new(move |event| sink.handle(&event));
    if !json {
        render::err("");
    }
    let provider = Arc::new(AwsProvider::new(aws.clone()));
    let report = ams_engine::apply(plan, state, provider, backend.as_ref(), events, &options).await;
    interrupt.abort();
    progress.finish();
    let report = report?;
    super::history::note_report(&report);
    if json {
        println!("{}", summary_json(plan, &report, state));
    } else {
        render::err("");
        render::err(&render::summary(&report));
        if let Some((chain, took)) = report.critical_chain(plan) {
            render::err(&format!(
                "Longest chain of dependent steps ({:.1}s): {}",
                took.as_secs_f64(),
                chain.join(" -> ")
            ));
        }
    }
    if !report.failures.is_empty() {
        let lines: Vec<String> = report
            .failures
            .iter()
            .map(|f| {
                let mut line = format!(
                    "{} ({}) failed while {}: {}",
                    f.name,
                    f.type_name,
                    f.op.verb(),
                    f.error
                );
                if let Some(hint) = f.error.code.as_deref().and_then(hint) {
                    line.push_str(&format!("\n  hint: {hint}"));
                }
                line
            })
            .collect();
        return Err(anyhow!(
            "{}\nthe state in {} keeps everything that was done; run `up` again after fixing the cause",
            lines.join("\n"),
            backend.location()
        ));
    }
    if report.cancelled {
        bail!(
            "interrupted: {} steps not started; the state in {} keeps everything that was done",
            report.not_started.len(),
            backend.location()
        );
    }
    Ok(())
}

fn summary_json(plan: &Plan, report: &ApplyReport, state: &State) -> serde_json::Value {
    let count = |op| report.count(op);
    let chain = report.critical_chain(plan);
    json!({
        "kind": "summary",
        "succeeded": report.succeeded(),
        "created": count(Op::Create),
        "updated": count(Op::Update),
        "replaced": count(Op::Replace),
        "deleted": count(Op::Delete) + count(Op::DeleteReplaced),
        "failed": report.failures.iter().map(|f| json!({
            "name": f.name, "type": f.type_name, "code": f.error.code, "message": f.error.message,
        })).collect::<Vec<_>>(),
        "not_started": report.not_started,
        "elapsed_ms": u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
        "longest_chain": chain.map(|(names, took)| json!({
            "steps": names, "elapsed_ms": u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        })),
        "outputs": state.outputs,
    })
}

/// `refresh`: reads the live state, reports drift, saves it with --yes (or a terminal's yes).
pub async fn refresh(opened: &Opened, styles: &Styles, yes: bool, json: bool) -> Result<()> {
    let (name, _config, aws, backend) = opened;
    let backend = backend.as_ref();
    let result = locked(backend, "refresh", async {
        let mut state = backend.load().await?;
        let drift = session::refresh(aws, &mut state, styles, json).await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&drift)?);
        }
        if drift.is_empty() {
            return Ok(());
        }
        if !yes && !std::io::stdin().is_terminal() {
            render::err("The state was not changed: run `refresh --yes` to record the drift.");
            return Ok(());
        }
        confirm(&format!("Record this drift in the state of `{name}`?"), yes)?;
        backend.save(&state).await?;
        render::err(&format!("Recorded the drift in {}.", backend.location()));
        Ok(())
    })
    .await;
    write_call_log(aws);
    result
}
