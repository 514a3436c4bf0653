//! What the emulator holds for the local stack, counted by kind, and what the stack declares.

use std::collections::BTreeMap;

/// How many of each thing the emulator holds for the stack (live ones only).
pub async fn census(sdk: &aws_config::SdkConfig) -> BTreeMap<&'static str, usize> {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(sdk);
    let asg = aws_sdk_autoscaling::Client::new(sdk);
    let acm = aws_sdk_acm::Client::new(sdk);
    let iam = aws_sdk_iam::Client::new(sdk);
    let ssm = aws_sdk_ssm::Client::new(sdk);
    let route53 = aws_sdk_route53::Client::new(sdk);
    let stack = || {
        aws_sdk_ec2::types::Filter::builder()
            .name("tag:ams-stack:stack")
            .values("local")
            .build()
    };
    let dlm = aws_sdk_dlm::Client::new(sdk);
    let mut count = BTreeMap::new();
    count.insert(
        "vpc",
        ec2.describe_vpcs()
            .filters(stack())
            .send()
            .await
            .expect("vpcs")
            .vpcs()
            .len(),
    );
    count.insert(
        "subnet",
        ec2.describe_subnets()
            .filters(stack())
            .send()
            .await
            .expect("subnets")
            .subnets()
            .len(),
    );
    count.insert(
        "internet gateway",
        ec2.describe_internet_gateways()
            .filters(stack())
            .send()
            .await
            .expect("igw")
            .internet_gateways()
            .len(),
    );
    count.insert(
        "route table",
        ec2.describe_route_tables()
            .filters(stack())
            .send()
            .await
            .expect("rt")
            .route_tables()
            .len(),
    );
    let nat_gateways = ec2
        .describe_nat_gateways()
        .filter(stack())
        .send()
        .await
        .expect("nat gateways");
    count.insert(
        "nat gateway",
        nat_gateways
            .nat_gateways()
            .iter()
            .filter(|n| {
                n.state()
                    .is_some_and(|s| s.as_str() != "deleted" && s.as_str() != "deleting")
            })
            .count(),
    );
    count.insert(
        "elastic ip",
        ec2.describe_addresses()
            .filters(stack())
            .send()
            .await
            .expect("addresses")
            .addresses()
            .len(),
    );
    count.insert(
        "security group",
        ec2.describe_security_groups()
            .filters(stack())
            .send()
            .await
            .expect("sg")
            .security_groups()
            .len(),
    );
    let running = aws_sdk_ec2::types::Filter::builder()
        .name("instance-state-name")
        .values("pending")
        .values("running")
        .build();
    let instances = ec2
        .describe_instances()
        .filters(running)
        .send()
        .await
        .expect("instances");
    count.insert(
        "instance",
        instances
            .reservations()
            .iter()
            .map(|r| r.instances().len())
            .sum(),
    );
    let data_volumes = ec2
        .describe_volumes()
        .filters(stack())
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:ams-stack:name")
                .values("mongodb-data")
                .build(),
        )
        .send()
        .await
        .expect("volumes");
    let live: Vec<_> = data_volumes
        .volumes()
        .iter()
        .filter(|v| {
            v.state()
                .is_some_and(|s| s.as_str() != "deleted" && s.as_str() != "deleting")
        })
        .collect();
    count.insert("data volume", live.len());
    count.insert(
        "volume attachment",
        live.iter().map(|v| v.attachments().len()).sum(),
    );
    count.insert(
        "snapshot policy",
        dlm.get_lifecycle_policies()
            .send()
            .await
            .expect("policies")
            .policies()
            .len(),
    );
    count.insert(
        "launch template",
        ec2.describe_launch_templates()
            .filters(stack())
            .send()
            .await
            .expect("lt")
            .launch_templates()
            .len(),
    );
    let lbs = elb.describe_load_balancers().send().await.expect("lbs");
    count.insert("load balancer", lbs.load_balancers().len());
    let (mut listeners, mut rules) = (0, 0);
    for lb in lbs.load_balancers() {
        let arn = lb.load_balancer_arn().expect("arn");
        let found = elb
            .describe_listeners()
            .load_balancer_arn(arn)
            .send()
            .await
            .expect("listeners");
        listeners += found.listeners().len();
        for listener in found.listeners() {
            rules += elb
                .describe_rules()
                .listener_arn(listener.listener_arn().expect("listener arn"))
                .send()
                .await
                .expect("rules")
                .rules()
                .iter()
                .filter(|r| r.is_default() != Some(true))
                .count();
        }
    }
    count.insert("listener", listeners);
    count.insert("listener rule", rules);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    );
    count.insert(
        "bucket",
        s3.list_buckets()
            .send()
            .await
            .expect("buckets")
            .buckets()
            .iter()
            .filter(|b| b.name().is_some_and(|n| n.starts_with("local-")))
            .count(),
    );
    count.insert(
        "target group",
        elb.describe_target_groups()
            .send()
            .await
            .expect("tgs")
            .target_groups()
            .len(),
    );
    let groups = asg
        .describe_auto_scaling_groups()
        .send()
        .await
        .expect("asgs");
    count.insert("auto-scaling group", groups.auto_scaling_groups().len());
    let mut hooks = 0;
    for name in groups
        .auto_scaling_groups()
        .iter()
        .filter_map(|g| g.auto_scaling_group_name())
    {
        hooks += asg
            .describe_lifecycle_hooks()
            .auto_scaling_group_name(name)
            .send()
            .await
            .expect("lifecycle hooks")
            .lifecycle_hooks()
            .len();
    }
    count.insert("lifecycle hook", hooks);
    count.insert(
        "scaling policy",
        asg.describe_policies()
            .send()
            .await
            .expect("policies")
            .scaling_policies()
            .len(),
    );
    count.insert(
        "certificate",
        acm.list_certificates()
            .send()
            .await
            .expect("certs")
            .certificate_summary_list()
            .len(),
    );
    count.insert(
        "role",
        iam.list_roles()
            .path_prefix("/ams-stack/")
            .send()
            .await
            .expect("roles")
            .roles()
            .len(),
    );
    count.insert(
        "instance profile",
        iam.list_instance_profiles()
            .path_prefix("/ams-stack/")
            .send()
            .await
            .expect("profiles")
            .instance_profiles()
            .len(),
    );
    let mut parameters = 0;
    for name in ["mongodb-password", "panel-password"] {
        parameters += usize::from(
            ssm.get_parameter()
                .name(format!("/ams-stack/local/{name}"))
                .send()
                .await
                .is_ok(),
        );
    }
    count.insert("parameter", parameters);
    let zones = route53.list_hosted_zones().send().await.expect("zones");
    let zone = zones.hosted_zones()[0].id();
    let records = route53
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .expect("records");
    count.insert(
        "dns record",
        records
            .resource_record_sets()
            .iter()
            .filter(|r| r.r#type().as_str() == "CNAME" || r.alias_target().is_some())
            .count(),
    );
    count
}

