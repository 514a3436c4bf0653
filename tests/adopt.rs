//! `adopt`: a cluster built by hand as Ant Media's AWS guide builds it (tests/support/guide.rs,
//! through the SDK) is adopted, upgraded by the first `up` without a rebuild, left alone by the
//! second, and destroyed leaving what was never its own; and every refusal writes nothing and
//! calls nothing that changes the cloud.

use aws_sdk_ec2::types::Filter;

use crate::support::guide::{build, GuideCluster, GuideOptions};
use crate::support::{mutating, FaultProxy, Moto, Project};

const DOMAIN: &str = "stream.ams-local.test";

fn adopt_args<'a>(stack: &'a str, endpoint: &'a str) -> Vec<&'a str> {
    vec![
        "adopt",
        stack,
        "--domain",
        DOMAIN,
        "--region",
        "ap-south-1",
        "--endpoint",
        endpoint,
        "--yes",
    ]
}

/// A refused adopt: its message says `says`, nothing is written, nothing mutating is called.
fn refused(project: &Project, stack: &str, endpoint: &str, says: &str) {
    let (run, calls) = project.run_logged(&adopt_args(stack, endpoint));
    let run = run.fails();
    assert!(
        run.stderr.contains(says),
        "expected `{says}` in:\n{}",
        run.stderr
    );
    assert!(mutating(&calls).is_empty(), "{:?}", mutating(&calls));
    assert!(!project.path(&format!("stacks/{stack}.toml")).exists() || stack == "local");
    assert!(!project.path(&format!("state/{stack}.json")).exists());
}

/// Every inbound rule of `group` open to the world, as `protocol from-to`.
async fn open_to_the_world(ec2: &aws_sdk_ec2::Client, group: &str) -> Vec<String> {
    let described = ec2
        .describe_security_groups()
        .group_ids(group)
        .send()
        .await
        .expect("groups");
    described
        .security_groups()
        .iter()
        .flat_map(|g| g.ip_permissions())
        .filter(|p| {
            p.ip_ranges()
                .iter()
                .any(|r| r.cidr_ip() == Some("0.0.0.0/0"))
        })
        .map(|p| {
            format!(
                "{} {}-{}",
                p.ip_protocol().unwrap_or_default(),
                p.from_port().unwrap_or_default(),
                p.to_port().unwrap_or_default()
            )
        })
        .collect()
}

/// What covers `port` among `rules` (`protocol from-to`).
fn covers(rules: &[String], port: i32) -> bool {
    rules.iter().any(|rule| {
        let range = rule.split(' ').nth(1).unwrap_or_default();
        let (from, to) = range.split_once('-').unwrap_or_default();
        let (from, to) = (
            from.parse().unwrap_or(i32::MAX),
            to.parse().unwrap_or(i32::MIN),
        );
        rule.starts_with("tcp") && from <= port && port <= to || rule.starts_with("-1")
    })
}

