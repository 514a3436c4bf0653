//! MongoDB's data, kept: snapshots before anything deletes its volume (`destroy`'s final
//! snapshot, a replacement's), `backup` on demand, and `restore` onto a volume made from one.
//!
//! Snapshots are tagged with the stack (`ams-stack:stack`), the volume's resource name and why
//! they were taken (`ams-stack:snapshot` = final, replaced, manual; daily ones come from the
//! lifecycle policy with `ams-stack:backup` = daily). ams-stack never deletes a snapshot it took:
//! the lifecycle policy expires only its own daily ones.

use anyhow::{anyhow, bail, Result};
use serde_json::json;

use super::apply::{converge, locked, open, Converge, Opened};
use super::session::DATA_SNAPSHOT;
use super::{ApplyArgs, ChangeArgs, PlanArgs, Workspace};
use crate::cluster;
use crate::render::{self, Styles};
use ams_aws::ec2::snapshot::{self, Snapshot};
use ams_aws::ec2::Volume;
use ams_aws::s3::Bucket;
use ams_aws::{Aws, TAG_NAME, TAG_STACK};
use ams_engine::state::{ResourceState, State};
use ams_engine::{Kind, Op, Plan, StepContext};

/// The tag saying why a snapshot was taken.
pub const TAG_SNAPSHOT: &str = "ams-stack:snapshot";

/// Snapshots every data volume the plan deletes or replaces, and waits for each to complete,
/// before anything is changed; `why` is the snapshot's reason (`final`, `replaced`).
pub async fn before_losses(aws: &Aws, plan: &Plan, state: &State, why: &str) -> Result<()> {
    before_root_data_goes(aws, plan, state, why).await?;
    let doomed = plan
        .steps
        .iter()
        .filter(|s| s.type_name == Volume::TYPE && matches!(s.op, Op::Delete | Op::Replace));
    for step in doomed {
        let Some(volume) = state.get(&step.name) else {
            continue;
        };
        // MongoDB stops first (it would stop before the volume goes anyway): the snapshot then
        // holds its last write, not a crash-consistent copy minutes older than the end.
        let events: ams_engine::EventSink = std::sync::Arc::new(|_| {});
        let ctx = StepContext::new(&state.stack, &volume.name, &volume.type_name, events);
        for instance in snapshot::quiesce(aws, &ctx, &volume.id)
            .await
            .map_err(|e| anyhow!("cannot stop MongoDB before snapshotting {}: {e}", volume.id))?
        {
            render::err(&format!(
                "Stopped {instance} (MongoDB) before snapshotting {}.",
                volume.id
            ));
        }
        let taken = take(aws, &state.stack, volume, why).await?;
        render::err(&format!(
            "Snapshot {taken} of {} ({}) taken before it is {}; ams-stack never deletes it.",
            volume.name,
            volume.id,
            if step.op == Op::Delete {
                "deleted"
            } else {
                "replaced"
            }
        ));
    }
    Ok(())
}

/// A MongoDB adopted with its data on its root volume (no data volume in the state), which the
/// plan deletes or replaces: stopped, and its root volume snapshotted, before anything changes
/// (its root volume goes with it).
async fn before_root_data_goes(aws: &Aws, plan: &Plan, state: &State, why: &str) -> Result<()> {
    let goes = plan
        .steps
        .iter()
        .any(|s| s.name == cluster::MONGODB && matches!(s.op, Op::Delete | Op::Replace));
    let Some(mongodb) = state.get(cluster::MONGODB).filter(|_| goes) else {
        return Ok(());
    };
    if state.get(cluster::MONGODB_DATA).is_some() {
        return Ok(());
    }
    let events: ams_engine::EventSink = std::sync::Arc::new(|_| {});
    let ctx = StepContext::new(&state.stack, &mongodb.name, &mongodb.type_name, events);
    let Some(root) = snapshot::quiesced_root_volume(aws, &ctx, &mongodb.id)
        .await
        .map_err(|e| {
            anyhow!(
                "cannot stop MongoDB ({}) before snapshotting its root volume: {e}",
                mongodb.id
            )
        })?
    else {
        return Ok(());
    };
    let volume = ResourceState {
        name: format!("{}-root", cluster::MONGODB),
        id: root.clone(),
        ..mongodb.clone()
    };
    let taken = take(aws, &state.stack, &volume, why).await?;
    render::err(&format!(
        "Snapshot {taken} of MongoDB's root volume ({root}), where its data is, taken before the instance goes; ams-stack never deletes it."
    ));
    Ok(())
}

