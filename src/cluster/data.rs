//! The data tier: the MongoDB server AMS keeps its applications, streams and node list in, the
//! encrypted volume its data lives on (so that the data outlives any one instance), and the
//! daily snapshots of that volume.
//!
//! The instance, its volume and their attachment are protected: no plan replaces or deletes
//! them unless the run says `--allow-replace mongodb` (`destroy` snapshots the volume first).

use std::collections::BTreeMap;

use ams_aws::dlm::LifecyclePolicy;
use ams_aws::ec2::{Instance, Machine, Volume, VolumeAttachment};
use ams_aws::iam::{Role, Statement};
use ams_engine::{Input, Piece, Program, ProgramError, Ref};

use super::network::Network;
use super::security::Security;
use super::{fill, Found, ROOT_DEVICE};
use crate::config::StackConfig;

/// The word that lets a run replace or delete MongoDB or its data (`--allow-replace mongodb`).
pub const PROTECTED: &str = "mongodb";
/// The names of MongoDB's instance and of its data volume.
pub const MONGODB: &str = "mongodb";
pub const MONGODB_DATA: &str = "mongodb-data";
/// The device name the data volume is attached as (the boot script finds it by volume id).
const DATA_DEVICE: &str = "/dev/sdf";
/// The tag that puts a volume under the stack's daily snapshot policy.
const DAILY_TAG: &str = "ams-stack:daily-snapshots";

pub struct Data {
    pub mongodb: Ref<Instance>,
    /// None for a MongoDB adopted with its data on its root volume.
    pub volume: Option<Ref<Volume>>,
}

/// What an adopted MongoDB keeps as found (`[mongodb] adopted`): every setting whose change
/// would replace it. Its type, its metadata options and its monitoring still change in place.
const KEPT_AS_FOUND: [&str; 10] = [
    "subnet_id",
    "image_id",
    "key_name",
    "security_group_ids",
    "user_data",
    "root_volume_gib",
    "root_device",
    "encrypted",
    "instance_profile_arn",
    "public_ip",
];

pub fn declare(
    p: &mut Program,
    config: &StackConfig,
    network: &Network,
    security: &Security,
    found: &Found,
) -> Result<Data, ProgramError> {
    if config.mongodb.adopted {
        let mongodb = p.add_after(
            MONGODB,
            Instance {
                subnet_id: network.database_subnet(),
                machine: machine(
                    config,
                    security,
                    found,
                    "(none: data on the root volume)".into(),
                ),
            },
            &network.database_route(),
        )?;
        p.keep(&mongodb, &KEPT_AS_FOUND);
        p.protect(&mongodb, PROTECTED);
        return Ok(Data {
            mongodb,
            volume: None,
        });
    }
    let volume = p.add(
        MONGODB_DATA,
        Volume {
            availability_zone: first_zone(config),
            size_gib: config.mongodb.data_volume.gib,
            iops: config.mongodb.data_volume.iops,
            throughput: config.mongodb.data_volume.throughput,
            encrypted: true,
            snapshot_id: found.data_snapshot.clone(),
            tags: BTreeMap::from([(DAILY_TAG.to_string(), config.name.clone())]),
        },
    )?;
    let mongodb = p.add_after(
        MONGODB,
        Instance {
            subnet_id: network.database_subnet(),
            machine: machine(config, security, found, volume.id().into()),
        },
        // It installs MongoDB from the internet at first boot: the route must exist first.
        &network.database_route(),
    )?;
    let attachment = p.add(
        "mongodb-data-attachment",
        VolumeAttachment {
            volume_id: volume.id().into(),
            instance_id: mongodb.id().into(),
            device: DATA_DEVICE.into(),
        },
    )?;
    p.protect(&volume, PROTECTED);
    p.protect(&mongodb, PROTECTED);
    p.protect(&attachment, PROTECTED);
    if config.mongodb.backup_keep > 0 {
        daily_snapshots(p, config)?;
    }
    Ok(Data {
        mongodb,
        volume: Some(volume),
    })
}

