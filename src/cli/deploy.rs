//! preview, up, destroy, outputs and graph: load, plan, show, confirm, apply.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};

use super::Workspace;
use crate::aws::{lookup, Aws, AwsProvider};
use crate::cluster::{self, Found};
use crate::config::StackConfig;
use crate::engine::{self, ApplyOptions, EventSink, Plan, Program};
use crate::render;
use crate::state::{State, StateBackend};

async fn connect(config: &StackConfig) -> Result<Arc<Aws>> {
    let endpoint = config
        .endpoint
        .clone()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
    Ok(Arc::new(
        Aws::connect(&config.region, endpoint.as_deref()).await?,
    ))
}

/// With `AMS_STACK_CALL_LOG=FILE`, appends every AWS operation this run called to FILE, one a
/// line: how tests prove that an unchanged stack gets no mutating call.
fn write_call_log(aws: &Aws) {
    if let Ok(path) = std::env::var("AMS_STACK_CALL_LOG") {
        let lines: String = aws.calls.calls().iter().map(|c| format!("{c}\n")).collect();
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(lines.as_bytes()));
        if let Err(e) = written {
            render::err(&format!("warning: cannot write the call log {path}: {e}"));
        }
    }
}

/// Looks up what the account already has, then declares the cluster.
async fn program(aws: &Aws, config: &StackConfig) -> Result<Program> {
    let file = config.path.display().to_string();
    let zone = lookup::hosted_zone(aws, &config.dns.hosted_zone, &file);
    let image = |ami: &Option<String>,
                 owner: &'static str,
                 pattern: &'static str,
                 section: &'static str| {
        let file = file.clone();
        let ami = ami.clone();
        async move {
            match ami {
                Some(ami) => Ok(ami),
                None => lookup::newest_image(aws, owner, pattern, section, &file).await,
            }
        }
    };
    let (zone, mongodb, origin, edge) = tokio::try_join!(
        zone,
        image(
            &config.mongodb.ami,
            lookup::UBUNTU_OWNER,
            lookup::UBUNTU_2004_NAME,
            "mongodb"
        ),
        image(
            &config.origin.instance.ami,
            lookup::MARKETPLACE_OWNER,
            lookup::AMS_ENTERPRISE_NAME,
            "origin"
        ),
        image(
            &config.edge.instance.ami,
            lookup::MARKETPLACE_OWNER,
            lookup::AMS_ENTERPRISE_NAME,
            "edge"
        ),
    )?;
    let found = Found {
        hosted_zone_id: zone,
        mongodb_ami: mongodb,
        origin_ami: origin,
        edge_ami: edge,
    };
    Ok(cluster::declare(config, &found)?)
}

pub async fn preview(workspace: &Workspace, stack: Option<String>, json: bool) -> Result<()> {
    let name = workspace.stack_name(stack)?;
    let config = workspace.config(&name)?;
    let state = workspace.backend(&name).load().await?;
    let aws = connect(&config).await?;
    let plan = engine::plan(&program(&aws, &config).await?, &state);
    write_call_log(&aws);
    show_plan(&plan?, json);
    Ok(())
}

fn show_plan(plan: &Plan, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&render::plan_json(plan)).unwrap_or_default()
        );
    } else {
        render::err(&render::plan_text(plan));
    }
}

pub async fn up(
    workspace: &Workspace,
    stack: Option<String>,
    yes: bool,
    parallel: usize,
) -> Result<()> {
    let name = workspace.stack_name(stack)?;
    let config = workspace.config(&name)?;
    let aws = connect(&config).await?;
    let backend = workspace.backend(&name);
    let result = locked(&backend, "up", async {
        let mut state = backend.load().await?;
        let plan = engine::plan(&program(&aws, &config).await?, &state)?;
        show_plan(&plan, false);
        if plan.has_changes() {
            confirm(&format!("Apply these changes to stack `{name}`?"), yes)?;
            run(&plan, &mut state, aws.clone(), &backend, parallel).await?;
        }
        render::err("");
        render::err("Outputs:");
        render::err(&render::outputs(&state.outputs, false));
        Ok(())
    })
    .await;
    write_call_log(&aws);
    result
}

