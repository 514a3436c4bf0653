//! The plan, for people and for machines.

use serde_json::{json, Value as Json};

use crate::engine::{Op, Plan, PropertyChange, Step, UNKNOWN_MARKER};

const KNOWN_AFTER_APPLY: &str = "(known after apply)";

fn symbol(op: Op) -> &'static str {
    match op {
        Op::Same => " ",
        Op::Create => "+",
        Op::Update => "~",
        Op::Replace => "-/+",
        Op::Delete => "-",
    }
}

/// Replaces unknown markers with a readable placeholder.
fn readable(value: &Json) -> Json {
    match value {
        Json::Object(map) if map.contains_key(UNKNOWN_MARKER) => json!(KNOWN_AFTER_APPLY),
        Json::Object(map) => {
            Json::Object(map.iter().map(|(k, v)| (k.clone(), readable(v))).collect())
        }
        Json::Array(items) => Json::Array(items.iter().map(readable).collect()),
        other => other.clone(),
    }
}

fn show(value: Option<&Json>) -> String {
    match value.map(readable) {
        None | Some(Json::Null) => "(none)".into(),
        Some(Json::String(text)) if text == KNOWN_AFTER_APPLY => text,
        Some(other) => other.to_string(),
    }
}

fn multiline(value: Option<&Json>) -> Option<&str> {
    value
        .and_then(Json::as_str)
        .filter(|text| text.contains('\n'))
}

fn change_lines(change: &PropertyChange, out: &mut Vec<String>) {
    let marker = if change.forces_replace {
        "  (forces replacement)"
    } else {
        ""
    };
    match (
        multiline(change.old.as_ref()),
        multiline(change.new.as_ref()),
    ) {
        (old, new) if old.is_some() || new.is_some() => {
            out.push(format!("      {}:{marker}", change.key));
            let diff = similar::TextDiff::from_lines(old.unwrap_or(""), new.unwrap_or(""));
            for line in diff.iter_all_changes() {
                let sign = match line.tag() {
                    similar::ChangeTag::Delete => "-",
                    similar::ChangeTag::Insert => "+",
                    similar::ChangeTag::Equal => " ",
                };
                out.push(format!(
                    "        {sign} {}",
                    line.value().trim_end_matches('\n')
                ));
            }
        }
        _ if change.old.is_none() => out.push(format!(
            "      {}: {}{marker}",
            change.key,
            show(change.new.as_ref())
        )),
        _ => out.push(format!(
            "      {}: {} -> {}{marker}",
            change.key,
            show(change.old.as_ref()),
            show(change.new.as_ref())
        )),
    }
}

fn step_lines(step: &Step, out: &mut Vec<String>) {
    let mut head = format!("  {} {} ({})", symbol(step.op), step.name, step.type_name);
    if step.op == Op::Replace {
        let forcing: Vec<&str> = step
            .changes
            .iter()
            .filter(|c| c.forces_replace)
            .map(|c| c.key.as_str())
            .collect();
        head.push_str(&format!(
            "  replace: {} cannot change in place",
            forcing.join(", ")
        ));
    }
    out.push(head);
    if step.op != Op::Create {
        step.changes.iter().for_each(|c| change_lines(c, out));
    } else {
        // A new resource: every property, long ones summarised.
        for change in &step.changes {
            match multiline(change.new.as_ref()) {
                Some(text) => out.push(format!(
                    "      {}: ({} lines of text)",
                    change.key,
                    text.lines().count()
                )),
                None => out.push(format!(
                    "      {}: {}",
                    change.key,
                    show(change.new.as_ref())
                )),
            }
        }
    }
}

/// The plan as people read it: one block per changing resource, then a summary line.
pub fn plan_text(plan: &Plan) -> String {
    let mut out = vec![format!("Plan for stack `{}`:", plan.stack), String::new()];
    for step in plan.steps.iter().filter(|s| s.op != Op::Same) {
        step_lines(step, &mut out);
    }
    for name in &plan.pending_deletes {
        out.push(format!(
            "  - {name} (replaced earlier; its deletion did not complete)"
        ));
    }
    if !plan.has_changes() {
        out.push("  No changes: the stack matches the program.".into());
    }
    out.push(String::new());
    out.push(format!(
        "{} to create, {} to update, {} to replace, {} to delete, {} unchanged.",
        plan.count(Op::Create),
        plan.count(Op::Update),
        plan.count(Op::Replace),
        plan.count(Op::Delete) + plan.pending_deletes.len(),
        plan.count(Op::Same),
    ));
    out.join("\n")
}

/// The plan as JSON: `changes` counts and one entry per resource in `steps`.
pub fn plan_json(plan: &Plan) -> Json {
    let steps: Vec<Json> = plan
        .steps
        .iter()
        .map(|step| {
            json!({
                "op": step.op,
                "name": step.name,
                "type": step.type_name,
                "id": step.id,
                "changes": step.changes.iter().map(|c| json!({
                    "property": c.key,
                    "old": c.old.as_ref().map(readable),
                    "new": c.new.as_ref().map(readable),
                    "forces_replace": c.forces_replace,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "version": 1,
        "stack": plan.stack,
        "changes": {
            "create": plan.count(Op::Create),
            "update": plan.count(Op::Update),
            "replace": plan.count(Op::Replace),
            "delete": plan.count(Op::Delete) + plan.pending_deletes.len(),
            "same": plan.count(Op::Same),
        },
        "steps": steps,
        "pending_deletes": plan.pending_deletes,
    })
}
