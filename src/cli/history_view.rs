//! `history STACK [--json]`, `history STACK show N`, `history STACK diff N M`: the stack's
//! history as people and CI read it.

use anyhow::Result;

use super::history::{entries, entry, store, Entry};
use super::Workspace;
use crate::render;

/// What `history` was asked.
pub enum View {
    List,
    Show(u64),
    Diff(u64, u64),
}

pub async fn history(
    workspace: &Workspace,
    stack: Option<String>,
    view: View,
    json: bool,
) -> Result<()> {
    let name = workspace.stack_name(stack)?;
    let config = workspace.config(&name)?;
    let aws = super::session::connect(&config).await?;
    let store = store(workspace, &config, &aws).await;
    match view {
        View::List => {
            let entries = entries(store.as_ref()).await?;
            if json {
                let listed: Vec<serde_json::Value> = entries.iter().map(listed_json).collect();
                println!("{}", serde_json::to_string_pretty(&listed)?);
            } else if entries.is_empty() {
                render::err(&format!(
                    "Stack `{name}` has no history yet ({}).",
                    store.location()
                ));
            } else {
                println!("{}", list_text(&entries));
            }
        }
        View::Show(n) => {
            let entry = entry(store.as_ref(), n).await?;
            if json {
                let mut value = serde_json::to_value(&entry)?;
                value["result"] = entry.shown_result().into();
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                println!("{}", show_text(&entry));
            }
        }
        View::Diff(a, b) => {
            let (a, b) = (
                entry(store.as_ref(), a).await?,
                entry(store.as_ref(), b).await?,
            );
            println!("{}", diff_text(&a, &b));
        }
    }
    Ok(())
}

/// An entry as `history --json` lists it: without the stack file's text (`show` has it), with
/// the result as read (`interrupted` for a run that is gone).
fn listed_json(entry: &Entry) -> serde_json::Value {
    let mut value = serde_json::to_value(entry).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.remove("stack_file");
        object.insert("result".into(), entry.shown_result().into());
    }
    value
}

fn counts_text(entry: &Entry) -> String {
    match entry.counts {
        Some(c) => format!(
            "+{} ~{} ±{} -{}",
            c.created, c.updated, c.replaced, c.deleted
        ),
        None => "-".into(),
    }
}

fn duration_text(entry: &Entry) -> String {
    entry
        .duration_ms
        .map_or("-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0))
}

/// One line per entry.
pub fn list_text(entries: &[Entry]) -> String {
    let mut lines = vec![format!(
        "{:>4}  {:<20}  {:<14}  {:<11}  {:<15}  {:>8}  WHO",
        "N", "WHEN", "COMMAND", "RESULT", "CHANGES", "TOOK"
    )];
    for e in entries {
        lines.push(format!(
            "{:>4}  {:<20}  {:<14}  {:<11}  {:<15}  {:>8}  {} ({}@{})",
            e.number,
            e.started,
            e.command,
            e.shown_result(),
            counts_text(e),
            duration_text(e),
            e.identity,
            e.run.who,
            e.run.host
        ));
    }
    lines.join("\n")
}

/// One entry: what, who, when, how it ended, its plan's summary, its images.
pub fn show_text(e: &Entry) -> String {
    let mut lines = vec![
        format!(
            "Entry {} of stack `{}`: `{}`, {}",
            e.number,
            e.stack,
            e.command,
            e.shown_result()
        ),
        format!("  started   {}", e.started),
        format!("  finished  {}", e.finished.as_deref().unwrap_or("-")),
        format!("  took      {}", duration_text(e)),
        format!(
            "  by        {} ({}@{}, pid {})",
            e.identity, e.run.who, e.run.host, e.run.pid
        ),
        format!(
            "  changes   {} (created ~updated ±replaced -deleted)",
            counts_text(e)
        ),
        format!("  stack file sha256 {}", e.stack_file_sha256),
        format!("  ams-stack {}", e.ams_stack_version),
    ];
    if let Some(error) = &e.error {
        lines.push(format!(
            "  error     {}",
            error.replace('\n', "\n            ")
        ));
    }
    if let Some(plan) = &e.plan {
        lines.push(format!(
            "  plan      {} to create, {} to update, {} to replace, {} to delete",
            plan.changes.created, plan.changes.updated, plan.changes.replaced, plan.changes.deleted
        ));
        for (op, name) in &plan.steps {
            let op = serde_json::to_value(op).unwrap_or_default();
            lines.push(format!("    {} {name}", op.as_str().unwrap_or("?")));
        }
        for name in &plan.pending_deletes {
            lines.push(format!("    delete {name} (pending)"));
        }
    }
    if !e.images.is_empty() {
        lines.push("  images".into());
        for (key, value) in &e.images {
            lines.push(format!("    {key}: {}", image_text(value)));
        }
    }
    lines.join("\n")
}

fn image_text(value: &serde_json::Value) -> String {
    value
        .get("id")
        .and_then(|v| v.as_str())
        .map_or_else(|| value.to_string(), String::from)
}

/// What changed from entry `a` to entry `b`: the stack file (a unified diff) and the pins.
pub fn diff_text(a: &Entry, b: &Entry) -> String {
    let mut out = String::new();
    let (from, to) = (format!("entry {}", a.number), format!("entry {}", b.number));
    if a.stack_file == b.stack_file {
        out.push_str(&format!("Stack file: the same in {from} and {to}.\n"));
    } else {
        let diff = similar::TextDiff::from_lines(&a.stack_file, &b.stack_file);
        out.push_str(
            &diff
                .unified_diff()
                .context_radius(3)
                .header(
                    &format!("{from} (stack file)"),
                    &format!("{to} (stack file)"),
                )
                .to_string(),
        );
    }
    let keys: std::collections::BTreeSet<&String> =
        a.images.keys().chain(b.images.keys()).collect();
    let changed: Vec<String> = keys
        .into_iter()
        .filter(|k| a.images.get(*k).map(image_text) != b.images.get(*k).map(image_text))
        .map(|k| {
            let show = |e: &Entry| e.images.get(k).map_or("(none)".into(), image_text);
            format!("  {k}: {} -> {}", show(a), show(b))
        })
        .collect();
    if changed.is_empty() {
        out.push_str(&format!("Image pins: the same in {from} and {to}."));
    } else {
        out.push_str(&format!(
            "Image pins, {from} -> {to}:\n{}",
            changed.join("\n")
        ));
    }
    out
}
