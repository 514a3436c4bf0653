//! Ingest: RTMP on TCP 1935 and SRT on UDP 4200, through an internet-facing network load
//! balancer with its own security group, to the origins' RTMP and SRT target groups.

use super::deployed::cluster;

#[tokio::test(flavor = "multi_thread")]
async fn rtmp_and_srt_reach_the_origins_through_the_network_load_balancer() {
    let cluster = cluster();
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&cluster.moto.sdk().await);
    let target_groups = elb.describe_target_groups().send().await.expect("tgs");
    let by_port = |port: i32| {
        target_groups
            .target_groups()
            .iter()
            .find(move |tg| tg.port() == Some(port))
    };
    let rtmp = by_port(1935).expect("RTMP target group");
    let srt = by_port(4200).expect("SRT target group");
    let lbs = elb.describe_load_balancers().send().await.expect("lbs");
    let nlb = lbs
        .load_balancers()
        .iter()
        .find(|lb| lb.r#type().map(|t| t.as_str()) == Some("network"))
        .expect("the ingest network load balancer");
    assert_eq!(nlb.scheme().map(|s| s.as_str()), Some("internet-facing"));
    assert_eq!(nlb.dns_name(), Some(cluster.nlb_dns()));
    assert_eq!(nlb.security_groups().len(), 1);
    let ingest = elb
        .describe_listeners()
        .load_balancer_arn(nlb.load_balancer_arn().expect("arn"))
        .send()
        .await
        .expect("ingest listeners");
    let mut ingest: Vec<(i32, String, String)> = ingest
        .listeners()
        .iter()
        .map(|l| {
            (
                l.port().unwrap_or_default(),
                l.protocol()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default(),
                l.default_actions()[0]
                    .target_group_arn()
                    .map(String::from)
                    .unwrap_or_default(),
            )
        })
        .collect();
    ingest.sort();
    assert_eq!(
        ingest,
        [
            (
                1935,
                "TCP".to_string(),
                rtmp.target_group_arn().unwrap_or_default().to_string()
            ),
            (
                4200,
                "UDP".to_string(),
                srt.target_group_arn().unwrap_or_default().to_string()
            ),
        ]
    );
}
