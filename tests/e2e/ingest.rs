//! Ingest: RTMPS on 443 (TLS terminated with the stack's certificate, which names
//! ingest.DOMAIN) and SRT on UDP 4200 (no plain RTMP: local.toml does not ask), through an internet-facing
//! network load balancer with its own security group, to the origins' RTMP and SRT target
//! groups; the RTMPS connections logged in the stack's log bucket.

use super::deployed::cluster;
use crate::load_balancer::{attributes, bucket, s3};

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
                443,
                "TLS".to_string(),
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

#[tokio::test(flavor = "multi_thread")]
async fn rtmps_terminates_tls_on_443_with_a_certificate_naming_ingest_and_logs_to_the_bucket() {
    let cluster = cluster();
    let sdk = cluster.moto.sdk().await;
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let lbs = elb.describe_load_balancers().send().await.expect("lbs");
    let nlb = lbs
        .load_balancers()
        .iter()
        .find(|lb| lb.r#type().map(|t| t.as_str()) == Some("network"))
        .and_then(|lb| lb.load_balancer_arn())
        .expect("the ingest network load balancer")
        .to_string();
    let listeners = elb
        .describe_listeners()
        .load_balancer_arn(&nlb)
        .send()
        .await
        .expect("ingest listeners");
    let tls = listeners
        .listeners()
        .iter()
        .find(|l| l.port() == Some(443))
        .expect("the RTMPS listener");
    assert_eq!(tls.protocol().map(|p| p.as_str()), Some("TLS"));
    assert_eq!(
        tls.ssl_policy(),
        Some("ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09")
    );
    // Forwarded to AMS's RTMP port on the origins: the 1935 TCP target group.
    let target = tls.default_actions()[0]
        .target_group_arn()
        .expect("a forward");
    let groups = elb
        .describe_target_groups()
        .target_group_arns(target)
        .send()
        .await
        .expect("the target group");
    let group = &groups.target_groups()[0];
    assert_eq!(
        (group.port(), group.protocol().map(|p| p.as_str())),
        (Some(1935), Some("TCP"))
    );

    // The certificate: the stack's one, issued, naming the domain and ingest.DOMAIN, each
    // validated by a record of its own in the hosted zone.
    let certificate_arn = tls.certificates()[0]
        .certificate_arn()
        .expect("a certificate");
    let acm = aws_sdk_acm::Client::new(&sdk);
    let described = acm
        .describe_certificate()
        .certificate_arn(certificate_arn)
        .send()
        .await
        .expect("the certificate");
    let certificate = described.certificate().expect("described");
    assert_eq!(certificate.domain_name(), Some("stream.ams-local.test"));
    let mut names = certificate.subject_alternative_names().to_vec();
    names.sort();
    assert_eq!(
        names,
        ["ingest.stream.ams-local.test", "stream.ams-local.test"]
    );
    assert_eq!(certificate.status().map(|s| s.as_str()), Some("ISSUED"));
    let route53 = aws_sdk_route53::Client::new(&sdk);
    let zones = route53.list_hosted_zones().send().await.expect("zones");
    let records = route53
        .list_resource_record_sets()
        .hosted_zone_id(zones.hosted_zones()[0].id())
        .send()
        .await
        .expect("records");
    for option in certificate.domain_validation_options() {
        let wanted = option.resource_record().expect("a validation record");
        assert!(
            records
                .resource_record_sets()
                .iter()
                .any(|r| r.name() == wanted.name()
                    && r.resource_records().first().map(|v| v.value()) == Some(wanted.value())),
            "{} validated by {}",
            option.domain_name(),
            wanted.name()
        );
    }
    // The ALB's HTTPS listeners moved to the same certificate.
    let alb = lbs
        .load_balancers()
        .iter()
        .find(|lb| lb.r#type().map(|t| t.as_str()) == Some("application"))
        .and_then(|lb| lb.load_balancer_arn())
        .expect("the application load balancer");
    let alb_listeners = elb
        .describe_listeners()
        .load_balancer_arn(alb)
        .send()
        .await
        .expect("listeners");
    for listener in alb_listeners.listeners() {
        if let Some(on) = listener.certificates().first() {
            assert_eq!(on.certificate_arn(), Some(certificate_arn));
        }
    }

    // Access logs of the TLS connections, in the stack's bucket under their own prefix, which
    // the bucket lets log delivery write for this account only.
    let bucket = bucket(&sdk).await;
    let logged = attributes(&elb, &nlb).await;
    for (key, value) in [
        ("access_logs.s3.enabled", "true"),
        ("access_logs.s3.bucket", bucket.as_str()),
        ("access_logs.s3.prefix", "nlb"),
    ] {
        assert_eq!(
            logged.get(key).map(String::as_str),
            Some(value),
            "{key}: {logged:?}"
        );
    }
    let policy = s3(&sdk)
        .get_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .expect("policy");
    let policy: serde_json::Value =
        serde_json::from_str(policy.policy().expect("policy text")).expect("json");
    let nlb_delivery = policy["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .find(|s| {
            s["Principal"]["Service"] == "delivery.logs.amazonaws.com"
                && s["Action"] == "s3:PutObject"
        })
        .expect("the NLB log delivery statement");
    assert_eq!(
        nlb_delivery["Resource"],
        format!("arn:aws:s3:::{bucket}/nlb/AWSLogs/123456789012/*")
    );
    assert_eq!(
        nlb_delivery["Condition"]["StringEquals"]["aws:SourceAccount"],
        serde_json::json!(["123456789012"])
    );

    // What encoders are told.
    assert_eq!(
        cluster.outputs["rtmps_url"],
        "rtmps://ingest.stream.ams-local.test/WebRTCAppEE"
    );
    // Plain RTMP only where the stack file asks: local.toml does not.
    assert!(cluster.outputs.get("rtmp_url").is_none());
}
