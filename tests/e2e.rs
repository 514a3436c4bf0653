//! The whole cluster against a real AWS API emulator (moto), one fresh server per test.

use crate::support::census::resource_count;
use crate::support::{FaultProxy, Moto, Project};

/// Operations that change something: none may run when nothing changed.
fn mutating(calls: &[String]) -> Vec<&String> {
    let reads = ["Describe", "List", "Get"];
    calls
        .iter()
        .filter(|c| {
            let op = c.split(':').nth(1).unwrap_or_default();
            !reads.iter().any(|r| op.starts_with(r))
        })
        .collect()
}

fn filter(name: &str, value: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(name)
        .values(value)
        .build()
}

fn tagged(name: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name("tag:ams-stack:name")
        .values(name)
        .build()
}

#[tokio::test(flavor = "multi_thread")]
async fn full_cluster_up_no_op_update_and_destroy() {
    let moto = Moto::start();
    // Through the strict cloud: AWS's rules and clocks, not only moto's leniency.
    let cloud = FaultProxy::strict(&moto.endpoint, &[]);
    let project = Project::new(Some(&cloud.endpoint));
    let sdk = moto.sdk().await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let asg = aws_sdk_autoscaling::Client::new(&sdk);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let acm = aws_sdk_acm::Client::new(&sdk);
    let route53 = aws_sdk_route53::Client::new(&sdk);

    // First deploy: the plan creates everything, up applies it and prints the outputs.
    let preview = project.run(&["preview", "local", "--json"]).ok().json();
    assert_eq!(preview["changes"]["create"], resource_count(), "{preview}");
    assert_eq!(
        project.run(&["preview", "local", "--exit-code"]).code,
        Some(2),
        "changes present"
    );
    let targeted = project
        .run(&["preview", "local", "--json", "--target", "mongodb"])
        .ok();
    assert_eq!(
        targeted.json()["changes"]["create"],
        20,
        "mongodb, its data volume (the boot script names it), four security groups (the nodes' admits the ingest load balancer's), the VPC, its gateway, both route tables and the four subnets they route, the NAT gateway and its address, both passwords (the role reads them), role, profile: {}",
        targeted.stdout
    );
    assert!(
        targeted
            .stderr
            .contains("warning: only mongodb and what they depend on"),
        "{}",
        targeted.stderr
    );
    let up = project.run(&["up", "local", "--yes"]).ok();
    assert!(
        up.stderr.contains(&format!("{} created", resource_count())),
        "{}",
        up.stderr
    );
    // What the state holds of every resource reads back as its kind's types, as each update
    // and delete reads it: a renamed or retyped field fails here, not at run time.
    let stored = std::fs::read_to_string(project.path("state/local.json")).expect("state");
    let state =
        ams_engine::state::parse_state(&stored, "state/local.json", "local").expect("state");
    let aws = ams_aws::Aws::connect("ap-south-1", Some(&cloud.endpoint))
        .await
        .expect("clients");
    let provider = ams_aws::AwsProvider::new(std::sync::Arc::new(aws));
    for resource in &state.resources {
        provider
            .fits(resource)
            .unwrap_or_else(|e| panic!("{}: {e}", resource.name));
    }
    let outputs = project.run(&["outputs", "local", "--json"]).ok().json();
    assert_eq!(
        outputs["publish_url"],
        "https://stream.ams-local.test/WebRTCAppEE/"
    );
    assert_eq!(
        outputs["play_url"],
        "https://stream.ams-local.test:5443/WebRTCAppEE/player.html"
    );
    let mongodb_ip = outputs["mongodb_private_ip"]
        .as_str()
        .expect("mongodb ip")
        .to_string();
    let lb_dns = outputs["load_balancer_dns"]
        .as_str()
        .expect("lb dns")
        .to_string();
    let nlb_dns = outputs["ingest_load_balancer_dns"]
        .as_str()
        .expect("ingest lb dns")
        .to_string();
    assert_eq!(
        outputs["rtmp_url"],
        "rtmp://ingest.stream.ams-local.test/WebRTCAppEE"
    );
    assert_eq!(
        outputs["srt_url"],
        "srt://ingest.stream.ams-local.test:4200?streamid=WebRTCAppEE/STREAM_ID"
    );

    // Network.
    let vpcs = ec2
        .describe_vpcs()
        .filters(tagged("vpc"))
        .send()
        .await
        .expect("vpcs");
    assert_eq!(vpcs.vpcs().len(), 1);
    let vpc = &vpcs.vpcs()[0];
    assert_eq!(vpc.cidr_block(), Some("10.0.0.0/16"));
    let vpc_id = vpc.vpc_id().expect("id");
    let subnets = ec2
        .describe_subnets()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(vpc_id)
                .build(),
        )
        .send()
        .await
        .expect("subnets");
    let mut zones: Vec<_> = subnets
        .subnets()
        .iter()
        .filter_map(|s| s.availability_zone())
        .collect();
    zones.sort();
    assert_eq!(
        zones,
        ["ap-south-1a", "ap-south-1a", "ap-south-1b", "ap-south-1b"],
        "a public and a private subnet in each zone"
    );
    let gateways = ec2
        .describe_internet_gateways()
        .filters(tagged("internet-gateway"))
        .send()
        .await
        .expect("igw");
    assert_eq!(
        gateways.internet_gateways()[0].attachments()[0].vpc_id(),
        Some(vpc_id)
    );
    let tables = ec2
        .describe_route_tables()
        .filters(tagged("route-table"))
        .send()
        .await
        .expect("rt");
    let table = &tables.route_tables()[0];
    assert!(table
        .routes()
        .iter()
        .any(|r| r.destination_cidr_block() == Some("0.0.0.0/0")
            && r.gateway_id().is_some_and(|g| g.starts_with("igw-"))));
    assert_eq!(table.associations().len(), 2);

    // No subnet hands out public addresses; the VPC's default security group has no rule.
    for subnet in subnets.subnets() {
        assert_eq!(subnet.map_public_ip_on_launch(), Some(false), "{subnet:?}");
    }
    assert_eq!(
        subnets.subnets().len(),
        4,
        "a public and a private subnet per zone"
    );
    let default_sg = ec2
        .describe_security_groups()
        .filters(filter("vpc-id", vpc_id))
        .filters(filter("group-name", "default"))
        .send()
        .await
        .expect("default sg");
    let default_sg = &default_sg.security_groups()[0];
    assert!(default_sg.ip_permissions().is_empty(), "{default_sg:?}");
    assert!(
        default_sg.ip_permissions_egress().is_empty(),
        "{default_sg:?}"
    );
    // The private subnets go out through the NAT gateway, in the first public subnet with its
    // own address.
    let nat = ec2
        .describe_nat_gateways()
        .filter(tagged("nat-gateway"))
        .send()
        .await
        .expect("nat");
    let nat = &nat.nat_gateways()[0];
    assert_eq!(nat.state().map(|s| s.as_str()), Some("available"));
    let subnet_id = |name: &'static str| {
        let ec2 = ec2.clone();
        async move {
            ec2.describe_subnets()
                .filters(tagged(name))
                .send()
                .await
                .expect("subnet")
                .subnets()[0]
                .subnet_id()
                .map(String::from)
                .expect("subnet id")
        }
    };
    assert_eq!(nat.subnet_id(), Some(subnet_id("subnet-1").await.as_str()));
    assert!(nat.nat_gateway_addresses()[0].public_ip().is_some());
    let private = ec2
        .describe_route_tables()
        .filters(tagged("private-route-table"))
        .send()
        .await
        .expect("private rt");
    let private = &private.route_tables()[0];
    assert!(private
        .routes()
        .iter()
        .any(|r| r.destination_cidr_block() == Some("0.0.0.0/0")
            && r.nat_gateway_id() == nat.nat_gateway_id()));
    let mut routed: Vec<String> = private
        .associations()
        .iter()
        .filter_map(|a| a.subnet_id().map(String::from))
        .collect();
    routed.sort();
    let mut private_subnets = vec![
        subnet_id("private-subnet-1").await,
        subnet_id("private-subnet-2").await,
    ];
    private_subnets.sort();
    assert_eq!(routed, private_subnets);

    // Security groups: MongoDB from the nodes only, SSH from the admin network only.
    let group = |name: &'static str| {
        let ec2 = ec2.clone();
        async move {
            ec2.describe_security_groups()
                .filters(tagged(name))
                .send()
                .await
                .expect("sg")
                .security_groups()[0]
                .clone()
        }
    };
    let (alb_sg, nodes_sg, mongodb_sg) = (
        group("load-balancer-sg").await,
        group("nodes-sg").await,
        group("mongodb-sg").await,
    );
    let mut alb_ports: Vec<i32> = alb_sg
        .ip_permissions()
        .iter()
        .filter_map(|p| p.from_port())
        .collect();
    alb_ports.sort();
    assert_eq!(alb_ports, [80, 443, 5080, 5443]);
    for permission in mongodb_sg.ip_permissions() {
        match permission.from_port() {
            Some(27017) => {
                assert!(permission.ip_ranges().is_empty(), "27017 open to a CIDR");
                assert_eq!(
                    permission.user_id_group_pairs()[0].group_id(),
                    nodes_sg.group_id()
                );
            }
            Some(22) => assert_eq!(permission.ip_ranges()[0].cidr_ip(), Some("192.0.2.0/24")),
            other => panic!("unexpected MongoDB port {other:?}"),
        }
    }
    let port = |p: i32| {
        nodes_sg
            .ip_permissions()
            .iter()
            .find(|x| x.from_port() == Some(p))
            .cloned()
            .expect("rule")
    };
    assert_eq!(
        port(5080).user_id_group_pairs()[0].group_id(),
        alb_sg.group_id()
    );
    assert_eq!(
        port(5000).user_id_group_pairs()[0].group_id(),
        nodes_sg.group_id()
    );
    assert_eq!(port(50000).to_port(), Some(60000));
    assert_eq!(port(50000).ip_protocol(), Some("udp"));

    // MongoDB instance.
    let reservations = ec2
        .describe_instances()
        .filters(tagged("mongodb"))
        .send()
        .await
        .expect("instances");
    let mongodb = &reservations.reservations()[0].instances()[0];
    assert_eq!(mongodb.private_ip_address(), Some(mongodb_ip.as_str()));
    assert_eq!(
        mongodb.instance_type().map(|t| t.as_str()),
        Some("m5.xlarge")
    );
    assert_eq!(
        mongodb.image_id(),
        Some("ami-0ubuntu2404noble02"),
        "the newest Ubuntu 24.04"
    );
    // In the first private subnet, without a public address, with one-minute metrics.
    assert_eq!(
        mongodb.subnet_id(),
        Some(subnet_id("private-subnet-1").await.as_str())
    );
    assert_eq!(mongodb.public_ip_address(), None);
    assert_eq!(
        mongodb
            .monitoring()
            .and_then(|m| m.state())
            .map(|s| s.as_str()),
        Some("enabled")
    );

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
                "./change_server_mode.sh cluster \"mongodb://antmedia:${{PASSWORD}}@{mongodb_ip}:27017/?authSource=admin\""
            )),
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

    // Target groups, auto-scaling groups and their policies.
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

    // Load balancer: publish to origin on 80/443, play from edge on 5080/5443.
    let lbs = elb.describe_load_balancers().send().await.expect("lbs");
    assert_eq!(lbs.load_balancers().len(), 2, "the ALB and the ingest NLB");
    let lb = lbs
        .load_balancers()
        .iter()
        .find(|lb| lb.r#type().map(|t| t.as_str()) == Some("application"))
        .expect("the application load balancer");
    assert_eq!(lb.dns_name(), Some(lb_dns.as_str()));
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
    // Redirects, TLS policy, rules, attributes and the access-log bucket.
    crate::load_balancer::audit_settings(&sdk).await;

    // Ingest: RTMP on TCP 1935 and SRT on UDP 4200, through a network load balancer with its own
    // security group, to the origins' RTMP and SRT target groups.
    let nlb = lbs
        .load_balancers()
        .iter()
        .find(|lb| lb.r#type().map(|t| t.as_str()) == Some("network"))
        .expect("the ingest network load balancer");
    assert_eq!(nlb.scheme().map(|s| s.as_str()), Some("internet-facing"));
    assert_eq!(nlb.dns_name(), Some(nlb_dns.as_str()));
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

    // Certificate issued; DNS records written.
    let certificates = acm.list_certificates().send().await.expect("certs");
    assert_eq!(certificates.certificate_summary_list().len(), 1);
    let certificate = &certificates.certificate_summary_list()[0];
    assert_eq!(certificate.domain_name(), Some("stream.ams-local.test"));
    assert_eq!(certificate.status().map(|s| s.as_str()), Some("ISSUED"));
    let zones = route53.list_hosted_zones().send().await.expect("zones");
    let zone_id = zones.hosted_zones()[0].id().to_string();
    let records = route53
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .send()
        .await
        .expect("records");
    let cname = records
        .resource_record_sets()
        .iter()
        .find(|r| r.name() == "stream.ams-local.test.")
        .expect("cname");
    assert_eq!(cname.resource_records()[0].value(), lb_dns);
    let ingest_cname = records
        .resource_record_sets()
        .iter()
        .find(|r| r.name() == "ingest.stream.ams-local.test.")
        .expect("ingest cname");
    assert_eq!(ingest_cname.resource_records()[0].value(), nlb_dns);
    assert!(records
        .resource_record_sets()
        .iter()
        .any(|r| r.name().starts_with('_') && r.r#type().as_str() == "CNAME"));

    // Nothing changed: the preview says so, and a second up makes no mutating call.
    let preview = project.run(&["preview", "local", "--json"]).ok().json();
    assert_eq!(
        preview["changes"],
        serde_json::json!({"create": 0, "update": 0, "replace": 0, "delete": 0, "same": resource_count()})
    );
    assert_eq!(
        project.run(&["preview", "local", "--exit-code"]).code,
        Some(0),
        "no changes"
    );
    let (up, calls) = project.run_logged(&["up", "local", "--yes"]);
    let up = up.ok();
    assert!(up.stderr.contains("No changes"), "{}", up.stderr);
    assert!(!calls.is_empty(), "the call log works");
    assert!(
        mutating(&calls).is_empty(),
        "mutating calls on a no-op up: {:?}",
        mutating(&calls)
    );

    // One property changed: exactly one in-place update, then applied.
    project.edit("stacks/local.toml", "max_size = 4", "max_size = 6");
    let preview = project.run(&["preview", "local", "--json"]).ok().json();
    assert_eq!(
        preview["changes"],
        serde_json::json!({"create": 0, "update": 1, "replace": 0, "delete": 0, "same": resource_count() - 1})
    );
    let step = preview["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["op"] == "update")
        .expect("update")
        .clone();
    assert_eq!(step["name"], "origin-group");
    assert_eq!(
        step["changes"],
        serde_json::json!([{"property": "max_size", "old": 4, "new": 6, "forces_replace": false}])
    );
    let human = project.run(&["preview", "local"]).ok();
    assert!(
        human
            .stderr
            .contains("~ origin-group (aws:autoscaling:Group)\n      max_size: 4 -> 6"),
        "{}",
        human.stderr
    );
    project.run(&["up", "local", "--yes"]).ok();
    let groups = asg
        .describe_auto_scaling_groups()
        .send()
        .await
        .expect("asgs");
    let mut max: Vec<_> = groups
        .auto_scaling_groups()
        .iter()
        .map(|g| {
            (
                g.auto_scaling_group_name()
                    .unwrap_or_default()
                    .contains("origin"),
                g.max_size(),
            )
        })
        .collect();
    max.sort();
    assert_eq!(max, [(false, Some(4)), (true, Some(6))]);

    // Destroy: nothing of the stack is left; a log object in the bucket does not stop it.
    crate::load_balancer::write_a_log(&sdk).await;
    let destroy = project.run(&["destroy", "local", "--yes"]).ok();
    crate::load_balancer::destroy_said_so(&destroy.stderr);
    assert!(
        destroy
            .stderr
            .contains(&format!("{} deleted", resource_count())),
        "{}",
        destroy.stderr
    );
    // Every kind of the stack, counted the same way as after a crash (instances still running,
    // groups, load balancers, target groups, templates, certificates, roles, ...): none left.
    assert_eq!(
        crate::support::census::census(&moto.sdk().await).await,
        crate::support::census::nothing()
    );
    let records = route53
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .send()
        .await
        .expect("records");
    let kinds: Vec<&str> = records
        .resource_record_sets()
        .iter()
        .map(|r| r.r#type().as_str())
        .collect();
    assert!(
        kinds.iter().all(|k| *k == "NS" || *k == "SOA"),
        "records left: {kinds:?}"
    );
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.path("state/local.json")).expect("state"),
    )
    .expect("json");
    assert_eq!(state["resources"], serde_json::json!([]));
    assert_eq!(state["pending_deletes"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_mid_apply_keeps_what_was_made_and_the_next_up_finishes() {
    let moto = Moto::start();
    let project = Project::new(Some(&moto.endpoint));
    // A key pair the account does not have: the MongoDB instance fails, the rest stops.
    project.edit(
        "stacks/local.toml",
        "[mongodb]\n",
        "[mongodb]\nkey_name = \"missing-key\"\n",
    );
    let failed = project.run(&["up", "local", "--yes"]).fails();
    assert!(
        failed.stderr.contains("InvalidKeyPair.NotFound"),
        "the AWS error code is named: {}",
        failed.stderr
    );
    let state = std::fs::read_to_string(project.path("state/local.json")).expect("state written");
    assert!(
        state.contains("\"vpc\""),
        "the VPC made before the failure is in the state"
    );
    assert!(
        failed
            .stderr
            .contains("mongodb (aws:ec2:Instance) failed while creating"),
        "{}",
        failed.stderr
    );
    assert!(!project.path("state/local.json.lock").exists());
    project.edit("stacks/local.toml", "key_name = \"missing-key\"\n", "");
    project.run(&["up", "local", "--yes"]).ok();
    let sdk = moto.sdk().await;
    let vpcs = aws_sdk_ec2::Client::new(&sdk)
        .describe_vpcs()
        .filters(tagged("vpc"))
        .send()
        .await
        .expect("vpcs");
    assert_eq!(
        vpcs.vpcs().len(),
        1,
        "no duplicate VPC after the resumed up"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn up_refuses_without_yes_when_stdin_is_not_a_terminal() {
    let moto = Moto::start();
    let project = Project::new(Some(&moto.endpoint));
    let (run, calls) = project.run_logged(&["up", "local"]);
    let run = run.fails();
    assert!(
        run.stderr.contains("stdin is not a terminal; pass --yes"),
        "{}",
        run.stderr
    );
    assert!(mutating(&calls).is_empty(), "{calls:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_hosted_zone_is_an_error_before_anything_is_created() {
    let moto = Moto::start_with(false, true);
    let project = Project::new(Some(&moto.endpoint));
    let (run, calls) = project.run_logged(&["up", "local", "--yes"]);
    let run = run.fails();
    assert!(
        run.stderr
            .contains("hosted zone `ams-local.test` not found in this account"),
        "{}",
        run.stderr
    );
    assert!(mutating(&calls).is_empty(), "{calls:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_lookup_that_finds_nothing_is_an_error_before_anything_is_created() {
    let moto = Moto::start_with(true, false);
    let project = Project::new(Some(&moto.endpoint));
    let (run, calls) = project.run_logged(&["preview", "local"]);
    let run = run.fails();
    assert!(run.stderr.contains("no image named"), "{}", run.stderr);
    assert!(run.stderr.contains("set `ami` in ["), "{}", run.stderr);
    assert!(mutating(&calls).is_empty(), "{calls:?}");
}
