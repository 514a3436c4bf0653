//! The plan, for people and for machines.

use std::collections::BTreeSet;

use serde_json::{json, Value as Json};

use super::style::Styles;
use ams_engine::{Op, Plan, PropertyChange, Step, UNKNOWN_MARKER};

const KNOWN_AFTER_APPLY: &str = "(known after apply)";
/// What a secret value shows as, everywhere.
pub const SECRET: &str = "[secret]";

fn symbol(op: Op) -> &'static str {
    match op {
        Op::Same => " ",
        Op::Create => "+",
        Op::Update => "~",
        Op::Replace => "-/+",
        Op::Delete | Op::DeleteReplaced => "-",
    }
}

fn op_style(styles: &Styles, op: Op) -> &console::Style {
    match op {
        Op::Create => &styles.create,
        Op::Update => &styles.update,
        Op::Replace => &styles.replace,
        Op::Delete | Op::DeleteReplaced => &styles.delete,
        Op::Same => &styles.dim,
    }
}

/// Replaces unknown markers with a readable placeholder.
fn readable(value: &Json) -> Json {
    match value {
        Json::Object(map) if map.contains_key(UNKNOWN_MARKER) => map
            .get("preview")
            .cloned()
            .unwrap_or_else(|| json!(KNOWN_AFTER_APPLY)),
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

/// A change with secret values masked.
fn masked(change: &PropertyChange, secret: &[String]) -> PropertyChange {
    if !secret.contains(&change.key) {
        return change.clone();
    }
    let mask = |v: &Option<Json>| v.as_ref().map(|_| json!(SECRET));
    PropertyChange {
        old: mask(&change.old),
        new: mask(&change.new),
        ..change.clone()
    }
}

/// A list of objects (a security group's rules), one item a line, so that a change to it reads
/// item by item.
fn listed(value: Option<&Json>) -> Option<String> {
    let items = value?.as_array()?;
    if items.is_empty() || !items.iter().all(Json::is_object) {
        return None;
    }
    Some(items.iter().map(|item| format!("{item}\n")).collect())
}

fn change_lines(change: &PropertyChange, styles: &Styles, out: &mut Vec<String>) {
    let marker = if change.forces_replace {
        format!("  {}", styles.replace.apply_to("(forces replacement)"))
    } else {
        String::new()
    };
    let long = |value: Option<&Json>| multiline(value).map(String::from).or_else(|| listed(value));
    let lists = listed(change.old.as_ref()).is_some() || listed(change.new.as_ref()).is_some();
    match (long(change.old.as_ref()), long(change.new.as_ref())) {
        (old, new) if old.is_some() || new.is_some() => {
            out.push(format!("      {}:{marker}", change.key));
            let (old, new) = (old.unwrap_or_default(), new.unwrap_or_default());
            let diff = if lists {
                // Items are a set to the reader: compared in a stable order.
                let sorted = |text: &str| {
                    let mut lines: Vec<&str> = text.lines().collect();
                    lines.sort_unstable();
                    lines.iter().map(|l| format!("{l}\n")).collect::<String>()
                };
                (sorted(&old), sorted(&new))
            } else {
                (old, new)
            };
            let diff = similar::TextDiff::from_lines(&diff.0, &diff.1);
            let line_of = |line: similar::Change<&str>| {
                let text = line.value().trim_end_matches('\n');
                match line.tag() {
                    similar::ChangeTag::Delete => {
                        format!("        {}", styles.delete.apply_to(format!("- {text}")))
                    }
                    similar::ChangeTag::Insert => {
                        format!("        {}", styles.create.apply_to(format!("+ {text}")))
                    }
                    similar::ChangeTag::Equal => format!("          {text}"),
                }
            };
            if lists {
                // A list reads whole: every item, the changed ones marked.
                out.extend(diff.iter_all_changes().map(line_of));
            } else {
                // A text (a boot script) reads as what changes, with two lines around each
                // change; what lies between is counted, not shown.
                let mut shown = 0;
                for group in diff.grouped_ops(2) {
                    let (Some(first), Some(last)) = (group.first(), group.last()) else {
                        continue;
                    };
                    let from = first.old_range().start;
                    if from > shown {
                        out.push(format!(
                            "          {}",
                            styles
                                .dim
                                .apply_to(format!("... {} unchanged lines", from - shown))
                        ));
                    }
                    for op in &group {
                        out.extend(diff.iter_changes(op).map(line_of));
                    }
                    shown = last.old_range().end;
                }
                let total = diff.old_slices().len();
                if total > shown && shown > 0 {
                    out.push(format!(
                        "          {}",
                        styles
                            .dim
                            .apply_to(format!("... {} unchanged lines", total - shown))
                    ));
                }
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

fn step_lines(step: &Step, styles: &Styles, out: &mut Vec<String>) {
    let style = op_style(styles, step.op);
    let mut head = format!(
        "  {} {} {}",
        style.apply_to(format!("{:>3}", symbol(step.op))),
        styles.bold.apply_to(&step.name),
        styles.dim.apply_to(format!("({})", step.type_name))
    );
    if step.op == Op::Replace {
        let forcing: Vec<&str> = step
            .changes
            .iter()
            .filter(|c| c.forces_replace)
            .map(|c| c.key.as_str())
            .collect();
        head.push_str(&format!(
            "  {}",
            styles.replace.apply_to(format!(
                "replaced: {} cannot change in place; the new one is made first",
                forcing.join(", ")
            ))
        ));
    }
    out.push(head);
    let readable_change = |c: PropertyChange| PropertyChange {
        old: c.old.as_ref().map(readable),
        new: c.new.as_ref().map(readable),
        ..c
    };
    for change in step
        .changes
        .iter()
        .map(|c| readable_change(masked(c, &step.secret)))
    {
        match (step.op, multiline(change.new.as_ref())) {
            // A new resource: every property, long ones summarised.
            (Op::Create, Some(text)) => out.push(format!(
                "      {}: ({} lines of text)",
                change.key,
                text.lines().count()
            )),
            (Op::Create, None) => out.push(format!(
                "      {}: {}",
                change.key,
                show(change.new.as_ref())
            )),
            _ => change_lines(&change, styles, out),
        }
    }
}

/// The plan as people read it: resources grouped by `group` (groups in the order of `order`,
/// resources in dependency order), a block per changing resource, then a summary line.
pub fn plan_text(
    plan: &Plan,
    styles: &Styles,
    group: &dyn Fn(&str) -> String,
    order: &[&str],
) -> String {
    let mut out = vec![format!("Plan for stack `{}`:", plan.stack)];
    let changing: Vec<&Step> = plan.steps.iter().filter(|s| s.op != Op::Same).collect();
    let mut groups: Vec<String> = Vec::new();
    for step in &changing {
        let name = group(&step.name);
        if !groups.contains(&name) {
            groups.push(name);
        }
    }
    groups.sort_by_key(|g| order.iter().position(|o| o == g).unwrap_or(order.len()));
    for name in &groups {
        out.push(String::new());
        out.push(format!("{}", styles.bold.apply_to(name)));
        for step in changing.iter().filter(|s| &group(&s.name) == name) {
            step_lines(step, styles, &mut out);
        }
    }
    if !plan.pending_deletes.is_empty() {
        out.push(String::new());
        out.push(format!("{}", styles.bold.apply_to("replaced earlier")));
        for name in &plan.pending_deletes {
            out.push(format!(
                "  {} {} {}",
                styles.delete.apply_to("  -"),
                styles.bold.apply_to(name),
                styles.dim.apply_to("(its deletion did not complete)")
            ));
        }
    }
    if !plan.has_changes() {
        out.push(String::new());
        out.push("  No changes: the stack matches the program.".into());
    }
    out.push(String::new());
    out.push(summary_line(plan, styles));
    out.join("\n")
}

fn summary_line(plan: &Plan, styles: &Styles) -> String {
    let deletes = plan.count(Op::Delete) + plan.pending_deletes.len();
    format!(
        "{} to create, {} to update, {} to replace, {} to delete, {} unchanged.",
        styles.create.apply_to(plan.count(Op::Create)),
        styles.update.apply_to(plan.count(Op::Update)),
        styles.replace.apply_to(plan.count(Op::Replace)),
        styles.delete.apply_to(deletes),
        plan.count(Op::Same),
    )
}

/// The plan as JSON (schema in docs/JSON.md): `changes` counts and one entry per resource.
pub fn plan_json(plan: &Plan) -> Json {
    let steps: Vec<Json> = plan
        .steps
        .iter()
        .map(|step| {
            let changes: Vec<Json> = step
                .changes
                .iter()
                .map(|c| masked(c, &step.secret))
                .map(|c| {
                    json!({
                        "property": c.key,
                        "old": c.old.as_ref().map(readable),
                        "new": c.new.as_ref().map(readable),
                        "forces_replace": c.forces_replace,
                    })
                })
                .collect();
            json!({ "op": step.op, "name": step.name, "type": step.type_name, "id": step.id, "changes": changes })
        })
        .collect();
    let pending: BTreeSet<&String> = plan.pending_deletes.iter().collect();
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
        "pending_deletes": pending,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_of_rules_changes_rule_by_rule() {
        let rule = |port: i32, cidr: &str| json!({"protocol": "tcp", "from_port": port, "to_port": port, "cidr": cidr});
        let change = PropertyChange {
            key: "ingress".into(),
            old: Some(json!([rule(22, "0.0.0.0/0"), rule(27017, "0.0.0.0/0")])),
            new: Some(json!([rule(27017, "10.0.0.0/16"), rule(22, "0.0.0.0/0")])),
            forces_replace: false,
        };
        let mut out = Vec::new();
        change_lines(&change, &Styles::plain(), &mut out);
        let text = out.join("\n");
        let removed = format!("- {}", rule(27017, "0.0.0.0/0"));
        let added = format!("+ {}", rule(27017, "10.0.0.0/16"));
        let kept = format!("  {}", rule(22, "0.0.0.0/0"));
        assert!(text.contains(&removed) && text.contains(&added), "{text}");
        assert!(
            text.contains(&kept),
            "a rule kept is not shown as a change: {text}"
        );
        assert_eq!(out.len(), 4, "the key, then one line a rule: {text}");
    }
}