/// MongoDB's machine, whose boot script mounts the data volume `volume_id`.
fn machine(config: &StackConfig, security: &Security, found: &Found, volume_id: Piece) -> Machine {
    let machine = &security.machine;
    Machine {
        image_id: found.mongodb_ami.clone().into(),
        instance_type: config.mongodb.instance.instance_type.clone(),
        key_name: machine.key_name(&config.mongodb.instance.key_name),
        security_group_ids: vec![security.mongodb_sg.id().into()],
        user_data: fill(
            include_str!("user_data/mongodb.sh"),
            &[
                ("{COMMON}", super::COMMON_SCRIPT.to_string().into()),
                ("{REGION}", config.region.clone().into()),
                ("{PARAMETER}", machine.parameter.clone()),
                ("{VOLUME_ID}", volume_id),
                ("{DEVICE}", DATA_DEVICE.to_string().into()),
            ],
        ),
        root_volume_gib: config.mongodb.instance.root_volume_gib,
        root_device: ROOT_DEVICE.into(),
        encrypted: true,
        http_tokens: "required".into(),
        hop_limit: machine.hop_limit,
        instance_profile_arn: Some(machine.profile_arn.clone()),
        // In a private subnet, none; in a public one (`private_database = false`), the
        // subnet gives none by itself, and MongoDB needs one to reach the internet.
        public_ip: public_database(config).then_some(true),
        monitoring: true,
    }
}

/// A snapshot of the data volume every day at 03:00 UTC, the last `backup_keep` kept, taken by
/// Data Lifecycle Manager under a role that may snapshot and tag, and delete only this stack's
/// snapshots.
fn daily_snapshots(p: &mut Program, config: &StackConfig) -> Result<(), ProgramError> {
    let region = &config.region;
    let partition = ams_aws::partition(region);
    let snapshots = format!("arn:{partition}:ec2:{region}::snapshot/*");
    let daily = serde_json::json!({
        "StringEquals": { format!("aws:ResourceTag/{DAILY_TAG}"): config.name }
    });
    let role = p.add(
        super::BACKUP_ROLE,
        Role {
            description: format!(
                "Daily snapshots of the MongoDB data of `{}` (ams-stack)",
                config.name
            ),
            statements: vec![
                // Snapshots of this stack's data volume only: the volume in the region with the
                // stack's daily-snapshot tag. The policy targets volumes, so DLM calls
                // CreateSnapshot; CreateSnapshots (all volumes of an instance) is not needed.
                Statement::allow(
                    &["ec2:CreateSnapshot"],
                    format!("arn:{partition}:ec2:{region}:*:volume/*"),
                )
                .when(daily.clone()),
                // The snapshot a CreateSnapshot makes is a resource of the call too; it has no
                // tag yet, so no tag condition can apply to it.
                Statement::allow(&["ec2:CreateSnapshot"], snapshots.clone()),
                // The Describe calls support no resource-level permissions: "*" is the only
                // resource they take.
                Statement::allow(
                    &[
                        "ec2:DescribeInstances",
                        "ec2:DescribeVolumes",
                        "ec2:DescribeSnapshots",
                    ],
                    "*",
                ),
                Statement::allow(&["ec2:CreateTags"], snapshots.clone()),
                Statement::allow(&["ec2:DeleteSnapshot"], snapshots).when(daily),
            ],
            service: "dlm.amazonaws.com".into(),
            managed_policy_arns: Vec::new(),
        },
    )?;
    p.add(
        "backup-policy",
        LifecyclePolicy {
            description: format!("Daily snapshots of the MongoDB data of {}", config.name).replace(
                |c: char| !(c.is_ascii_alphanumeric() || " -_".contains(c)),
                "-",
            ),
            execution_role_arn: role.arn().into(),
            target_tags: BTreeMap::from([(DAILY_TAG.to_string(), config.name.clone())]),
            interval_hours: 24,
            times: vec!["03:00".into()],
            retain_count: config.mongodb.backup_keep,
            copy_tags: true,
        },
    )?;
    Ok(())
}

/// Whether MongoDB is in a public subnet of a VPC the stack makes (`private_database = false`).
/// In a VPC the stack file names, its subnet decides, as it always did.
pub fn public_database(config: &StackConfig) -> bool {
    matches!(config.network.vpc, crate::config::Vpc::New { .. }) && !config.network.private_database
}

/// Instances go in the first zone, as the guide says: origins and edges talk over 5000.
pub fn first_subnet(network: &Network) -> Input<String> {
    network
        .subnet_ids
        .first()
        .cloned()
        .unwrap_or_else(|| Input::from(""))
}

/// The zone of the first subnet, where MongoDB and its volume are.
fn first_zone(config: &StackConfig) -> String {
    config
        .network
        .availability_zones
        .first()
        .cloned()
        .unwrap_or_default()
}
