//! The hand-built cluster of `support::guide` is what Ant Media's clustering guide builds: checked
//! through describe calls against the emulator, as the guide's steps leave it, and with
//! CloudFormation's names and tags when built as Ant Media's template would.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::guide::{self, GuideCluster, GuideOptions};
use crate::support::{user_data_text, Moto};

/// Ingress of a security group, as `PROTOCOL FROM-TO CIDR`.
async fn ingress(ec2: &aws_sdk_ec2::Client, group_id: &str) -> (String, BTreeSet<String>) {
    let groups = ec2
        .describe_security_groups()
        .group_ids(group_id)
        .send()
        .await
        .expect("describe the group");
    let group = &groups.security_groups()[0];
    let rules = group
        .ip_permissions()
        .iter()
        .flat_map(|p| {
            p.ip_ranges().iter().map(move |r| {
                format!(
                    "{} {}-{} {}",
                    p.ip_protocol().unwrap_or_default(),
                    p.from_port().unwrap_or_default(),
                    p.to_port().unwrap_or_default(),
                    r.cidr_ip().unwrap_or_default()
                )
            })
        })
        .collect();
    (group.group_name().unwrap_or_default().to_string(), rules)
}

fn open(rules: &[&str]) -> BTreeSet<String> {
    rules.iter().map(|r| format!("{r} 0.0.0.0/0")).collect()
}

/// The user data of a launch template's default version, as text.
async fn template_user_data(ec2: &aws_sdk_ec2::Client, template_id: &str) -> String {
    let versions = ec2
        .describe_launch_template_versions()
        .launch_template_id(template_id)
        .versions("$Default")
        .send()
        .await
        .expect("describe the launch template");
    let data = versions.launch_template_versions()[0]
        .launch_template_data()
        .expect("template data");
    user_data_text(data.user_data().expect("user data"))
}

