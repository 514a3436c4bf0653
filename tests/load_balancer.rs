//! What the audit asks of the load balancers, checked against the emulator after the e2e test's
//! `up` (`audit_settings`) and around its `destroy`: plain HTTP redirected to HTTPS, the
//! post-quantum FIPS TLS policy, Ant Media's two query-string rules on 443, the attributes of
//! both load balancers, and the access-log bucket (encryption, public access block, ownership,
//! policy, lifecycle), which destroy empties and deletes.

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum;

const POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09";

pub fn s3(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}

/// The stack's one bucket.
pub async fn bucket(sdk: &aws_config::SdkConfig) -> String {
    let buckets = s3(sdk).list_buckets().send().await.expect("buckets");
    let names: Vec<&str> = buckets
        .buckets()
        .iter()
        .filter_map(|b| b.name())
        .filter(|n| n.starts_with("local-access-logs-"))
        .collect();
    assert_eq!(names.len(), 1, "one access-log bucket: {names:?}");
    names[0].to_string()
}

pub async fn attributes(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    arn: &str,
) -> BTreeMap<String, String> {
    elb.describe_load_balancer_attributes()
        .load_balancer_arn(arn)
        .send()
        .await
        .expect("attributes")
        .attributes()
        .iter()
        .filter_map(|a| Some((a.key()?.to_string(), a.value()?.to_string())))
        .collect()
}

