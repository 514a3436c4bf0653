//! An EBS data volume (MongoDB's data): always gp3, encrypted as asked, made empty or restored
//! from a snapshot. Its size (growth only), IOPS, throughput and extra tags change in place;
//! attaching it is [`super::VolumeAttachment`]'s business.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{
    ResourceType, Tag, TagSpecification, Volume as Ec2Volume, VolumeModification,
    VolumeModificationState, VolumeState, VolumeType,
};
use serde::{Deserialize, Serialize};

use ams_engine::{Kind, Outputs, ProviderError};

use super::listing::{find_live, read_listed};
use super::{answered, ec2_tags, filter, new_id};
use crate::call::OrError;
use crate::kind::{AwsKind, Codes, Ctx, Current, Res};
use crate::names::tags as tags_of;
use crate::Aws;

/// gp3's baseline, what a volume gets when it asks for no IOPS or throughput of its own.
pub const GP3_IOPS: i32 = 3000;
pub const GP3_THROUGHPUT: i32 = 125;

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:ec2:Volume", outputs = VolumeOutputs)]
pub struct Volume {
    #[kind(replace)]
    pub availability_zone: String,
    /// Grows in place (ModifyVolume); EBS never shrinks a volume.
    pub size_gib: i32,
    /// `None`: gp3's baseline ([`GP3_IOPS`]).
    pub iops: Option<i32>,
    /// MiB/s; `None`: gp3's baseline ([`GP3_THROUGHPUT`]).
    pub throughput: Option<i32>,
    #[kind(replace)]
    pub encrypted: bool,
    /// The snapshot the volume is restored from.
    #[kind(replace)]
    pub snapshot_id: Option<String>,
    /// Tags beyond the stack's own (a backup policy's target tag, say); the stack's own keys
    /// cannot be overridden here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Serialize, Deserialize, Outputs)]
pub struct VolumeOutputs {
    pub id: String,
    pub availability_zone: String,
    pub size_gib: i32,
}

/// The volume `id` as EC2 describes it; `None` when it is gone.
pub(super) async fn describe(aws: &Aws, id: &str) -> Res<Option<Ec2Volume>> {
    let out = aws
        .ec2
        .describe_volumes()
        .volume_ids(id)
        .send()
        .await
        .or_gone::<Volume>()?;
    Ok(out.and_then(|o| o.volumes().first().cloned()))
}

/// Whether the volume is gone or going.
fn ending(volume: &Ec2Volume) -> bool {
    matches!(
        volume.state(),
        Some(VolumeState::Deleting | VolumeState::Deleted)
    )
}

/// The stack's own tags and the extra ones, an extra tag never overriding an own one.
fn all_tags(own: Vec<Tag>, extra: &BTreeMap<String, String>) -> Vec<Tag> {
    let reserved: Vec<String> = own
        .iter()
        .filter_map(|t| t.key().map(String::from))
        .collect();
    let extra = extra
        .iter()
        .filter(|(key, _)| !reserved.contains(key))
        .map(|(key, value)| Tag::builder().key(key).value(value).build());
    own.into_iter().chain(extra).collect()
}

/// What to do to the extra tags: set those whose live value differs from the wanted one, and
/// delete those applied before (`old`) and wanted no more. Tags set by others are left alone.
fn tag_changes(
    old: &BTreeMap<String, String>,
    wanted: &BTreeMap<String, String>,
    live: &BTreeMap<String, String>,
) -> (Vec<(String, String)>, Vec<String>) {
    let set = wanted
        .iter()
        .filter(|(key, value)| live.get(*key) != Some(value))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let delete = old
        .keys()
        .filter(|key| !wanted.contains_key(*key) && live.contains_key(*key))
        .cloned()
        .collect();
    (set, delete)
}

/// A performance setting as the live read reports it: the declared `None` stays `None` while
/// the volume has gp3's baseline (`default`), so that an unchanged volume shows no drift.
fn live_setting(declared: Option<i32>, live: Option<i32>, default: i32) -> Option<i32> {
    match (declared, live) {
        (_, None) => declared,
        (None, Some(live)) if live == default => None,
        (_, Some(live)) => Some(live),
    }
}

/// A volume's size (GiB), IOPS and throughput (MiB/s).
type Performance = (i32, i32, i32);
/// What a ModifyVolume asks for: the size, IOPS and throughput that change.
type Asked = (Option<i32>, Option<i32>, Option<i32>);

/// What a ModifyVolume must ask for to bring the volume from `live` to `wanted`; `None` when
/// nothing differs; an error when the size would shrink.
fn modification(id: &str, live: Performance, wanted: Performance) -> Res<Option<Asked>> {
    if wanted.0 < live.0 {
        return Err(ProviderError {
            code: Some("VolumeShrink".into()),
            message: format!(
                "volume {id} cannot shrink from {} GiB to {} GiB: EBS volumes only grow \
                 (restore a snapshot to a new, smaller volume instead)",
                live.0, wanted.0
            ),
        });
    }
    let changed = |live: i32, wanted: i32| (live != wanted).then_some(wanted);
    let asked = (
        changed(live.0, wanted.0),
        changed(live.1, wanted.1),
        changed(live.2, wanted.2),
    );
    Ok((asked != (None, None, None)).then_some(asked))
}

/// The newest of a volume's modifications (by start time; the last listed among equals).
/// Volume `id`'s newest modification; `None` when it has none, or is gone.
async fn last_modification(aws: &Aws, id: &str) -> Res<Option<VolumeModification>> {
    let out = aws
        .ec2
        .describe_volumes_modifications()
        .volume_ids(id)
        .send()
        .await
        .or_gone::<Volume>()?;
    Ok(out.and_then(|o| newest(o.volumes_modifications()).cloned()))
}

fn newest(modifications: &[VolumeModification]) -> Option<&VolumeModification> {
    let start = |m: &VolumeModification| m.start_time().map(|t| (t.secs(), t.subsec_nanos()));
    modifications
        .iter()
        .enumerate()
        .max_by_key(|(i, m)| (start(m), *i))
        .map(|(_, m)| m)
}

impl Volume {
    fn wanted(&self) -> Performance {
        (
            self.size_gib,
            self.iops.unwrap_or(GP3_IOPS),
            self.throughput.unwrap_or(GP3_THROUGHPUT),
        )
    }

