//! A data volume attached to an instance at a device. Its create MOVES the volume, because a
//! replacement is made before what it replaces is deleted: a new instance's attachment is made
//! while the old instance still holds the volume, and a restored volume is attached while the
//! old one still sits at the device. So the create stops the instance that holds the volume
//! (MongoDB shuts down cleanly) and detaches it, stops the target if another volume sits at the
//! device and detaches that one, attaches, and starts the target again if it stopped it. What it
//! will do is worked out first ([`plan`], pure), so a refusal (another zone, someone else's
//! instance, the root device) stops nothing.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{
    Instance as Ec2Instance, InstanceStateName, Volume as Ec2Volume, VolumeAttachmentState,
    VolumeState,
};
use serde::{Deserialize, Serialize};

use ams_engine::{Input, Kind, Outputs, ProviderError};

use super::instance::{self, settled};
use super::listing::Listed;
use super::{filter, volume, Volume};
use crate::call::OrError;
use crate::kind::{AwsKind, Codes, Ctx, Current, Res};
use crate::names::TAG_STACK;
use crate::Aws;

#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:ec2:VolumeAttachment", outputs = VolumeAttachmentOutputs, immutable)]
pub struct VolumeAttachment {
    pub volume_id: Input<String>,
    pub instance_id: Input<String>,
    /// The device name given to EC2 (`/dev/sdf`); on Nitro instances the kernel names the disk
    /// otherwise (NVMe), which the boot script finds by the volume's id.
    pub device: String,
}

#[derive(Clone, Serialize, Deserialize, Outputs)]
pub struct VolumeAttachmentOutputs {
    /// `VOLUME:INSTANCE` ([`attachment_id`]).
    pub id: String,
    pub volume_id: String,
    pub instance_id: String,
    pub device: String,
}

/// The id of the attachment of `volume` to `instance`: `vol-...:i-...`.
pub fn attachment_id(volume: &str, instance: &str) -> String {
    format!("{volume}:{instance}")
}

/// The volume and the instance an attachment id names.
pub fn parse_attachment_id(id: &str) -> Option<(&str, &str)> {
    id.split_once(':')
        .filter(|(v, i)| v.starts_with("vol-") && i.starts_with("i-"))
}

/// Whether two device names are the same attachment point: EC2 takes `/dev/sdf` and `xvdf` for
/// the same one.
fn same_device(a: &str, b: &str) -> bool {
    let plain = |d: &str| {
        let d = d.trim_start_matches("/dev/");
        d.strip_prefix("xvd")
            .map_or_else(|| d.to_string(), |rest| format!("sd{rest}"))
    };
    plain(a) == plain(b)
}

/// What the move needs to know of an instance.
#[derive(Clone, Debug, Default)]
struct InstanceView {
    id: String,
    zone: String,
    /// The value of its `ams-stack:stack` tag.
    stack: Option<String>,
    root_device: Option<String>,
}

impl InstanceView {
    fn of(instance: &Ec2Instance) -> Self {
        let tag = instance
            .tags()
            .iter()
            .find(|t| t.key() == Some(TAG_STACK))
            .and_then(|t| t.value());
        InstanceView {
            id: instance.instance_id().unwrap_or_default().to_string(),
            zone: (instance.placement())
                .and_then(|p| p.availability_zone())
                .unwrap_or_default()
                .to_string(),
            stack: tag.map(String::from),
            root_device: instance.root_device_name().map(String::from),
        }
    }
}

/// One volume attached somewhere: (volume, instance, device).
#[derive(Clone, Debug, PartialEq)]
struct Attached {
    volume: String,
    instance: String,
    device: String,
}

/// The attachments (attaching or attached) a volume lists.
fn attachments_of(volume: &Ec2Volume) -> Vec<Attached> {
    let held = |a: &&aws_sdk_ec2::types::VolumeAttachment| {
        matches!(
            a.state(),
            Some(VolumeAttachmentState::Attaching | VolumeAttachmentState::Attached) | None
        )
    };
    volume
        .attachments()
        .iter()
        .filter(held)
        .map(|a| Attached {
            volume: volume.volume_id().unwrap_or_default().to_string(),
            instance: a.instance_id().unwrap_or_default().to_string(),
            device: a.device().unwrap_or_default().to_string(),
        })
        .collect()
}

