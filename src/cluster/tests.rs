use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value as Json};

use super::*;
use ams_engine::state::State;
use ams_engine::{plan, Op};

/// The prod stack as shipped (RTMP and SRT on).
fn prod() -> Program {
    with_ingest(true, true)
}

fn args(program: &Program, name: &str) -> Json {
    program
        .get(name)
        .unwrap_or_else(|| panic!("{name} declared"))
        .args
        .clone()
}

#[test]
fn declares_the_whole_cluster_and_first_deploy_creates_it_all() {
    let program = prod();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for r in program.resources() {
        *kinds.entry(r.type_name.clone()).or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = [
        ("aws:acm:Certificate", 1),
        ("aws:acm:CertificateValidation", 1),
        ("aws:autoscaling:CpuPolicy", 2),
        ("aws:autoscaling:Group", 2),
        ("aws:autoscaling:LifecycleHook", 4),
        ("aws:ec2:Instance", 1),
        ("aws:ec2:InternetGateway", 1),
        ("aws:ec2:LaunchTemplate", 2),
        ("aws:ec2:RouteTable", 2),
        ("aws:ec2:SecurityGroup", 4),
        ("aws:ec2:DefaultSecurityGroupRules", 1),
        ("aws:ec2:ElasticIp", 1),
        ("aws:ec2:NatGateway", 1),
        ("aws:ec2:Subnet", 4),
        ("aws:ec2:Vpc", 1),
        ("aws:elbv2:Listener", 6),
        ("aws:elbv2:ListenerRule", 2),
        ("aws:elbv2:LoadBalancer", 2),
        ("aws:s3:Bucket", 1),
        ("aws:elbv2:TargetGroup", 4),
        ("aws:route53:Record", 4),
        ("aws:ssm:SecureParameter", 2),
        ("aws:iam:Role", 2),
        ("aws:iam:InstanceProfile", 1),
        ("aws:ec2:Volume", 1),
        ("aws:ec2:VolumeAttachment", 1),
        ("aws:dlm:LifecyclePolicy", 1),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n))
    .collect();
    assert_eq!(kinds, expected);
    let plan = plan(&program, &State::empty("prod")).expect("no cycle");
    assert_eq!(plan.count(Op::Create), program.resources().len());
    assert_eq!(program.resources().len(), 55);
}

/// The prod stack with plain RTMP asked for (`rtmp_plain = true`).
fn with_plain_rtmp() -> Program {
    with_stack(|text| text.replace("# rtmp_plain = true", "rtmp_plain = true")).1
}

/// The prod stack with its `[ingest]` switches set as given.
fn with_ingest(rtmp: bool, srt: bool) -> Program {
    with_stack(|text| {
        text.replace("rtmp = true", &format!("rtmp = {rtmp}"))
            .replace("srt = true", &format!("srt = {srt}"))
    })
    .1
}

/// The prod stack as `edit` changes it, and its program.
fn with_stack(edit: impl Fn(String) -> String) -> (crate::config::StackConfig, Program) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/prod.toml");
    let text = edit(std::fs::read_to_string(&path).expect("prod stack"));
    let config = crate::config::parse("prod", &path, &text).expect("valid");
    let found = Found {
        hosted_zone_id: "Z123".into(),
        mongodb_ami: "ami-ubuntu".into(),
        origin_ami: "ami-ams".into(),
        edge_ami: "ami-ams".into(),
        data_snapshot: None,
        images: Vec::new(),
    };
    let program = declare(&config, &found).expect("declared");
    (config, program)
}

