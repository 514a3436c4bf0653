//! What a plan may not do without the operator's word, and what it does in place that they
//! should know before saying yes.
//!
//! Pulumi's `protect` and Terraform's `prevent_destroy` refuse and stop there; this also says
//! what would be lost, why (the properties that force it), and how to go on.

use anyhow::{bail, Result};

use ams_aws::autoscaling::Group;
use ams_aws::ec2::{Instance, Volume};
use ams_engine::{Kind, Op, Plan, PropertyChange, Step};

/// Refuses a plan that replaces or deletes a protected resource whose word the run did not
/// give (`--allow-replace WORD`), naming each resource, the properties that force it and
/// what it costs.
pub fn refuse_losses(plan: &Plan, allowed: &[String]) -> Result<()> {
    let refused: Vec<&Step> = plan
        .losses()
        .into_iter()
        .filter(|s| !s.protected.as_ref().is_some_and(|w| allowed.contains(w)))
        .collect();
    let Some(word) = refused.first().and_then(|s| s.protected.clone()) else {
        return Ok(());
    };
    let lines: Vec<String> = refused.iter().map(|step| loss_line(step)).collect();
    if refused.iter().any(|s| moves_subnet(s)) {
        bail!(
            "refusing to go on: this plan would move MongoDB to another subnet:\n{}\n  \
             nothing was changed. Stacks now keep MongoDB in a private subnet, out through a NAT \
             gateway (`[network] private_database = true`, the default). Either:\n  \
             - keep the old layout: set `private_database = false` under `[network]` in the \
             stack file (MongoDB stays where it is, with its public address), or\n  \
             - allow the move: run it again with `--allow-replace {word}`. MongoDB is down while \
             a new instance starts in the private subnet; its data volume follows (it is in the \
             same zone), and is snapshotted first if it has to be deleted.",
            lines.join("\n")
        );
    }
    bail!(
        "refusing to go on: this plan would {} what is protected:\n{}\n  \
         nothing was changed. To go on, run it again with `--allow-replace {word}`; \
         a data volume is snapshotted before it is deleted.",
        if refused.iter().all(|s| s.op == Op::Delete) {
            "delete"
        } else {
            "replace"
        },
        lines.join("\n")
    )
}

/// Whether `step` replaces the MongoDB instance because its subnet changes (an upgrade to the
/// private database layout).
fn moves_subnet(step: &Step) -> bool {
    step.type_name == Instance::TYPE
        && step.op == Op::Replace
        && step
            .changes
            .iter()
            .any(|c| c.forces_replace && c.key == "subnet_id")
}

/// One refused step: what, why and what it costs.
fn loss_line(step: &Step) -> String {
    let forcing: Vec<String> = step
        .changes
        .iter()
        .filter(|c| c.forces_replace)
        .map(change_text)
        .collect();
    let why = if step.op == Op::Delete {
        "it is no longer declared".to_string()
    } else if forcing.is_empty() {
        "something it depends on is replaced".to_string()
    } else {
        forcing.join(", ")
    };
    let cost = match step.type_name.as_str() {
        t if t == Instance::TYPE => {
            "MongoDB is down while a new instance starts and its data volume moves to it (the data is kept)"
        }
        t if t == Volume::TYPE => {
            "the volume MongoDB's data is on is deleted (a snapshot of it is taken first)"
        }
        _ => "MongoDB is stopped while its data volume moves",
    };
    let verb = if step.op == Op::Delete {
        "deleted"
    } else {
        "replaced"
    };
    format!(
        "  {} ({}{}) would be {verb} because {why}: {cost}",
        step.name,
        step.type_name,
        step.id
            .as_deref()
            .map(|id| format!(" {id}"))
            .unwrap_or_default()
    )
}

