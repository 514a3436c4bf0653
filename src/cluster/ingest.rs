//! The ingest tier: RTMP and SRT publishing from OBS and hardware encoders, which an
//! Application Load Balancer cannot carry, through an internet-facing Network Load Balancer in
//! front of the origin group. RTMPS: TLS on 443 with the stack's certificate, terminated there
//! and forwarded to AMS's RTMP port (1935) on the origins, its connections logged in the
//! stack's log bucket; plain RTMP on 1935 where the stack file keeps it (`rtmp_plain`); SRT on
//! UDP 4200.

use ams_aws::acm::CertificateValidation;
use ams_aws::elbv2::{AccessLogs, Listener, LoadBalancer, TargetGroup};
use ams_aws::s3::Bucket;
use ams_engine::{Input, Program, ProgramError, Ref};

use super::after;
use super::load_balancer::INGEST_ACCESS_LOG_PREFIX;
use super::network::Network;
use super::ports::{AMS_HTTP_PORT, RTMPS_PORT, RTMP_PORT, SRT_PORT};
use super::security::Security;
use crate::config::StackConfig;

/// The ingest load balancer.
pub struct Ingest {
    pub load_balancer: Ref<LoadBalancer>,
}

/// An ingest target group, its protocol and its port.
pub type IngestGroup = (Ref<TargetGroup>, &'static str, i32);

/// Target groups first (the origin group joins them); listeners and the load balancer after.
pub fn target_groups(
    p: &mut Program,
    config: &StackConfig,
    network: &Network,
) -> Result<Vec<IngestGroup>, ProgramError> {
    // UDP cannot be health-checked: AMS's HTTP port over TCP says whether the node serves SRT.
    let wanted = [
        (config.ingest.rtmp, "rtmp", "TCP", RTMP_PORT, None),
        (
            config.ingest.srt,
            "srt",
            "UDP",
            SRT_PORT,
            Some(AMS_HTTP_PORT),
        ),
    ];
    let mut groups = Vec::new();
    for (enabled, name, protocol, port, health_check_port) in wanted {
        if !enabled {
            continue;
        }
        let group = p.add(
            &format!("origin-{name}-target-group"),
            TargetGroup {
                vpc_id: network.vpc_id.clone(),
                port,
                protocol: protocol.into(),
                health_check_path: None,
                health_check_protocol: Some("TCP".into()),
                health_check_port: health_check_port.map(|port: i32| port.to_string()),
                algorithm: None,
                sticky_seconds: None,
                health_timing: super::nodes::HEALTH_TIMING,
                deregistration_delay_seconds: Some(super::nodes::deregistration_delay(
                    &config.origin,
                )),
            },
        )?;
        groups.push((group, protocol, port));
    }
    Ok(groups)
}

/// What the ingest load balancer takes from the other tiers: the issued certificate (RTMPS) and
/// the log bucket (its TLS connections' access logs).
pub struct Shared<'a> {
    pub issued: &'a Ref<CertificateValidation>,
    pub log_bucket: Option<&'a Ref<Bucket>>,
}

pub fn declare(
    p: &mut Program,
    config: &StackConfig,
    network: &Network,
    security: &Security,
    groups: Vec<IngestGroup>,
    shared: Shared,
) -> Result<Option<Ingest>, ProgramError> {
    let Some(ingest_sg) = &security.ingest_sg else {
        return Ok(None);
    };
    // NLB access logs record TLS listeners only: with RTMPS, in the stack's log bucket.
    let access_logs = shared
        .log_bucket
        .filter(|_| config.ingest.rtmp)
        .map(|bucket| AccessLogs {
            bucket: bucket.name().into(),
            prefix: INGEST_ACCESS_LOG_PREFIX.into(),
        });
    let load_balancer = p.add_after(
        "ingest-load-balancer",
        LoadBalancer {
            subnet_ids: network.subnet_ids.clone(),
            security_group_ids: vec![ingest_sg.id().into()],
            load_balancer_type: "network".into(),
            deletion_protection: config.load_balancer.deletion_protection,
            drop_invalid_header_fields: false,
            // The origins live in the first zone; without it the other zone's node has no
            // targets and drops what encoders send it.
            cross_zone: true,
            access_logs,
        },
        // AWS refuses an internet-facing load balancer in a VPC without a gateway route.
        &after(network),
    )?;
    for (target_group, protocol, port) in groups {
        if port == RTMP_PORT {
            // RTMPS: TLS terminated here with the stack's certificate (issued, naming
            // ingest.DOMAIN), forwarded as plain TCP to AMS's RTMP port.
            p.add(
                &format!("ingest-listener-tls-{RTMPS_PORT}"),
                Listener {
                    load_balancer_arn: load_balancer.arn().into(),
                    port: RTMPS_PORT,
                    protocol: "TLS".into(),
                    certificate_arn: Some(shared.issued.certificate_arn().into()),
                    ssl_policy: Some(config.load_balancer.tls_policy.clone()),
                    target_group_arn: Some(target_group.arn().into()),
                    redirect_to_port: None,
                },
            )?;
            if !config.ingest.rtmp_plain {
                continue;
            }
        }
        p.add(
            &format!("ingest-listener-{}-{port}", protocol.to_ascii_lowercase()),
            Listener {
                load_balancer_arn: load_balancer.arn().into(),
                port,
                protocol: protocol.into(),
                certificate_arn: None,
                ssl_policy: None,
                target_group_arn: Some(target_group.arn().into()),
                redirect_to_port: None,
            },
        )?;
    }
    Ok(Some(Ingest { load_balancer }))
}

/// The ARNs the origin group joins.
pub fn arns(groups: &[(Ref<TargetGroup>, &'static str, i32)]) -> Vec<Input<String>> {
    groups.iter().map(|(g, _, _)| g.arn().into()).collect()
}
