//! The Ant Media Server cluster on AWS, declared as a plain Rust program.
//!
//! Read top-down, [`declare`] follows Ant Media's AWS clustering guide, one tier per file: the
//! network, the security groups and secrets, MongoDB, the origin and edge groups, the
//! certificate, the load balancer, RTMP/SRT ingest and DNS. Where the guide is loose, this is
//! tight: MongoDB and the cluster port are reachable from the nodes only, SSH from `admin_cidr`
//! only, publish and play each on their own group.

mod adopted;
mod certificate;
pub mod checks;
mod data;
mod dns;
mod ingest;
mod load_balancer;
mod network;
mod nodes;
pub mod ports;
mod recording;
mod security;
mod turn;

use ams_engine::{Input, Piece, Program, ProgramError};

use crate::config::StackConfig;

const ROOT_DEVICE: &str = "/dev/sda1";
/// What both boot scripts share (logging, the AWS CLI, the password), pasted in for `{COMMON}`.
const COMMON_SCRIPT: &str = include_str!("user_data/common.sh");
/// The names of MongoDB's instance and of its data volume.
pub use data::{MONGODB, MONGODB_DATA};
pub use turn::Turn;

/// The role Data Lifecycle Manager snapshots MongoDB's data with (declared in `data.rs`).
pub const BACKUP_ROLE: &str = "backup-role";
/// Marks an output whose value is a SecureString parameter's name: shown as `[secret]`,
/// revealed by `outputs --show-secrets`.
pub const SECRET_OUTPUT_PREFIX: &str = "ssm-secure:";

/// Declares the whole cluster for `config`.
pub fn declare(config: &StackConfig, found: &Found) -> Result<Program, ProgramError> {
    let mut program = Program::new();
    let p = &mut program;
    let network = network::declare(p, config)?;
    let recordings = recording::declare(p, config)?;
    // Before the nodes' role and the nodes, which are to read its secret.
    let turn = turn::declare(p, config, &network, found)?;
    let security = security::declare(
        p,
        config,
        &network.vpc_id,
        recordings.as_ref(),
        turn.as_ref(),
    )?;
    let data = data::declare(p, config, &network, &security, found)?;
    let mongodb = &data.mongodb;
    let ingest_groups = ingest::target_groups(p, config, &network)?;
    let settings = nodes::Settings {
        node: &config.node_settings,
        recordings: recordings
            .as_ref()
            .zip(config.recording.as_ref())
            .map(|(bucket, recording)| (bucket.name().into(), recording.storage_class.clone())),
        turn: turn
            .as_ref()
            .map(|turn| (turn.secret.name().into(), turn.url.clone())),
    };
    let origin = nodes::declare(
        p,
        &network,
        &security,
        mongodb,
        nodes::Role {
            name: "origin",
            group: &config.origin,
            image: &found.origin_ami,
            sticky_seconds: Some(30),
            extra_target_groups: ingest::arns(&ingest_groups),
        },
        &settings,
    )?;
    let edge = nodes::declare(
        p,
        &network,
        &security,
        mongodb,
        nodes::Role {
            name: "edge",
            group: &config.edge,
            image: &found.edge_ami,
            sticky_seconds: None,
            extra_target_groups: Vec::new(),
        },
        &settings,
    )?;
    let zone = &found.hosted_zone_id;
    let issued = certificate::declare(p, config, zone)?;
    let log_bucket = load_balancer::log_bucket(p, config)?;
    let alb = load_balancer::declare(
        p,
        config,
        &network,
        &security,
        (&origin, &edge),
        &issued,
        log_bucket.as_ref(),
    )?;
    let ingest = ingest::declare(
        p,
        config,
        &network,
        &security,
        ingest_groups,
        ingest::Shared {
            issued: &issued,
            log_bucket: log_bucket.as_ref(),
        },
    )?;
    if config.mongodb.adopted {
        adopted::declare(p, &security, mongodb, (&origin, &edge), &alb, &issued)?;
    }
    let domain = &config.dns.domain;
    dns::declare(
        p,
        "dns-record",
        (zone, &config.dns.hosted_zone),
        domain,
        &alb,
    )?;
    if let Some(ingest) = &ingest {
        dns::declare(
            p,
            "ingest-dns-record",
            (zone, &config.dns.hosted_zone),
            &ingest_domain(domain),
            &ingest.load_balancer,
        )?;
    }

    p.output(
        "publish_url",
        format!("https://{domain}/WebRTCAppEE/").into(),
    )?;
    p.output("panel_url", format!("https://{domain}/").into())?;
    // The first admin the nodes claim (ams-node.sh); its password is `panel_password`.
    p.output("panel_user", "admin".into())?;
    p.output(
        "play_url",
        format!("https://{domain}:5443/WebRTCAppEE/player.html").into(),
    )?;
    if config.ingest.rtmp {
        // 443 is rtmps://'s own port: encoders need no port in the URL.
        p.output(
            "rtmps_url",
            format!("rtmps://{}/WebRTCAppEE", ingest_domain(domain)).into(),
        )?;
    }
    if config.ingest.rtmp_plain {
        p.output(
            "rtmp_url",
            format!("rtmp://{}/WebRTCAppEE", ingest_domain(domain)).into(),
        )?;
    }
    if config.ingest.srt {
        p.output(
            "srt_url",
            format!(
                "srt://{}:{}?streamid=WebRTCAppEE/STREAM_ID",
                ingest_domain(domain),
                ports::SRT_PORT
            )
            .into(),
        )?;
    }
    p.output("load_balancer_dns", alb.dns_name().into())?;
    if let Some(ingest) = &ingest {
        p.output(
            "ingest_load_balancer_dns",
            ingest.load_balancer.dns_name().into(),
        )?;
    }
    for (role, image) in &found.images {
        p.output(&format!("{role}_image"), image.clone().into())?;
    }
    p.output("mongodb_private_ip", mongodb.private_ip().into())?;
    if let Some(bucket) = &recordings {
        // Where AMS's S3 recording settings point (the prefix `recordings/`).
        p.output("recordings_bucket", bucket.name().into())?;
    }
    if let Some(volume) = &data.volume {
        p.output("mongodb_data_volume", volume.id().into())?;
    }
    p.output(
        "mongodb_password",
        Input::concat([SECRET_OUTPUT_PREFIX.into(), security.password.name().into()]),
    )?;
    p.output(
        "panel_password",
        Input::concat([
            SECRET_OUTPUT_PREFIX.into(),
            security.panel_password.name().into(),
        ]),
    )?;
    if let Some(turn) = &turn {
        p.output("turn_url", turn.url.clone().into())?;
        p.output(
            "turn_secret",
            Input::concat([SECRET_OUTPUT_PREFIX.into(), turn.secret.name().into()]),
        )?;
    }
    program.check()?;
    Ok(program)
}

