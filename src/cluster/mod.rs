//! The Ant Media Server cluster on AWS, declared as a plain Rust program.
//!
//! Read top-down, it follows Ant Media's AWS clustering guide: the network, the security
//! groups, MongoDB, the origin and edge groups, the load balancer, the certificate and DNS.
//! Where the guide is loose, this is tight: MongoDB and the cluster port are reachable from
//! the nodes only, SSH from `admin_cidr` only, publish and play each on their own group.

use crate::aws::acm::{
    Certificate, CertificateArgs, CertificateValidation, CertificateValidationArgs,
};
use crate::aws::autoscaling::{CpuPolicy, CpuPolicyArgs, Group, GroupArgs};
use crate::aws::ec2::{
    Instance, InstanceArgs, InternetGateway, InternetGatewayArgs, LaunchTemplate,
    LaunchTemplateArgs, MachineArgs, RouteTable, RouteTableArgs, Rule, SecurityGroup,
    SecurityGroupArgs, Subnet, SubnetArgs, Vpc, VpcArgs,
};
use crate::aws::elbv2::{
    Listener, ListenerArgs, LoadBalancer, LoadBalancerArgs, TargetGroup, TargetGroupArgs,
};
use crate::aws::iam::{InstanceProfile, InstanceProfileArgs, Role, RoleArgs, Statement};
use crate::aws::route53::{Record, RecordArgs};
use crate::aws::ssm::{SecureParameter, SecureParameterArgs};
use crate::config::{NodeGroup, StackConfig, Vpc as VpcChoice};
use crate::engine::{Input, Piece, Program, ProgramError, Ref};

/// The AMS HTTP port: target groups, health checks, and the edge's plain-HTTP listener.
pub const AMS_HTTP_PORT: i32 = 5080;
/// The cluster-internal port between origins and edges.
pub const AMS_CLUSTER_PORT: i32 = 5000;
pub const MONGODB_PORT: i32 = 27017;
/// WebRTC media (AMS 2.4.3 and later).
pub const WEBRTC_UDP: (i32, i32) = (50000, 60000);
const ROOT_DEVICE: &str = "/dev/sda1";
/// Length of the generated MongoDB password.
const PASSWORD_LENGTH: usize = 32;
/// Marks an output whose value is a SecureString parameter's name: shown as `[secret]`,
/// revealed by `outputs --show-secrets`.
pub const SECRET_OUTPUT_PREFIX: &str = "ssm-secure:";

/// A script template with `{NAME}` placeholders filled from `values` (text or outputs).
fn fill(template: &str, values: &[(&str, Piece)]) -> Input<String> {
    let mut pieces = vec![Piece::Text(template.to_string())];
    for (placeholder, value) in values {
        pieces = pieces
            .into_iter()
            .flat_map(|piece| match piece {
                Piece::Text(text) => {
                    let mut split = Vec::new();
                    for (i, part) in text.split(placeholder).enumerate() {
                        if i > 0 {
                            split.push(value.clone());
                        }
                        split.push(Piece::Text(part.to_string()));
                    }
                    split
                }
                other => vec![other],
            })
            .collect();
    }
    Input::concat(
        pieces
            .into_iter()
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
}

/// The tiers, in the order the guide builds them: how plans and the graph are grouped.
pub const TIERS: [&str; 8] = [
    "network",
    "security",
    "data",
    "origin",
    "edge",
    "certificate",
    "load balancer",
    "dns",
];

/// The tier of a resource, by its logical name.
pub fn tier(name: &str) -> &'static str {
    if name.ends_with("-sg")
        || ["instance-role", "instance-profile", "mongodb-password"].contains(&name)
    {
        return "security";
    }
    let prefixes: [(&str, &str); 9] = [
        ("vpc", "network"),
        ("internet-gateway", "network"),
        ("subnet", "network"),
        ("route-table", "network"),
        ("mongodb", "data"),
        ("origin", "origin"),
        ("edge", "edge"),
        ("certificate", "certificate"),
        ("dns", "dns"),
    ];
    prefixes
        .iter()
        .find(|(p, _)| name.starts_with(p))
        .map_or("load balancer", |(_, t)| t)
}

