//! EBS snapshots for the CLI (not a kind: a snapshot taken by hand is not part of the stack's
//! state): take one of a volume, wait until it is complete, list a stack's, describe one.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_ec2::types::{
    ResourceType, Snapshot as Ec2Snapshot, SnapshotState, Tag, TagSpecification,
};
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;

use ams_engine::{ProviderError, StepContext};

use super::{filter, Volume};
use crate::call::OrError;
use crate::kind::Res;
use crate::retry::{classify, Class, Policy};
use crate::Aws;

/// AWS's code for a snapshot id it does not know.
const NOT_FOUND: &str = "InvalidSnapshot.NotFound";

/// A snapshot as the CLI shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub id: String,
    pub volume_id: String,
    /// When it was started, RFC 3339 (`2025-01-31T03:00:12Z`).
    pub started: String,
    /// `pending`, `completed`, `error`, ...
    pub state: String,
    pub size_gib: i32,
    pub description: String,
    pub tags: BTreeMap<String, String>,
}

impl Snapshot {
    fn of(snapshot: &Ec2Snapshot) -> Self {
        let started = snapshot
            .start_time()
            .and_then(|t| t.fmt(Format::DateTime).ok())
            .unwrap_or_default();
        let tags = snapshot
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect();
        Snapshot {
            id: snapshot.snapshot_id().unwrap_or_default().to_string(),
            volume_id: snapshot.volume_id().unwrap_or_default().to_string(),
            started,
            state: snapshot
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            size_gib: snapshot.volume_size().unwrap_or_default(),
            description: snapshot.description().unwrap_or_default().to_string(),
            tags,
        }
    }
}

/// Newest first (by start time), then by id so that the order is stable.
fn newest_first(snapshots: &mut [Ec2Snapshot]) {
    let started = |s: &Ec2Snapshot| s.start_time().map(|t| (t.secs(), t.subsec_nanos()));
    snapshots.sort_by(|a, b| {
        started(b)
            .cmp(&started(a))
            .then_with(|| a.snapshot_id().cmp(&b.snapshot_id()))
    });
}

/// Starts a snapshot of `volume_id`, tagged with `tags` from the start; its id. CreateSnapshot is
/// not idempotent, so it is sent exactly once per attempt; after an error that may hide a success
/// (a throttle, a 5xx, a lost answer) the snapshot that attempt made is looked for (same volume,
/// description and tags, started since) before another attempt, under the retry policy.
pub async fn create(
    aws: &Aws,
    volume_id: &str,
    description: &str,
    tags: &[(String, String)],
) -> Res<String> {
    let mut policy = Policy::new(aws);
    // AWS's clock, not ours, stamps the start: allow for some skew.
    let since = SystemTime::now() - Duration::from_secs(10 * 60);
    loop {
        let error = match create_once(aws, volume_id, description, tags).await {
            Ok(id) => return Ok(id),
            Err(error) => error,
        };
        let class = classify::<Volume>(&error);
        let Some(pause) = policy.next(class).filter(|_| class == Class::Transient) else {
            return Err(error);
        };
        if let Some(made) = made_since(aws, volume_id, description, tags, since).await? {
            return Ok(made);
        }
        tokio::time::sleep(pause).await;
    }
}

/// One CreateSnapshot, sent exactly once.
async fn create_once(
    aws: &Aws,
    volume_id: &str,
    description: &str,
    tags: &[(String, String)],
) -> Res<String> {
    let mut request = aws
        .once
        .ec2
        .create_snapshot()
        .volume_id(volume_id)
        .description(description);
    if !tags.is_empty() {
        let tags = tags
            .iter()
            .map(|(key, value)| Tag::builder().key(key).value(value).build());
        request = request.tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Snapshot)
                .set_tags(Some(tags.collect()))
                .build(),
        );
    }
    let out = request.send().await.or_error()?;
    super::new_id(out.snapshot_id(), "snapshot")
}