/// The CNAME at the domain.
async fn cname(sdk: &aws_config::SdkConfig, zone_id: &str) -> Option<String> {
    let route53 = aws_sdk_route53::Client::new(sdk);
    let listed = route53
        .list_resource_record_sets()
        .hosted_zone_id(zone_id)
        .send()
        .await
        .expect("records");
    listed
        .resource_record_sets()
        .iter()
        .find(|r| r.name() == format!("{DOMAIN}.") && r.r#type().as_str() == "CNAME")
        .and_then(|r| r.resource_records().first())
        .map(|v| v.value().to_string())
}

/// The user data of the version a group launches now.
async fn launched_user_data(sdk: &aws_config::SdkConfig, group: &str) -> String {
    let autoscaling = aws_sdk_autoscaling::Client::new(sdk);
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let groups = autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(group)
        .send()
        .await
        .expect("groups");
    let template = groups.auto_scaling_groups()[0]
        .launch_template()
        .expect("a launch template")
        .clone();
    let versions = ec2
        .describe_launch_template_versions()
        .launch_template_id(template.launch_template_id().expect("id"))
        .versions(template.version().unwrap_or("$Default"))
        .send()
        .await
        .expect("versions");
    let data = versions.launch_template_versions()[0]
        .launch_template_data()
        .and_then(|d| d.user_data())
        .unwrap_or_default()
        .to_string();
    crate::support::user_data_text(&data)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_built_by_the_guide_is_adopted_kept_through_up_and_destroyed_without_what_it_never_owned(
) {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let built: GuideCluster = build(&sdk, &GuideOptions::local()).await;
    // ams-stack through the strict cloud: AWS's rules, not only moto's leniency.
    let cloud = FaultProxy::strict(&moto.endpoint, &[]);
    let project = Project::new(Some(&cloud.endpoint));
    let endpoint = cloud.endpoint.clone();

    // Adopt: read only, the found resources and the plan shown, the stack file and state written.
    let mut args = adopt_args("guide", &endpoint);
    args.push("--json");
    let (run, calls) = project.run_logged(&args);
    let run = run.ok();
    assert!(
        mutating(&calls).is_empty(),
        "adopt changed the cloud: {:?}",
        mutating(&calls)
    );
    let shown = run.json();
    let found = |name: &str| -> String {
        shown["found"]
            .as_array()
            .expect("found")
            .iter()
            .find(|f| f["name"] == name)
            .and_then(|f| f["id"].as_str())
            .unwrap_or_else(|| panic!("{name} not found: {}", shown["found"]))
            .to_string()
    };
    assert_eq!(found("load-balancer"), built.alb_arn);
    assert_eq!(found("origin-group"), built.origin_group_name);
    assert_eq!(found("edge-group"), built.edge_group_name);
    assert_eq!(found("origin-target-group"), built.origin_target_group_arn);
    assert_eq!(found("edge-target-group"), built.edge_target_group_arn);
    assert_eq!(found("mongodb"), built.mongodb_instance_id);
    assert_eq!(found("mongodb-sg"), built.mongodb_sg_id);
    assert_eq!(found("nodes-sg"), built.nodes_sg_id);
    assert_eq!(found("load-balancer-sg"), built.alb_sg_id);
    assert_eq!(found("certificate"), built.certificate_arn);
    let evidence = shown["found"]
        .as_array()
        .expect("found")
        .iter()
        .find(|f| f["name"] == "mongodb")
        .and_then(|f| f["evidence"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(
        evidence.contains(&built.mongodb_private_ip) && evidence.contains("change_server_mode.sh"),
        "the evidence names the line of user data: {evidence}"
    );
    let replaced: Vec<&serde_json::Value> = shown["plan"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s["op"] == "replace" || s["op"] == "delete")
        .filter(|s| s["name"] != "edge-nodes-sg")
        .collect();
    assert!(
        replaced.is_empty(),
        "the first up replaces nothing: {replaced:?}"
    );
    assert_eq!(
        shown["retiring"][0]["id"],
        built.edge_sg_id.as_str(),
        "the edge template's own group is retired: {}",
        shown["retiring"]
    );
    let stack_file =
        std::fs::read_to_string(project.path("stacks/guide.toml")).expect("stack file written");
    assert!(stack_file.contains(&built.vpc_id), "{stack_file}");
    assert!(stack_file.contains("adopted = true"), "{stack_file}");
    assert!(stack_file.contains("auth = false"), "{stack_file}");
    assert!(
        stack_file.contains("rtmp = false"),
        "no ingest was found: {stack_file}"
    );

    // The adoption is the stack's first history entry, with the stack file it wrote.
    let history = project.run(&["history", "guide", "--json"]).ok().stdout;
    assert!(
        history.contains("\"command\": \"adopt\"") || history.contains("\"command\":\"adopt\""),
        "{history}"
    );
    assert!(history.contains("succeeded"), "{history}");

    // The first up: the safe settings in place, nothing carrying traffic or data replaced.
    project.run(&["up", "guide", "--yes"]).ok();
    let elbv2 = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let balancers = elbv2
        .describe_load_balancers()
        .send()
        .await
        .expect("load balancers");
    let albs: Vec<_> = balancers
        .load_balancers()
        .iter()
        .filter(|l| l.r#type().map(|t| t.as_str()) == Some("application"))
        .collect();
    assert_eq!(albs.len(), 1, "the same one load balancer");
    assert_eq!(albs[0].load_balancer_arn(), Some(built.alb_arn.as_str()));
    assert_eq!(albs[0].dns_name(), Some(built.alb_dns_name.as_str()));
    let record = cname(&sdk, &built.zone_id).await.expect("the record stays");
    assert_eq!(
        record.trim_end_matches('.').to_ascii_lowercase(),
        built
            .alb_dns_name
            .trim_end_matches('.')
            .to_ascii_lowercase()
    );
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let mongodb = ec2
        .describe_instances()
        .instance_ids(&built.mongodb_instance_id)
        .send()
        .await
        .expect("instances");
    let instance = &mongodb.reservations()[0].instances()[0];
    assert_eq!(
        instance.state().and_then(|s| s.name()).map(|n| n.as_str()),
        Some("running"),
        "the same MongoDB runs"
    );
    assert!(
        instance
            .block_device_mappings()
            .iter()
            .any(|m| m.ebs().and_then(|e| e.volume_id())
                == Some(built.mongodb_root_volume_id.as_str())),
        "with its original volume"
    );
    let autoscaling = aws_sdk_autoscaling::Client::new(&sdk);
    for group in [&built.origin_group_name, &built.edge_group_name] {
        let described = autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(group.as_str())
            .send()
            .await
            .expect("groups");
        assert_eq!(described.auto_scaling_groups().len(), 1, "{group} stays");
        let launched = described.auto_scaling_groups()[0]
            .launch_template()
            .and_then(|t| t.version())
            .expect("a version")
            .to_string();
        let instances = described.auto_scaling_groups()[0].instances();
        assert!(!instances.is_empty(), "{group} serves");
        for instance in instances {
            assert_eq!(
                instance.launch_template().and_then(|t| t.version()),
                Some(launched.as_str()),
                "{group}'s nodes were rolled onto the new version"
            );
        }
        let user_data = launched_user_data(&sdk, group).await;
        assert!(
            user_data.contains(&built.mongodb_private_ip)
                && user_data.contains("MONGODB_USER=\"\""),
            "{group}'s nodes reach the adopted MongoDB without a password"
        );
    }
    // The edge template's own group (the console made one a template) is gone: the edges
    // moved to the nodes' group.
    assert_ne!(
        built.edge_sg_id, built.nodes_sg_id,
        "the guide's two groups"
    );
    let edge_group = ec2
        .describe_security_groups()
        .filters(
            Filter::builder()
                .name("group-id")
                .values(&built.edge_sg_id)
                .build(),
        )
        .send()
        .await
        .expect("groups");
    assert!(
        edge_group.security_groups().is_empty(),
        "the edge template's group was retired"
    );
    for group in [&built.mongodb_sg_id, &built.nodes_sg_id, &built.alb_sg_id] {
        let open = open_to_the_world(&ec2, group).await;
        assert!(!covers(&open, 22), "{group}: SSH still open: {open:?}");
        assert!(
            !covers(&open, 27017),
            "{group}: MongoDB still open: {open:?}"
        );
    }

    // What was adopted now carries the stack's tags: adopting it again, into another stack, is
    // refused.
    refused(&project, "again", &endpoint, "ams-stack stack `guide`");

    // A second up changes nothing.
    let (run, calls) = project.run_logged(&["up", "guide", "--yes"]);
    run.ok();
    assert!(mutating(&calls).is_empty(), "{:?}", mutating(&calls));

    // A backup is of the root volume, where the adopted MongoDB keeps its data; `restore`,
    // which makes a data volume, is refused until the data is moved onto one.
    let backup = project.run(&["backup", "guide", "--json"]).ok().json();
    assert_eq!(
        backup["snapshots"][0]["volume"], built.mongodb_root_volume_id,
        "{backup}"
    );
    let snapshot = backup["snapshots"][0]["snapshot"]
        .as_str()
        .expect("id")
        .to_string();
    let run = project
        .run(&[
            "restore",
            "guide",
            &snapshot,
            "--allow-replace",
            "mongodb",
            "--yes",
        ])
        .fails();
    assert!(run.stderr.contains("root volume"), "{}", run.stderr);

    // Turning auth on is one previewed change: the nodes roll onto the authenticated URI, the
    // first of them making the user in the MongoDB that takes no password yet.
    project.edit("stacks/guide.toml", "auth = false", "auth = true");
    let preview = project.run(&["preview", "guide", "--json"]).ok().json();
    let mut updated: Vec<&str> = preview["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s["op"] != "same")
        .filter_map(|s| s["name"].as_str())
        .collect();
    updated.sort();
    assert_eq!(
        updated,
        [
            "edge-group",
            "edge-launch-template",
            "origin-group",
            "origin-launch-template"
        ],
        "only the templates and the roll: {preview}"
    );
    assert!(
        preview["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .all(|f| f["control"] != "AMS.3"),
        "no finding left about MongoDB's auth"
    );
    project.run(&["up", "guide", "--yes"]).ok();
    for group in [&built.origin_group_name, &built.edge_group_name] {
        let user_data = launched_user_data(&sdk, group).await;
        assert!(
            user_data.contains("MONGODB_USER=\"antmedia\"")
                && user_data.contains("MONGODB_CREATE_USER=\"yes\""),
            "{group}'s nodes log in, the first making the user"
        );
    }

    // Destroy removes what was adopted, and leaves the default VPC, its subnets and the zone.
    project.run(&["destroy", "guide", "--yes"]).ok();
    let vpcs = ec2
        .describe_vpcs()
        .vpc_ids(&built.vpc_id)
        .send()
        .await
        .expect("the default VPC is still there");
    assert_eq!(vpcs.vpcs().len(), 1);
    let subnets = ec2
        .describe_subnets()
        .filters(
            Filter::builder()
                .name("vpc-id")
                .values(&built.vpc_id)
                .build(),
        )
        .send()
        .await
        .expect("subnets");
    for subnet in &built.subnet_ids {
        assert!(
            subnets
                .subnets()
                .iter()
                .any(|s| s.subnet_id() == Some(subnet)),
            "subnet {subnet} stays"
        );
    }
    let route53 = aws_sdk_route53::Client::new(&sdk);
    route53
        .get_hosted_zone()
        .id(&built.zone_id)
        .send()
        .await
        .expect("the hosted zone stays");
    let balancers = elbv2
        .describe_load_balancers()
        .send()
        .await
        .expect("load balancers");
    assert!(
        balancers.load_balancers().is_empty(),
        "the adopted ALB is gone"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_domain_with_no_record_is_refused_naming_it() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let options = GuideOptions {
        record: false,
        ..GuideOptions::local()
    };
    build(&sdk, &options).await;
    let project = Project::new(Some(&moto.endpoint));
    refused(&project, "guide", &moto.endpoint, DOMAIN);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_cloudformation_stack_an_existing_stack_another_owner_and_two_candidates_are_refused(
) {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    // The template's way: CloudFormation's tags, MongoDB named by a mongodb:// URI.
    let options = GuideOptions {
        cloudformation_stack: Some("ams-cluster".into()),
        mongodb_uri: true,
        ..GuideOptions::local()
    };
    let built = build(&sdk, &options).await;
    let project = Project::new(Some(&moto.endpoint));
    let endpoint = moto.endpoint.clone();

    // The template's stack still exists: it owns the cluster.
    let cloudformation = aws_sdk_cloudformation::Client::new(&sdk);
    cloudformation
        .create_stack()
        .stack_name("ams-cluster")
        .template_body(r#"{"Resources": {"Placeholder": {"Type": "AWS::SNS::Topic"}}}"#)
        .send()
        .await
        .expect("a CloudFormation stack");
    refused(
        &project,
        "guide",
        &endpoint,
        "CloudFormation stack `ams-cluster`",
    );
    refused(&project, "guide", &endpoint, "DeletionPolicy: Retain");
    cloudformation
        .delete_stack()
        .stack_name("ams-cluster")
        .send()
        .await
        .expect("deleted");

    // A stack of that name exists already.
    refused(&project, "local", &endpoint, "exists already");

    // Two groups feed the origin target group: both named.
    let autoscaling = aws_sdk_autoscaling::Client::new(&sdk);
    autoscaling
        .create_auto_scaling_group()
        .auto_scaling_group_name("Second-Origin-Group")
        .launch_template(
            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                .launch_template_id(&built.origin_launch_template_id)
                .build(),
        )
        .min_size(0)
        .max_size(1)
        .vpc_zone_identifier(&built.subnet_ids[0])
        .target_group_arns(&built.origin_target_group_arn)
        .send()
        .await
        .expect("a second group");
    refused(&project, "guide", &endpoint, "Second-Origin-Group");
    autoscaling
        .delete_auto_scaling_group()
        .auto_scaling_group_name("Second-Origin-Group")
        .force_delete(true)
        .send()
        .await
        .expect("deleted");

    // Another ams-stack stack owns the load balancer.
    let elbv2 = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    elbv2
        .add_tags()
        .resource_arns(&built.alb_arn)
        .tags(
            aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                .key("ams-stack:stack")
                .value("other")
                .build(),
        )
        .send()
        .await
        .expect("tagged");
    refused(&project, "guide", &endpoint, "ams-stack stack `other`");
    elbv2
        .remove_tags()
        .resource_arns(&built.alb_arn)
        .tag_keys("ams-stack:stack")
        .send()
        .await
        .expect("untagged");

    // With the template's stack deleted (its resources retained), the same cluster adopts.
    let (run, calls) = project.run_logged(&adopt_args("guide", &endpoint));
    run.ok();
    assert!(mutating(&calls).is_empty(), "{:?}", mutating(&calls));
    assert!(project.path("stacks/guide.toml").exists());
}
