//! TURN (`[turn] enabled = true`): a coturn relay for players and publishers whose networks let
//! no WebRTC UDP through, on its own small Auto Scaling group in the public subnets.
//!
//! Each slot of the group has an Elastic IP of the stack's; an instance's boot script
//! (`user_data/turn-node.sh`) associates a free one of them to itself, so that a replaced relay
//! takes its address back and `turn.DOMAIN` (an A record of all of them) never changes. coturn
//! authenticates with `use-auth-secret`: the shared secret is made inside SSM
//! (`/ams-stack/STACK/turn-secret`), read by the relay at boot through a role that may read that
//! one parameter, and is never an argument, an output value or a log line.

use ams_aws::autoscaling::Group;
use ams_aws::ec2::{ElasticIp, LaunchTemplate, Machine, Rule, SecurityGroup};
use ams_aws::iam::{InstanceProfile, Role, Statement};
use ams_aws::route53::{Record, Target};
use ams_aws::ssm::SecureParameter;
use ams_engine::{Input, Program, ProgramError, Ref};

use super::network::Network;
use super::ports::{TURN_PORT, TURN_RELAY_UDP};
use super::security::{secret, tcp, udp};
use super::{after, fill, Found, ROOT_DEVICE};
use crate::config::StackConfig;

/// The security group of the relays.
pub const SECURITY_GROUP: &str = "turn-sg";
/// The relays' launch template.
pub const LAUNCH_TEMPLATE: &str = "turn-launch-template";
/// The logical names of the relays' addresses, `turn-address-1` to `turn-address-N` (their
/// `ams-stack:name` tags, by which a relay finds them).
const ADDRESS_PREFIX: &str = "turn-address-";

/// What the rest of the stack takes from TURN: the shared secret's parameter (the nodes read it
/// to make TURN credentials) and the relay's name.
pub struct Turn {
    pub secret: Ref<SecureParameter>,
    /// `turn.DOMAIN`.
    pub domain: String,
    /// `turn:turn.DOMAIN:3478`, what AMS and the players are given.
    pub url: String,
    /// The relays' addresses, one per slot of the group.
    pub addresses: Vec<Ref<ElasticIp>>,
}

/// `turn.DOMAIN`.
pub fn domain(domain: &str) -> String {
    format!("turn.{domain}")
}

/// The relay's rules, open to the world by design (the checks know them): TURN over UDP and
/// TCP on 3478, and the relayed media on the relay range.
pub fn open_rules() -> [Rule; 3] {
    [
        tcp(TURN_PORT, "TURN (TCP)"),
        udp(TURN_PORT, TURN_PORT, "TURN (UDP)"),
        udp(TURN_RELAY_UDP.0, TURN_RELAY_UDP.1, "TURN relayed media"),
    ]
}

/// Whether `rule` is one of [`open_rules`] (its description aside).
pub fn is_open_by_design(rule: &Rule) -> bool {
    open_rules().iter().any(|open| {
        open.protocol == rule.protocol
            && open.from_port == rule.from_port
            && open.to_port == rule.to_port
    })
}