/// One step of a move.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    /// Stop the instance (and wait until it is stopped), saying why.
    Stop(String, String),
    /// Detach a volume from an instance (and wait until it is available), saying why.
    Detach(Attached, String),
    Attach,
    /// Start the instance this move stopped (and wait until it runs).
    Start(String),
}

/// What the attachment of `volume` (in `zone`, attached as `held`) to `target` at `device`
/// takes, given the volumes attached to the target (`occupants`) and the instances that hold the
/// volume (`holders`); the volume is moved only from this stack's instances (`stack`).
fn plan(
    volume: (&str, &str, &[Attached]),
    target: &InstanceView,
    occupants: &[Attached],
    holders: &[InstanceView],
    device: &str,
    stack: &str,
) -> Res<Vec<Step>> {
    let (volume, zone, held) = volume;
    let refused = |message: String| Err(ProviderError::new(message));
    if zone != target.zone {
        return refused(format!(
            "volume {volume} is in {zone} and instance {} in {}: a volume attaches only to an \
             instance in its own availability zone",
            target.id, target.zone
        ));
    }
    if target
        .root_device
        .as_deref()
        .is_some_and(|root| same_device(root, device))
    {
        return refused(format!(
            "{device} is the root device of instance {}: the data volume needs another device",
            target.id
        ));
    }
    let mut steps = Vec::new();
    let mut at_target = Vec::new();
    let mut here = false;
    for attached in held {
        if attached.instance == target.id {
            if same_device(&attached.device, device) {
                here = true;
            } else {
                let why = format!(
                    "detaching volume {volume} from {} of {} to attach it at {device}",
                    attached.device, target.id
                );
                at_target.push(Step::Detach(attached.clone(), why));
            }
            continue;
        }
        let holder = holders.iter().find(|h| h.id == attached.instance);
        if let Some(holder) = holder {
            if holder.stack.as_deref() != Some(stack) {
                return refused(format!(
                    "volume {volume} is attached to instance {}, which is not this stack's (it \
                     has no tag {TAG_STACK}={stack}): ams-stack moves a volume only from its own \
                     instances; detach it there first",
                    holder.id
                ));
            }
            let why = format!(
                "stopping {} so that MongoDB shuts down cleanly before its data volume {volume} \
                 moves to {}",
                holder.id, target.id
            );
            steps.push(Step::Stop(holder.id.clone(), why));
        }
        let why = format!(
            "detaching volume {volume} from {} to attach it to {}",
            attached.instance, target.id
        );
        steps.push(Step::Detach(attached.clone(), why));
    }
    for occupant in occupants {
        if occupant.volume != volume && same_device(&occupant.device, device) {
            let why = format!(
                "detaching volume {} from {device} of {} to attach volume {volume} there",
                occupant.volume, target.id
            );
            at_target.push(Step::Detach(occupant.clone(), why));
        }
    }
    if !at_target.is_empty() {
        let why = format!(
            "stopping {} to attach volume {volume} at {device} (MongoDB is down until it runs \
             again)",
            target.id
        );
        steps.push(Step::Stop(target.id.clone(), why));
        steps.extend(at_target);
    }
    if !here {
        steps.push(Step::Attach);
    }
    if steps
        .iter()
        .any(|s| matches!(s, Step::Stop(id, _) if *id == target.id))
    {
        steps.push(Step::Start(target.id.clone()));
    }
    Ok(steps)
}

/// Waits until `check` accepts what EC2 says of volume `id` (`None`: gone).
async fn wait_volume(
    aws: &Aws,
    ctx: &Ctx,
    id: &str,
    what: &str,
    check: impl Fn(Option<&Ec2Volume>) -> bool,
) -> Res<()> {
    aws.wait_for(ctx, what, || async {
        Ok(check(volume::describe(aws, id).await?.as_ref()).then_some(()))
    })
    .await
}

/// Whether `volume` (`None`: gone) is attached to `instance`.
fn attached_to(volume: Option<&Ec2Volume>, instance: &str) -> bool {
    volume.is_some_and(|v| attachments_of(v).iter().any(|a| a.instance == instance))
}

