//! The security tier: one security group per role (load balancer, ingest, nodes, MongoDB), the
//! MongoDB password kept only in SSM, and the one instance role allowed to read it.

use ams_aws::ec2::{Rule, SecurityGroup};
use ams_aws::iam::{InstanceProfile, Role, Statement};
use ams_aws::s3::Bucket;
use ams_aws::ssm::SecureParameter;
use ams_engine::{Input, Piece, Program, ProgramError, Ref};

use super::ports::{
    ALB_LISTENERS, AMS_CLUSTER_PORT, AMS_HTTP_PORT, MONGODB_PORT, RTMPS_PORT, RTMP_PORT, SRT_PORT,
    WEBRTC_UDP,
};
use crate::config::StackConfig;

/// AWS's managed policy that lets Session Manager reach an instance
/// (`arn:PARTITION:iam::aws:policy/NAME`).
const SESSION_MANAGER_POLICY: &str = "AmazonSSMManagedInstanceCore";

/// Length of the generated MongoDB password.
const PASSWORD_LENGTH: usize = 32;

/// What the other tiers take from this one.
pub struct Security {
    pub load_balancer_sg: Ref<SecurityGroup>,
    /// The ingest load balancer's group, when RTMP or SRT is on.
    pub ingest_sg: Option<Ref<SecurityGroup>>,
    pub nodes_sg: Ref<SecurityGroup>,
    pub mongodb_sg: Ref<SecurityGroup>,
    pub password: Ref<SecureParameter>,
    /// The web panel's first admin's password, claimed by the first node to boot.
    pub panel_password: Ref<SecureParameter>,
    /// What every machine gets: the password's parameter, the profile that may read it, the
    /// metadata settings.
    pub machine: MachineSecurity,
}

#[derive(Clone)]
pub struct MachineSecurity {
    pub parameter: Piece,
    /// The name of the panel password's parameter.
    pub panel_parameter: Piece,
    /// Who may reach the web panel (AMS's dashboard IP filter): `admin_cidr`.
    pub dashboard_cidr: String,
    pub region: String,
    pub profile_arn: Input<String>,
    pub hop_limit: i32,
    /// Whether machines take the key pairs the stack file names (`[security] ssh`).
    pub ssh: bool,
    /// The user the nodes log in to MongoDB as; empty for an adopted MongoDB without auth.
    pub mongodb_user: String,
    /// Whether a node makes that user in a MongoDB that takes no password yet: an adopted one
    /// whose auth the stack file turned on (docs/OPERATIONS.md, "Turn MongoDB's auth on").
    pub mongodb_create_user: bool,
}

impl MachineSecurity {
    /// The key pair a machine gets: the one named, unless SSH is off.
    pub fn key_name(&self, named: &Option<String>) -> Option<String> {
        named.clone().filter(|_| self.ssh)
    }
}

/// A generated password of the stack, `/ams-stack/STACK/NAME` in SSM (never in the state).
pub(super) fn secret(
    p: &mut Program,
    config: &StackConfig,
    name: &str,
    what: &str,
) -> Result<Ref<SecureParameter>, ProgramError> {
    p.add(
        name,
        SecureParameter {
            name: format!("/ams-stack/{}/{name}", config.name),
            description: format!("{what} of the AMS cluster `{}` (ams-stack)", config.name),
            length: PASSWORD_LENGTH,
        },
    )
}

/// A TCP rule open to the world; the other rules are built from it.
pub(super) fn tcp(port: i32, description: &str) -> Rule {
    Rule {
        protocol: "tcp".into(),
        from_port: port,
        to_port: port,
        cidr: Some("0.0.0.0/0".into()),
        source_group: None,
        from_self: false,
        description: description.into(),
    }
}

/// A rule admitting `port` only from the members of `group`.
fn from_group(group: &Ref<SecurityGroup>, rule: Rule) -> Rule {
    Rule {
        cidr: None,
        source_group: Some(group.id().into()),
        ..rule
    }
}

pub(super) fn udp(from: i32, to: i32, description: &str) -> Rule {
    Rule {
        protocol: "udp".into(),
        from_port: from,
        to_port: to,
        ..tcp(0, description)
    }
}