/// The newest snapshot of `volume_id` with this description and these tags started since
/// `since`: what an attempt whose answer was lost made.
async fn made_since(
    aws: &Aws,
    volume_id: &str,
    description: &str,
    tags: &[(String, String)],
    since: SystemTime,
) -> Res<Option<String>> {
    let mut filters = vec![filter("volume-id", &[volume_id])];
    for (key, value) in tags {
        filters.push(filter(&format!("tag:{key}"), &[value]));
    }
    let out = aws
        .ec2
        .describe_snapshots()
        .owner_ids("self")
        .set_filters(Some(filters))
        .send()
        .await
        .or_error()?;
    let since = DateTime::from(since);
    let mut found: Vec<Ec2Snapshot> = out
        .snapshots()
        .iter()
        .filter(|s| s.description() == Some(description))
        .filter(|s| s.start_time().is_some_and(|t| *t >= since))
        .cloned()
        .collect();
    newest_first(&mut found);
    Ok(found
        .first()
        .and_then(|s| s.snapshot_id())
        .map(String::from))
}

/// The snapshot `snapshot_id`; `None` when AWS does not know it.
pub async fn describe(aws: &Aws, snapshot_id: &str) -> Res<Option<Snapshot>> {
    Ok(described(aws, snapshot_id)
        .await?
        .as_ref()
        .map(Snapshot::of))
}