/// Declares the whole cluster for `config`.
pub fn declare(config: &StackConfig, found: &Found) -> Result<Program, ProgramError> {
    let mut program = Program::new();
    let p = &mut program;

    // Network: a VPC with public subnets in two zones, or the ones the stack file names.
    let (vpc_id, subnet_ids): (Input<String>, Vec<Input<String>>) = match &config.network.vpc {
        VpcChoice::Existing { vpc_id, subnet_ids } => (
            vpc_id.clone().into(),
            subnet_ids.iter().cloned().map(Input::from).collect(),
        ),
        VpcChoice::New { cidr, subnet_cidrs } => {
            let vpc = p.add::<Vpc>(
                "vpc",
                VpcArgs {
                    cidr_block: cidr.to_string().into(),
                },
            )?;
            let gateway = p.add::<InternetGateway>(
                "internet-gateway",
                InternetGatewayArgs {
                    vpc_id: vpc.id().into(),
                },
            )?;
            let mut subnets = Vec::new();
            for (index, (cidr, zone)) in subnet_cidrs
                .iter()
                .zip(&config.network.availability_zones)
                .enumerate()
            {
                let subnet = p.add::<Subnet>(
                    &format!("subnet-{}", index + 1),
                    SubnetArgs {
                        vpc_id: vpc.id().into(),
                        cidr_block: cidr.to_string().into(),
                        availability_zone: zone.clone().into(),
                        map_public_ip_on_launch: true,
                    },
                )?;
                subnets.push(Input::from(subnet.id()));
            }
            p.add::<RouteTable>(
                "route-table",
                RouteTableArgs {
                    vpc_id: vpc.id().into(),
                    internet_gateway_id: gateway.id().into(),
                    subnet_ids: subnets.clone(),
                },
            )?;
            (vpc.id().into(), subnets)
        }
    };
    // Instances go in the first zone, as the guide says: origins and edges talk over 5000.
    let first_subnet = subnet_ids
        .first()
        .cloned()
        .unwrap_or_else(|| Input::from(""));
    let admin = config.network.admin_cidr.to_string();

    // Security groups.
    let tcp = |port: i32, description: &str| Rule {
        protocol: "tcp".into(),
        from_port: port,
        to_port: port,
        cidr: Some("0.0.0.0/0".into()),
        source_group: None,
        from_self: false,
        description: description.into(),
    };
    let ssh = Rule {
        cidr: Some(admin.clone()),
        ..tcp(22, "SSH from the admin network")
    };
    let alb_sg = p.add::<SecurityGroup>(
        "load-balancer-sg",
        SecurityGroupArgs {
            vpc_id: vpc_id.clone(),
            description: "AMS load balancer: publish on 80/443, play on 5080/5443".into(),
            ingress: vec![
                tcp(80, "publish (HTTP)"),
                tcp(443, "publish (HTTPS)"),
                tcp(5080, "play (HTTP)"),
                tcp(5443, "play (HTTPS)"),
            ],
        },
    )?;
    let nodes_sg = p.add::<SecurityGroup>(
        "nodes-sg",
        SecurityGroupArgs {
            vpc_id: vpc_id.clone(),
            description: "AMS origin and edge nodes".into(),
            ingress: vec![
                Rule {
                    cidr: None,
                    source_group: Some(alb_sg.id().into()),
                    ..tcp(AMS_HTTP_PORT, "HTTP from the load balancer")
                },
                Rule {
                    protocol: "udp".into(),
                    from_port: WEBRTC_UDP.0,
                    to_port: WEBRTC_UDP.1,
                    ..tcp(0, "WebRTC media")
                },
                Rule {
                    cidr: None,
                    from_self: true,
                    ..tcp(AMS_CLUSTER_PORT, "cluster traffic between nodes")
                },
                ssh.clone(),
            ],
        },
    )?;
    let mongodb_sg = p.add::<SecurityGroup>(
        "mongodb-sg",
        SecurityGroupArgs {
            vpc_id: vpc_id.clone(),
            description: "AMS MongoDB: nodes only".into(),
            ingress: vec![
                Rule {
                    cidr: None,
                    source_group: Some(nodes_sg.id().into()),
                    ..tcp(MONGODB_PORT, "MongoDB from the AMS nodes")
                },
                ssh,
            ],
        },
    )?;

    // The MongoDB password, and the one role allowed to read it.
    let password = p.add::<SecureParameter>(
        "mongodb-password",
        SecureParameterArgs {
            name: format!("/ams-stack/{}/mongodb-password", config.name),
            description: format!(
                "MongoDB password of the AMS cluster `{}` (ams-stack)",
                config.name
            ),
            length: PASSWORD_LENGTH,
        },
    )?;
    let role = p.add::<Role>(
        "instance-role",
        RoleArgs {
            description: "AMS cluster instances: read the MongoDB password, nothing else".into(),
            statements: vec![
                Statement { actions: vec!["ssm:GetParameter".into()], resource: password.arn().into(), condition: None },
                Statement {
                    actions: vec!["kms:Decrypt".into()],
                    resource: "*".into(),
                    condition: Some(serde_json::json!({
                        "StringEquals": { "kms:ViaService": format!("ssm.{}.amazonaws.com", config.region) }
                    })),
                },
            ],
        },
    )?;
    let profile = p.add::<InstanceProfile>(
        "instance-profile",
        InstanceProfileArgs {
            role_name: role.name_output().into(),
        },
    )?;
    let secure = Secure {
        parameter: password.name_output().into(),
        region: config.region.clone(),
        profile_arn: profile.arn().into(),
        hop_limit: config.security.imds_hop_limit,
    };

    // MongoDB.
    let mongodb = p.add::<Instance>(
        "mongodb",
        InstanceArgs {
            subnet_id: first_subnet.clone(),
            machine: MachineArgs {
                image_id: found.mongodb_ami.clone().into(),
                instance_type: config.mongodb.instance_type.clone(),
                key_name: config.mongodb.key_name.clone(),
                security_group_ids: vec![mongodb_sg.id().into()],
                user_data: fill(
                    include_str!("user_data/mongodb.sh"),
                    &[
                        ("{REGION}", config.region.clone().into()),
                        ("{PARAMETER}", secure.parameter.clone()),
                    ],
                ),
                root_volume_gib: config.mongodb.root_volume_gib,
                root_device: ROOT_DEVICE.into(),
                encrypted: true,
                http_tokens: "required".into(),
                hop_limit: secure.hop_limit,
                instance_profile_arn: Some(secure.profile_arn.clone()),
            },
        },
    )?;

    // Origin (publish) and edge (play) groups.
    let shared = Shared {
        mongodb: &mongodb,
        nodes_sg: &nodes_sg,
        vpc_id: &vpc_id,
        subnet: &first_subnet,
        secure: &secure,
    };
    let origin = nodes(
        p,
        &shared,
        "origin",
        &config.origin,
        &found.origin_ami,
        Some(30),
    )?;
    let edge = nodes(p, &shared, "edge", &config.edge, &found.edge_ami, None)?;

    // Certificate, validated through DNS in the hosted zone.
    let certificate = p.add::<Certificate>(
        "certificate",
        CertificateArgs {
            domain: config.dns.domain.clone(),
        },
    )?;
    let validation_record = p.add::<Record>(
        "certificate-validation-record",
        RecordArgs {
            zone_id: found.hosted_zone_id.clone(),
            name: certificate.validation_record_name().into(),
            record_type: certificate.validation_record_type().into(),
            ttl: 300,
            value: certificate.validation_record_value().into(),
            upsert: true,
        },
    )?;
    let issued = p.add::<CertificateValidation>(
        "certificate-validation",
        CertificateValidationArgs {
            certificate_arn: certificate.arn().into(),
            record_fqdn: validation_record.fqdn().into(),
        },
    )?;

    // Load balancer: 80/443 publish to origins, 5080/5443 play from edges.
    let alb = p.add::<LoadBalancer>(
        "load-balancer",
        LoadBalancerArgs {
            subnet_ids: subnet_ids.clone(),
            security_group_ids: vec![alb_sg.id().into()],
        },
    )?;
    let listeners = [
        (80, false, &origin),
        (443, true, &origin),
        (5080, false, &edge),
        (5443, true, &edge),
    ];
    for (port, https, target) in listeners {
        p.add::<Listener>(
            &format!("listener-{}-{port}", if https { "https" } else { "http" }),
            ListenerArgs {
                load_balancer_arn: alb.arn().into(),
                port,
                protocol: if https { "HTTPS" } else { "HTTP" }.into(),
                certificate_arn: https.then(|| issued.certificate_arn().into()),
                target_group_arn: target.arn().into(),
            },
        )?;
    }

    // DNS: the user's name for the service.
    p.add::<Record>(
        "dns-record",
        RecordArgs {
            zone_id: found.hosted_zone_id.clone(),
            name: config.dns.domain.clone().into(),
            record_type: "CNAME".into(),
            ttl: 300,
            value: alb.dns_name().into(),
            upsert: false,
        },
    )?;

    let domain = &config.dns.domain;
    p.output(
        "publish_url",
        format!("https://{domain}/WebRTCAppEE/").into(),
    )?;
    p.output(
        "play_url",
        format!("https://{domain}:5443/WebRTCAppEE/player.html").into(),
    )?;
    p.output("load_balancer_dns", alb.dns_name().into())?;
    p.output("mongodb_private_ip", mongodb.private_ip().into())?;
    p.output(
        "mongodb_password",
        Input::concat([SECRET_OUTPUT_PREFIX.into(), password.name_output().into()]),
    )?;
    program.check()?;
    Ok(program)
}