/// The recordings buckets the plan deletes that hold anything, with how much (up to 1000).
pub async fn recordings_held(
    aws: &Aws,
    plan: &Plan,
    state: &State,
) -> Result<Vec<(String, usize)>> {
    let mut held = Vec::new();
    for step in plan.steps.iter().filter(|s| s.op == Op::Delete) {
        let Some(bucket) = state.get(&step.name) else {
            continue;
        };
        let keeps_data = ams_engine::view::<Bucket>(&bucket.type_name, &bucket.inputs)
            .is_some_and(|b| b.keeps_data);
        if !keeps_data {
            continue;
        }
        let count = ams_aws::s3::object_count(aws, &bucket.id).await?;
        if count > 0 {
            held.push((bucket.id.clone(), count));
        }
    }
    Ok(held)
}

/// Snapshots `volume` of `stack`, tagged, and waits until it is complete; its id.
async fn take(aws: &Aws, stack: &str, volume: &ResourceState, why: &str) -> Result<String> {
    let tags = [
        (TAG_STACK.to_string(), stack.to_string()),
        (TAG_NAME.to_string(), volume.name.clone()),
        (TAG_SNAPSHOT.to_string(), why.to_string()),
    ];
    let description = format!("ams-stack {stack}: {} ({why})", volume.name);
    let id = snapshot::create(aws, &volume.id, &description, &tags)
        .await
        .map_err(|e| anyhow!("cannot snapshot {} ({}): {e}", volume.name, volume.id))?;
    render::err(&format!(
        "Snapshotting {} ({}) as {id}...",
        volume.name, volume.id
    ));
    snapshot::wait_completed(aws, &id, |line| render::err(&format!("  {line}")))
        .await
        .map_err(|e| anyhow!("snapshot {id} of {} did not complete: {e}", volume.id))?;
    Ok(id)
}

/// The stack's data volumes, as the state has them.
fn data_volumes(state: &State) -> Vec<&ResourceState> {
    state
        .resources
        .iter()
        .filter(|r| r.type_name == Volume::TYPE)
        .collect()
}

/// `backup [STACK]`: a snapshot of MongoDB's data volume now; `--list`: the stack's snapshots.
pub async fn backup((name, _config, aws, backend): &Opened, list: bool, json: bool) -> Result<()> {
    if list {
        let snapshots = snapshot::list(aws, TAG_STACK, name).await?;
        print_list(name, &snapshots, json);
        return Ok(());
    }
    let backend = backend.as_ref();
    locked(backend, "backup", async {
        let state = backend.load().await?;
        let mut volumes: Vec<ResourceState> = data_volumes(&state).into_iter().cloned().collect();
        if volumes.is_empty() {
            // An adopted MongoDB keeps its data on its root volume: that is what is backed up.
            let Some(mongodb) = state.get(cluster::MONGODB) else {
                bail!("stack `{name}` has no data volume to back up; run `ams-stack up {name}` first");
            };
            let root = snapshot::root_volume(aws, &mongodb.id)
                .await?
                .ok_or_else(|| anyhow!("MongoDB ({}) of stack `{name}` has no root volume to back up", mongodb.id))?;
            volumes.push(ResourceState {
                name: format!("{}-root", cluster::MONGODB),
                id: root,
                ..mongodb.clone()
            });
        }
        let mut taken = Vec::new();
        for volume in &volumes {
            let id = take(aws, name, volume, "manual").await?;
            taken.push(json!({ "snapshot": id, "volume": volume.id, "name": volume.name }));
            if !json && volume.type_name == Volume::TYPE {
                render::err(&format!(
                    "Backed up {} ({}) as {id}. Restore it with `ams-stack restore {name} {id} --allow-replace mongodb`.",
                    volume.name, volume.id
                ));
            } else if !json {
                render::err(&format!(
                    "Backed up MongoDB's root volume ({}), where an adopted MongoDB keeps its data, as {id}: a whole disk, which `restore` does not take (docs/OPERATIONS.md, \"Bring an existing cluster\").",
                    volume.id
                ));
            }
        }
        if json {
            println!("{}", json!({ "snapshots": taken }));
        }
        Ok(())
    })
    .await
}

fn print_list(name: &str, snapshots: &[Snapshot], json: bool) {
    if json {
        let rows: Vec<_> = snapshots
            .iter()
            .map(|s| {
                json!({
                    "id": s.id, "volume": s.volume_id, "started": s.started, "state": s.state,
                    "size_gib": s.size_gib, "why": s.tags.get(TAG_SNAPSHOT).or(s.tags.get("ams-stack:backup")),
                })
            })
            .collect();
        println!("{}", json!({ "snapshots": rows }));
        return;
    }
    if snapshots.is_empty() {
        render::err(&format!("Stack `{name}` has no snapshots."));
        return;
    }
    println!(
        "{:<24} {:<24} {:<26} {:>5} {:<10} WHY",
        "SNAPSHOT", "VOLUME", "STARTED", "GIB", "STATE"
    );
    for s in snapshots {
        let why = s
            .tags
            .get(TAG_SNAPSHOT)
            .or(s.tags.get("ams-stack:backup"))
            .map_or("-", String::as_str);
        println!(
            "{:<24} {:<24} {:<26} {:>5} {:<10} {why}",
            s.id, s.volume_id, s.started, s.size_gib, s.state
        );
    }
}