/// Detaches `attached` (nothing to do when it is detached already) and waits until the volume is
/// no longer attached to that instance.
async fn detach(aws: &Aws, ctx: &Ctx, attached: &Attached, why: &str) -> Res<()> {
    ctx.waiting(why);
    aws.ec2
        .detach_volume()
        .volume_id(&attached.volume)
        .instance_id(&attached.instance)
        .send()
        .await
        .done_or_gone::<VolumeAttachment>()?;
    let what = format!("volume {} to be detached", attached.volume);
    wait_volume(aws, ctx, &attached.volume, &what, |v| {
        !attached_to(v, &attached.instance)
            && v.is_none_or(|v| v.state() != Some(&VolumeState::InUse))
    })
    .await
}

impl VolumeAttachment {
    fn ids(&self) -> Res<(String, String)> {
        Ok((
            self.volume_id.get()?.clone(),
            self.instance_id.get()?.clone(),
        ))
    }

    /// The instances that hold the volume, other than `target`, as EC2 describes them.
    async fn holders(aws: &Aws, held: &[Attached], target: &str) -> Res<Vec<InstanceView>> {
        let mut holders = Vec::new();
        for attached in held.iter().filter(|a| a.instance != target) {
            if let Some(found) = instance::describe(aws, &attached.instance).await? {
                holders.push(InstanceView::of(&found));
            }
        }
        Ok(holders)
    }

    /// The volumes attached to `instance`.
    async fn occupants(aws: &Aws, instance: &str) -> Res<Vec<Attached>> {
        let found =
            Volume::describe_all(aws, filter("attachment.instance-id", &[instance])).await?;
        let all = found.iter().flat_map(attachments_of);
        Ok(all.filter(|a| a.instance == instance).collect())
    }

    async fn attach(&self, aws: &Aws, ctx: &Ctx, volume: &str, instance: &str) -> Res<()> {
        ctx.waiting(format!(
            "attaching volume {volume} to {instance} at {}",
            self.device
        ));
        aws.ec2
            .attach_volume()
            .volume_id(volume)
            .instance_id(instance)
            .device(&self.device)
            .send()
            .await
            .or_error()?;
        self.wait_attached(aws, ctx, volume, instance).await
    }

    async fn wait_attached(&self, aws: &Aws, ctx: &Ctx, volume: &str, instance: &str) -> Res<()> {
        let what = format!("volume {volume} to be attached to {instance}");
        aws.wait_for(ctx, &what, || async {
            let found = volume::describe(aws, volume).await?.ok_or_else(|| {
                ProviderError::new(format!("volume {volume} is gone while being attached"))
            })?;
            let attached = found.attachments().iter().any(|a| {
                a.instance_id() == Some(instance)
                    && a.state() == Some(&VolumeAttachmentState::Attached)
            });
            Ok(attached.then_some(()))
        })
        .await
    }

    fn outputs(&self, volume: &str, instance: &str) -> VolumeAttachmentOutputs {
        VolumeAttachmentOutputs {
            id: attachment_id(volume, instance),
            volume_id: volume.to_string(),
            instance_id: instance.to_string(),
            device: self.device.clone(),
        }
    }
}

impl AwsKind for VolumeAttachment {
    /// The volume, the instance or the attachment is gone; a volume that is not attached
    /// (`IncorrectState`) has nothing to detach.
    const NOT_FOUND: Codes = &[
        "InvalidVolume.NotFound",
        "InvalidInstanceID.NotFound",
        "InvalidAttachment.NotFound",
        "IncorrectState",
    ];
    /// The volume or the instance was just made.
    const NOT_YET_VISIBLE: Codes = &["InvalidVolume.NotFound", "InvalidInstanceID.NotFound"];