/// Declares the relay, when the stack file asks for one.
pub fn declare(
    p: &mut Program,
    config: &StackConfig,
    network: &Network,
    found: &Found,
) -> Result<Option<Turn>, ProgramError> {
    let Some(turn) = &config.turn else {
        return Ok(None);
    };
    let name = domain(&config.dns.domain);
    let mut ingress: Vec<Rule> = open_rules().into();
    if config.security.ssh {
        ingress.push(Rule {
            cidr: Some(config.network.admin_cidr.to_string()),
            ..tcp(22, "SSH from the admin network")
        });
    }
    let group_sg = p.add(
        SECURITY_GROUP,
        SecurityGroup {
            vpc_id: network.vpc_id.clone(),
            description: "AMS TURN relay (coturn): 3478 tcp/udp and its relay range".into(),
            ingress,
        },
    )?;
    let secret = secret(
        p,
        config,
        "turn-secret",
        "TURN shared secret (coturn use-auth-secret)",
    )?;
    let addresses = (1..=turn.size)
        .map(|slot| p.add(&format!("{ADDRESS_PREFIX}{slot}"), ElasticIp {}))
        .collect::<Result<Vec<_>, _>>()?;
    let role = p.add("turn-role", role(config, &secret, &addresses))?;
    let profile = p.add(
        "turn-profile",
        InstanceProfile {
            role_name: role.name().into(),
        },
    )?;
    let user_data = fill(
        include_str!("user_data/turn-node.sh"),
        &[
            ("{COMMON}", super::COMMON_SCRIPT.to_string().into()),
            ("{REGION}", config.region.clone().into()),
            ("{PARAMETER}", secret.name().into()),
            ("{REALM}", name.clone().into()),
            ("{TURN_PORT}", TURN_PORT.to_string().into()),
            ("{RELAY_MIN}", TURN_RELAY_UDP.0.to_string().into()),
            ("{RELAY_MAX}", TURN_RELAY_UDP.1.to_string().into()),
            // The addresses are found by their tags (the stack's, and this prefix of their
            // logical names): a new size changes no relay's user data, so no relay is rolled.
            ("{STACK}", config.name.clone().into()),
            ("{ADDRESSES}", ADDRESS_PREFIX.into()),
        ],
    );
    let template = p.add(
        LAUNCH_TEMPLATE,
        LaunchTemplate {
            machine: Machine {
                // Ubuntu 24.04 from Canonical: MongoDB's image, looked up once.
                image_id: found.mongodb_ami.clone().into(),
                instance_type: turn.instance_type.clone(),
                key_name: turn.key_name.clone().filter(|_| config.security.ssh),
                security_group_ids: vec![group_sg.id().into()],
                user_data,
                root_volume_gib: turn.root_volume_gib,
                root_device: ROOT_DEVICE.into(),
                encrypted: true,
                http_tokens: "required".into(),
                hop_limit: config.security.imds_hop_limit,
                instance_profile_arn: Some(profile.arn().into()),
                // Its own public address until it has taken an Elastic IP (which replaces it):
                // it installs coturn and calls EC2 before that.
                public_ip: Some(true),
                monitoring: false,
            },
        },
    )?;
    let size = i32::try_from(turn.size).unwrap_or(1);
    p.add_after(
        "turn-group",
        Group {
            launch_template_id: template.id().into(),
            launch_template_version: Some(template.version().into()),
            health_timeout_seconds: None,
            max_batch: None,
            min_size: size,
            max_size: size,
            // Both zones: a relay lost with its zone comes back in the other, on its address.
            subnet_ids: network.subnet_ids.clone(),
            target_group_arns: Vec::new(),
            health_check_grace_seconds: 600,
            launch_hook: None,
            suspended_processes: Vec::new(),
        },
        &after(network),
    )?;
    p.add(
        "turn-dns-record",
        Record {
            zone_id: found.hosted_zone_id.clone(),
            name: name.clone().into(),
            record_type: "A".into(),
            ttl: 300,
            value: Target::values(addresses.iter().map(|a| a.public_ip())),
            upsert: false,
        },
    )?;
    Ok(Some(Turn {
        secret,
        url: format!("turn:{name}:{TURN_PORT}"),
        domain: name,
        addresses,
    }))
}

/// The relay's role: read the one secret, take one of the stack's addresses, and have its group
/// replace it when its boot fails. Nothing else.
fn role(config: &StackConfig, secret: &Ref<SecureParameter>, addresses: &[Ref<ElasticIp>]) -> Role {
    let partition = ams_aws::partition(&config.region);
    let region = &config.region;
    let ours = |key: &str| {
        serde_json::json!({
            "StringEquals": { format!("{key}/{}", ams_aws::TAG_STACK): config.name }
        })
    };
    let mut statements = vec![
        // No kms:Decrypt: the parameter is encrypted with the AWS managed key aws/ssm, whose
        // key policy lets Parameter Store decrypt for whoever may read it.
        Statement::allow(&["ssm:GetParameter"], secret.arn()),
        // DescribeAddresses takes no resource but "*" (read only).
        Statement::allow(&["ec2:DescribeAddresses"], "*"),
        // AssociateAddress names the instance and the address: the instance must be one of the
        // stack's (launched from its template, which tags them) ...
        Statement::allow(
            &["ec2:AssociateAddress"],
            format!("arn:{partition}:ec2:{region}:*:instance/*"),
        )
        .when(ours("aws:ResourceTag")),
        // A relay that cannot serve has its group replace it (the stack's groups only).
        Statement::allow(
            &["autoscaling:SetInstanceHealth"],
            format!(
                "arn:{partition}:autoscaling:{region}:*:autoScalingGroup:*:autoScalingGroupName/*"
            ),
        )
        .when(ours("autoscaling:ResourceTag")),
    ];
    // ... and the address one of the stack's TURN addresses, each named by its allocation id.
    for address in addresses {
        statements.push(Statement::allow(
            &["ec2:AssociateAddress"],
            Input::concat([
                format!("arn:{partition}:ec2:{region}:*:elastic-ip/").into(),
                address.id().into(),
            ]),
        ));
    }
    Role {
        description: "AMS TURN relay: read the TURN secret, take one of the stack's TURN addresses"
            .into(),
        statements,
        service: "ec2.amazonaws.com".into(),
        managed_policy_arns: Vec::new(),
    }
}

#[cfg(test)]
#[path = "turn_tests.rs"]
mod tests;