/// A resource's ELB tags.
async fn elb_tags(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    arn: &str,
) -> BTreeMap<String, String> {
    let described = elb
        .describe_tags()
        .resource_arns(arn)
        .send()
        .await
        .expect("describe tags");
    described.tag_descriptions()[0]
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// An EC2 resource's tags.
async fn ec2_tags(ec2: &aws_sdk_ec2::Client, id: &str) -> BTreeMap<String, String> {
    let described = ec2
        .describe_tags()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("resource-id")
                .values(id)
                .build(),
        )
        .send()
        .await
        .expect("describe tags");
    described
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The CNAME records of the zone, by name.
async fn cnames(sdk: &aws_config::SdkConfig, cluster: &GuideCluster) -> BTreeMap<String, String> {
    let route53 = aws_sdk_route53::Client::new(sdk);
    let records = route53
        .list_resource_record_sets()
        .hosted_zone_id(&cluster.zone_id)
        .send()
        .await
        .expect("list records");
    records
        .resource_record_sets()
        .iter()
        .filter(|r| *r.r#type() == aws_sdk_route53::types::RrType::Cname)
        .map(|r| {
            (
                r.name().to_string(),
                r.resource_records()[0].value().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_builder_builds_what_the_guide_says() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let cluster = guide::build(&sdk, &GuideOptions::local()).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let autoscaling = aws_sdk_autoscaling::Client::new(&sdk);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let acm = aws_sdk_acm::Client::new(&sdk);

    // The default VPC, nothing new in the network.
    let vpcs = ec2
        .describe_vpcs()
        .vpc_ids(&cluster.vpc_id)
        .send()
        .await
        .expect("vpc");
    assert_eq!(vpcs.vpcs()[0].is_default(), Some(true));
    let all_vpcs = ec2.describe_vpcs().send().await.expect("vpcs");
    assert_eq!(all_vpcs.vpcs().len(), 1, "no VPC of its own");

    // MongoDB: Ubuntu in the first default subnet, the wizard's group, the install script,
    // the root volume only, unencrypted, no instance profile.
    let described = ec2
        .describe_instances()
        .instance_ids(&cluster.mongodb_instance_id)
        .send()
        .await
        .expect("mongodb instance");
    let mongodb = &described.reservations()[0].instances()[0];
    assert_eq!(mongodb.subnet_id(), Some(cluster.subnet_ids[0].as_str()));
    assert_eq!(
        mongodb.private_ip_address(),
        Some(cluster.mongodb_private_ip.as_str())
    );
    assert_eq!(mongodb.key_name(), Some(cluster.key_name.as_str()));
    assert!(mongodb.iam_instance_profile().is_none());
    let groups: Vec<&str> = mongodb
        .security_groups()
        .iter()
        .filter_map(|g| g.group_id())
        .collect();
    assert_eq!(groups, [cluster.mongodb_sg_id.as_str()]);
    assert_eq!(mongodb.block_device_mappings().len(), 1, "root volume only");
    let image = ec2
        .describe_images()
        .image_ids(mongodb.image_id().expect("image"))
        .send()
        .await
        .expect("image");
    let image_name = image.images()[0].name().unwrap_or_default();
    assert!(image_name.contains("ubuntu-noble-24.04"), "{image_name}");
    let volumes = ec2
        .describe_volumes()
        .volume_ids(&cluster.mongodb_root_volume_id)
        .send()
        .await
        .expect("volume");
    assert_eq!(volumes.volumes()[0].encrypted(), Some(false));
    let user_data = ec2
        .describe_instance_attribute()
        .instance_id(&cluster.mongodb_instance_id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .expect("user data");
    let user_data = user_data_text(
        user_data
            .user_data()
            .and_then(|u| u.value())
            .expect("mongodb user data"),
    );
    assert!(user_data.contains("install_mongodb.sh"), "{user_data}");
    assert!(!user_data.contains("--auto-create"), "no auth: {user_data}");

    // Security groups: the wizard's 22 and 27017 to anywhere, the Marketplace's, the ALB's.
    let (name, rules) = ingress(&ec2, &cluster.mongodb_sg_id).await;
    assert_eq!(name, "launch-wizard-1");
    assert_eq!(rules, open(&["tcp 22-22", "tcp 27017-27017"]));
    let (name, rules) = ingress(&ec2, &cluster.nodes_sg_id).await;
    assert!(name.contains("AutogenByAWSMP"), "{name}");
    assert_eq!(
        rules,
        open(&[
            "tcp 22-22",
            "tcp 80-80",
            "tcp 443-443",
            "tcp 1935-1935",
            "tcp 5000-5000",
            "tcp 5080-5080",
            "tcp 5443-5443",
            "udp 50000-60000",
        ])
    );
    let (_, rules) = ingress(&ec2, &cluster.alb_sg_id).await;
    assert_eq!(
        rules,
        open(&["tcp 80-80", "tcp 443-443", "tcp 5080-5080", "tcp 5443-5443"])
    );

    // Launch templates: the genuine newest Marketplace image, the nodes' group, and user data
    // naming MongoDB's private address.
    for (template, group) in [
        (&cluster.origin_launch_template_id, &cluster.nodes_sg_id),
        (&cluster.edge_launch_template_id, &cluster.edge_sg_id),
    ] {
        assert_eq!(
            template_user_data(&ec2, template).await,
            format!(
                "#!/bin/bash\ncd /usr/local/antmedia\n./change_server_mode.sh cluster {}\n",
                cluster.mongodb_private_ip
            )
        );
        let versions = ec2
            .describe_launch_template_versions()
            .launch_template_id(template)
            .send()
            .await
            .expect("template versions");
        let data = versions.launch_template_versions()[0]
            .launch_template_data()
            .expect("data");
        assert_eq!(data.image_id(), Some("ami-0antmedia2120ee01"));
        assert_eq!(data.security_group_ids(), std::slice::from_ref(group));
    }

    // Target groups: HTTP 5080 in the default VPC, least outstanding requests.
    for arn in [
        &cluster.origin_target_group_arn,
        &cluster.edge_target_group_arn,
    ] {
        let groups = elb
            .describe_target_groups()
            .target_group_arns(arn)
            .send()
            .await
            .expect("target group");
        let group = &groups.target_groups()[0];
        assert_eq!(group.port(), Some(5080));
        assert_eq!(
            group.protocol(),
            Some(&aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        );
        assert_eq!(group.vpc_id(), Some(cluster.vpc_id.as_str()));
        assert_eq!(group.health_check_path(), Some("/"));
        let attributes = elb
            .describe_target_group_attributes()
            .target_group_arn(arn)
            .send()
            .await
            .expect("attributes");
        let algorithm = attributes
            .attributes()
            .iter()
            .find(|a| a.key() == Some("load_balancing.algorithm.type"))
            .and_then(|a| a.value());
        assert_eq!(algorithm, Some("least_outstanding_requests"));
    }

    // Auto Scaling groups: one subnet, 1..10, attached, CPU 60 % target tracking.
    for (name, template, target_group) in [
        (
            &cluster.origin_group_name,
            &cluster.origin_launch_template_id,
            &cluster.origin_target_group_arn,
        ),
        (
            &cluster.edge_group_name,
            &cluster.edge_launch_template_id,
            &cluster.edge_target_group_arn,
        ),
    ] {
        let groups = autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .expect("group");
        let group = &groups.auto_scaling_groups()[0];
        assert_eq!(
            (group.min_size(), group.max_size(), group.desired_capacity()),
            (Some(1), Some(10), Some(1))
        );
        assert_eq!(
            group.vpc_zone_identifier(),
            Some(cluster.subnet_ids[0].as_str())
        );
        assert_eq!(
            group.target_group_arns(),
            std::slice::from_ref(target_group)
        );
        assert_eq!(
            group.launch_template().and_then(|t| t.launch_template_id()),
            Some(template.as_str())
        );
        let policies = autoscaling
            .describe_policies()
            .auto_scaling_group_name(name)
            .send()
            .await
            .expect("policies");
        let policy = &policies.scaling_policies()[0];
        assert_eq!(policy.policy_type(), Some("TargetTrackingScaling"));
        let tracking = policy
            .target_tracking_configuration()
            .expect("target tracking");
        assert_eq!(tracking.target_value(), Some(60.0));
        assert_eq!(
            tracking
                .predefined_metric_specification()
                .and_then(|m| m.predefined_metric_type()),
            Some(&aws_sdk_autoscaling::types::MetricType::AsgAverageCpuUtilization)
        );
    }

    // The load balancer: internet-facing, two zones, its own group.
    let balancers = elb
        .describe_load_balancers()
        .load_balancer_arns(&cluster.alb_arn)
        .send()
        .await
        .expect("load balancer");
    let balancer = &balancers.load_balancers()[0];
    assert_eq!(
        balancer.scheme(),
        Some(&aws_sdk_elasticloadbalancingv2::types::LoadBalancerSchemeEnum::InternetFacing)
    );
    assert_eq!(balancer.availability_zones().len(), 2);
    assert_eq!(
        balancer.security_groups(),
        std::slice::from_ref(&cluster.alb_sg_id)
    );

    // Listeners: 80/443 to the origins, 5080/5443 to the edges, the certificate on HTTPS.
    let listeners = elb
        .describe_listeners()
        .load_balancer_arn(&cluster.alb_arn)
        .send()
        .await
        .expect("listeners");
    let found: BTreeMap<i32, (String, String, Vec<String>)> = listeners
        .listeners()
        .iter()
        .map(|l| {
            (
                l.port().expect("port"),
                (
                    l.protocol().expect("protocol").as_str().to_string(),
                    l.default_actions()[0]
                        .target_group_arn()
                        .expect("forward")
                        .to_string(),
                    l.certificates()
                        .iter()
                        .filter_map(|c| c.certificate_arn().map(String::from))
                        .collect(),
                ),
            )
        })
        .collect();
    let (origin, edge, certificate) = (
        cluster.origin_target_group_arn.clone(),
        cluster.edge_target_group_arn.clone(),
        vec![cluster.certificate_arn.clone()],
    );
    let expected = BTreeMap::from([
        (80, ("HTTP".to_string(), origin.clone(), vec![])),
        (
            443,
            ("HTTPS".to_string(), origin.clone(), certificate.clone()),
        ),
        (5080, ("HTTP".to_string(), edge.clone(), vec![])),
        (5443, ("HTTPS".to_string(), edge.clone(), certificate)),
    ]);
    assert_eq!(found, expected);
    assert_eq!(
        cluster.listener_arns.keys().copied().collect::<Vec<_>>(),
        [80, 443, 5080, 5443]
    );

    // The two rules on 443.
    let rules = elb
        .describe_rules()
        .listener_arn(&cluster.listener_arns[&443])
        .send()
        .await
        .expect("rules");
    let found: BTreeMap<String, (String, String)> = rules
        .rules()
        .iter()
        .filter(|r| r.is_default() != Some(true))
        .map(|r| {
            let pair = &r.conditions()[0]
                .query_string_config()
                .expect("query string")
                .values()[0];
            (
                r.priority().expect("priority").to_string(),
                (
                    format!(
                        "{}={}",
                        pair.key().unwrap_or_default(),
                        pair.value().unwrap_or_default()
                    ),
                    r.actions()[0]
                        .target_group_arn()
                        .expect("forward")
                        .to_string(),
                ),
            )
        })
        .collect();
    assert_eq!(
        found,
        BTreeMap::from([
            ("1".to_string(), ("target=origin".to_string(), origin)),
            ("2".to_string(), ("target=edge".to_string(), edge)),
        ])
    );
    assert_eq!(cluster.rule_arns.len(), 2);

    // The certificate, issued, and the CNAME to the load balancer.
    let certificate = acm
        .describe_certificate()
        .certificate_arn(&cluster.certificate_arn)
        .send()
        .await
        .expect("certificate");
    let certificate = certificate.certificate().expect("certificate");
    assert_eq!(certificate.domain_name(), Some("stream.ams-local.test"));
    assert_eq!(
        certificate.status(),
        Some(&aws_sdk_acm::types::CertificateStatus::Issued)
    );
    let records = cnames(&sdk, &cluster).await;
    assert_eq!(
        records.get("stream.ams-local.test.").map(String::as_str),
        Some(cluster.alb_dns_name.as_str())
    );
    assert!(
        records.keys().any(|name| name.starts_with('_')),
        "the validation record: {records:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cloudformation_variant_carries_the_stack_tags() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let options = GuideOptions {
        cloudformation_stack: Some("ams-cluster".to_string()),
        mongodb_uri: true,
        record: false,
        ..GuideOptions::local()
    };
    let cluster = guide::build(&sdk, &options).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let autoscaling = aws_sdk_autoscaling::Client::new(&sdk);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);

    let logical = |tags: &BTreeMap<String, String>| {
        assert_eq!(
            tags.get("aws:cloudformation:stack-name")
                .map(String::as_str),
            Some("ams-cluster"),
            "{tags:?}"
        );
        assert!(
            tags.get("aws:cloudformation:stack-id")
                .is_some_and(|id| id.contains(":stack/ams-cluster/")),
            "{tags:?}"
        );
        tags.get("aws:cloudformation:logical-id")
            .cloned()
            .unwrap_or_default()
    };

    for (id, expected) in [
        (&cluster.mongodb_instance_id, "DBInstance"),
        (&cluster.mongodb_sg_id, "DBEC2SecurityGroup"),
        (&cluster.nodes_sg_id, "InstanceSecurityGroup"),
        (&cluster.alb_sg_id, "ELBSecurityGroup"),
        (&cluster.origin_launch_template_id, "LaunchTemplateOrigin"),
        (&cluster.edge_launch_template_id, "LaunchTemplateEdge"),
    ] {
        assert_eq!(logical(&ec2_tags(&ec2, id).await), expected, "{id}");
    }
    let mut elb_resources = vec![
        (
            &cluster.origin_target_group_arn,
            "ALBTargetGroupOrigin".to_string(),
        ),
        (
            &cluster.edge_target_group_arn,
            "ALBTargetGroupEdge".to_string(),
        ),
        (&cluster.alb_arn, "ApplicationLoadBalancer".to_string()),
        (&cluster.rule_arns[0], "OriginRule".to_string()),
        (&cluster.rule_arns[1], "EdgeRule".to_string()),
    ];
    for (port, arn) in &cluster.listener_arns {
        elb_resources.push((arn, format!("ALBListener{port}")));
    }
    for (arn, expected) in elb_resources {
        assert_eq!(logical(&elb_tags(&elb, arn).await), expected, "{arn}");
    }
    for (name, expected) in [
        (&cluster.origin_group_name, "OriginGroup"),
        (&cluster.edge_group_name, "EdgeGroup"),
    ] {
        assert!(
            name.starts_with(&format!("ams-cluster-{expected}-")),
            "{name}"
        );
        let groups = autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .expect("group");
        let tags: BTreeMap<String, String> = groups.auto_scaling_groups()[0]
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect();
        assert_eq!(logical(&tags), expected);
    }

    // Newer AMS: MongoDB by URI; and no record at the domain. One group for both templates.
    assert_eq!(cluster.edge_sg_id, cluster.nodes_sg_id);
    for template in [
        &cluster.origin_launch_template_id,
        &cluster.edge_launch_template_id,
    ] {
        let user_data = template_user_data(&ec2, template).await;
        assert!(
            user_data.ends_with(&format!(
                "./change_server_mode.sh cluster mongodb://{}:27017\n",
                cluster.mongodb_private_ip
            )),
            "{user_data}"
        );
    }
    let records = cnames(&sdk, &cluster).await;
    assert!(
        !records.contains_key("stream.ams-local.test."),
        "no record: {records:?}"
    );
}