/// `restore [STACK] SNAPSHOT`: MongoDB moves onto a new data volume made from SNAPSHOT (one of
/// this stack's); the volume it leaves is snapshotted, then deleted. Protected: the run must say
/// `--allow-replace mongodb`.
pub async fn restore(
    workspace: &Workspace,
    styles: &Styles,
    stack: Option<String>,
    snapshot_id: &str,
    options: Converge,
) -> Result<()> {
    let opened = open(workspace, stack).await?;
    let (name, config, aws, _) = &opened;
    if config.mongodb.adopted {
        bail!(
            "stack `{name}` adopted its MongoDB, which keeps its data on its root volume: `restore` makes a data volume, which it does not use; move the data onto one first (docs/OPERATIONS.md, \"Bring an existing cluster\")"
        );
    }
    let found = snapshot::describe(aws, snapshot_id).await?.ok_or_else(|| {
        anyhow!(
            "no snapshot {snapshot_id} in {} (see `ams-stack backup {name} --list`)",
            config.region
        )
    })?;
    check_restorable(&found, name, config.mongodb.data_volume.gib)?;
    render::err(&format!(
        "Restoring MongoDB's data from {} (taken {}, {} GiB, of {}).",
        found.id, found.started, found.size_gib, found.volume_id
    ));
    let snapshot = found.id.clone();
    converge(&opened, styles, "restore", options, move |state| {
        state.lookups.insert(DATA_SNAPSHOT.into(), json!(snapshot));
    })
    .await
}

/// Whether `snapshot` may become stack `stack`'s data volume of `gib` GiB.
fn check_restorable(snapshot: &Snapshot, stack: &str, gib: i32) -> Result<()> {
    if snapshot.tags.get(TAG_STACK).map(String::as_str) != Some(stack) {
        bail!(
            "snapshot {} is not of stack `{stack}`'s data (its {TAG_STACK} tag is {}): the boot script mounts the \
             stack's own filesystem, so restore takes only this stack's snapshots",
            snapshot.id,
            snapshot.tags.get(TAG_STACK).map_or("missing".to_string(), |s| format!("`{s}`"))
        );
    }
    if snapshot.state != "completed" {
        bail!(
            "snapshot {} is {}, not completed yet: try again when it is",
            snapshot.id,
            snapshot.state
        );
    }
    if snapshot.size_gib > gib {
        bail!(
            "snapshot {} is {} GiB, larger than `data_volume_gib` ({gib}) in [mongodb]: set it to at least {}",
            snapshot.id,
            snapshot.size_gib,
            snapshot.size_gib
        );
    }
    Ok(())
}

/// What `restore` is asked, as `up` takes it.
pub fn restore_options(stack: Option<String>, change: ChangeArgs, apply: ApplyArgs) -> Converge {
    Converge {
        args: PlanArgs {
            stack,
            ..PlanArgs::default()
        },
        change,
        apply,
        saved: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(stack: Option<&str>, state: &str, gib: i32) -> Snapshot {
        Snapshot {
            id: "snap-1".into(),
            volume_id: "vol-1".into(),
            started: "2026-11-27T03:00:00Z".into(),
            state: state.into(),
            size_gib: gib,
            description: String::new(),
            tags: stack
                .map(|s| {
                    [(TAG_STACK.to_string(), s.to_string())]
                        .into_iter()
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    #[test]
    fn only_this_stacks_completed_snapshots_that_fit_are_restored() {
        assert!(check_restorable(&snapshot(Some("prod"), "completed", 100), "prod", 100).is_ok());
        let other = check_restorable(&snapshot(Some("dev"), "completed", 100), "prod", 100);
        assert!(other
            .expect_err("refused")
            .to_string()
            .contains("tag is `dev`"));
        let untagged = check_restorable(&snapshot(None, "completed", 100), "prod", 100);
        assert!(untagged
            .expect_err("refused")
            .to_string()
            .contains("tag is missing"));
        let pending = check_restorable(&snapshot(Some("prod"), "pending", 100), "prod", 100);
        assert!(pending
            .expect_err("refused")
            .to_string()
            .contains("not completed yet"));
        let big = check_restorable(&snapshot(Some("prod"), "completed", 200), "prod", 100);
        assert!(big
            .expect_err("refused")
            .to_string()
            .contains("set it to at least 200"));
    }
}