/// The snapshot `snapshot_id` as EC2 describes it; `None` when AWS does not know it (yet).
async fn described(aws: &Aws, snapshot_id: &str) -> Res<Option<Ec2Snapshot>> {
    let sent = aws
        .ec2
        .describe_snapshots()
        .snapshot_ids(snapshot_id)
        .send()
        .await
        .or_error();
    match sent {
        Ok(out) => Ok(out.snapshots().first().cloned()),
        Err(e) if e.code.as_deref() == Some(NOT_FOUND) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Stops the instances of stack `stack` that volume `volume_id` is attached to, so that what a
/// snapshot taken next holds is what the database wrote last (mongod shuts down cleanly); the
/// ids of the instances stopped. An instance of another stack is never touched.
pub async fn quiesce(aws: &Aws, ctx: &StepContext, volume_id: &str) -> Res<Vec<String>> {
    let Some(volume) = super::volume::describe(aws, volume_id).await? else {
        return Ok(Vec::new());
    };
    let mut stopped = Vec::new();
    for instance in volume.attachments().iter().filter_map(|a| a.instance_id()) {
        let ours = super::instance::describe(aws, instance)
            .await?
            .is_some_and(|i| {
                i.tags().iter().any(|t| {
                    t.key() == Some(crate::TAG_STACK) && t.value() == Some(ctx.stack.as_str())
                })
            });
        if ours {
            let why = format!("stopping {instance} so that the snapshot of {volume_id} holds what MongoDB wrote last");
            super::instance::stop(aws, ctx, instance, &why).await?;
            stopped.push(instance.to_string());
        }
    }
    Ok(stopped)
}

/// The root volume of instance `instance_id` (a MongoDB adopted with its data there); `None`
/// for an instance that is gone or has no EBS root.
pub async fn root_volume(aws: &Aws, instance_id: &str) -> Res<Option<String>> {
    let Some(instance) = super::instance::describe(aws, instance_id).await? else {
        return Ok(None);
    };
    let root = instance.root_device_name().unwrap_or("/dev/sda1");
    Ok(instance
        .block_device_mappings()
        .iter()
        .find(|m| m.device_name() == Some(root))
        .and_then(|m| m.ebs())
        .and_then(|e| e.volume_id())
        .map(String::from))
}

/// [`root_volume`], with the instance stopped first so that a snapshot taken next holds what
/// the database wrote last. The instance is the stack's own: the caller found it in the stack's
/// state.
pub async fn quiesced_root_volume(
    aws: &Aws,
    ctx: &StepContext,
    instance_id: &str,
) -> Res<Option<String>> {
    let volume = root_volume(aws, instance_id).await?;
    if volume.is_some() {
        let why = format!("stopping {instance_id} so that the snapshot of its root volume holds what MongoDB wrote last");
        super::instance::stop(aws, ctx, instance_id, &why).await?;
    }
    Ok(volume)
}

/// Waits until the snapshot is complete, telling `progress` how far it is each time that
/// changes; an error if it fails, or if it is not complete in time: three hours on AWS (a first
/// snapshot copies every written block of the volume), the delete patience on the emulator
/// (`AMS_STACK_DELETE_PATIENCE` seconds overrides both when longer).
/// A snapshot just started that AWS does not show yet is waited for.
pub async fn wait_completed(aws: &Aws, snapshot_id: &str, progress: impl Fn(&str)) -> Res<()> {
    let started = Instant::now();
    let patience = if aws.is_emulator() {
        aws.delete_patience()
    } else {
        aws.delete_patience().max(Duration::from_secs(3 * 3600))
    };
    let mut said = String::new();
    loop {
        let found = described(aws, snapshot_id).await?;
        let line = match &found {
            Some(s) if s.state() == Some(&SnapshotState::Completed) => return Ok(()),
            Some(s) if s.state() == Some(&SnapshotState::Error) => {
                return Err(ProviderError {
                    code: Some("SnapshotError".into()),
                    message: format!(
                        "snapshot {snapshot_id} failed: {}",
                        s.state_message().unwrap_or("AWS gave no reason")
                    ),
                })
            }
            Some(s) => format!(
                "snapshot {snapshot_id}: {} ({})",
                s.state().map_or("pending", |s| s.as_str()),
                s.progress().unwrap_or("0%")
            ),
            None => format!("snapshot {snapshot_id}: waiting for AWS to show it"),
        };
        if line != said {
            progress(&line);
            said = line;
        }
        if started.elapsed() > patience {
            return Err(ProviderError {
                code: Some("WaitTimeout".into()),
                message: format!(
                    "snapshot {snapshot_id} is not complete after {}s (it goes on in AWS; \
                     AMS_STACK_DELETE_PATIENCE=SECONDS waits longer)",
                    patience.as_secs()
                ),
            });
        }
        tokio::time::sleep(aws.poll_interval).await;
    }
}

/// The snapshots this account owns that carry the tag `tag_key`=`tag_value`, newest first.
pub async fn list(aws: &Aws, tag_key: &str, tag_value: &str) -> Res<Vec<Snapshot>> {
    let mut found = Vec::new();
    let mut pages = aws
        .ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(filter(&format!("tag:{tag_key}"), &[tag_value]))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        found.extend(page.or_error()?.snapshots().iter().cloned());
    }
    newest_first(&mut found);
    Ok(found.iter().map(Snapshot::of).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_is_shown_with_its_start_in_rfc3339_and_its_tags() {
        let listed = Ec2Snapshot::builder()
            .snapshot_id("snap-1")
            .volume_id("vol-1")
            .start_time(DateTime::from_secs(1_738_292_412))
            .state(SnapshotState::Pending)
            .volume_size(50)
            .description("before upgrade")
            .tags(Tag::builder().key("ams-stack:stack").value("prod").build())
            .build();
        let shown = Snapshot::of(&listed);
        assert_eq!(shown.started, "2025-01-31T03:00:12Z");
        assert_eq!((shown.state.as_str(), shown.size_gib), ("pending", 50));
        assert_eq!(shown.tags["ams-stack:stack"], "prod");
        assert_eq!(
            (shown.id.as_str(), shown.volume_id.as_str()),
            ("snap-1", "vol-1")
        );
        assert_eq!(shown.description, "before upgrade");
    }

    #[test]
    fn snapshots_are_listed_newest_first() {
        let at = |id: &str, secs: i64, nanos: u32| {
            Ec2Snapshot::builder()
                .snapshot_id(id)
                .start_time(DateTime::from_secs_and_nanos(secs, nanos))
                .build()
        };
        let mut list = vec![
            at("snap-b", 100, 0),
            at("snap-d", 200, 0),
            at("snap-c", 200, 500_000_000),
            at("snap-a", 100, 0),
        ];
        newest_first(&mut list);
        let ids: Vec<_> = list.iter().filter_map(|s| s.snapshot_id()).collect();
        assert_eq!(ids, ["snap-c", "snap-d", "snap-a", "snap-b"]);
    }
}