pub fn declare(
    p: &mut Program,
    config: &StackConfig,
    vpc_id: &Input<String>,
    recordings: Option<&Ref<Bucket>>,
    turn: Option<&super::Turn>,
) -> Result<Security, ProgramError> {
    // SSH from the admin network, unless the stack file turns SSH off.
    let ssh: Vec<Rule> = [Rule {
        cidr: Some(config.network.admin_cidr.to_string()),
        ..tcp(22, "SSH from the admin network")
    }]
    .into_iter()
    .filter(|_| config.security.ssh)
    .collect();
    let load_balancer_sg = p.add(
        "load-balancer-sg",
        SecurityGroup {
            vpc_id: vpc_id.clone(),
            description: "AMS load balancer: publish on 80/443, play on 5080/5443".into(),
            ingress: ALB_LISTENERS
                .iter()
                .map(|listener| tcp(listener.port, listener.purpose))
                .collect(),
        },
    )?;
    let ingest = &config.ingest;
    let ingest_sg = if ingest.any() {
        let mut ingress = Vec::new();
        if ingest.rtmp_plain {
            ingress.push(tcp(RTMP_PORT, "RTMP publish"));
        }
        if ingest.srt {
            ingress.push(udp(SRT_PORT, SRT_PORT, "SRT publish"));
        }
        if ingest.rtmp {
            ingress.push(tcp(RTMPS_PORT, "RTMPS publish (TLS)"));
        }
        Some(p.add(
            "ingest-sg",
            SecurityGroup {
                vpc_id: vpc_id.clone(),
                // Kept as it was (a new description replaces the group): RTMPS 443/tcp too.
                description: "AMS ingest load balancer: RTMP 1935/tcp, SRT 4200/udp".into(),
                ingress,
            },
        )?)
    } else {
        None
    };
    let mut nodes_ingress = vec![
        from_group(
            &load_balancer_sg,
            tcp(AMS_HTTP_PORT, "HTTP from the load balancer"),
        ),
        udp(WEBRTC_UDP.0, WEBRTC_UDP.1, "WebRTC media"),
        Rule {
            cidr: None,
            from_self: true,
            ..tcp(AMS_CLUSTER_PORT, "cluster traffic between nodes")
        },
    ];
    nodes_ingress.extend(ssh.iter().cloned());
    if let Some(ingest_sg) = &ingest_sg {
        if ingest.rtmp {
            // RTMPS and plain RTMP both reach AMS's RTMP port.
            nodes_ingress.push(from_group(
                ingest_sg,
                tcp(RTMP_PORT, "RTMP from the ingest load balancer"),
            ));
        }
        if ingest.srt {
            nodes_ingress.push(from_group(
                ingest_sg,
                udp(SRT_PORT, SRT_PORT, "SRT from the ingest load balancer"),
            ));
            // SRT's target group is health-checked over TCP on the HTTP port.
            nodes_ingress.push(from_group(
                ingest_sg,
                tcp(
                    AMS_HTTP_PORT,
                    "SRT health check from the ingest load balancer",
                ),
            ));
        }
    }
    let nodes_sg = p.add(
        "nodes-sg",
        SecurityGroup {
            vpc_id: vpc_id.clone(),
            description: "AMS origin and edge nodes".into(),
            ingress: nodes_ingress,
        },
    )?;
    let mongodb_sg = p.add(
        "mongodb-sg",
        SecurityGroup {
            vpc_id: vpc_id.clone(),
            description: "AMS MongoDB: nodes only".into(),
            ingress: [from_group(
                &nodes_sg,
                tcp(MONGODB_PORT, "MongoDB from the AMS nodes"),
            )]
            .into_iter()
            .chain(ssh)
            .collect(),
        },
    )?;

    // The two passwords, and the one role allowed to read them.
    let password = secret(p, config, "mongodb-password", "MongoDB password")?;
    let panel_password = secret(
        p,
        config,
        "panel-password",
        "Password of the first admin of the web panel",
    )?;
    let partition = ams_aws::partition(&config.region);
    let role = p.add(
        "instance-role",
        Role {
            description:
                "AMS cluster instances: read the MongoDB and panel passwords; a node that cannot join marks itself unhealthy; nodes drain before they leave"
                    .into(),
            statements: vec![
                Statement::allow(&["ssm:GetParameter"], password.arn()),
                // The nodes claim the panel's first admin with it.
                Statement::allow(&["ssm:GetParameter"], panel_password.arn()),
                // No kms:Decrypt: the parameter is encrypted with the AWS managed key aws/ssm,
                // whose key policy lets Parameter Store decrypt for whoever may read it.
                //
                // On this stack's groups only (they carry its tag, which the role cannot set;
                // it cannot name their ARNs, which come later, nor their names, which an adopted
                // group chose before the stack): a node
                // that cannot join the cluster has its group replace it; the drain agent keeps
                // an origin with publishers from scale-in, sends heartbeats while a leaving node
                // drains, and completes the termination.
                Statement::allow(
                    &[
                        "autoscaling:SetInstanceHealth",
                        "autoscaling:SetInstanceProtection",
                        "autoscaling:RecordLifecycleActionHeartbeat",
                        "autoscaling:CompleteLifecycleAction",
                    ],
                    format!(
                        "arn:{partition}:autoscaling:{}:*:autoScalingGroup:*:autoScalingGroupName/*",
                        config.region
                    ),
                )
                .when(serde_json::json!({
                    "StringEquals": { format!("autoscaling:ResourceTag/{}", ams_aws::TAG_STACK): config.name }
                })),
                // The drain agent learns its group's name (read only; Describe actions take no
                // resource but "*").
                Statement::allow(&["autoscaling:DescribeAutoScalingInstances"], "*"),
            ]
            .into_iter()
            .chain(recordings.into_iter().flat_map(|bucket| {
                // AMS (through the node's signing proxy) writes a recording, reads it back for
                // VoD and deletes it when a user deletes the VoD: under the recordings prefix
                // only. It lists the bucket to name a recording that overwrites none, and a
                // missing object's check needs the listing to read 404, not 403: the bucket
                // holds recordings only. No policy, ACL or other prefix.
                [
                    Statement::allow(
                        &[
                            "s3:PutObject",
                            "s3:GetObject",
                            "s3:DeleteObject",
                            "s3:AbortMultipartUpload",
                        ],
                        super::recording::objects(bucket),
                    ),
                    Statement::allow(&["s3:ListBucket"], bucket.arn()),
                ]
            }))
            // With `[turn]`: the nodes make AMS's TURN credential from its secret at boot.
            .chain(
                turn.map(|turn| Statement::allow(&["ssm:GetParameter"], turn.secret.arn())),
            )
            // A self-hosted licence key (`[license] key_parameter`), read at boot: that
            // parameter only (a SecureString under the AWS managed key aws/ssm).
            .chain(config.node_settings.license_parameter.iter().map(|name| {
                Statement::allow(
                    &["ssm:GetParameter"],
                    format!("arn:{partition}:ssm:{}:*:parameter{name}", config.region),
                )
            }))
            .collect(),
            service: "ec2.amazonaws.com".into(),
            // Session Manager, where the stack file asks for it: operators reach the nodes
            // without SSH.
            managed_policy_arns: if config.security.session_manager {
                vec![format!("arn:{partition}:iam::aws:policy/{SESSION_MANAGER_POLICY}")]
            } else {
                Vec::new()
            },
        },
    )?;
    let profile = p.add(
        "instance-profile",
        InstanceProfile {
            role_name: role.name().into(),
        },
    )?;
    let machine = MachineSecurity {
        parameter: password.name().into(),
        panel_parameter: panel_password.name().into(),
        dashboard_cidr: config.network.admin_cidr.to_string(),
        region: config.region.clone(),
        profile_arn: profile.arn().into(),
        hop_limit: config.security.imds_hop_limit,
        ssh: config.security.ssh,
        mongodb_user: if config.mongodb.auth { "antmedia" } else { "" }.into(),
        mongodb_create_user: config.mongodb.adopted && config.mongodb.auth,
    };
    // A group's description is fixed at its making: one made by hand (adopted) keeps its own,
    // as a description is never worth replacing a group that instances are in.
    for group in [&load_balancer_sg, &nodes_sg, &mongodb_sg]
        .into_iter()
        .chain(ingest_sg.as_ref())
    {
        p.keep(group, &["description"]);
    }
    Ok(Security {
        load_balancer_sg,
        ingest_sg,
        nodes_sg,
        mongodb_sg,
        password,
        panel_password,
        machine,
    })
}
