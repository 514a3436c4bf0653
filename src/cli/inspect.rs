//! `outputs`, `graph` and `stack ls`: reading a stack without changing it.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};

use super::session::connect;
use super::Workspace;
use crate::cluster::{self, Found};
use crate::config;
use crate::render;
use ams_engine as engine;

pub async fn outputs(
    workspace: &Workspace,
    stack: Option<String>,
    json: bool,
    show_secrets: bool,
) -> Result<()> {
    let name = workspace.stack_name(stack)?;
    let config = workspace.config(&name)?;
    let mut state = workspace.backend(&config, None).await?.load().await?;
    if state.outputs.is_empty() {
        bail!("stack `{name}` has no outputs yet; run `ams-stack up {name}` first");
    }
    if show_secrets {
        let aws = connect(&config).await?;
        for value in state.outputs.values_mut() {
            if let Some(parameter) = render::secret_parameter(value) {
                *value = serde_json::Value::String(ams_aws::ssm::reveal(&aws, parameter).await?);
            }
        }
    }
    println!("{}", render::outputs(&state.outputs, json));
    Ok(())
}

/// `state export`: the stored state as JSON on stdout.
pub async fn export(workspace: &Workspace, stack: Option<String>) -> Result<()> {
    let name = workspace.stack_name(stack)?;
    let config = workspace.config(&name)?;
    let state = workspace.backend(&config, None).await?.load().await?;
    println!("{}", serde_json::to_string_pretty(&state)?);
    Ok(())
}

/// `state import`: replaces the stored state with FILE, validated first, under the lock.
pub async fn import(
    workspace: &Workspace,
    stack: Option<String>,
    file: &std::path::Path,
) -> Result<()> {
    let name = workspace.stack_name(stack)?;
    let config = workspace.config(&name)?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let state = ams_engine::state::parse_state(&text, &file.display().to_string(), &name)?;
    let backend = workspace.backend(&config, None).await?;
    let lock = backend.lock("state import").await?;
    let result = async {
        // Read first, so that the write is conditional on what is there now.
        match backend.load().await {
            Ok(_) | Err(ams_engine::state::StateError::Corrupt { .. }) => {}
            Err(e) => return Err(anyhow::Error::from(e)),
        }
        backend.save(&state).await?;
        Ok(())
    }
    .await;
    backend.unlock(&lock).await?;
    result?;
    render::err(&format!(
        "Imported {} resources into stack `{name}` at {}.",
        state.resources.len(),
        backend.location()
    ));
    Ok(())
}

pub fn graph(workspace: &Workspace, stack: Option<String>) -> Result<()> {
    let name = workspace.stack_name(stack)?;
    let config = workspace.config(&name)?;
    // The graph's shape does not depend on what the lookups find.
    let found = Found {
        hosted_zone_id: "(hosted zone)".into(),
        mongodb_ami: "(ubuntu image)".into(),
        origin_ami: "(ams image)".into(),
        edge_ami: "(ams image)".into(),
        data_snapshot: None,
        images: Vec::new(),
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

/// Each stack with its resource count and last update; `*` marks the selected one.
pub async fn list(workspace: &Workspace) -> Result<()> {
    let selected = workspace.stack_name(None).ok();
    println!("  {:<16} {:>9}  LAST UPDATE", "STACK", "RESOURCES");
    for name in config::list_stacks(workspace.stacks_dir()) {
        let mark = if selected.as_deref() == Some(name.as_str()) {
            "*"
        } else {
            " "
        };
        let loaded = match workspace.config(&name) {
            Ok(config) => match workspace.backend(&config, None).await {
                Ok(backend) => backend.load().await.map_err(anyhow::Error::from),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let (count, updated) = match loaded {
            Ok(state) => (
                state.resources.len().to_string(),
                state.updated.unwrap_or_else(|| "never".into()),
            ),
            Err(e) => ("?".into(), format!("state unreadable: {e}")),
        };
        println!("{mark} {name:<16} {count:>9}  {updated}");
    }
    Ok(())
}
