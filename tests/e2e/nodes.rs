//! The Ant Media nodes: the origins' and edges' launch templates (the MongoDB address in the user
//! data, the newest AMS image, IMDSv2, encrypted volumes, a public interface holding the nodes'
//! security group, detailed monitoring) and what the groups launch from them; the target groups
//! (HTTP for each role, RTMP and SRT for ingest); the auto-scaling groups joined to them, with
//! their target-tracking policies.

use super::deployed::cluster;
use super::{security_group, tagged};

#[tokio::test(flavor = "multi_thread")]
async fn the_launch_templates_hold_the_mongodb_address_imdsv2_encrypted_volumes_and_a_public_interface(
) {
    let cluster = cluster();
    let ec2 = aws_sdk_ec2::Client::new(&cluster.moto.sdk().await);
    let nodes_sg = security_group(&ec2, "nodes-sg").await;
    let mongodb_ip = cluster.mongodb_ip();
    // Launch templates: the MongoDB address in the user data, IMDSv2, encrypted volumes.
    for role in ["origin", "edge"] {
        let templates = ec2
            .describe_launch_templates()
            .filters(tagged(&format!("{role}-launch-template")))
            .send()
            .await
            .expect("templates");
        let id = templates.launch_templates()[0]
            .launch_template_id()
            .expect("id");
        let versions = ec2
            .describe_launch_template_versions()
            .launch_template_id(id)
            .send()
            .await
            .expect("versions");
        let data = versions.launch_template_versions()[0]
            .launch_template_data()
            .expect("data");
        let user_data = crate::support::user_data_text(data.user_data().expect("user data"));
        assert!(
            user_data.contains(&format!(
                "./change_server_mode.sh cluster \"mongodb://${{userinfo}}{mongodb_ip}:27017/?$options\""
            )) && user_data.contains("MONGODB_USER=\"antmedia\"\n"),
            "{user_data}"
        );
        assert_eq!(
            data.image_id(),
            Some("ami-0antmedia2120ee01"),
            "the newest AMS image"
        );
        assert_eq!(
            data.metadata_options()
                .and_then(|m| m.http_tokens())
                .map(|t| t.as_str()),
            Some("required")
        );
        let ebs = data.block_device_mappings()[0].ebs().expect("ebs");
        assert_eq!((ebs.encrypted(), ebs.volume_size()), (Some(true), Some(30)));
        // A public address asked for by the interface, which holds the security group.
        let interface = &data.network_interfaces()[0];
        assert_eq!(
            (
                interface.device_index(),
                interface.associate_public_ip_address()
            ),
            (Some(0), Some(true))
        );
        assert_eq!(
            interface.groups(),
            [nodes_sg.group_id().expect("sg").to_string()]
        );
        assert!(data.security_group_ids().is_empty());
        assert_eq!(data.monitoring().and_then(|m| m.enabled()), Some(true));
        // What the groups launch from it gets a public address, the group and the monitoring.
        let launched = ec2
            .describe_instances()
            .filters(tagged(&format!("{role}-launch-template")))
            .send()
            .await
            .expect("group instances");
        let node = &launched.reservations()[0].instances()[0];
        assert!(node.public_ip_address().is_some(), "{node:?}");
        assert_eq!(node.security_groups()[0].group_id(), nodes_sg.group_id());
        assert_eq!(
            node.monitoring()
                .and_then(|m| m.state())
                .map(|s| s.as_str()),
            Some("enabled")
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn target_groups_http_for_each_role_rtmp_and_srt_for_ingest() {
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&cluster().moto.sdk().await);
    let target_groups = elb.describe_target_groups().send().await.expect("tgs");
    let by_port = |port: i32| {
        target_groups
            .target_groups()
            .iter()
            .filter(move |tg| tg.port() == Some(port))
    };
    assert_eq!(target_groups.target_groups().len(), 4, "HTTP x2, RTMP, SRT");
    assert_eq!(by_port(5080).count(), 2);
    for tg in by_port(5080) {
        assert_eq!(tg.protocol().map(|p| p.as_str()), Some("HTTP"));
        let attributes = elb
            .describe_target_group_attributes()
            .target_group_arn(tg.target_group_arn().expect("arn"))
            .send()
            .await
            .expect("attrs");
        assert!(attributes
            .attributes()
            .iter()
            .any(|a| a.key() == Some("load_balancing.algorithm.type")
                && a.value() == Some("least_outstanding_requests")));
    }
    let rtmp = by_port(1935).next().expect("RTMP target group");
    assert_eq!(rtmp.protocol().map(|p| p.as_str()), Some("TCP"));
    assert_eq!(
        rtmp.health_check_protocol().map(|p| p.as_str()),
        Some("TCP")
    );
    let srt = by_port(4200).next().expect("SRT target group");
    assert_eq!(srt.protocol().map(|p| p.as_str()), Some("UDP"));
    // UDP cannot be health-checked: TCP on AMS's HTTP port.
    assert_eq!(
        (
            srt.health_check_protocol().map(|p| p.as_str()),
            srt.health_check_port()
        ),
        (Some("TCP"), Some("5080"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_auto_scaling_groups_join_their_target_groups_and_track_a_target() {
    let sdk = cluster().moto.sdk().await;
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let asg = aws_sdk_autoscaling::Client::new(&sdk);
    let target_groups = elb.describe_target_groups().send().await.expect("tgs");
    let by_port = |port: i32| {
        target_groups
            .target_groups()
            .iter()
            .filter(move |tg| tg.port() == Some(port))
    };
    let groups = asg
        .describe_auto_scaling_groups()
        .send()
        .await
        .expect("asgs");
    assert_eq!(groups.auto_scaling_groups().len(), 2);
    for g in groups.auto_scaling_groups() {
        assert_eq!((g.min_size(), g.max_size()), (Some(1), Some(4)));
        let origin = g
            .auto_scaling_group_name()
            .is_some_and(|n| n.starts_with("local-origin"));
        let mut joined: Vec<String> = g.target_group_arns().to_vec();
        joined.sort();
        let mut expected: Vec<String> = if origin {
            // The origins also take RTMP and SRT from the ingest load balancer.
            [5080, 1935, 4200]
                .into_iter()
                .flat_map(by_port)
                .filter(|tg| {
                    tg.port() != Some(5080)
                        || tg
                            .target_group_name()
                            .is_some_and(|n| n.starts_with("local-origin"))
                })
                .filter_map(|tg| tg.target_group_arn().map(String::from))
                .collect()
        } else {
            by_port(5080)
                .filter(|tg| {
                    tg.target_group_name()
                        .is_some_and(|n| n.starts_with("local-edge"))
                })
                .filter_map(|tg| tg.target_group_arn().map(String::from))
                .collect()
        };
        expected.sort();
        assert_eq!(joined, expected);
        assert_eq!(g.health_check_type(), Some("ELB"));
        assert_eq!(g.instances().len(), 1);
    }
    let policies = asg.describe_policies().send().await.expect("policies");
    assert_eq!(policies.scaling_policies().len(), 2);
    for p in policies.scaling_policies() {
        assert_eq!(p.policy_type(), Some("TargetTrackingScaling"));
        assert_eq!(
            p.target_tracking_configuration()
                .and_then(|t| t.target_value()),
            Some(60.0)
        );
    }
}