#[test]
fn ingest_puts_a_network_load_balancer_before_the_origin_group() {
    let program = with_plain_rtmp();
    let nlb = args(&program, "ingest-load-balancer");
    assert_eq!(nlb["load_balancer_type"], "network");
    // Its own group, which the nodes admit RTMP and SRT from, and nobody else.
    assert_eq!(
        nlb["security_group_ids"][0]["$ref"]["resource"],
        "ingest-sg"
    );
    let rtmp = args(&program, "origin-rtmp-target-group");
    assert_eq!(
        (rtmp["protocol"].as_str(), rtmp["port"].as_i64()),
        (Some("TCP"), Some(1935))
    );
    let srt = args(&program, "origin-srt-target-group");
    assert_eq!(
        (srt["protocol"].as_str(), srt["port"].as_i64()),
        (Some("UDP"), Some(4200))
    );
    // UDP cannot be health-checked: TCP on AMS's HTTP port instead.
    assert_eq!(srt["health_check_protocol"], "TCP");
    assert_eq!(srt["health_check_port"], "5080");
    let listeners: Vec<(i64, String)> = ["ingest-listener-tcp-1935", "ingest-listener-udp-4200"]
        .iter()
        .map(|name| {
            let listener = args(&program, name);
            (
                listener["port"].as_i64().unwrap_or_default(),
                listener["protocol"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(listeners, [(1935, "TCP".into()), (4200, "UDP".into())]);
    let group = args(&program, "origin-group");
    let joined: Vec<&str> = group["target_group_arns"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|arn| arn["$ref"]["resource"].as_str())
        .collect();
    assert_eq!(
        joined,
        [
            "origin-target-group",
            "origin-rtmp-target-group",
            "origin-srt-target-group"
        ]
    );
    let nodes = args(&program, "nodes-sg").to_string();
    assert!(
        nodes.contains("RTMP from the ingest load balancer"),
        "{nodes}"
    );
    assert!(
        nodes.contains("SRT from the ingest load balancer"),
        "{nodes}"
    );
    assert_eq!(
        args(&program, "ingest-dns-record")["name"],
        "ingest.stream.example.com"
    );
    let outputs = program.outputs();
    assert_eq!(
        outputs["rtmp_url"],
        json!("rtmp://ingest.stream.example.com/WebRTCAppEE")
    );
    assert!(outputs["srt_url"]
        .as_str()
        .is_some_and(|url| url.starts_with("srt://ingest.stream.example.com:4200")));
}

#[test]
fn ingest_is_what_the_stack_file_asks_for() {
    let rtmp_only = with_ingest(true, false);
    assert!(rtmp_only.get("origin-rtmp-target-group").is_some());
    assert!(rtmp_only.get("origin-srt-target-group").is_none());
    assert!(rtmp_only.get("ingest-listener-udp-4200").is_none());
    assert!(!rtmp_only.outputs().contains_key("srt_url"));
    let none = with_ingest(false, false);
    for name in ["ingest-sg", "ingest-load-balancer", "ingest-dns-record"] {
        assert!(none.get(name).is_none(), "{name} without ingest");
    }
    assert!(!none.outputs().contains_key("rtmp_url"));
    assert!(!none.outputs().contains_key("rtmps_url"));
    assert!(!args(&none, "nodes-sg").to_string().contains("1935"));
    // Without RTMPS the certificate names the domain alone, as it always did.
    assert_eq!(
        args(&none, "certificate"),
        json!({"domain": "stream.example.com"})
    );
    assert!(none.get("certificate-validation-record-ingest").is_none());
    assert!(args(&none, "access-logs").get("nlb_log_prefix").is_none());
}

#[test]
fn rtmps_terminates_tls_on_443_with_a_certificate_naming_ingest_and_forwards_to_1935() {
    let program = prod();
    let tls = args(&program, "ingest-listener-tls-443");
    assert_eq!(tls["protocol"], "TLS");
    assert_eq!(tls["port"], 443);
    // The issued certificate (after both names are validated), the stack's TLS policy, and
    // AMS's RTMP port on the origins.
    assert_eq!(
        tls["certificate_arn"]["$ref"]["resource"],
        "certificate-validation"
    );
    assert_eq!(
        tls["ssl_policy"],
        args(&program, "listener-https-443")["ssl_policy"]
    );
    assert_eq!(
        tls["target_group_arn"]["$ref"]["resource"],
        "origin-rtmp-target-group"
    );
    assert_eq!(
        args(&program, "certificate"),
        json!({"domain": "stream.example.com", "alternative_name": "ingest.stream.example.com"})
    );
    // One validation record per name, both in the hosted zone, both waited for.
    let ingest_record = args(&program, "certificate-validation-record-ingest");
    assert_eq!(ingest_record["zone_id"], "Z123");
    assert_eq!(
        ingest_record["name"]["$ref"],
        json!({"resource": "certificate", "output": "alternative_validation_record_name"})
    );
    let validation = program
        .get("certificate-validation")
        .expect("the wait for the certificate");
    let waits = plan(&program, &State::empty("prod")).expect("no cycle");
    let step = waits
        .steps
        .iter()
        .find(|s| s.name == validation.name)
        .expect("its step");
    assert!(
        step.dependencies
            .contains("certificate-validation-record-ingest"),
        "{:?}",
        step.dependencies
    );
    let ingest_sg = args(&program, "ingest-sg").to_string();
    assert!(ingest_sg.contains("RTMPS publish (TLS)"), "{ingest_sg}");
    assert_eq!(
        program.outputs()["rtmps_url"],
        json!("rtmps://ingest.stream.example.com/WebRTCAppEE")
    );
}

#[test]
fn plain_rtmp_is_made_only_where_the_stack_file_asks_and_then_is_a_finding_accepted_by_its_line() {
    // By default: RTMPS only, no 1935 listener, no finding.
    let (config, program) = with_stack(|text| text);
    assert!(program.get("ingest-listener-tcp-1935").is_none());
    assert!(program.get("ingest-listener-tls-443").is_some());
    assert!(!program.outputs().contains_key("rtmp_url"));
    assert!(program.outputs().contains_key("rtmps_url"));
    let ingest_sg = args(&program, "ingest-sg");
    let ports: Vec<i64> = ingest_sg["ingress"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|rule| rule["from_port"].as_i64())
        .collect();
    assert_eq!(ports, [4200, 443], "{ingest_sg}");
    // The origins still take RTMP from the load balancer: RTMPS arrives there.
    assert!(args(&program, "nodes-sg").to_string().contains("1935"));
    let findings = checks::check(&program, &config);
    assert!(
        findings.iter().all(|f| f.control != "AMS.4"),
        "{findings:?}"
    );

    // Asked for: the listener, its output, and AMS.4 accepted by the line that asked.
    let (config, kept) =
        with_stack(|text| text.replace("# rtmp_plain = true", "rtmp_plain = true"));
    assert!(kept.get("ingest-listener-tcp-1935").is_some());
    assert!(kept.outputs().contains_key("rtmp_url"));
    let plain: Vec<checks::Finding> = checks::check(&kept, &config)
        .into_iter()
        .filter(|f| f.control == "AMS.4")
        .collect();
    assert_eq!(plain.len(), 1, "{plain:?}");
    assert_eq!(plain[0].resource, "ingest-listener-tcp-1935");
    assert!(!plain[0].blocks());
    let accepted = plain[0].accepted.clone().unwrap_or_default();
    assert!(
        accepted.starts_with("by the stack file's choice (")
            && accepted.contains("ingest.rtmp_plain"),
        "{accepted}"
    );
}

#[test]
fn plain_rtmp_without_rtmp_is_refused_naming_the_line() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/prod.toml");
    let text = std::fs::read_to_string(&path)
        .expect("prod stack")
        .replace("rtmp = true", "rtmp = false")
        .replace("# rtmp_plain = true", "rtmp_plain = true");
    let error = crate::config::parse("prod", &path, &text)
        .expect_err("refused")
        .to_string();
    assert!(
        error.contains("ingest.rtmp_plain") && error.contains("needs `rtmp = true`"),
        "{error}"
    );
}

#[test]
fn a_stack_from_before_rtmps_replaces_its_certificate_and_keeps_plain_rtmp_where_asked() {
    let program = with_plain_rtmp();
    // The state the same stack had before RTMPS: every resource but the new ones, the
    // certificate for the domain alone, the ingest load balancer without logs.
    let new = [
        "ingest-listener-tls-443",
        "certificate-validation-record-ingest",
    ];
    // Every output `RESOURCE.OUTPUT`, as stored by the apply that made it.
    let wanted: std::cell::RefCell<BTreeMap<String, BTreeMap<String, Json>>> = Default::default();
    let fake = |resource: &str, output: &str| {
        let value = json!(format!("{resource}.{output}"));
        let mut wanted = wanted.borrow_mut();
        let outputs = wanted.entry(resource.to_string()).or_default();
        outputs.insert(output.to_string(), value.clone());
        Some(value)
    };
    let resolved: Vec<Json> = program
        .resources()
        .iter()
        .map(|r| ams_engine::resolve_with(&r.args, &fake))
        .collect();
    let mut state = State::empty("prod");
    for (declared, mut inputs) in program.resources().iter().zip(resolved) {
        if new.contains(&declared.name.as_str()) {
            continue;
        }
        if let Some(fields) = inputs.as_object_mut() {
            match declared.name.as_str() {
                "certificate" => {
                    fields.remove("alternative_name");
                }
                "ingest-load-balancer" => {
                    fields.remove("access_logs");
                }
                "access-logs" => {
                    fields.remove("nlb_log_prefix");
                }
                _ => {}
            }
        }
        state.resources.push(ams_engine::state::ResourceState {
            name: declared.name.clone(),
            type_name: declared.type_name.clone(),
            id: format!("{}-id", declared.name),
            inputs,
            outputs: json!(wanted
                .borrow()
                .get(&declared.name)
                .cloned()
                .unwrap_or_default()),
            dependencies: declared.dependencies.iter().cloned().collect(),
        });
    }
    let planned = plan(&program, &state).expect("plan");
    let op = |name: &str| {
        planned
            .steps
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.op)
            .unwrap_or_else(|| panic!("{name} planned"))
    };
    assert_eq!(op("certificate"), Op::Replace);
    assert_eq!(op("certificate-validation"), Op::Replace);
    assert_eq!(op("certificate-validation-record-ingest"), Op::Create);
    assert_eq!(op("ingest-listener-tls-443"), Op::Create);
    assert_eq!(op("ingest-load-balancer"), Op::Update);
    assert_eq!(op("access-logs"), Op::Update);
    // Encoders on rtmp:// keep publishing through the upgrade.
    assert_eq!(op("ingest-listener-tcp-1935"), Op::Same);
}

#[test]
fn internet_facing_resources_wait_for_the_route_to_the_gateway() {
    let program = prod();
    for name in [
        "load-balancer",
        "ingest-load-balancer",
        "nat-gateway",
        "origin-group",
        "edge-group",
    ] {
        let declared = program.get(name).expect("declared");
        assert!(
            declared.dependencies.contains("route-table"),
            "{name} must depend on the route table"
        );
    }
    // MongoDB, in its private subnet, waits for the route to the NAT gateway (which waits for
    // the one to the internet gateway).
    let mongodb = program.get("mongodb").expect("declared");
    assert!(mongodb.dependencies.contains("private-route-table"));
}

#[test]
fn mongodb_is_private_and_out_through_the_nat_gateway() {
    let program = prod();
    let mongodb = args(&program, "mongodb");
    assert_eq!(mongodb["subnet_id"]["$ref"]["resource"], "private-subnet-1");
    assert!(mongodb.get("public_ip").is_none(), "{mongodb}");
    assert_eq!(mongodb["monitoring"], true);
    let nat = args(&program, "nat-gateway");
    assert_eq!(nat["subnet_id"]["$ref"]["resource"], "subnet-1");
    assert_eq!(nat["allocation_id"]["$ref"]["resource"], "nat-address");
    let private = args(&program, "private-route-table");
    assert_eq!(private["nat_gateway_id"]["$ref"]["resource"], "nat-gateway");
    assert!(private.get("internet_gateway_id").is_none());
    assert_eq!(
        private["subnet_ids"],
        json!([
            { "$ref": { "resource": "private-subnet-1", "output": "id" } },
            { "$ref": { "resource": "private-subnet-2", "output": "id" } }
        ])
    );
    for subnet in [
        "subnet-1",
        "subnet-2",
        "private-subnet-1",
        "private-subnet-2",
    ] {
        assert_eq!(args(&program, subnet)["map_public_ip_on_launch"], false);
    }
    assert_eq!(args(&program, "vpc-default-sg-rules")["rules"], 0);
    for template in ["origin-launch-template", "edge-launch-template"] {
        let template = args(&program, template);
        assert_eq!(
            (&template["public_ip"], &template["monitoring"]),
            (&json!(true), &json!(true))
        );
    }
    let findings = checks::check(&program, &prod_config(""));
    let controls: Vec<(&str, bool)> = findings
        .iter()
        .filter(|f| ["EC2.9", "EC2.25"].contains(&f.control))
        .map(|f| (f.control, f.accepted.is_some()))
        .collect();
    assert_eq!(controls, [("EC2.25", true), ("EC2.25", true)]);
}

#[test]
fn private_database_false_keeps_mongodb_public_and_says_what_that_accepts() {
    let config = prod_config("private_database = false");
    let program = declare(&config, &found()).expect("declared");
    let mongodb = args(&program, "mongodb");
    assert_eq!(mongodb["subnet_id"]["$ref"]["resource"], "subnet-1");
    assert_eq!(mongodb["public_ip"], true);
    for gone in [
        "private-subnet-1",
        "nat-gateway",
        "nat-address",
        "private-route-table",
    ] {
        assert!(program.get(gone).is_none(), "{gone}");
    }
    let finding = checks::check(&program, &config)
        .into_iter()
        .find(|f| f.control == "EC2.9")
        .expect("EC2.9");
    assert_eq!(finding.resource, "mongodb");
    assert_eq!(
        finding.location.as_deref(),
        Some("stacks/prod.toml:11:20: `network.private_database`")
    );
    let accepted = finding.accepted.clone().unwrap_or_default();
    assert!(accepted.contains("private_database = false"), "{accepted}");
    assert!(!finding.blocks());
}

/// The prod stack with its `private_database` line replaced by `line`.
fn prod_config(line: &str) -> crate::config::StackConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/prod.toml");
    let text = std::fs::read_to_string(&path)
        .expect("prod stack")
        .replace("private_database = true", line);
    crate::config::parse("prod", Path::new("stacks/prod.toml"), &text).expect("valid")
}

fn found() -> Found {
    Found {
        hosted_zone_id: "Z1".into(),
        mongodb_ami: "ami-u".into(),
        origin_ami: "ami-a".into(),
        edge_ami: "ami-a".into(),
        data_snapshot: None,
        images: Vec::new(),
    }
}

#[test]
fn mongodb_address_reaches_the_nodes_as_a_reference() {
    let program = prod();
    for role in ["origin", "edge"] {
        let template = program
            .get(&format!("{role}-launch-template"))
            .expect("template");
        assert!(
            template.dependencies.contains("mongodb"),
            "{role} must depend on mongodb"
        );
        let parts = template.args["user_data"]["$concat"]
            .as_array()
            .expect("a template")
            .clone();
        let at = parts
            .iter()
            .position(|p| *p == json!({"$ref": {"resource": "mongodb", "output": "private_ip"}}))
            .expect("the MongoDB address is a reference");
        let before = parts[at - 1].as_str().expect("text");
        assert!(
            before.ends_with("./change_server_mode.sh cluster \"mongodb://${userinfo}"),
            "{before}"
        );
        assert!(parts[at + 1]
            .as_str()
            .expect("text")
            .starts_with(":27017/?$options\""));
        assert!(
            parts.contains(&json!({"$ref": {"resource": "mongodb-password", "output": "name"}}))
        );
    }
}

#[test]
fn mongodb_and_cluster_port_are_never_open_to_the_world() {
    let program = prod();
    let mongodb = args(&program, "mongodb-sg");
    for rule in mongodb["ingress"].as_array().expect("rules") {
        match rule["from_port"].as_i64() {
            Some(27017) => {
                assert!(rule.get("cidr").is_none());
                assert_eq!(rule["source_group"]["$ref"]["resource"], "nodes-sg");
            }
            Some(22) => assert_eq!(rule["cidr"], "203.0.113.0/24"),
            other => panic!("unexpected MongoDB rule on {other:?}"),
        }
    }
    let nodes = args(&program, "nodes-sg");
    let cluster = nodes["ingress"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["from_port"] == 5000)
        .expect("5000");
    assert_eq!(cluster["from_self"], true);
    assert!(cluster.get("cidr").is_none());
}

#[test]
fn publish_goes_to_origin_and_play_to_edge() {
    let (_, program) =
        with_stack(|text| format!("{text}\n[load_balancer]\nplain_http = \"forward\"\n"));
    for (listener, group) in [
        ("listener-http-80", "origin-target-group"),
        ("listener-https-443", "origin-target-group"),
        ("listener-http-5080", "edge-target-group"),
        ("listener-https-5443", "edge-target-group"),
    ] {
        let args = args(&program, listener);
        assert_eq!(
            args["target_group_arn"]["$ref"]["resource"], group,
            "{listener}"
        );
        assert!(args.get("redirect_to_port").is_none(), "{listener}");
        let https = listener.contains("https");
        assert_eq!(args.get("certificate_arn").is_some(), https, "{listener}");
        if https {
            // HTTPS listeners wait for the issued certificate, not the requested one.
            assert_eq!(
                args["certificate_arn"]["$ref"]["resource"],
                "certificate-validation"
            );
        }
    }
}

#[test]
fn an_existing_vpc_is_used_as_given() {
    let path = Path::new("stacks/existing.toml");
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/prod.toml"))
            .expect("prod stack")
            .replace(
                "vpc_cidr = \"10.20.0.0/16\"",
                "vpc_id = \"vpc-0abc\"\nsubnet_ids = [\"subnet-0a\", \"subnet-0b\"]",
            )
            .replace("private_database = true", "");
    let config = crate::config::parse("existing", path, &text).expect("valid");
    let program = declare(&config, &found()).expect("declared");
    for made in [
        "vpc",
        "internet-gateway",
        "subnet-1",
        "subnet-2",
        "route-table",
        "private-subnet-1",
        "nat-gateway",
        "vpc-default-sg-rules",
    ] {
        assert!(
            program.get(made).is_none(),
            "{made} must not be created for an existing VPC"
        );
    }
    assert_eq!(args(&program, "nodes-sg")["vpc_id"], "vpc-0abc");
    assert_eq!(
        args(&program, "load-balancer")["subnet_ids"],
        json!(["subnet-0a", "subnet-0b"])
    );
    assert_eq!(args(&program, "mongodb")["subnet_id"], "subnet-0a");
}

#[test]
fn every_boot_script_placeholder_is_filled() {
    let program = prod();
    let mut scripts = 0;
    for resource in program.resources() {
        let Some(user_data) = resource.args.get("user_data") else {
            continue;
        };
        scripts += 1;
        let text = ams_engine::resolve_with(user_data, &|_, _| Some(json!("x")));
        let text = text.as_str().expect("text");
        // Any `{NAME}` not part of a shell `${NAME}` is a placeholder nobody filled.
        let left: Vec<&str> = text
            .match_indices('{')
            .filter(|(at, _)| !text[..*at].ends_with('$'))
            .filter_map(|(at, _)| {
                let rest = &text[at + 1..];
                let end = rest.find('}')?;
                let name = &rest[..end];
                (!name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
                    .then_some(name)
            })
            .collect();
        assert!(left.is_empty(), "{left:?} left in {}", resource.name);
        assert!(
            text.contains("install_aws_cli()"),
            "common.sh pasted into {}",
            resource.name
        );
    }
    assert_eq!(scripts, 3, "MongoDB and both launch templates");
}

#[test]
fn the_backup_role_snapshots_only_this_stacks_volume() {
    let program = prod();
    let role = args(&program, "backup-role");
    let statements = role["statements"].as_array().expect("statements");
    let mut scoped = 0;
    for statement in statements {
        let actions: Vec<&str> = statement["actions"]
            .as_array()
            .expect("actions")
            .iter()
            .filter_map(Json::as_str)
            .collect();
        assert!(!actions.contains(&"ec2:CreateSnapshots"), "{statement}");
        if statement["resource"] == "*" {
            assert!(
                actions.iter().all(|a| a.starts_with("ec2:Describe")),
                "only Describe calls take \"*\": {statement}"
            );
        }
        if statement["resource"] == "arn:aws:ec2:ap-south-1:*:volume/*" {
            assert_eq!(actions, ["ec2:CreateSnapshot"]);
            assert_eq!(
                statement["condition"],
                json!({ "StringEquals": { "aws:ResourceTag/ams-stack:daily-snapshots": "prod" } })
            );
            scoped += 1;
        }
    }
    assert_eq!(scoped, 1, "{role}");
}

#[test]
fn without_ssh_and_with_session_manager_no_port_22_no_key_and_the_managed_policy() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/prod.toml");
    let text = std::fs::read_to_string(&path)
        .expect("prod stack")
        .replace("[mongodb]\n", "[mongodb]\nkey_name = \"ops\"\n")
        + "\n[security]\nssh = false\nsession_manager = true\n";
    let config = crate::config::parse("prod", &path, &text).expect("valid");
    let program = declare(&config, &found()).expect("declared");
    for group in ["nodes-sg", "mongodb-sg"] {
        let ingress = args(&program, group)["ingress"].clone();
        assert!(
            ingress
                .as_array()
                .expect("rules")
                .iter()
                .all(|r| r["from_port"] != 22),
            "{group}: {ingress}"
        );
    }
    assert!(args(&program, "mongodb").get("key_name").is_none());
    assert_eq!(
        args(&program, "instance-role")["managed_policy_arns"],
        json!(["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"])
    );
    // By default: SSH from the admin network, the key named, no managed policy.
    let program = declare(&prod_config("").clone(), &found()).expect("declared");
    let ssh = |group: &str| {
        args(&program, group)["ingress"]
            .as_array()
            .expect("rules")
            .iter()
            .any(|r| r["from_port"] == 22)
    };
    assert!(ssh("nodes-sg") && ssh("mongodb-sg"));
    assert!(args(&program, "instance-role")
        .get("managed_policy_arns")
        .is_none());
}

#[test]
fn plain_http_redirects_to_https_and_https_uses_the_post_quantum_fips_policy() {
    let program = prod();
    for (http, https) in [(80, 443), (5080, 5443)] {
        let listener = args(&program, &format!("listener-http-{http}"));
        assert_eq!(listener["redirect_to_port"], https);
        assert!(listener.get("target_group_arn").is_none());
        let secure = args(&program, &format!("listener-https-{https}"));
        assert_eq!(
            secure["ssl_policy"],
            "ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09"
        );
    }
}

#[test]
fn the_publish_port_carries_ant_medias_two_query_string_rules() {
    let program = prod();
    for (role, priority) in [("origin", 1), ("edge", 2)] {
        let rule = args(&program, &format!("listener-rule-443-{role}"));
        assert_eq!(
            rule["listener_arn"]["$ref"]["resource"],
            "listener-https-443"
        );
        assert_eq!(rule["priority"], priority);
        assert_eq!(
            rule["query_string"],
            json!([{"key": "target", "value": role}])
        );
        assert_eq!(
            rule["target_group_arn"]["$ref"]["resource"],
            format!("{role}-target-group")
        );
    }
}

#[test]
fn both_load_balancers_are_protected_and_the_alb_logs_to_the_stacks_bucket() {
    let program = prod();
    let alb = args(&program, "load-balancer");
    assert_eq!(alb["deletion_protection"], true);
    assert_eq!(alb["drop_invalid_header_fields"], true);
    assert_eq!(
        alb["access_logs"]["bucket"]["$ref"]["resource"],
        "access-logs"
    );
    assert_eq!(alb["access_logs"]["prefix"], "alb");
    let nlb = args(&program, "ingest-load-balancer");
    assert_eq!(nlb["deletion_protection"], true);
    assert_eq!(nlb["cross_zone"], true);
    assert_eq!(
        nlb["access_logs"],
        json!({"bucket": {"$ref": {"resource": "access-logs", "output": "name"}}, "prefix": "nlb"})
    );
    let bucket = args(&program, "access-logs");
    assert_eq!(
        bucket,
        json!({"elb_log_prefix": "alb", "nlb_log_prefix": "nlb", "expire_days": 30})
    );
    assert_eq!(tier("access-logs"), "load balancer");
    assert_eq!(tier("listener-rule-443-origin"), "load balancer");
}

#[test]
fn the_default_stack_has_no_load_balancer_subnet_or_default_group_finding() {
    let (config, program) = with_stack(|text| text);
    let findings = checks::check(&program, &config);
    assert!(
        findings
            .iter()
            .all(|f| !f.control.starts_with("ELB.") && f.control != "AMS.2"),
        "{findings:?}"
    );
    assert!(
        findings
            .iter()
            .all(|f| f.control != "EC2.15" && f.control != "EC2.2"),
        "the default stack: {findings:?}"
    );
}

#[test]
fn turning_a_load_balancer_protection_off_is_a_finding_the_stack_file_accepts() {
    let (config, program) = with_stack(|text| {
        format!(
            "{text}\n[load_balancer]\nplain_http = \"forward\"\ntls_policy = \"ELBSecurityPolicy-TLS13-1-2-2021-06\"\ndeletion_protection = false\naccess_log_days = 0\n"
        )
    });
    assert!(program.get("access-logs").is_none(), "no logs, no bucket");
    assert!(args(&program, "load-balancer").get("access_logs").is_none());
    let findings = checks::check(&program, &config);
    let of = |control: &str| -> Vec<&checks::Finding> {
        findings.iter().filter(|f| f.control == control).collect()
    };
    assert_eq!(of("ELB.1").len(), 2, "80 and 5080: {findings:?}");
    assert!(of("ELB.1")[0].message.contains("forwards in clear"));
    assert_eq!(of("ELB.6").len(), 2, "the ALB and the NLB");
    // The ALB's, and the ingest load balancer's for its RTMPS connections.
    assert_eq!(of("ELB.5").len(), 2);
    let tls = of("ELB.17");
    assert_eq!(
        tls.len(),
        3,
        "443 and 5443, and the ingest load balancer's RTMPS 443"
    );
    assert!(
        tls[0]
            .message
            .contains("no post-quantum key exchange, not FIPS"),
        "{}",
        tls[0].message
    );
    for finding in findings.iter().filter(|f| f.control.starts_with("ELB.")) {
        let accepted = finding.accepted.as_deref().unwrap_or_default();
        assert!(
            accepted.starts_with("by the stack file's choice (")
                && accepted.contains("load_balancer."),
            "{finding:?}"
        );
        assert!(!finding.blocks());
    }
}

#[test]
fn subnets_handing_out_addresses_and_a_default_group_with_rules_are_findings() {
    let (config, _) = with_stack(|text| text);
    // A VPC whose default group keeps its rules, and a subnet that maps public addresses.
    let mut program = Program::new();
    let vpc = program
        .add(
            "vpc",
            ams_aws::ec2::Vpc {
                cidr_block: "10.0.0.0/16".into(),
            },
        )
        .expect("vpc");
    program
        .add(
            "subnet",
            ams_aws::ec2::Subnet {
                vpc_id: vpc.id().into(),
                cidr_block: "10.0.0.0/20".into(),
                availability_zone: "ap-south-1a".into(),
                map_public_ip_on_launch: true,
            },
        )
        .expect("subnet");
    let findings = checks::check(&program, &config);
    let controls: Vec<_> = findings.iter().map(|f| f.control).collect();
    assert_eq!(controls, ["EC2.2", "EC2.15"], "{findings:?}");
}

/// Every `arn:...` written in `value`'s strings (an ARN ends at a space, a quote or a comma),
/// added to `found`.
fn arns_in(value: &Json, found: &mut Vec<String>) {
    match value {
        Json::String(text) => {
            let starts = text.match_indices("arn:").map(|(at, _)| at).filter(|&at| {
                text[..at]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            });
            for at in starts {
                let arn = text[at..]
                    .split(|c: char| c.is_whitespace() || "\"',".contains(c))
                    .next()
                    .unwrap_or_default();
                found.push(arn.to_string());
            }
        }
        Json::Array(items) => items.iter().for_each(|item| arns_in(item, found)),
        Json::Object(fields) => fields.values().for_each(|field| arns_in(field, found)),
        _ => {}
    }
}

/// In every region a stack file may name, every ARN the program writes is in the region's
/// partition: the declared arguments of a stack with every switch that adds one (Session
/// Manager, daily snapshots, access logs), and the access-log bucket's policy, which the bucket
/// writes at apply. The regions are all in partitions whose services the stack uses (GovCloud
/// has Route 53 public hosted zones since 2025); a region in another (`cn-*`) needs that
/// checked before it is added to `REGIONS`.
#[test]
fn every_arn_a_stack_writes_is_in_its_regions_partition() {
    for region in crate::config::REGIONS {
        let partition = ams_aws::partition(region);
        assert!(
            ["aws", "aws-us-gov"].contains(&partition),
            "{region}: {partition}"
        );
        let (config, program) = with_stack(|text| {
            text.replace("ap-south-1", region) + "\n[security]\nsession_manager = true\n"
        });
        assert_eq!(config.region, region);
        assert!(config.mongodb.backup_keep > 0 && config.load_balancer.access_log_days > 0);
        let mut arns = Vec::new();
        for resource in program.resources() {
            arns_in(&resource.args, &mut arns);
        }
        arns_in(
            &ams_aws::s3::log_delivery_statement(region, "111122223333", "logs", "alb"),
            &mut arns,
        );
        // At least the instance role's groups and managed policy, the backup role's volumes
        // and snapshots, the log bucket: the scan sees the ARNs there are.
        for service in ["autoscaling", "ec2", "iam", "s3"] {
            assert!(
                arns.iter()
                    .any(|arn| arn.split(':').nth(2) == Some(service)),
                "{region}: no {service} ARN in {arns:?}"
            );
        }
        for arn in &arns {
            assert!(
                arn.starts_with(&format!("arn:{partition}:")),
                "{region}: {arn} is not in the {partition} partition"
            );
        }
    }
}

/// The prod stack as `adopt` writes one: an adopted MongoDB without auth.
fn adopted() -> (crate::config::StackConfig, Program) {
    with_stack(|text| text.replace("[mongodb]\n", "[mongodb]\nadopted = true\nauth = false\n"))
}

#[test]
fn an_adopted_mongodb_has_no_data_volume_and_keeps_what_would_replace_it() {
    let (_, program) = adopted();
    for absent in [MONGODB_DATA, "mongodb-data-attachment", "backup-policy"] {
        assert!(program.get(absent).is_none(), "{absent} is not declared");
    }
    let mongodb = program.get(MONGODB).expect("mongodb");
    for kept in [
        "image_id",
        "subnet_id",
        "encrypted",
        "instance_profile_arn",
        "user_data",
    ] {
        assert!(
            mongodb.keep.iter().any(|k| k == kept),
            "{kept} kept as found"
        );
    }
    for moved in ["instance_type", "http_tokens", "monitoring"] {
        assert!(
            !mongodb.keep.iter().any(|k| k == moved),
            "{moved} changes in place"
        );
    }
    assert_eq!(mongodb.protected.as_deref(), Some("mongodb"));
    assert!(!program.outputs().contains_key("mongodb_data_volume"));
    // The kept arguments are what runs: a plan against the state takes them from it.
    let mut state = State::empty("prod");
    let first = plan(&program, &state).expect("plan");
    let mut stored = first
        .steps
        .iter()
        .find(|s| s.name == MONGODB)
        .expect("step")
        .args
        .clone();
    stored["image_id"] = json!("ami-by-hand");
    stored["encrypted"] = json!(false);
    stored["subnet_id"] = json!("subnet-by-hand");
    state.resources.push(ams_engine::state::ResourceState {
        name: MONGODB.into(),
        type_name: "aws:ec2:Instance".into(),
        id: "i-by-hand".into(),
        inputs: ams_engine::resolve_with(&stored, &|_, _| Some(json!("x"))),
        outputs: json!({"id": "i-by-hand", "private_ip": "172.31.0.9"}),
        dependencies: Vec::new(),
    });
    let planned = plan(&program, &state).expect("plan");
    let step = planned
        .steps
        .iter()
        .find(|s| s.name == MONGODB)
        .expect("step");
    assert_ne!(step.op, Op::Replace, "{:?}", step.changes);
}

#[test]
fn nodes_reach_an_adopted_mongodb_without_auth_which_is_a_finding_accepted_as_found() {
    let (config, program) = adopted();
    for role in ["origin", "edge"] {
        let user_data = &args(&program, &format!("{role}-launch-template"))["user_data"];
        let text = ams_engine::resolve_with(user_data, &|_, _| Some(json!("x")));
        let text = text.as_str().expect("text");
        assert!(text.contains("MONGODB_USER=\"\"\n"), "{role}: no user");
    }
    let findings = checks::check(&program, &config);
    let auth = findings
        .iter()
        .find(|f| f.control == "AMS.3")
        .expect("the missing auth is a finding");
    assert!(!auth.blocks(), "accepted as found: {auth:?}");
    assert!(auth
        .accepted
        .as_deref()
        .unwrap_or_default()
        .contains("OPERATIONS"));
    // A MongoDB ams-stack makes always has a password.
    let (config, _) = with_stack(|t| t);
    assert!(config.mongodb.auth);
    assert!(checks::check(&prod(), &config)
        .iter()
        .all(|f| f.control != "AMS.3"));
}

#[test]
fn a_mongodb_without_auth_is_refused_unless_adopted() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/prod.toml");
    let text = std::fs::read_to_string(&path)
        .expect("prod stack")
        .replace("[mongodb]\n", "[mongodb]\nauth = false\n");
    let error = crate::config::parse("prod", &path, &text).expect_err("refused");
    assert!(error.to_string().contains("adopted"), "{error}");
    assert!(
        error.to_string().contains("mongodb.auth") || error.to_string().contains("auth"),
        "{error}"
    );
}