fn change_text(change: &PropertyChange) -> String {
    let show = |v: &Option<serde_json::Value>| {
        v.as_ref()
            .map_or("(none)".to_string(), |v| match v.as_str() {
                Some(s) if s.len() > 40 => format!("{}...", &s[..s.floor_char_boundary(37)]),
                Some(s) => s.to_string(),
                None => v.to_string(),
            })
    };
    format!(
        "{} changes ({} -> {})",
        change.key,
        show(&change.old),
        show(&change.new)
    )
}

/// Everything a run refuses about a plan, `preview` and `up` alike: what AWS cannot do
/// ([`refuse_impossible`]) and what is protected ([`refuse_losses`]).
pub fn refuse(plan: &Plan, allowed: &[String]) -> Result<()> {
    refuse_impossible(plan)?;
    refuse_unfollowed(plan)?;
    refuse_losses(plan, allowed)
}

/// For a stack made before MongoDB had its own volume, whose data is still on the instance's
/// root volume (`on_root`): refuses a replacement of the instance without the run's word, saying
/// that the data goes with it, and warns when the word is given.
pub fn refuse_root_data(plan: &Plan, on_root: bool, allowed: &[String]) -> Result<()> {
    let replaced = plan
        .losses()
        .into_iter()
        .find(|s| s.type_name == Instance::TYPE);
    let Some(step) = replaced.filter(|_| on_root) else {
        return Ok(());
    };
    let word = step.protected.clone().unwrap_or_default();
    let text = format!(
        "{} holds MongoDB's data on its root volume (the stack was made before the data volume), \
         and replacing it deletes that volume with the instance",
        step.name
    );
    if !allowed.contains(&word) {
        bail!(
            "refusing to go on: {text}. Dump the data first (mongodump), then run with \
             `--allow-replace {word} --update-images` and restore the dump onto the new, empty \
             database (docs/OPERATIONS.md). Nothing was changed."
        );
    }
    crate::render::err(&format!(
        "warning: {text}: you allowed it (--allow-replace {word})."
    ));
    Ok(())
}

/// Refuses, whatever the run allows, a new data volume that the data would not follow: one
/// replaced for anything but a restore (another zone, say) would start empty.
pub fn refuse_unfollowed(plan: &Plan) -> Result<()> {
    for step in plan
        .steps
        .iter()
        .filter(|s| s.type_name == Volume::TYPE && s.op == Op::Replace)
    {
        let forcing: Vec<String> = step
            .changes
            .iter()
            .filter(|c| c.forces_replace && c.key != "snapshot_id")
            .map(change_text)
            .collect();
        if !forcing.is_empty() {
            bail!(
                "refusing to go on: {} would be replaced because {}, and MongoDB's data would not follow \
                 (a new volume starts empty). Not even --allow-replace does this: back up \
                 (`ams-stack backup`), then restore onto a stack with the new setting.",
                step.name,
                forcing.join(", ")
            );
        }
    }
    Ok(())
}

/// Refuses what AWS cannot do in place and no replacement should do: shrinking a data volume.
pub fn refuse_impossible(plan: &Plan) -> Result<()> {
    for step in plan.steps.iter().filter(|s| s.type_name == Volume::TYPE) {
        let Some(size) = step.changes.iter().find(|c| c.key == "size_gib") else {
            continue;
        };
        let gib = |v: &Option<serde_json::Value>| v.as_ref().and_then(|v| v.as_i64());
        if let (Some(old), Some(new)) = (gib(&size.old), gib(&size.new)) {
            if new < old {
                bail!(
                    "{}: data_volume_gib {new} is smaller than the volume's {old} GiB; EBS volumes \
                     only grow (to shrink, back up, then restore onto a new stack)",
                    step.name
                );
            }
        }
    }
    Ok(())
}

/// The notes under a plan, on stderr.
pub fn show_notes(plan: &Plan) {
    let notes = notes(plan);
    if !notes.is_empty() {
        crate::render::err("");
        crate::render::err("Notes:");
        for note in notes {
            crate::render::err(&format!("  {note}"));
        }
    }
}