    /// Moves the volume to the instance (see the module's documentation); its id.
    async fn create(&self, aws: &Aws, ctx: &Ctx) -> Res<String> {
        let (volume_id, instance_id) = self.ids()?;
        // Neither the volume nor the instance between two states.
        let what = format!("volume {volume_id} to be available");
        wait_volume(aws, ctx, &volume_id, &what, |v| {
            v.is_some_and(|v| {
                matches!(v.state(), Some(VolumeState::Available | VolumeState::InUse))
            })
        })
        .await?;
        if settled(aws, ctx, &instance_id).await? == Some(InstanceStateName::Terminated) {
            return Err(ProviderError::new(format!(
                "instance {instance_id} is terminated: no volume can be attached to it"
            )));
        }
        let volume = volume::describe(aws, &volume_id)
            .await?
            .ok_or_else(|| ProviderError::new(format!("volume {volume_id} is gone")))?;
        let target = instance::describe(aws, &instance_id)
            .await?
            .ok_or_else(|| ProviderError::new(format!("instance {instance_id} is gone")))?;
        let held = attachments_of(&volume);
        let zone = volume.availability_zone().unwrap_or_default();
        let steps = plan(
            (&volume_id, zone, &held),
            &InstanceView::of(&target),
            &Self::occupants(aws, &instance_id).await?,
            &Self::holders(aws, &held, &instance_id).await?,
            &self.device,
            &ctx.stack,
        )?;
        for step in steps {
            match step {
                Step::Stop(id, why) => instance::stop(aws, ctx, &id, &why).await?,
                Step::Detach(attached, why) => detach(aws, ctx, &attached, &why).await?,
                Step::Attach => self.attach(aws, ctx, &volume_id, &instance_id).await?,
                Step::Start(id) => {
                    instance::start(aws, ctx, &id).await?;
                }
            }
        }
        Ok(attachment_id(&volume_id, &instance_id))
    }

    /// The volume attached to the instance at the device.
    async fn find(&self, aws: &Aws, _ctx: &Ctx) -> Res<Option<String>> {
        let (volume_id, instance_id) = self.ids()?;
        let Some(volume) = volume::describe(aws, &volume_id).await? else {
            return Ok(None);
        };
        let here = attachments_of(&volume)
            .iter()
            .any(|a| a.instance == instance_id && same_device(&a.device, &self.device));
        Ok(here.then(|| attachment_id(&volume_id, &instance_id)))
    }

    /// Waits until the volume is attached, and the instance runs.
    async fn finish(&self, aws: &Aws, ctx: &Ctx, id: &str) -> Res<Self::Outputs> {
        let (volume_id, instance_id) = parse_attachment_id(id)
            .ok_or_else(|| ProviderError::new(format!("`{id}` is no volume attachment's id")))?;
        self.wait_attached(aws, ctx, volume_id, instance_id).await?;
        if !ctx.read_only {
            // A run interrupted between the attach and the start of an instance this step
            // stopped: MongoDB must not stay down.
            instance::start(aws, ctx, instance_id).await?;
        }
        Ok(self.outputs(volume_id, instance_id))
    }

    /// Detaches the volume if it is still attached to the instance, stopping a running
    /// instance first so that MongoDB shuts down cleanly before its disk goes away (a destroy
    /// terminates the instance next). Already detached, moved or gone: nothing to do.
    async fn delete(aws: &Aws, ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        let VolumeAttachmentOutputs {
            volume_id: volume,
            instance_id: instance,
            device,
            ..
        } = &current.outputs;
        if !attached_to(volume::describe(aws, volume).await?.as_ref(), instance) {
            return Ok(());
        }
        let why = format!(
            "stopping {instance} so that MongoDB shuts down cleanly before volume {volume} is \
             detached"
        );
        instance::stop(aws, ctx, instance, &why).await?;
        let attached = Attached {
            volume: volume.clone(),
            instance: instance.clone(),
            device: device.clone(),
        };
        let why = format!("detaching volume {volume} from {instance}");
        detach(aws, ctx, &attached, &why).await
    }