pub async fn audit_settings(sdk: &aws_config::SdkConfig) {
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(sdk);
    let lbs = elb.describe_load_balancers().send().await.expect("lbs");
    let of_type = |kind: LoadBalancerTypeEnum| {
        lbs.load_balancers()
            .iter()
            .find(|lb| lb.r#type() == Some(&kind))
            .and_then(|lb| lb.load_balancer_arn())
            .expect("load balancer")
            .to_string()
    };
    let (alb, nlb) = (
        of_type(LoadBalancerTypeEnum::Application),
        of_type(LoadBalancerTypeEnum::Network),
    );
    let bucket = bucket(sdk).await;

    // Attributes.
    let alb_attributes = attributes(&elb, &alb).await;
    for (key, value) in [
        ("deletion_protection.enabled", "true"),
        ("routing.http.drop_invalid_header_fields.enabled", "true"),
        ("access_logs.s3.enabled", "true"),
        ("access_logs.s3.bucket", bucket.as_str()),
        ("access_logs.s3.prefix", "alb"),
    ] {
        assert_eq!(
            alb_attributes.get(key).map(String::as_str),
            Some(value),
            "{key}: {alb_attributes:?}"
        );
    }
    let nlb_attributes = attributes(&elb, &nlb).await;
    for key in [
        "deletion_protection.enabled",
        "load_balancing.cross_zone.enabled",
    ] {
        assert_eq!(
            nlb_attributes.get(key).map(String::as_str),
            Some("true"),
            "{key}: {nlb_attributes:?}"
        );
    }

    // Listeners: 80 -> 443 and 5080 -> 5443 (301, host/path/query kept); HTTPS with the policy.
    let listeners = elb
        .describe_listeners()
        .load_balancer_arn(&alb)
        .send()
        .await
        .expect("listeners");
    let mut https_443 = None;
    for listener in listeners.listeners() {
        let port = listener.port().expect("port");
        let action = &listener.default_actions()[0];
        match port {
            80 | 5080 => {
                let redirect = action.redirect_config().expect("a redirect");
                let to = if port == 80 { "443" } else { "5443" };
                assert_eq!(
                    (
                        redirect.protocol(),
                        redirect.port(),
                        redirect.host(),
                        redirect.path(),
                        redirect.query()
                    ),
                    (
                        Some("HTTPS"),
                        Some(to),
                        Some("#{host}"),
                        Some("/#{path}"),
                        Some("#{query}")
                    ),
                    "port {port}"
                );
                assert_eq!(redirect.status_code().map(|c| c.as_str()), Some("HTTP_301"));
            }
            443 | 5443 => {
                assert_eq!(listener.ssl_policy(), Some(POLICY), "port {port}");
                if port == 443 {
                    https_443 = listener.listener_arn().map(String::from);
                }
            }
            other => panic!("unexpected ALB listener {other}"),
        }
    }

    // Ant Media's rules on 443: ?target=origin (1) and ?target=edge (2).
    let rules = elb
        .describe_rules()
        .listener_arn(https_443.expect("the 443 listener"))
        .send()
        .await
        .expect("rules");
    let mut found: Vec<(String, String, String)> = rules
        .rules()
        .iter()
        .filter(|r| r.is_default() != Some(true))
        .map(|r| {
            let pair = &r.conditions()[0]
                .query_string_config()
                .expect("query string")
                .values()[0];
            let target = r.actions()[0].target_group_arn().unwrap_or_default();
            (
                r.priority().unwrap_or_default().to_string(),
                format!(
                    "{}={}",
                    pair.key().unwrap_or_default(),
                    pair.value().unwrap_or_default()
                ),
                target.split('/').nth(1).unwrap_or_default().to_string(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(
        (found[0].0.as_str(), found[0].1.as_str()),
        ("1", "target=origin")
    );
    assert!(
        found[0].2.starts_with("local-origin-target-group"),
        "{found:?}"
    );
    assert_eq!(
        (found[1].0.as_str(), found[1].1.as_str()),
        ("2", "target=edge")
    );
    assert!(
        found[1].2.starts_with("local-edge-target-group"),
        "{found:?}"
    );

    // The bucket.
    let s3 = s3(sdk);
    let encryption = s3
        .get_bucket_encryption()
        .bucket(&bucket)
        .send()
        .await
        .expect("encryption");
    let rule = &encryption
        .server_side_encryption_configuration()
        .expect("configuration")
        .rules()[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default()
            .map(|d| d.sse_algorithm().as_str()),
        Some("AES256")
    );
    let block = s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .expect("public access block");
    let block = block
        .public_access_block_configuration()
        .expect("configuration");
    assert_eq!(
        (
            block.block_public_acls(),
            block.ignore_public_acls(),
            block.block_public_policy(),
            block.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let ownership = s3
        .get_bucket_ownership_controls()
        .bucket(&bucket)
        .send()
        .await
        .expect("ownership");
    assert_eq!(
        ownership.ownership_controls().expect("controls").rules()[0]
            .object_ownership()
            .as_str(),
        "BucketOwnerEnforced"
    );
    let policy = s3
        .get_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .expect("policy");
    let policy: serde_json::Value =
        serde_json::from_str(policy.policy().expect("policy text")).expect("json");
    let statements = policy["Statement"].as_array().expect("statements");
    let delivery = statements
        .iter()
        .find(|s| s["Action"] == "s3:PutObject")
        .expect("log delivery statement");
    // ap-south-1 opened before August 2022: its Elastic Load Balancing account.
    assert_eq!(
        delivery["Principal"]["AWS"],
        "arn:aws:iam::718504428378:root"
    );
    assert_eq!(
        delivery["Resource"],
        format!("arn:aws:s3:::{bucket}/alb/AWSLogs/123456789012/*")
    );
    let lifecycle = s3
        .get_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .send()
        .await
        .expect("lifecycle");
    assert_eq!(
        lifecycle.rules()[0].expiration().and_then(|e| e.days()),
        Some(30)
    );
    let tags = s3
        .get_bucket_tagging()
        .bucket(&bucket)
        .send()
        .await
        .expect("tags");
    assert!(tags
        .tag_set()
        .iter()
        .any(|t| t.key() == "ams-stack:name" && t.value() == "access-logs"));
}

/// An access log as ELB would write it, so that destroy has something to empty.
pub async fn write_a_log(sdk: &aws_config::SdkConfig) {
    let bucket = bucket(sdk).await;
    s3(sdk)
        .put_object()
        .bucket(&bucket)
        .key("alb/AWSLogs/123456789012/elasticloadbalancing/ap-south-1/log.gz")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"log"))
        .send()
        .await
        .expect("log written");
}

/// Destroy said that it turned deletion protection off and emptied the bucket.
pub fn destroy_said_so(stderr: &str) {
    assert!(
        stderr.contains("turning deletion protection off"),
        "{stderr}"
    );
    assert!(
        stderr.contains("emptying bucket local-access-logs-"),
        "{stderr}"
    );
    assert!(
        stderr.contains("only the access logs this stack's load balancer wrote"),
        "{stderr}"
    );
}