/// What changes do beyond their diff, one line each: downtime, what waits for the next
/// replacement, who loses a way in.
pub fn notes(plan: &Plan) -> Vec<String> {
    let mut notes = Vec::new();
    // Plain RTMP is made only where the stack file asks: a stack made before that loses it.
    for step in plan
        .steps
        .iter()
        .filter(|s| s.op == Op::Delete && s.name == "ingest-listener-tcp-1935")
    {
        notes.push(format!(
            "{}: plain RTMP on 1935 closes: encoders publishing to rtmp:// stop and must move to \
             the `rtmps_url` output (`[ingest] rtmp_plain = true` keeps it open)",
            step.name
        ));
    }
    for step in plan.steps.iter().filter(|s| s.op == Op::Update) {
        let changed = |key: &str| step.changes.iter().find(|c| c.key == key);
        if step.type_name == Instance::TYPE {
            if let Some(c) = changed("instance_type") {
                notes.push(format!(
                    "{}: {} — the instance is stopped, changed and started again (same instance, same data); \
                     MongoDB is down for a minute or two",
                    step.name,
                    change_text(c)
                ));
            }
            if changed("user_data").is_some() {
                notes.push(format!(
                    "{}: the new boot script is recorded; user data runs only at first boot, so it takes effect \
                     when the instance is next replaced (the running database is not touched)",
                    step.name
                ));
            }
        }
        if step.type_name == Group::TYPE && changed("launch_template_version").is_some() {
            let group = ams_engine::view::<Group>(&step.type_name, &step.args);
            let batch = group.as_ref().and_then(|g| g.max_batch).unwrap_or(1);
            let timeout = group
                .as_ref()
                .and_then(|g| g.health_timeout_seconds)
                .unwrap_or(900);
            notes.push(format!(
                "{}: rolls its instances onto the new launch template version, {batch} at a time, \
                 launch before terminate: each new instance must be InService and healthy within {}, \
                 or the roll stops and the old instances keep serving",
                step.name,
                humantime::format_duration(std::time::Duration::from_secs(timeout))
            ));
        }
        if step.type_name == Volume::TYPE {
            if let Some(c) = changed("size_gib") {
                notes.push(format!(
                    "{}: {} — grown in place (ModifyVolume, no downtime); the filesystem follows within 5 minutes",
                    step.name,
                    change_text(c)
                ));
            }
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step(op: Op, type_name: &str, changes: Vec<PropertyChange>) -> Step {
        Step {
            op,
            name: "mongodb".into(),
            type_name: type_name.into(),
            id: Some("i-1".into()),
            changes,
            secret: vec![],
            args: json!(null),
            dependencies: Default::default(),
            protected: Some("mongodb".into()),
        }
    }

    fn change(
        key: &str,
        old: serde_json::Value,
        new: serde_json::Value,
        forces: bool,
    ) -> PropertyChange {
        PropertyChange {
            key: key.into(),
            old: Some(old),
            new: Some(new),
            forces_replace: forces,
        }
    }

    fn plan(steps: Vec<Step>) -> Plan {
        Plan {
            stack: "t".into(),
            steps,
            pending_deletes: vec![],
            outputs: Default::default(),
        }
    }

    #[test]
    fn a_protected_replacement_is_refused_naming_the_property_unless_allowed() {
        let image = change("image_id", json!("ami-1"), json!("ami-2"), true);
        let p = plan(vec![step(Op::Replace, Instance::TYPE, vec![image])]);
        let message = refuse_losses(&p, &[]).expect_err("refused").to_string();
        assert!(message.contains("mongodb (aws:ec2:Instance i-1) would be replaced because image_id changes (ami-1 -> ami-2)"), "{message}");
        assert!(message.contains("--allow-replace mongodb"), "{message}");
        assert!(refuse_losses(&p, &["mongodb".into()]).is_ok());
        assert!(refuse_losses(&p, &["other".into()]).is_err());
        let updated = plan(vec![step(Op::Update, Instance::TYPE, vec![])]);
        assert!(
            refuse_losses(&updated, &[]).is_ok(),
            "in place loses nothing"
        );
    }

    #[test]
    fn a_data_volume_is_replaced_only_by_a_restore() {
        let zone = change("availability_zone", json!("a"), json!("b"), true);
        let moved = plan(vec![step(Op::Replace, Volume::TYPE, vec![zone])]);
        let message = refuse(&moved, &["mongodb".into()])
            .expect_err("refused")
            .to_string();
        assert!(
            message.contains("availability_zone changes (a -> b)"),
            "{message}"
        );
        let snapshot = change("snapshot_id", json!(null), json!("snap-1"), true);
        let restored = plan(vec![step(Op::Replace, Volume::TYPE, vec![snapshot])]);
        assert!(refuse(&restored, &["mongodb".into()]).is_ok());
        assert!(refuse(&restored, &[]).is_err(), "still protected");
    }

    #[test]
    fn a_volume_never_shrinks_and_growth_is_noted() {
        let shrink = plan(vec![step(
            Op::Update,
            Volume::TYPE,
            vec![change("size_gib", json!(200), json!(100), false)],
        )]);
        let message = refuse_impossible(&shrink).expect_err("refused").to_string();
        assert!(
            message.contains("data_volume_gib 100 is smaller than the volume's 200 GiB"),
            "{message}"
        );
        let grow = plan(vec![step(
            Op::Update,
            Volume::TYPE,
            vec![change("size_gib", json!(100), json!(200), false)],
        )]);
        assert!(refuse_impossible(&grow).is_ok());
        assert!(
            notes(&grow)[0].contains("grown in place"),
            "{:?}",
            notes(&grow)
        );
    }

    #[test]
    fn closing_plain_rtmp_says_who_loses_it_and_how_to_keep_it() {
        let mut closed = step(Op::Delete, "aws:elbv2:Listener", vec![]);
        closed.name = "ingest-listener-tcp-1935".into();
        let said = notes(&plan(vec![closed]));
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0].contains("rtmps_url") && said[0].contains("rtmp_plain = true"),
            "{said:?}"
        );
        let mut other = step(Op::Delete, "aws:elbv2:Listener", vec![]);
        other.name = "ingest-listener-udp-4200".into();
        assert!(notes(&plan(vec![other])).is_empty());
    }

    #[test]
    fn an_instance_type_change_says_its_downtime() {
        let resize = plan(vec![step(
            Op::Update,
            Instance::TYPE,
            vec![change(
                "instance_type",
                json!("m5.large"),
                json!("m5.xlarge"),
                false,
            )],
        )]);
        let notes = notes(&resize);
        assert!(
            notes[0].contains("instance_type changes (m5.large -> m5.xlarge)"),
            "{notes:?}"
        );
        assert!(notes[0].contains("down for a minute or two"), "{notes:?}");
    }

    #[test]
    fn moving_mongodb_to_the_private_subnet_says_both_ways_on() {
        let moved = plan(vec![step(
            Op::Replace,
            Instance::TYPE,
            vec![change(
                "subnet_id",
                json!("subnet-public"),
                json!({ "$unknown": true }),
                true,
            )],
        )]);
        let refused = refuse_losses(&moved, &[]).expect_err("refused").to_string();
        for words in [
            "would move MongoDB to another subnet",
            "mongodb (aws:ec2:Instance i-1) would be replaced because subnet_id changes",
            "set `private_database = false` under `[network]`",
            "run it again with `--allow-replace mongodb`",
            "its data volume follows (it is in the same zone)",
            "nothing was changed",
        ] {
            assert!(refused.contains(words), "{words}: {refused}");
        }
        assert!(refuse_losses(&moved, &["mongodb".into()]).is_ok());
        // Another replacement keeps the plain message.
        let resized = plan(vec![step(
            Op::Replace,
            Instance::TYPE,
            vec![change("image_id", json!("ami-1"), json!("ami-2"), true)],
        )]);
        let refused = refuse_losses(&resized, &[])
            .expect_err("refused")
            .to_string();
        assert!(!refused.contains("private_database"), "{refused}");
    }
}