#[test]
fn recordings_go_to_a_bucket_of_the_stack_that_the_nodes_may_touch_only_under_its_prefix() {
    let (_, program) = with_stack(|t| format!("{t}\n[recording]\ns3 = true\nexpire_days = 90\n"));
    let bucket = args(&program, "recordings");
    assert_eq!(bucket["keeps_data"], json!(true));
    assert_eq!(bucket["expire_days"], json!(90));
    assert!(bucket.get("elb_log_prefix").is_none_or(Json::is_null));
    let statements = args(&program, "instance-role")["statements"].clone();
    let s3: Vec<&Json> = statements
        .as_array()
        .expect("statements")
        .iter()
        .filter(|s| s["actions"].to_string().contains("s3:"))
        .collect();
    assert_eq!(s3.len(), 2, "two statements: {s3:?}");
    assert_eq!(
        s3[0]["actions"],
        json!([
            "s3:PutObject",
            "s3:GetObject",
            "s3:DeleteObject",
            "s3:AbortMultipartUpload"
        ])
    );
    let resource = ams_engine::resolve_with(&s3[0]["resource"], &|r, o| {
        (r == "recordings" && o == "arn").then(|| json!("arn:aws:s3:::prod-recordings-1"))
    });
    assert_eq!(
        resource,
        json!("arn:aws:s3:::prod-recordings-1/recordings/*")
    );
    // The listing, of that bucket only (no object in it is not a recording).
    assert_eq!(s3[1]["actions"], json!(["s3:ListBucket"]));
    let listed = ams_engine::resolve_with(&s3[1]["resource"], &|r, o| {
        (r == "recordings" && o == "arn").then(|| json!("arn:aws:s3:::prod-recordings-1"))
    });
    assert_eq!(listed, json!("arn:aws:s3:::prod-recordings-1"));
    // The nodes record through their signing proxy, to that bucket, in the class asked for.
    let user_data = script_of(&program, "origin-launch-template");
    assert!(
        user_data.contains("S3_BUCKET=\"prod-recordings-1\""),
        "bucket"
    );
    assert!(user_data.contains("S3_STORAGE_CLASS=\"STANDARD\""), "class");
    assert!(!user_data.contains("{S3_PROXY}"), "proxy pasted");
    assert!(program.outputs().contains_key("recordings_bucket"));
    // Without `[recording]`, none of it.
    assert!(prod().get("recordings").is_none());
    assert!(!args(&prod(), "instance-role")["statements"]
        .to_string()
        .contains("s3:"));
}