/// What the local stack declares, counted as [`census`] counts: each kind by its census
/// category, plus the instances the groups start at their minimum size.
pub fn whole_cluster() -> BTreeMap<&'static str, usize> {
    let mut count: BTreeMap<&'static str, usize> = CATEGORIES
        .iter()
        .map(|(_, category)| (*category, 0))
        .collect();
    let (config, program) = local_program();
    for resource in program.resources() {
        if let Some((_, category)) = CATEGORIES.iter().find(|(t, _)| *t == resource.type_name) {
            *count.entry(category).or_default() += 1;
        }
    }
    let group_instances = (config.origin.min_size + config.edge.min_size) as usize;
    *count.entry("instance").or_default() += group_instances;
    count
}

/// How many resources the local stack declares (what `up` creates and `destroy` deletes).
pub fn resource_count() -> usize {
    local_program().1.resources().len()
}

fn local_program() -> (ams_stack::config::StackConfig, ams_engine::Program) {
    let path = super::repo().join("stacks/local.toml");
    let text = std::fs::read_to_string(&path).expect("local stack");
    let config = ams_stack::config::parse("local", &path, &text).expect("valid local stack");
    let found = ams_stack::cluster::Found {
        hosted_zone_id: "Z".into(),
        mongodb_ami: "ami-mongodb".into(),
        origin_ami: "ami-ams".into(),
        edge_ami: "ami-ams".into(),
        data_snapshot: None,
        images: Vec::new(),
    };
    let program = ams_stack::cluster::declare(&config, &found).expect("declared");
    (config, program)
}

/// The census category of each kind that leaves something countable in the cloud.
const CATEGORIES: [(&str, &str); 25] = [
    ("aws:ec2:Vpc", "vpc"),
    ("aws:ec2:NatGateway", "nat gateway"),
    ("aws:ec2:ElasticIp", "elastic ip"),
    ("aws:ec2:Subnet", "subnet"),
    ("aws:ec2:InternetGateway", "internet gateway"),
    ("aws:ec2:RouteTable", "route table"),
    ("aws:ec2:SecurityGroup", "security group"),
    ("aws:ec2:Instance", "instance"),
    ("aws:ec2:Volume", "data volume"),
    ("aws:ec2:VolumeAttachment", "volume attachment"),
    ("aws:dlm:LifecyclePolicy", "snapshot policy"),
    ("aws:ec2:LaunchTemplate", "launch template"),
    ("aws:elbv2:LoadBalancer", "load balancer"),
    ("aws:elbv2:Listener", "listener"),
    ("aws:elbv2:ListenerRule", "listener rule"),
    ("aws:s3:Bucket", "bucket"),
    ("aws:elbv2:TargetGroup", "target group"),
    ("aws:autoscaling:Group", "auto-scaling group"),
    ("aws:autoscaling:CpuPolicy", "scaling policy"),
    ("aws:autoscaling:LifecycleHook", "lifecycle hook"),
    ("aws:acm:Certificate", "certificate"),
    ("aws:iam:Role", "role"),
    ("aws:iam:InstanceProfile", "instance profile"),
    ("aws:ssm:SecureParameter", "parameter"),
    ("aws:route53:Record", "dns record"),
];

pub fn nothing() -> BTreeMap<&'static str, usize> {
    whole_cluster().into_keys().map(|k| (k, 0)).collect()
}