    /// Sends the ModifyVolume that brings the volume to its size and performance, and waits until
    /// EBS has taken it (`optimizing` or `completed`: the volume is usable at its new size; the
    /// filesystem's growth is the instance's business).
    async fn modify(&self, aws: &Aws, ctx: &Ctx, live: &Ec2Volume) -> Res<()> {
        let id = answered(live.volume_id(), "the volume's id")?;
        let now = (
            live.size().unwrap_or_default(),
            live.iops().unwrap_or(GP3_IOPS),
            live.throughput().unwrap_or(GP3_THROUGHPUT),
        );
        let Some((size, iops, throughput)) = modification(&id, now, self.wanted())? else {
            return Ok(());
        };
        let (gib, wanted_iops, mibs) = self.wanted();
        ctx.waiting(format!(
            "modifying volume {id} to {gib} GiB, {wanted_iops} IOPS, {mibs} MiB/s"
        ));
        if !self.under_way(aws, &id).await? {
            self.last_modification_completed(aws, ctx, &id).await?;
            aws.ec2
                .modify_volume()
                .volume_id(&id)
                .set_size(size)
                .set_iops(iops)
                .set_throughput(throughput)
                .send()
                .await
                .or_error()?;
        }
        let what = format!("volume {id}'s modification to be taken (optimizing)");
        aws.wait_for(ctx, &what, || async {
            let out = aws
                .ec2
                .describe_volumes_modifications()
                .volume_ids(&id)
                .send()
                .await
                .or_error()?;
            match newest(out.volumes_modifications()).and_then(|m| m.modification_state()) {
                Some(VolumeModificationState::Optimizing | VolumeModificationState::Completed) => {
                    Ok(Some(()))
                }
                Some(VolumeModificationState::Failed) => Err(ProviderError {
                    code: Some("VolumeModificationFailed".into()),
                    message: format!(
                        "the modification of volume {id} failed: {}",
                        newest(out.volumes_modifications())
                            .and_then(|m| m.status_message())
                            .unwrap_or("EBS gave no reason")
                    ),
                }),
                _ => Ok(None),
            }
        })
        .await
    }