/// A launch template's boot script as text: the recordings bucket named, other outputs as
/// "(known after apply)".
fn script_of(program: &Program, template: &str) -> String {
    let resolved = ams_engine::resolve_with(&args(program, template)["user_data"], &|r, o| {
        (r == "recordings" && o == "name").then(|| json!("prod-recordings-1"))
    });
    resolved
        .as_str()
        .or_else(|| resolved["preview"].as_str())
        .expect("a script")
        .to_string()
}

#[test]
fn node_settings_go_into_both_templates_a_line_each_and_the_licence_stays_in_ssm() {
    let sha = "ab".repeat(32);
    let (_, program) = with_stack(|t| {
        format!(
            "{t}\n[server]\nproperties = {{ \"server.cpu_limit\" = 80 }}\nplugins = [{{ url = \"https://example.com/p/x-plugin.jar\", sha256 = \"{sha}\" }}]\n\n[app.WebRTCAppEE]\nsettings = {{ mp4MuxingEnabled = true, hlsListSize = \"5\" }}\n"
        )
    });
    let (_, licensed) =
        with_stack(|t| format!("{t}\n[license]\nkey_parameter = \"/ams/licence\"\n"));
    for role in ["origin", "edge"] {
        let template = format!("{role}-launch-template");
        let user_data = script_of(&program, &template);
        assert!(user_data.contains("\nserver.cpu_limit=80\n"), "{role}");
        assert!(
            user_data.contains(&format!(
                "\n{sha} x-plugin.jar https://example.com/p/x-plugin.jar\n"
            )),
            "{role}"
        );
        assert!(
            user_data.contains("\nWebRTCAppEE mp4MuxingEnabled true\n"),
            "{role}"
        );
        assert!(
            user_data.contains("\nWebRTCAppEE hlsListSize \"5\"\n"),
            "{role}"
        );
        // Shipped without the script's comments.
        assert!(
            !user_data.contains("# The stack file's settings for every node"),
            "{role}"
        );
        assert!(user_data.contains("LICENSE_PARAMETER=\"\"\n"), "{role}");
        assert!(
            script_of(&licensed, &template).contains("LICENSE_PARAMETER=\"/ams/licence\"\n"),
            "{role}"
        );
    }
    let statements = args(&licensed, "instance-role")["statements"].to_string();
    assert!(
        statements.contains("arn:aws:ssm:ap-south-1:*:parameter/ams/licence"),
        "{statements}"
    );
    assert!(!args(&program, "instance-role")["statements"]
        .to_string()
        .contains("parameter/ams/licence"));
}

#[test]
fn a_value_filled_into_a_script_is_never_taken_for_a_placeholder() {
    let filled = fill(
        "A={A} B={B}",
        &[("{A}", "x{B}y".into()), ("{B}", "b".into())],
    );
    assert_eq!(
        ams_engine::resolve_with(&serde_json::to_value(&filled).expect("json"), &|_, _| None),
        json!("A=x{B}y B=b")
    );
}