    /// Which attachments still hold, with their live device, in one DescribeVolumes.
    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        let volumes: Vec<&str> = resources
            .iter()
            .filter_map(|r| parse_attachment_id(&r.id).map(|(v, _)| v))
            .collect();
        if volumes.is_empty() {
            return Ok(resources.iter().map(|_| None).collect());
        }
        let found = Volume::describe_all(aws, filter("volume-id", &volumes)).await?;
        let live: BTreeMap<String, String> = found
            .iter()
            .flat_map(attachments_of)
            .map(|a| (attachment_id(&a.volume, &a.instance), a.device))
            .collect();
        Ok(super::live_inputs(
            resources,
            &live,
            |attachment, device| {
                attachment.device = device.clone();
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STACK: &str = "prod";

    fn instance(id: &str, stack: Option<&str>) -> InstanceView {
        InstanceView {
            id: id.into(),
            zone: "us-east-1a".into(),
            stack: stack.map(String::from),
            root_device: Some("/dev/sda1".into()),
        }
    }

    fn at(volume: &str, instance: &str, device: &str) -> Attached {
        Attached {
            volume: volume.into(),
            instance: instance.into(),
            device: device.into(),
        }
    }

    fn names(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|s| match s {
                Step::Stop(id, _) => format!("stop {id}"),
                Step::Detach(a, _) => format!("detach {} {}", a.volume, a.instance),
                Step::Attach => "attach".into(),
                Step::Start(id) => format!("start {id}"),
            })
            .collect()
    }

    fn moves(
        held: &[Attached],
        occupants: &[Attached],
        holders: &[InstanceView],
    ) -> Res<Vec<String>> {
        let target = instance("i-new", Some(STACK));
        let steps = plan(
            ("vol-1", "us-east-1a", held),
            &target,
            occupants,
            holders,
            "/dev/sdf",
            STACK,
        )?;
        Ok(names(&steps))
    }

    #[test]
    fn an_available_volume_is_just_attached() {
        assert_eq!(moves(&[], &[], &[]).unwrap(), ["attach"]);
    }

    #[test]
    fn a_volume_already_there_needs_nothing() {
        let here = [at("vol-1", "i-new", "xvdf")];
        assert_eq!(moves(&here, &here, &[]).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn a_replaced_instance_gives_its_volume_up_cleanly() {
        let held = [at("vol-1", "i-old", "/dev/sdf")];
        let steps = moves(&held, &[], &[instance("i-old", Some(STACK))]).unwrap();
        assert_eq!(steps, ["stop i-old", "detach vol-1 i-old", "attach"]);
    }

    #[test]
    fn a_restored_volume_takes_the_device_of_the_old_one() {
        let occupants = [
            at("vol-0", "i-new", "/dev/sdf"),
            at("vol-9", "i-new", "/dev/sdg"),
        ];
        let steps = moves(&[], &occupants, &[]).unwrap();
        assert_eq!(
            steps,
            ["stop i-new", "detach vol-0 i-new", "attach", "start i-new"]
        );
    }

    #[test]
    fn a_volume_is_not_taken_from_someone_elses_instance() {
        let held = [at("vol-1", "i-theirs", "/dev/sdf")];
        for stack in [None, Some("staging")] {
            let refused = moves(&held, &[], &[instance("i-theirs", stack)]).unwrap_err();
            assert!(
                refused.message.contains("not this stack's"),
                "{}",
                refused.message
            );
            assert!(
                refused.message.contains("ams-stack:stack=prod"),
                "{}",
                refused.message
            );
        }
    }

    #[test]
    fn zones_and_the_root_device_are_checked_before_anything_stops() {
        let held = [at("vol-1", "i-old", "/dev/sdf")];
        let holders = [instance("i-old", Some(STACK))];
        let target = instance("i-new", Some(STACK));
        // The move of vol-1, in `zone`, to i-new at `device`.
        let plan_at = |zone: &str, device: &str| {
            plan(
                ("vol-1", zone, &held),
                &target,
                &[],
                &holders,
                device,
                STACK,
            )
        };
        let message = plan_at("us-east-1b", "/dev/sdf").unwrap_err().message;
        assert!(
            message.contains("us-east-1b") && message.contains("us-east-1a"),
            "{message}"
        );
        let root = plan_at("us-east-1a", "/dev/sda1");
        assert!(root.unwrap_err().message.contains("root device"));
    }

    #[test]
    fn ids_and_devices() {
        assert_eq!(attachment_id("vol-1", "i-2"), "vol-1:i-2");
        assert_eq!(parse_attachment_id("vol-1:i-2"), Some(("vol-1", "i-2")));
        assert_eq!(parse_attachment_id("vol-1"), None);
        assert_eq!(parse_attachment_id("i-2:vol-1"), None);
        assert!(same_device("/dev/sdf", "xvdf"));
        assert!(same_device("/dev/xvdf", "/dev/sdf"));
        assert!(!same_device("/dev/sdf", "/dev/sdg"));
        let mut replace = VolumeAttachment::replace_on();
        replace.sort();
        assert_eq!(replace, ["device", "instance_id", "volume_id"]);
    }
}