    /// Waits until the volume's last modification, if any, has `completed`: EBS takes a new one
    /// only then (ModifyVolume API reference: `IncorrectModificationState`), and `optimizing`
    /// can last hours on a large volume; the wait says so, and its end says what to do.
    async fn last_modification_completed(&self, aws: &Aws, ctx: &Ctx, id: &str) -> Res<()> {
        let what = format!(
            "volume {id}'s last modification to complete (EBS takes a new one only then; optimizing can take hours)"
        );
        let waited = aws
            .wait_for(ctx, &what, || async {
                let last = last_modification(aws, id).await?;
                Ok(match last.as_ref().and_then(|m| m.modification_state()) {
                    Some(
                        VolumeModificationState::Modifying | VolumeModificationState::Optimizing,
                    ) => None,
                    _ => Some(()),
                })
            })
            .await;
        waited.map_err(|e| match e.code.as_deref() {
            Some("WaitTimeout") => ProviderError {
                code: Some("IncorrectModificationState".into()),
                message: format!(
                    "volume {id} is still busy with its last modification, and EBS takes a new one only after it completed (a limited number a day): run `up` again later ({})",
                    e.message
                ),
            },
            _ => e,
        })
    }

    /// Whether the volume's newest modification, still `modifying`, is the one asked (an
    /// earlier attempt's, whose answer was lost): EBS refuses another until it is taken.
    async fn under_way(&self, aws: &Aws, id: &str) -> Res<bool> {
        let (gib, iops, mibs) = self.wanted();
        Ok(last_modification(aws, id).await?.is_some_and(|m| {
            m.modification_state() == Some(&VolumeModificationState::Modifying)
                && m.target_size() == Some(gib)
                && m.target_iops().is_none_or(|t| t == iops)
                && m.target_throughput().is_none_or(|t| t == mibs)
        }))
    }

    /// Sets and deletes extra tags so that the volume carries those asked (`old`: those applied
    /// before).
    async fn retag(
        &self,
        aws: &Aws,
        ctx: &Ctx,
        live: &Ec2Volume,
        old: &BTreeMap<String, String>,
    ) -> Res<()> {
        let id = answered(live.volume_id(), "the volume's id")?;
        let tags = |tags: &[Tag]| -> BTreeMap<String, String> {
            let pairs = tags.iter().map(|t| (t.key(), t.value()));
            let pairs = pairs.filter_map(|(k, v)| Some((k?.to_string(), v?.to_string())));
            pairs.collect()
        };
        let own: Vec<String> = tags_of(ctx).into_iter().map(|(key, _)| key).collect();
        let wanted: BTreeMap<_, _> = self
            .tags
            .iter()
            .filter(|(k, _)| !own.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let (set, delete) = tag_changes(old, &wanted, &tags(live.tags()));
        // A call with no tag is refused, and there is nothing to do.
        if !set.is_empty() {
            let set = set
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build());
            let request = aws.ec2.create_tags().resources(&id);
            request
                .set_tags(Some(set.collect()))
                .send()
                .await
                .or_error()?;
        }
        if !delete.is_empty() {
            let delete = delete.into_iter().map(|k| Tag::builder().key(k).build());
            let request = aws.ec2.delete_tags().resources(&id);
            request
                .set_tags(Some(delete.collect()))
                .send()
                .await
                .or_error()?;
        }
        Ok(())
    }
}

/// AWS's code for a volume that is attached (to delete) or not available (to attach).
pub const IN_USE: &str = "VolumeInUse";

impl AwsKind for Volume {
    const NOT_FOUND: Codes = &["InvalidVolume.NotFound"];
    /// DeleteVolume's refusal while the volume is still attached.
    const BUSY: Codes = &[IN_USE];
    /// The volume itself right after its create; a snapshot just taken.
    const NOT_YET_VISIBLE: Codes = &["InvalidVolume.NotFound", "InvalidSnapshot.NotFound"];