/// What every machine of the cluster gets: the password's parameter, the instance profile that
/// may read it, and the metadata settings.
struct Secure {
    parameter: Piece,
    region: String,
    profile_arn: Input<String>,
    hop_limit: i32,
}

/// What the origin and edge groups share: MongoDB, the nodes' security group, where they run.
struct Shared<'a> {
    mongodb: &'a Ref<Instance>,
    nodes_sg: &'a Ref<SecurityGroup>,
    vpc_id: &'a Input<String>,
    subnet: &'a Input<String>,
    secure: &'a Secure,
}

/// A node group: launch template, target group, auto-scaling group and CPU policy.
fn nodes(
    p: &mut Program,
    shared: &Shared<'_>,
    role: &str,
    group: &NodeGroup,
    ami: &str,
    sticky_seconds: Option<i32>,
) -> Result<Ref<TargetGroup>, ProgramError> {
    let Shared {
        mongodb,
        nodes_sg,
        vpc_id,
        subnet,
        secure,
    } = *shared;
    let user_data = fill(
        include_str!("user_data/ams-node.sh"),
        &[
            ("{ROLE}", role.into()),
            ("{REGION}", secure.region.clone().into()),
            ("{PARAMETER}", secure.parameter.clone()),
            ("{MONGODB_HOST}", mongodb.private_ip().into()),
        ],
    );
    let launch_template = p.add::<LaunchTemplate>(
        &format!("{role}-launch-template"),
        LaunchTemplateArgs {
            machine: MachineArgs {
                image_id: ami.to_string().into(),
                instance_type: group.instance.instance_type.clone(),
                key_name: group.instance.key_name.clone(),
                security_group_ids: vec![nodes_sg.id().into()],
                user_data,
                root_volume_gib: group.instance.root_volume_gib,
                root_device: ROOT_DEVICE.into(),
                encrypted: true,
                http_tokens: "required".into(),
                hop_limit: secure.hop_limit,
                instance_profile_arn: Some(secure.profile_arn.clone()),
            },
        },
    )?;
    let target_group = p.add::<TargetGroup>(
        &format!("{role}-target-group"),
        TargetGroupArgs {
            vpc_id: vpc_id.clone(),
            port: AMS_HTTP_PORT,
            health_check_path: "/".into(),
            algorithm: "least_outstanding_requests".into(),
            sticky_seconds,
        },
    )?;
    let scaling_group = p.add::<Group>(
        &format!("{role}-group"),
        GroupArgs {
            launch_template_id: launch_template.id().into(),
            min_size: i32::try_from(group.min_size).unwrap_or(i32::MAX),
            max_size: i32::try_from(group.max_size).unwrap_or(i32::MAX),
            subnet_ids: vec![subnet.clone()],
            target_group_arns: vec![target_group.arn().into()],
            health_check_grace_seconds: 300,
        },
    )?;
    p.add::<CpuPolicy>(
        &format!("{role}-cpu-policy"),
        CpuPolicyArgs {
            group_name: scaling_group.name_output().into(),
            target_cpu_percent: group.cpu_target,
        },
    )?;
    Ok(target_group)
}

pub mod checks;

#[cfg(test)]
mod tests;
