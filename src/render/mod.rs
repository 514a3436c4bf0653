//! What users read: the plan, apply progress, the summary and the outputs.
//!
//! Human output goes to stderr, `--json` to stdout. Nothing here decides anything.

mod plan;

pub use plan::{plan_json, plan_text};

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::Value as Json;

use crate::engine::{ApplyReport, Event, StepOp};

/// Prints one line per event on stderr.
pub fn event_line(event: &Event) -> Option<String> {
    let symbol = |op: StepOp| match op {
        StepOp::Create => "+",
        StepOp::Update => "~",
        StepOp::CreateReplacement => "+>",
        StepOp::DeleteReplaced | StepOp::Delete => "-",
    };
    Some(match event {
        Event::Started {
            name,
            type_name,
            op,
        } => format!("  {} {name} ({type_name}): {}...", symbol(*op), op.verb()),
        Event::Waiting { name, what } => format!("    {name}: {what}"),
        Event::Done {
            name,
            op,
            id,
            elapsed_ms,
            ..
        } => {
            let done = match op {
                StepOp::Create | StepOp::CreateReplacement => "created",
                StepOp::Update => "updated",
                StepOp::Delete | StepOp::DeleteReplaced => "deleted",
            };
            format!(
                "  {} {name}: {done} {id} ({:.1}s)",
                symbol(*op),
                *elapsed_ms as f64 / 1000.0
            )
        }
        Event::Failed {
            name,
            type_name,
            op,
            error,
        } => {
            format!("  ! {name} ({type_name}): {} failed: {error}", op.verb())
        }
        Event::Stopping { reason } => format!("  stopping: {reason}"),
        Event::Saved { .. } => return None,
    })
}

/// The closing summary of an apply.
pub fn summary(report: &ApplyReport) -> String {
    let count = |op| report.count(op);
    let mut line = format!(
        "{} created, {} updated, {} replaced, {} deleted",
        count(StepOp::Create),
        count(StepOp::Update),
        count(StepOp::CreateReplacement),
        count(StepOp::Delete) + count(StepOp::DeleteReplaced),
    );
    if !report.failures.is_empty() {
        line.push_str(&format!(", {} failed", report.failures.len()));
    }
    if !report.not_started.is_empty() {
        line.push_str(&format!(", {} not started", report.not_started.len()));
    }
    format!("{line} in {:.1}s", report.elapsed.as_secs_f64())
}

/// `key = value` lines, or a JSON object.
pub fn outputs(outputs: &BTreeMap<String, Json>, json: bool) -> String {
    if json {
        return serde_json::to_string_pretty(outputs).unwrap_or_default();
    }
    let width = outputs.keys().map(String::len).max().unwrap_or(0);
    outputs
        .iter()
        .map(|(key, value)| match value {
            Json::String(text) => format!("{key:width$} = {text}"),
            other => format!("{key:width$} = {other}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Writes to stderr, ignoring a closed stream.
pub fn err(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}
