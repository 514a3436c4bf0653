//! The application load balancer: internet-facing at the address the outputs name, publishing to
//! the origins on 80/443 and playing from the edges on 5080/5443, over HTTPS with the
//! certificate; and what the audit asks of both load balancers (plain HTTP redirected to HTTPS,
//! the TLS policy, Ant Media's rules, the attributes, the access-log bucket: see
//! `crate::load_balancer`).

use super::deployed::cluster;

#[tokio::test(flavor = "multi_thread")]
async fn publish_to_the_origins_on_80_and_443_play_from_the_edges_on_5080_and_5443() {
    let cluster = cluster();
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&cluster.moto.sdk().await);
    let lbs = elb.describe_load_balancers().send().await.expect("lbs");
    assert_eq!(lbs.load_balancers().len(), 2, "the ALB and the ingest NLB");
    let lb = lbs
        .load_balancers()
        .iter()
        .find(|lb| lb.r#type().map(|t| t.as_str()) == Some("application"))
        .expect("the application load balancer");
    assert_eq!(lb.dns_name(), Some(cluster.lb_dns()));
    assert_eq!(lb.scheme().map(|s| s.as_str()), Some("internet-facing"));
    let listeners = elb
        .describe_listeners()
        .load_balancer_arn(lb.load_balancer_arn().expect("arn"))
        .send()
        .await
        .expect("listeners");
    assert_eq!(listeners.listeners().len(), 4);
    let tg_name = |arn: &str| arn.split('/').nth(1).unwrap_or_default().to_string();
    for listener in listeners.listeners() {
        let (port, https) = (
            listener.port().expect("port"),
            listener.protocol().map(|p| p.as_str()) == Some("HTTPS"),
        );
        if !https {
            // Plain HTTP redirects to HTTPS (checked in crate::load_balancer).
            continue;
        }
        let target = tg_name(
            listener.default_actions()[0]
                .target_group_arn()
                .expect("target"),
        );
        let role = if port == 80 || port == 443 {
            "origin"
        } else {
            "edge"
        };
        assert!(
            target.starts_with(&format!("local-{role}-target-group")),
            "port {port} goes to {target}"
        );
        assert_eq!(https, port == 443 || port == 5443);
        assert_eq!(listener.certificates().len(), usize::from(https));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_tls_policy_rules_attributes_and_access_logs_as_the_audit_asks() {
    crate::load_balancer::audit_settings(&cluster().moto.sdk().await).await;
}
