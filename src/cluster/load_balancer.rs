//! The load balancer tier: the Application Load Balancer, 80/443 publishing to the origins and
//! 5080/5443 playing from the edges, HTTPS with the stack's certificate and TLS policy; plain
//! HTTP redirected to HTTPS (or forwarded, by the stack file's choice); on 443 Ant Media's two
//! rules (`?target=origin`, `?target=edge`); its access logs in the stack's own bucket (which
//! also takes the ingest load balancer's, under their own prefix).

use ams_aws::acm::CertificateValidation;
use ams_aws::elbv2::{AccessLogs, Listener, ListenerRule, LoadBalancer, QueryPair};
use ams_aws::s3::Bucket;
use ams_engine::{Program, ProgramError, Ref};

use super::after;
use super::network::Network;
use super::nodes::Nodes;
use super::ports::{Serves, ALB_LISTENERS};
use super::security::Security;
use crate::config::{PlainHttp, StackConfig};

/// Where in the bucket the ALB writes (ELB adds `/AWSLogs/ACCOUNT/elasticloadbalancing/...`).
pub const ACCESS_LOG_PREFIX: &str = "alb";
/// Where in the bucket the ingest load balancer writes (its TLS listener's connections).
pub const INGEST_ACCESS_LOG_PREFIX: &str = "nlb";

/// The stack's log bucket, unless `access_log_days = 0`: the ALB's logs, and the ingest load
/// balancer's where it has a TLS listener (RTMPS).
pub fn log_bucket(
    p: &mut Program,
    config: &StackConfig,
) -> Result<Option<Ref<Bucket>>, ProgramError> {
    let days = config.load_balancer.access_log_days;
    if days <= 0 {
        return Ok(None);
    }
    let bucket = p.add(
        "access-logs",
        Bucket {
            elb_log_prefix: Some(ACCESS_LOG_PREFIX.into()),
            nlb_log_prefix: config.ingest.rtmp.then(|| INGEST_ACCESS_LOG_PREFIX.into()),
            expire_days: days,
            keeps_data: false,
        },
    )?;
    Ok(Some(bucket))
}

pub fn declare(
    p: &mut Program,
    config: &StackConfig,
    network: &Network,
    security: &Security,
    (origin, edge): (&Nodes, &Nodes),
    issued: &Ref<CertificateValidation>,
    log_bucket: Option<&Ref<Bucket>>,
) -> Result<Ref<LoadBalancer>, ProgramError> {
    let settings = &config.load_balancer;
    let access_logs = log_bucket.map(|bucket| AccessLogs {
        bucket: bucket.name().into(),
        prefix: ACCESS_LOG_PREFIX.into(),
    });
    let alb = p.add_after(
        "load-balancer",
        LoadBalancer {
            subnet_ids: network.subnet_ids.clone(),
            security_group_ids: vec![security.load_balancer_sg.id().into()],
            load_balancer_type: "application".into(),
            deletion_protection: settings.deletion_protection,
            drop_invalid_header_fields: true,
            cross_zone: false,
            access_logs,
        },
        // AWS refuses an internet-facing load balancer in a VPC without a gateway route.
        &after(network),
    )?;
    let redirect = settings.plain_http == PlainHttp::Redirect;
    for listener in &ALB_LISTENERS {
        let target = match listener.serves {
            Serves::Origin => origin,
            Serves::Edge => edge,
        };
        let port = listener.port;
        let name = format!(
            "listener-{}-{port}",
            if listener.tls { "https" } else { "http" }
        );
        let redirects = redirect && !listener.tls;
        let https = p.add(
            &name,
            Listener {
                load_balancer_arn: alb.arn().into(),
                port,
                protocol: if listener.tls { "HTTPS" } else { "HTTP" }.into(),
                certificate_arn: listener.tls.then(|| issued.certificate_arn().into()),
                ssl_policy: listener.tls.then(|| settings.tls_policy.clone()),
                target_group_arn: (!redirects).then(|| target.target_group.arn().into()),
                redirect_to_port: redirects.then_some(listener.redirect_to),
            },
        )?;
        if listener.tls && listener.serves == Serves::Origin {
            // Ant Media's template: `?target=origin` / `?target=edge` on the publish port.
            for (priority, role, group) in [(1, "origin", origin), (2, "edge", edge)] {
                let rule = p.add(
                    &format!("listener-rule-{port}-{role}"),
                    ListenerRule {
                        listener_arn: https.arn().into(),
                        priority,
                        query_string: vec![QueryPair {
                            key: "target".into(),
                            value: role.into(),
                        }],
                        target_group_arn: group.target_group.arn().into(),
                    },
                )?;
                // A rule made by hand (adopted) keeps its priority: a new one replaces it.
                p.keep(&rule, &["priority"]);
            }
        }
    }
    Ok(alb)
}