    async fn create(&self, aws: &Aws, ctx: &Ctx) -> Res<String> {
        let tags = TagSpecification::builder()
            .resource_type(ResourceType::Volume)
            .set_tags(Some(all_tags(ec2_tags(ctx), &self.tags)))
            .build();
        let out = aws
            .once
            .ec2
            .create_volume()
            .availability_zone(&self.availability_zone)
            .volume_type(VolumeType::Gp3)
            .size(self.size_gib)
            .set_iops(self.iops)
            .set_throughput(self.throughput)
            .encrypted(self.encrypted)
            .set_snapshot_id(self.snapshot_id.clone())
            .set_client_token(ctx.token.clone())
            .tag_specifications(tags)
            .send()
            .await
            .or_error()?;
        new_id(out.volume_id(), "volume")
    }

    /// A volume tagged as this step's, not being deleted.
    async fn find(&self, aws: &Aws, ctx: &Ctx) -> Res<Option<String>> {
        let state = filter("status", &["creating", "available", "in-use"]);
        find_live::<Self>(aws, ctx, state).await
    }

    /// Waits until the volume can be used: `available`, or `in-use` (a volume found after a
    /// crash may be attached already).
    async fn finish(&self, aws: &Aws, ctx: &Ctx, id: &str) -> Res<Self::Outputs> {
        let what = format!("volume {id} to be available");
        let volume = aws
            .wait_for(ctx, &what, || async {
                let volume = describe(aws, id).await?;
                match volume.as_ref().and_then(|v| v.state()) {
                    Some(VolumeState::Available | VolumeState::InUse) => Ok(volume),
                    Some(VolumeState::Error) => Err(ProviderError {
                        code: Some("VolumeError".into()),
                        message: format!("volume {id} failed to be made (state `error`)"),
                    }),
                    Some(VolumeState::Deleting | VolumeState::Deleted) => Err(ProviderError::new(
                        format!("volume {id} was deleted while made"),
                    )),
                    _ => Ok(None),
                }
            })
            .await?;
        Ok(VolumeOutputs {
            id: id.to_string(),
            availability_zone: answered(
                volume.availability_zone(),
                &format!("the availability zone of volume {id}"),
            )?,
            size_gib: volume.size().unwrap_or(self.size_gib),
        })
    }

    /// Grows the volume and changes its IOPS and throughput (ModifyVolume; a smaller size is
    /// refused, naming both sizes), and its extra tags.
    async fn update(&self, aws: &Aws, ctx: &Ctx, current: &Current<Self>) -> Res<Self::Outputs> {
        let id = &current.id;
        let live = describe(aws, id)
            .await?
            .filter(|v| !ending(v))
            .ok_or_else(|| ProviderError::new(format!("volume {id} is gone")))?;
        self.modify(aws, ctx, &live).await?;
        self.retag(aws, ctx, &live, &current.args.tags).await?;
        Ok(VolumeOutputs {
            size_gib: self.size_gib,
            ..current.outputs.clone()
        })
    }

    /// DeleteVolume. While the volume is still attached AWS refuses (`VolumeInUse`): a busy
    /// delete, tried again for the delete patience.
    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        aws.ec2
            .delete_volume()
            .volume_id(&current.id)
            .send()
            .await
            .done_or_gone::<Self>()
    }

