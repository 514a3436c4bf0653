//! The origin (publish) and edge (play) tiers: a launch template, a target group, an
//! auto-scaling group and a CPU policy each.

use ams_aws::autoscaling::{CpuPolicy, Group, LaunchHook, LifecycleHook, LAUNCHING, TERMINATING};
use ams_aws::ec2::{Instance, LaunchTemplate, Machine};
use ams_aws::elbv2::{HealthTiming, TargetGroup};
use ams_engine::{Input, Piece, Program, ProgramError, Ref};

use super::data::first_subnet;
use super::network::Network;
use super::ports::AMS_HTTP_PORT;
use super::security::Security;
use super::{after, fill, ROOT_DEVICE};
use crate::config::{NodeGroup, NodeSettings};

/// The nodes' health checks: every 10 s; a dead node is out of service in 30 s (3 failed
/// checks), a new one serves after 20 s (2 passed).
pub const HEALTH_TIMING: HealthTiming = HealthTiming {
    interval_seconds: 10,
    healthy: 2,
    unhealthy: 3,
};

/// What the load balancers ask of a node to know it serves.
pub const HEALTH_CHECK_PATH: &str = "/WebRTCAppEE/";

/// The name of both groups' termination hook, which the nodes' drain agent completes.
pub const DRAIN_HOOK: &str = "ams-stack-drain";

/// The name of both groups' launch hook, which a node's boot script completes: CONTINUE once
/// it really serves (joined, its panel's admin ours), ABANDON when it fails. Until then the
/// node is `Pending:Wait`: not InService, not in the target groups, not counted by a roll.
pub const READY_HOOK: &str = "ams-stack-ready";

/// How long a new node may take to say it is ready before Auto Scaling abandons it: longer
/// than the boot script's own waits (MongoDB 15 minutes, the panel 10, the mode change's
/// tries), each of which ends in ABANDON when it runs out.
const READY_SECONDS: i32 = 3600;

/// The launch hook as the group is made with it and as its own resource keeps it.
fn ready_hook() -> LaunchHook {
    LaunchHook {
        name: READY_HOOK.into(),
        heartbeat_seconds: READY_SECONDS,
        default_result: "ABANDON".into(),
    }
}

/// How long the load balancers keep a leaving node's connections (a publisher's signalling,
/// an encoder's RTMP stream) while its drain agent waits for its streams: as long as it may
/// drain, up to AWS's 3600 s. A node with no connections left leaves at once.
pub fn deregistration_delay(group: &NodeGroup) -> i32 {
    i32::try_from(group.drain_seconds.min(3600)).unwrap_or(3600)
}

/// The S3 signing proxy a recording node runs (AMS's S3 client takes static keys only).
const S3_PROXY: &str = include_str!("user_data/s3-proxy.py");

/// The drain agent as the node script pastes it (as tests/boot/fill.sh does): filled, without
/// its comment lines and indentation (the first line kept), to fit EC2's user-data limit.
fn drain_agent(region: &str, role: &str, drain_seconds: u64) -> String {
    let filled = include_str!("user_data/drain-agent.sh")
        .replace("{REGION}", region)
        .replace("{ROLE}", role)
        .replace("{HOOK}", DRAIN_HOOK)
        .replace("{DRAIN_TIMEOUT_S}", &drain_seconds.to_string());
    let mut lines = filled.lines();
    let first = lines.next().unwrap_or_default();
    std::iter::once(first)
        .chain(
            lines
                .map(str::trim_start)
                .filter(|l| !l.is_empty() && !l.starts_with('#')),
        )
        .collect::<Vec<_>>()
        .join("\n")
}

/// The boot script as sent: without its comment and blank lines (the first line kept), its
/// indentation kept, to fit EC2's user-data limit; `scripts/test-boot.sh` measures it so.
fn shipped(script: &str) -> String {
    let mut lines = script.lines();
    let first = lines.next().unwrap_or_default();
    std::iter::once(first)
        .chain(lines.filter(|l| {
            let text = l.trim_start();
            !text.is_empty() && !text.starts_with('#')
        }))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the nodes are set to beyond joining the cluster.
pub struct Settings<'a> {
    /// The stack file's `[server]`, `[app.NAME]` and `[license]`.
    pub node: &'a NodeSettings,
    /// With `[recording] s3`: the recordings bucket's name and the storage class.
    pub recordings: Option<(Piece, String)>,
    /// With `[turn]`: the TURN secret's parameter name and the URI AMS is given.
    pub turn: Option<(Piece, String)>,
}

