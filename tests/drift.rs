//! Refresh and drift: changes made by hand show up, and `up --refresh` repairs them.

use crate::support::census::{census, resource_count, whole_cluster};
use crate::support::{Moto, Project};

fn tagged(name: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name("tag:ams-stack:name")
        .values(name)
        .build()
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_by_hand_is_reported_and_repaired() {
    let moto = Moto::start();
    let project = Project::new(Some(&moto.endpoint));
    project.run(&["up", "local", "--yes"]).ok();

    // Nothing changed yet: a read of every resource gives back its stored arguments byte for
    // byte, however the live read spells them (each kind's read answers its own struct).
    let stored = std::fs::read_to_string(project.path("state/local.json")).expect("state");
    let state =
        ams_engine::state::parse_state(&stored, "state/local.json", "local").expect("state");
    let aws = ams_aws::Aws::connect("ap-south-1", Some(&moto.endpoint))
        .await
        .expect("clients");
    let provider = ams_aws::AwsProvider::new(std::sync::Arc::new(aws));
    let mut by_kind = std::collections::BTreeMap::<&str, Vec<_>>::new();
    for resource in &state.resources {
        let kind = by_kind.entry(resource.type_name.as_str()).or_default();
        kind.push(resource.clone());
    }
    for (type_name, resources) in by_kind {
        let live = ams_engine::Provider::read(&provider, type_name, &resources)
            .await
            .unwrap_or_else(|e| panic!("{type_name}: {e}"));
        for (resource, live) in resources.iter().zip(live) {
            let live = live.unwrap_or_else(|| panic!("{} reads as gone", resource.name));
            assert_eq!(
                serde_json::to_string(&live).expect("json"),
                serde_json::to_string(&resource.inputs).expect("json"),
                "{}",
                resource.name
            );
        }
    }

    let sdk = moto.sdk().await;
    let (ec2, asg) = (
        aws_sdk_ec2::Client::new(&sdk),
        aws_sdk_autoscaling::Client::new(&sdk),
    );

    // By hand: a rule added, a group resized, the MongoDB instance terminated.
    let nodes_sg = ec2
        .describe_security_groups()
        .filters(tagged("nodes-sg"))
        .send()
        .await
        .expect("sg")
        .security_groups()[0]
        .group_id()
        .expect("id")
        .to_string();
    ec2.authorize_security_group_ingress()
        .group_id(&nodes_sg)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(8080)
                .to_port(8080)
                .ip_ranges(
                    aws_sdk_ec2::types::IpRange::builder()
                        .cidr_ip("0.0.0.0/0")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("rule added by hand");
    let groups = asg
        .describe_auto_scaling_groups()
        .send()
        .await
        .expect("asgs");
    let origin = groups
        .auto_scaling_groups()
        .iter()
        .filter_map(|g| g.auto_scaling_group_name())
        .find(|n| n.contains("origin"))
        .expect("origin group")
        .to_string();
    asg.update_auto_scaling_group()
        .auto_scaling_group_name(&origin)
        .max_size(7)
        .send()
        .await
        .expect("resized by hand");
    let mongodb = ec2
        .describe_instances()
        .filters(tagged("mongodb"))
        .send()
        .await
        .expect("instances")
        .reservations()[0]
        .instances()[0]
        .instance_id()
        .expect("id")
        .to_string();
    ec2.terminate_instances()
        .instance_ids(&mongodb)
        .send()
        .await
        .expect("terminated by hand");

    // refresh reports exactly those, in one read per kind, and without --yes changes nothing.
    let before = std::fs::read_to_string(project.path("state/local.json")).expect("state");
    let (run, calls) = project.run_logged(&["refresh", "local"]);
    let run = run.ok();
    assert!(
        run.stderr.contains("~ nodes-sg (aws:ec2:SecurityGroup)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("\"from_port\":8080"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("~ origin-group (aws:autoscaling:Group)\n      max_size: 4 -> 7"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("- mongodb (aws:ec2:Instance): deleted outside ams-stack"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "- mongodb-data-attachment (aws:ec2:VolumeAttachment): deleted outside ams-stack"
        ),
        "terminating the instance took its attachment: {}",
        run.stderr
    );
    assert_eq!(
        run.stderr.matches("  ~ ").count() + run.stderr.matches("  - ").count(),
        4,
        "nothing else drifted: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("The state was not changed"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(project.path("state/local.json")).expect("state"),
        before
    );
    let state: serde_json::Value = serde_json::from_str(&before).expect("state json");
    let mut kinds: Vec<&str> = state["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["type"].as_str())
        .collect();
    kinds.sort();
    kinds.dedup();
    // What AWS answers one resource at a time (no batched call exists): a load balancer's or a
    // target group's attributes, a launch template's version. Every other read is one call per
    // kind, for all resources of that kind.
    let one_each = [
        ("DescribeLoadBalancerAttributes", "aws:elbv2:LoadBalancer"),
        ("DescribeTargetGroupAttributes", "aws:elbv2:TargetGroup"),
        ("DescribeLaunchTemplateVersions", "aws:ec2:LaunchTemplate"),
    ];
    let of_type = |type_name: &str| {
        state["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .filter(|r| r["type"] == type_name)
            .count()
    };
    for (operation, type_name) in one_each {
        let made = calls.iter().filter(|c| c.ends_with(operation)).count();
        assert_eq!(
            made,
            of_type(type_name),
            "{operation}: one per {type_name}: {calls:?}"
        );
    }
    let batched: Vec<&String> = calls
        .iter()
        .filter(|c| !one_each.iter().any(|(operation, _)| c.ends_with(operation)))
        .collect();
    assert!(
        batched.len() <= kinds.len(),
        "at most one read per kind, for all resources of that kind ({} kinds): {batched:?}",
        kinds.len()
    );
    // The per-kind bounds above are the real ones; this one catches a read per resource (52).
    assert!(
        batched.len() < 28,
        "{} calls for {} resources: {calls:?}",
        calls.len(),
        resource_count()
    );

    // The plan against live state: remove the rule, size back, a new MongoDB (and the templates
    // that carry its address, and the groups that launch their new versions).
    let preview = project
        .run(&["preview", "local", "--refresh", "--json"])
        .ok()
        .json();
    let mut changing: Vec<(String, String)> = preview["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s["op"] != "same")
        .map(|s| {
            (
                s["name"].as_str().unwrap_or_default().to_string(),
                s["op"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    changing.sort();
    // Both groups: each launches an explicit version of its template, which changes.
    let expected: Vec<(String, String)> = [
        ("edge-group", "update"),
        ("edge-launch-template", "update"),
        ("mongodb", "create"),
        ("mongodb-data-attachment", "create"),
        ("nodes-sg", "update"),
        ("origin-group", "update"),
        ("origin-launch-template", "update"),
    ]
    .iter()
    .map(|(n, o)| (n.to_string(), o.to_string()))
    .collect();
    assert_eq!(changing, expected);

    // up --refresh repairs it all.
    project.run(&["up", "local", "--refresh", "--yes"]).ok();
    let group = ec2
        .describe_security_groups()
        .group_ids(&nodes_sg)
        .send()
        .await
        .expect("sg");
    assert!(
        !group.security_groups()[0]
            .ip_permissions()
            .iter()
            .any(|p| p.from_port() == Some(8080)),
        "the rule added by hand is gone"
    );
    let groups = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&origin)
        .send()
        .await
        .expect("asg");
    assert_eq!(groups.auto_scaling_groups()[0].max_size(), Some(4));
    assert_eq!(census(&sdk).await, whole_cluster());
    let preview = project
        .run(&["preview", "local", "--refresh", "--json"])
        .ok()
        .json();
    assert_eq!(preview["changes"]["same"], resource_count(), "{preview}");
}
