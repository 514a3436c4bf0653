//! The load balancer tier: the Application Load Balancer, 80/443 publishing to the origins and
//! 5080/5443 playing from the edges, HTTPS with the stack's certificate.

use ams_aws::acm::CertificateValidation;
use ams_aws::elbv2::{Listener, LoadBalancer};
use ams_engine::{Program, ProgramError, Ref};

use super::after;
use super::network::Network;
use super::nodes::Nodes;
use super::ports::{Serves, ALB_LISTENERS};
use super::security::Security;

pub fn declare(
    p: &mut Program,
    network: &Network,
    security: &Security,
    origin: &Nodes,
    edge: &Nodes,
    issued: &Ref<CertificateValidation>,
) -> Result<Ref<LoadBalancer>, ProgramError> {
    let alb = p.add_after(
        "load-balancer",
        LoadBalancer {
            subnet_ids: network.subnet_ids.clone(),
            security_group_ids: vec![security.load_balancer_sg.id().into()],
            load_balancer_type: "application".into(),
        },
        // AWS refuses an internet-facing load balancer in a VPC without a gateway route.
        &after(network),
    )?;
    for listener in &ALB_LISTENERS {
        let target = match listener.serves {
            Serves::Origin => origin,
            Serves::Edge => edge,
        };
        let port = listener.port;
        p.add(
            &format!(
                "listener-{}-{port}",
                if listener.tls { "https" } else { "http" }
            ),
            Listener {
                load_balancer_arn: alb.arn().into(),
                port,
                protocol: if listener.tls { "HTTPS" } else { "HTTP" }.into(),
                certificate_arn: listener.tls.then(|| issued.certificate_arn().into()),
                target_group_arn: target.target_group.arn().into(),
            },
        )?;
    }
    Ok(alb)
}