/// The name encoders publish RTMPS, RTMP and SRT to: `ingest.DOMAIN`.
pub fn ingest_domain(domain: &str) -> String {
    format!("ingest.{domain}")
}

/// What anything internet-facing waits for: the route to the internet gateway.
fn after(network: &network::Network) -> Vec<&str> {
    network.internet_route.as_deref().into_iter().collect()
}

/// A script template with `{NAME}` placeholders filled from `values` (text or outputs). A value
/// filled in is never searched for the placeholders after it: a stack file's text cannot be
/// taken for one.
fn fill(template: &str, values: &[(&str, Piece)]) -> Input<String> {
    // Each piece, and whether it is still the template's own text.
    let mut pieces = vec![(Piece::Text(template.to_string()), true)];
    for (placeholder, value) in values {
        pieces = pieces
            .into_iter()
            .flat_map(|(piece, template)| match piece {
                Piece::Text(text) if template => {
                    let mut split = Vec::new();
                    for (i, part) in text.split(placeholder).enumerate() {
                        if i > 0 {
                            split.push((value.clone(), false));
                        }
                        split.push((Piece::Text(part.to_string()), true));
                    }
                    split
                }
                other => vec![(other, template)],
            })
            .collect();
    }
    Input::concat(
        pieces
            .into_iter()
            .map(|(piece, _)| piece)
            .filter(|p| !matches!(p, Piece::Text(t) if t.is_empty())),
    )
}

/// What the account already has, looked up before planning.
#[derive(Clone, Debug)]
pub struct Found {
    pub hosted_zone_id: String,
    pub mongodb_ami: String,
    pub origin_ami: String,
    pub edge_ami: String,
    /// The snapshot MongoDB's data volume is made from, after a `restore`.
    pub data_snapshot: Option<String>,
    /// The images in use as people read them (id, name, date), by role: the stack outputs
    /// `mongodb_image`, `origin_image`, `edge_image`.
    pub images: Vec<(&'static str, String)>,
}

/// The tiers, in the order the guide builds them: how plans and the graph are grouped.
pub const TIERS: [&str; 10] = [
    "network",
    "security",
    "data",
    "origin",
    "edge",
    "certificate",
    "load balancer",
    "ingest",
    "turn",
    "dns",
];

/// The tier of a resource, by its logical name.
pub fn tier(name: &str) -> &'static str {
    if name.ends_with("-sg")
        || [
            "instance-role",
            "instance-profile",
            "mongodb-password",
            "stack-tags",
        ]
        .contains(&name)
    {
        return "security";
    }
    let prefixes: [(&str, &str); 15] = [
        ("recordings", "data"),
        ("turn", "turn"),
        ("vpc", "network"),
        ("private", "network"),
        ("nat", "network"),
        ("internet-gateway", "network"),
        ("subnet", "network"),
        ("route-table", "network"),
        ("mongodb", "data"),
        ("backup", "data"),
        ("origin", "origin"),
        ("edge", "edge"),
        ("certificate", "certificate"),
        ("ingest", "ingest"),
        ("dns", "dns"),
    ];
    prefixes
        .iter()
        .find(|(p, _)| name.starts_with(p))
        .map_or("load balancer", |(_, t)| t)
}

#[cfg(test)]
mod tests;
