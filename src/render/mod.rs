//! What users read: the plan, apply progress, the summary and the outputs.
//!
//! Human output goes to stderr, `--json` to stdout. Nothing here decides anything.

mod plan;
mod progress;
mod style;

pub use plan::{plan_json, plan_text, SECRET};
pub use progress::{event_line, Mode, Progress};
pub use style::{ColorChoice, Styles};

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::Value as Json;

use ams_engine::{ApplyReport, Op};

/// The closing summary of an apply.
pub fn summary(report: &ApplyReport) -> String {
    let count = |op| report.count(op);
    let mut line = format!(
        "{} created, {} updated, {} replaced, {} deleted",
        count(Op::Create),
        count(Op::Update),
        count(Op::Replace),
        count(Op::Delete) + count(Op::DeleteReplaced),
    );
    if !report.failures.is_empty() {
        line.push_str(&format!(", {} failed", report.failures.len()));
    }
    if !report.not_started.is_empty() {
        line.push_str(&format!(", {} not started", report.not_started.len()));
    }
    format!("{line} in {:.1}s", report.elapsed.as_secs_f64())
}

/// An output whose value names a SecureString parameter (`ssm-secure:NAME`).
pub fn secret_parameter(value: &Json) -> Option<&str> {
    value.as_str().and_then(|v| v.strip_prefix("ssm-secure:"))
}

/// `key = value` lines, or a JSON object; secret outputs as `[secret]` unless revealed.
pub fn outputs(outputs: &BTreeMap<String, Json>, json: bool) -> String {
    let shown: BTreeMap<&String, Json> = outputs
        .iter()
        .map(|(key, value)| {
            (
                key,
                if secret_parameter(value).is_some() {
                    Json::String(SECRET.into())
                } else {
                    value.clone()
                },
            )
        })
        .collect();
    if json {
        return serde_json::to_string_pretty(&shown).unwrap_or_default();
    }
    let width = shown.keys().map(|k| k.len()).max().unwrap_or(0);
    shown
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

#[cfg(test)]
mod tests;
