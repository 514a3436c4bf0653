//! `outputs`, `graph` and `stack ls`: reading a stack without changing it.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};

use super::Workspace;
use crate::cluster::{self, Found};
use crate::config;
use crate::engine;
use crate::render;
use crate::state::StateBackend;

pub async fn outputs(workspace: &Workspace, stack: Option<String>, json: bool) -> Result<()> {
    let name = workspace.stack_name(stack)?;
    let state = workspace.backend(&name).load().await?;
    if state.outputs.is_empty() {
        bail!("stack `{name}` has no outputs yet; run `ams-stack up {name}` first");
    }
    println!("{}", render::outputs(&state.outputs, json));
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
        let (count, updated) = match workspace.backend(&name).load().await {
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