pub async fn destroy(
    workspace: &Workspace,
    stack: Option<String>,
    yes: bool,
    parallel: usize,
) -> Result<()> {
    let name = workspace.stack_name(stack)?;
    let config = workspace.config(&name)?;
    let backend = workspace.backend(&name);
    let aws = connect(&config).await?;
    let result = locked(&backend, "destroy", async {
        let mut state = backend.load().await?;
        if state.is_empty() {
            render::err(&format!(
                "Stack `{name}` has no resources: nothing to destroy."
            ));
            return Ok(());
        }
        let plan = engine::destroy_plan(&state)?;
        show_plan(&plan, false);
        confirm(&format!("Delete every resource of stack `{name}`?"), yes)?;
        run(&plan, &mut state, aws.clone(), &backend, parallel).await
    })
    .await;
    write_call_log(&aws);
    result
}

/// Runs `work` holding the stack's lock, and releases it whatever happens.
async fn locked<F: std::future::Future<Output = Result<()>>>(
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

fn confirm(question: &str, yes: bool) -> Result<()> {
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

async fn run(
    plan: &Plan,
    state: &mut State,
    aws: Arc<Aws>,
    backend: &dyn StateBackend,
    parallel: usize,
) -> Result<()> {
    let options = ApplyOptions {
        parallel,
        ..ApplyOptions::default()
    };
    let cancel = options.cancel.clone();
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            render::err("\nInterrupted: finishing the steps in flight and saving the state (Ctrl-C again to abandon them).");
            cancel.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let events: EventSink = Arc::new(|event| {
        if let Some(line) = render::event_line(&event) {
            render::err(&line);
        }
    });
    render::err("");
    let provider = Arc::new(AwsProvider::new(aws));
    let report = engine::apply(plan, state, provider, backend, events, &options).await;
    interrupt.abort();
    let report = report?;
    render::err("");
    render::err(&render::summary(&report));
    if !report.failures.is_empty() {
        let lines: Vec<String> = report
            .failures
            .iter()
            .map(|f| {
                format!(
                    "{} ({}) failed while {}: {}",
                    f.name,
                    f.type_name,
                    f.op.verb(),
                    f.error
                )
            })
            .collect();
        return Err(anyhow!("{}\nthe state in {} keeps everything that was done; run `up` again after fixing the cause", lines.join("\n"), backend.location()));
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

pub async fn outputs(workspace: &Workspace, stack: Option<String>, json: bool) -> Result<()> {
    let name = workspace.stack_name(stack)?;
    let state = workspace.backend(&name).load().await?;
    if state.outputs.is_empty() {
        bail!("stack `{name}` has no outputs yet; run `ams-stack up {name}` first");
    }
    let text = render::outputs(&state.outputs, json);
    println!("{text}");
    Ok(())
}

pub async fn graph(workspace: &Workspace, stack: Option<String>) -> Result<()> {
    let name = workspace.stack_name(stack)?;
    let config = workspace.config(&name)?;
    // The graph's shape does not depend on what the lookups find.
    let found = Found {
        hosted_zone_id: "(hosted zone)".into(),
        mongodb_ami: "(ubuntu image)".into(),
        origin_ami: "(ams image)".into(),
        edge_ami: "(ams image)".into(),
    };
    let program = cluster::declare(&config, &found)?;
    let nodes: BTreeMap<String, BTreeSet<String>> = program
        .resources()
        .iter()
        .map(|r| (r.name.clone(), r.dependencies.clone()))
        .collect();
    let types: BTreeMap<&str, &str> = program
        .resources()
        .iter()
        .map(|r| (r.name.as_str(), r.type_name.as_str()))
        .collect();
    let label = |n: &str| format!("{n}\\n{}", types.get(n).copied().unwrap_or_default());
    let group = |n: &str| cluster::tier(n).to_string();
    print!("{}", engine::to_dot(&nodes, &label, &group));
    Ok(())
}