impl Settings<'_> {
    /// `[server] properties` as the script takes them: `KEY=VALUE`, a line each.
    fn properties(&self) -> String {
        self.node
            .properties
            .iter()
            .map(|(key, value)| format!("{key}={value}\n"))
            .collect()
    }

    /// `[server] plugins`: `SHA256 FILE URL`, a line each.
    fn plugins(&self) -> String {
        self.node
            .plugins
            .iter()
            .map(|p| format!("{} {} {}\n", p.sha256, p.file, p.url))
            .collect()
    }

    /// `[app.NAME] settings`: `APP NAME JSON`, a line each, so that a change previews as the
    /// lines of the settings that change (`APP` alone: an application named with none).
    fn app_settings(&self) -> String {
        let mut text = String::new();
        for (app, settings) in &self.node.apps {
            if settings.is_empty() {
                // Named without settings: created where it is missing, nothing set.
                text.push_str(&format!("{app}\n"));
            }
            for (name, value) in settings {
                text.push_str(&format!("{app} {name} {value}\n"));
            }
        }
        text
    }
}

/// What a node group is made of, for the load balancers to send traffic to.
pub struct Nodes {
    pub target_group: Ref<TargetGroup>,
    pub launch_template: Ref<LaunchTemplate>,
}

/// A node group's role and how its target group balances.
pub struct Role<'a> {
    pub name: &'a str,
    pub group: &'a NodeGroup,
    pub image: &'a str,
    /// Load-balancer cookie stickiness (origins: a publisher's requests stay on one node).
    pub sticky_seconds: Option<i32>,
    /// Target groups of other load balancers that the group's instances also join (ingest).
    pub extra_target_groups: Vec<Input<String>>,
}