    /// The live size, IOPS and throughput of the volumes still there, in one batched read.
    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        read_listed::<Self>(aws, resources, "volume-id", ending, |stored, volume| {
            stored.iops = live_setting(stored.iops, volume.iops(), GP3_IOPS);
            stored.throughput =
                live_setting(stored.throughput, volume.throughput(), GP3_THROUGHPUT);
            if let Some(size) = volume.size() {
                stored.size_gib = size;
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn data() -> Volume {
        Volume {
            availability_zone: "us-east-1a".into(),
            size_gib: 50,
            iops: None,
            throughput: None,
            encrypted: true,
            snapshot_id: None,
            tags: BTreeMap::from([("ams-stack:backup".into(), "daily".into())]),
        }
    }

    #[test]
    fn what_replaces_and_what_changes_in_place() {
        let mut replace = Volume::replace_on();
        replace.sort();
        assert_eq!(replace, ["availability_zone", "encrypted", "snapshot_id"]);
        let json = serde_json::to_value(data()).unwrap();
        assert_eq!(
            json,
            json!({ "availability_zone": "us-east-1a", "size_gib": 50, "encrypted": true,
                    "tags": { "ams-stack:backup": "daily" } })
        );
        let outputs = VolumeOutputs {
            id: "vol-1".into(),
            availability_zone: "us-east-1a".into(),
            size_gib: 50,
        };
        assert_eq!(
            serde_json::to_value(outputs).unwrap(),
            json!({ "id": "vol-1", "availability_zone": "us-east-1a", "size_gib": 50 })
        );
    }

    #[test]
    fn a_volume_grows_and_never_shrinks() {
        let live = (50, 3000, 125);
        assert_eq!(modification("vol-1", live, live).unwrap(), None);
        assert_eq!(
            modification("vol-1", live, (80, 3000, 125)).unwrap(),
            Some((Some(80), None, None))
        );
        assert_eq!(
            modification("vol-1", live, (50, 6000, 250)).unwrap(),
            Some((None, Some(6000), Some(250)))
        );
        let refused = modification("vol-1", live, (40, 3000, 125)).unwrap_err();
        assert!(
            refused.message.contains("from 50 GiB to 40 GiB"),
            "{}",
            refused.message
        );
        assert!(refused.message.contains("vol-1"));
        assert_eq!(data().wanted(), (50, GP3_IOPS, GP3_THROUGHPUT));
    }

    #[test]
    fn the_baseline_reads_as_not_declared() {
        assert_eq!(live_setting(None, Some(3000), GP3_IOPS), None);
        assert_eq!(live_setting(None, Some(4000), GP3_IOPS), Some(4000));
        assert_eq!(live_setting(Some(4000), Some(3000), GP3_IOPS), Some(3000));
        assert_eq!(live_setting(Some(4000), None, GP3_IOPS), Some(4000));
    }

    #[test]
    fn extra_tags_are_set_and_removed_but_never_override_the_stacks_own() {
        let own = vec![Tag::builder().key("ams-stack:stack").value("prod").build()];
        let extra = BTreeMap::from([
            ("ams-stack:stack".to_string(), "other".to_string()),
            ("backup".to_string(), "daily".to_string()),
        ]);
        let tags = all_tags(own, &extra);
        let pairs: Vec<_> = tags
            .iter()
            .map(|t| (t.key().unwrap(), t.value().unwrap()))
            .collect();
        assert_eq!(pairs, [("ams-stack:stack", "prod"), ("backup", "daily")]);

        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let old = map(&[("backup", "daily"), ("team", "a")]);
        let wanted = map(&[("backup", "weekly"), ("cost", "db")]);
        let live = map(&[("backup", "daily"), ("team", "a"), ("Name", "prod-data")]);
        let (set, delete) = tag_changes(&old, &wanted, &live);
        assert_eq!(
            set,
            [
                ("backup".into(), "weekly".into()),
                ("cost".into(), "db".into())
            ]
        );
        assert_eq!(delete, ["team".to_string()]);
        assert_eq!(tag_changes(&wanted, &wanted, &wanted), (vec![], vec![]));
    }

    #[test]
    fn the_newest_modification_is_the_one_waited_for() {
        use aws_smithy_types::DateTime;
        let at = |secs: i64, state: VolumeModificationState| {
            VolumeModification::builder()
                .start_time(DateTime::from_secs(secs))
                .modification_state(state)
                .build()
        };
        let listed = [
            at(200, VolumeModificationState::Modifying),
            at(100, VolumeModificationState::Completed),
        ];
        let state = newest(&listed).and_then(|m| m.modification_state());
        assert_eq!(state, Some(&VolumeModificationState::Modifying));
        assert!(newest(&[]).is_none());
    }

    #[test]
    fn an_attached_volume_makes_its_delete_busy() {
        use crate::retry::{classify, Class};
        let refused = ProviderError {
            code: Some(IN_USE.into()),
            message: "ec2:DeleteVolume: VolumeInUse: Volume vol-1 is currently attached".into(),
        };
        assert_eq!(classify::<Volume>(&refused), Class::Busy);
        assert_eq!(classify::<Volume>(&ProviderError::new("x")), Class::Final);
    }
}