pub fn declare(
    p: &mut Program,
    network: &Network,
    security: &Security,
    mongodb: &Ref<Instance>,
    role: Role<'_>,
    settings: &Settings<'_>,
) -> Result<Nodes, ProgramError> {
    let machine = &security.machine;
    let name = role.name;
    let (bucket, storage_class) = settings
        .recordings
        .clone()
        .unwrap_or_else(|| (Piece::Text(String::new()), String::new()));
    let (turn_parameter, turn_uri) = settings
        .turn
        .clone()
        .unwrap_or_else(|| (Piece::Text(String::new()), String::new()));
    let user_data = fill(
        &shipped(include_str!("user_data/ams-node.sh")),
        &[
            ("{COMMON}", shipped(super::COMMON_SCRIPT).into()),
            ("{ROLE}", name.into()),
            ("{REGION}", machine.region.clone().into()),
            ("{PARAMETER}", machine.parameter.clone()),
            ("{MONGODB_HOST}", mongodb.private_ip().into()),
            ("{MONGODB_USER}", machine.mongodb_user.clone().into()),
            (
                "{MONGODB_CREATE_USER}",
                if machine.mongodb_create_user {
                    "yes"
                } else {
                    ""
                }
                .into(),
            ),
            ("{PANEL_PARAMETER}", machine.panel_parameter.clone()),
            ("{ADMIN_CIDR}", machine.dashboard_cidr.clone().into()),
            ("{READY_HOOK}", READY_HOOK.into()),
            (
                "{LICENSE_PARAMETER}",
                settings
                    .node
                    .license_parameter
                    .clone()
                    .unwrap_or_default()
                    .into(),
            ),
            ("{TURN_PARAMETER}", turn_parameter),
            ("{TURN_URI}", turn_uri.into()),
            ("{S3_BUCKET}", bucket),
            ("{S3_STORAGE_CLASS}", storage_class.into()),
            (
                "{DRAIN_AGENT}",
                drain_agent(&machine.region, name, role.group.drain_seconds).into(),
            ),
            (
                "{S3_PROXY}",
                if settings.recordings.is_some() {
                    shipped(S3_PROXY)
                } else {
                    String::new()
                }
                .into(),
            ),
            // The stack file's own text last: nothing in it is taken for a placeholder.
            ("{SERVER_PROPERTIES}", settings.properties().into()),
            ("{PLUGINS}", settings.plugins().into()),
            ("{APP_SETTINGS}", settings.app_settings().into()),
        ],
    );
    let instance = &role.group.instance;
    let launch_template = p.add(
        &format!("{name}-launch-template"),
        LaunchTemplate {
            machine: Machine {
                image_id: role.image.to_string().into(),
                instance_type: instance.instance_type.clone(),
                key_name: machine.key_name(&instance.key_name),
                security_group_ids: vec![security.nodes_sg.id().into()],
                user_data,
                root_volume_gib: instance.root_volume_gib,
                root_device: ROOT_DEVICE.into(),
                encrypted: true,
                http_tokens: "required".into(),
                hop_limit: machine.hop_limit,
                instance_profile_arn: Some(machine.profile_arn.clone()),
                // The public subnets give no address by default: the nodes ask for one (WebRTC
                // media reaches them directly).
                public_ip: Some(true),
                monitoring: true,
            },
        },
    )?;
    let target_group = p.add(
        &format!("{name}-target-group"),
        TargetGroup {
            vpc_id: network.vpc_id.clone(),
            port: AMS_HTTP_PORT,
            protocol: "HTTP".into(),
            // The application's page: 404 unless WebRTCAppEE is deployed and running, and
            // guarded by neither AMS's REST filter nor its dashboard filter (docs/SECURITY.md).
            health_check_path: Some(HEALTH_CHECK_PATH.into()),
            health_check_protocol: None,
            health_check_port: None,
            algorithm: Some("least_outstanding_requests".into()),
            sticky_seconds: role.sticky_seconds,
            health_timing: HEALTH_TIMING,
            deregistration_delay_seconds: Some(deregistration_delay(role.group)),
        },
    )?;
    let mut target_group_arns = vec![target_group.arn().into()];
    target_group_arns.extend(role.extra_target_groups);
    let scaling_group = p.add_after(
        &format!("{name}-group"),
        Group {
            launch_template_id: launch_template.id().into(),
            launch_template_version: Some(launch_template.version().into()),
            health_timeout_seconds: role.group.health_timeout_seconds,
            max_batch: role.group.max_batch,
            min_size: i32::try_from(role.group.min_size).unwrap_or(i32::MAX),
            max_size: i32::try_from(role.group.max_size).unwrap_or(i32::MAX),
            subnet_ids: vec![first_subnet(network)],
            target_group_arns,
            // A node may wait 15 minutes for MongoDB at first boot before it joins.
            health_check_grace_seconds: 1200,
            launch_hook: Some(ready_hook()),
            suspended_processes: Vec::new(),
        },
        // Nodes fetch the password and join MongoDB at boot: the route must exist first.
        &after(network),
    )?;
    // A leaving node (scale-in, a roll) waits in Terminating:Wait while its drain agent lets its
    // streams end, with heartbeats; without any for the drain time, it goes anyway.
    p.add(
        &format!("{name}-drain-hook"),
        LifecycleHook {
            group_name: scaling_group.name().into(),
            name: DRAIN_HOOK.into(),
            transition: TERMINATING.into(),
            heartbeat_seconds: i32::try_from(role.group.drain_seconds).unwrap_or(7200),
            default_result: "CONTINUE".into(),
        },
    )?;
    // A new node (a roll, a scale-out, a replacement) counts only once its boot script says it
    // is ready; made with the group, kept here from then on (and added to older groups).
    let hook = ready_hook();
    p.add(
        &format!("{name}-ready-hook"),
        LifecycleHook {
            group_name: scaling_group.name().into(),
            name: hook.name,
            transition: LAUNCHING.into(),
            heartbeat_seconds: hook.heartbeat_seconds,
            default_result: hook.default_result,
        },
    )?;
    p.add(
        &format!("{name}-cpu-policy"),
        CpuPolicy {
            group_name: scaling_group.name().into(),
            target_cpu_percent: role.group.cpu_target,
        },
    )?;
    Ok(Nodes {
        target_group,
        launch_template,
    })
}
