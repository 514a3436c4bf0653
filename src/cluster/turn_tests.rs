use std::path::Path;

use serde_json::{json, Value as Json};

use super::super::checks::{check, Severity};
use super::super::{declare as declare_cluster, tier, Found, SECRET_OUTPUT_PREFIX};
use super::*;
use crate::config::StackConfig;
use ams_engine::Program;

/// The prod stack with `extra` appended, and its program.
fn stack(extra: &str) -> (StackConfig, Program) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/prod.toml");
    let text = std::fs::read_to_string(&path).expect("prod stack");
    let config = crate::config::parse("prod", &path, &format!("{text}\n{extra}")).expect("valid");
    let found = Found {
        hosted_zone_id: "Z123".into(),
        mongodb_ami: "ami-ubuntu".into(),
        origin_ami: "ami-ams".into(),
        edge_ami: "ami-ams".into(),
        data_snapshot: None,
        images: Vec::new(),
    };
    let program = declare_cluster(&config, &found).expect("declared");
    (config, program)
}

fn args(program: &Program, name: &str) -> Json {
    program
        .get(name)
        .unwrap_or_else(|| panic!("{name} declared"))
        .args
        .clone()
}

fn turn_resources(program: &Program) -> Vec<String> {
    program
        .resources()
        .iter()
        .map(|r| r.name.clone())
        .filter(|n| n.starts_with("turn"))
        .collect()
}

#[test]
fn without_turn_nothing_of_it_is_declared() {
    let (config, program) = stack("");
    assert!(config.turn.is_none());
    assert!(turn_resources(&program).is_empty());
    assert!(!program.outputs().contains_key("turn_url"));
    let (_, program) = stack("[turn]\nenabled = false\nsize = 2\n");
    assert!(turn_resources(&program).is_empty());
}

#[test]
fn turn_is_a_group_on_its_own_addresses_template_role_and_record() {
    let (_, program) = stack("[turn]\nenabled = true\nsize = 2\n");
    let mut names = turn_resources(&program);
    names.sort();
    assert_eq!(
        names,
        [
            "turn-address-1",
            "turn-address-2",
            "turn-dns-record",
            "turn-group",
            "turn-launch-template",
            "turn-profile",
            "turn-role",
            "turn-secret",
            "turn-sg",
        ]
    );
    for name in &names {
        let expected = if name == "turn-sg" {
            "security"
        } else {
            "turn"
        };
        assert_eq!(tier(name), expected, "{name}");
    }
    let group = args(&program, "turn-group");
    assert_eq!(
        (&group["min_size"], &group["max_size"]),
        (&json!(2), &json!(2))
    );
    assert_eq!(group["target_group_arns"], json!([]));
    assert_eq!(group["subnet_ids"].as_array().map(Vec::len), Some(2));
    let template = args(&program, "turn-launch-template");
    assert_eq!(template["instance_type"], "t3.small");
    assert_eq!(template["image_id"], "ami-ubuntu");
    assert_eq!(template["public_ip"], true);
    assert_eq!(template["http_tokens"], "required");
    assert_eq!(template["encrypted"], true);
    assert_eq!(
        template["security_group_ids"],
        json!([{"$ref": {"resource": "turn-sg", "output": "id"}}])
    );
    assert_eq!(
        template["instance_profile_arn"],
        json!({"$ref": {"resource": "turn-profile", "output": "arn"}})
    );
    let user_data = template["user_data"].to_string();
    assert!(user_data.contains("realm") && user_data.contains("turn.stream.example.com"));
    // The addresses are found by their tags, not named: a new size changes no user data.
    let text: String = template["user_data"]["$concat"]
        .as_array()
        .expect("a template")
        .iter()
        .map(|piece| piece.as_str().unwrap_or("<reference>"))
        .collect();
    assert!(text.contains("\nSTACK=\"prod\"\n"), "{text}");
    assert!(text.contains("\nADDRESSES=\"turn-address-\"\n"), "{text}");
    assert!(!user_data.contains("turn-address-1"), "{user_data}");
    let (_, three) = stack("[turn]\nenabled = true\nsize = 3\n");
    assert_eq!(
        args(&three, "turn-launch-template")["user_data"],
        template["user_data"]
    );
    for placeholder in [
        "{COMMON}",
        "{ALLOCATIONS}",
        "{PARAMETER}",
        "{REALM}",
        "{TURN_PORT}",
    ] {
        assert!(!user_data.contains(placeholder), "{placeholder} left");
    }
    let secret = args(&program, "turn-secret");
    assert_eq!(secret["name"], "/ams-stack/prod/turn-secret");
    let record = args(&program, "turn-dns-record");
    assert_eq!(record["name"], "turn.stream.example.com");
    assert_eq!(record["type"], "A");
    assert_eq!(
        record["value"],
        json!({"values": [
            {"$ref": {"resource": "turn-address-1", "output": "public_ip"}},
            {"$ref": {"resource": "turn-address-2", "output": "public_ip"}}]})
    );
    let outputs = program.outputs();
    assert_eq!(
        outputs
            .get("turn_url")
            .map(|o| serde_json::to_value(o).expect("json")),
        Some(json!("turn:turn.stream.example.com:3478"))
    );
    let secret_output = serde_json::to_value(outputs.get("turn_secret").expect("turn_secret"))
        .expect("json")
        .to_string();
    assert!(
        secret_output.contains(SECRET_OUTPUT_PREFIX) && secret_output.contains("turn-secret"),
        "{secret_output}"
    );
}

#[test]
fn the_relay_opens_3478_and_its_range_to_the_world_and_ssh_only_to_the_admins() {
    let (_, program) = stack("[turn]\nenabled = true\n");
    let ingress = args(&program, "turn-sg")["ingress"].clone();
    let rules: Vec<(String, i64, i64, String)> = ingress
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| {
            (
                r["protocol"].as_str().unwrap_or_default().to_string(),
                r["from_port"].as_i64().unwrap_or_default(),
                r["to_port"].as_i64().unwrap_or_default(),
                r["cidr"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let world = "0.0.0.0/0".to_string();
    assert_eq!(
        rules,
        [
            ("tcp".into(), 3478, 3478, world.clone()),
            ("udp".into(), 3478, 3478, world.clone()),
            ("udp".into(), 49152, 65535, world),
            ("tcp".into(), 22, 22, "203.0.113.0/24".into()),
        ]
    );
    // Without SSH, no port 22 and no key.
    let (_, program) = stack("[security]\nssh = false\n[turn]\nenabled = true\nkey_name = \"k\"\n");
    assert!(!args(&program, "turn-sg")["ingress"]
        .to_string()
        .contains("\"from_port\":22"));
    assert!(args(&program, "turn-launch-template")["key_name"].is_null());
    let (_, program) = stack("[turn]\nenabled = true\nkey_name = \"k\"\n");
    assert_eq!(args(&program, "turn-launch-template")["key_name"], "k");
}

#[test]
fn the_relays_role_reads_only_its_secret_and_takes_only_the_stacks_addresses() {
    let (_, program) = stack("[turn]\nenabled = true\nsize = 2\n");
    let role = args(&program, "turn-role");
    let statements = role["statements"].as_array().expect("statements").clone();
    let by_action = |action: &str| -> Vec<Json> {
        statements
            .iter()
            .filter(|s| {
                s["actions"]
                    .as_array()
                    .is_some_and(|a| a.contains(&json!(action)))
            })
            .cloned()
            .collect()
    };
    let ssm = by_action("ssm:GetParameter");
    assert_eq!(ssm.len(), 1);
    assert_eq!(
        ssm[0]["resource"],
        json!({"$ref": {"resource": "turn-secret", "output": "arn"}})
    );
    assert_eq!(ssm[0]["actions"], json!(["ssm:GetParameter"]));
    let associate = by_action("ec2:AssociateAddress");
    assert_eq!(associate.len(), 3, "{associate:?}");
    assert_eq!(
        associate[0]["resource"],
        "arn:aws:ec2:ap-south-1:*:instance/*"
    );
    assert_eq!(
        associate[0]["condition"],
        json!({"StringEquals": {"aws:ResourceTag/ams-stack:stack": "prod"}})
    );
    for (i, slot) in [(1, "turn-address-1"), (2, "turn-address-2")] {
        assert_eq!(
            associate[i]["resource"],
            json!({"$concat": ["arn:aws:ec2:ap-south-1:*:elastic-ip/",
                               {"$ref": {"resource": slot, "output": "id"}}]})
        );
    }
    assert_eq!(by_action("ec2:DescribeAddresses")[0]["resource"], "*");
    let health = by_action("autoscaling:SetInstanceHealth");
    assert_eq!(health.len(), 1);
    assert_eq!(
        health[0]["condition"],
        json!({"StringEquals": {"autoscaling:ResourceTag/ams-stack:stack": "prod"}})
    );
    // Nothing else: no wildcard action, no other service.
    let actions: Vec<String> = statements
        .iter()
        .flat_map(|s| s["actions"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    assert!(
        actions.iter().all(|a| [
            "ssm:GetParameter",
            "ec2:DescribeAddresses",
            "ec2:AssociateAddress",
            "autoscaling:SetInstanceHealth"
        ]
        .contains(&a.as_str())),
        "{actions:?}"
    );
    assert!(role["managed_policy_arns"].is_null());
    // The nodes may read the secret too (to make AMS's credential), that one parameter.
    let nodes = args(&program, "instance-role")["statements"].clone();
    let reads: Vec<&serde_json::Value> = nodes
        .as_array()
        .expect("statements")
        .iter()
        .filter(|s| s["resource"].to_string().contains("\"turn-secret\""))
        .collect();
    assert_eq!(reads.len(), 1, "{nodes}");
    assert_eq!(reads[0]["actions"], json!(["ssm:GetParameter"]));
    // And are told which parameter, and the server AMS is to use.
    for template in ["origin-launch-template", "edge-launch-template"] {
        let user_data = args(&program, template)["user_data"].to_string();
        assert!(
            user_data.contains("TURN_URI=\\\"\",\"turn:turn.stream.example.com:3478\""),
            "{template}: the TURN URI"
        );
        assert!(
            user_data.contains("TURN_PARAMETER=\\\"\",{\"$ref\":{\"resource\":\"turn-secret\""),
            "{template}: the secret's parameter"
        );
    }
}

#[test]
fn turns_open_ports_are_no_finding_but_anything_else_open_still_is() {
    let (config, program) = stack("[turn]\nenabled = true\n");
    let findings = check(&program, &config);
    let on_sg: Vec<_> = findings
        .iter()
        .filter(|f| f.resource == SECURITY_GROUP)
        .collect();
    assert!(on_sg.is_empty(), "{on_sg:?}");
    let template: Vec<_> = findings
        .iter()
        .filter(|f| f.resource == LAUNCH_TEMPLATE)
        .collect();
    assert_eq!(template.len(), 1, "{template:?}");
    assert_eq!(template[0].control, "EC2.25");
    assert!(template[0]
        .accepted
        .as_deref()
        .is_some_and(|a| a.contains("TURN")));
    assert!(!findings.iter().any(|f| f.blocks()), "{findings:?}");

    // The same group with one more port open to the world: that one is a finding.
    let mut open = ams_engine::view::<ams_aws::ec2::SecurityGroup>(
        "aws:ec2:SecurityGroup",
        &args(&program, SECURITY_GROUP),
    )
    .expect("a security group");
    open.ingress.push(tcp(3479, "one more"));
    open.ingress.push(udp(3478, 3479, "a wider range"));
    let mut changed = Program::new();
    changed.add(SECURITY_GROUP, open).expect("declared");
    let findings = check(&changed, &config);
    let messages: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "tcp 3479-3479 is open to 0.0.0.0/0",
            "udp 3478-3479 is open to 0.0.0.0/0"
        ]
    );
    assert!(findings.iter().all(|f| f.severity == Severity::Medium));
    // Elsewhere, 3478 open to the world is a finding as any port is.
    let mut other = ams_engine::view::<ams_aws::ec2::SecurityGroup>(
        "aws:ec2:SecurityGroup",
        &args(&program, SECURITY_GROUP),
    )
    .expect("a security group");
    other.ingress.truncate(1);
    let mut changed = Program::new();
    changed.add("nodes-sg", other).expect("declared");
    assert_eq!(check(&changed, &config).len(), 1);
}

#[test]
fn the_estimate_counts_the_relays_and_their_addresses() {
    let priced = |extra: &str| {
        let (config, program) = stack(extra);
        let resources: Vec<crate::cost::Priced<'_>> = program
            .resources()
            .iter()
            .map(|r| crate::cost::Priced {
                name: &r.name,
                id: None,
                type_name: &r.type_name,
                args: &r.args,
            })
            .collect();
        crate::cost::estimate(&resources, &config.region)
    };
    let without = priced("");
    let with = priced("[turn]\nenabled = true\nsize = 2\n");
    assert!(with.unpriced.is_empty(), "{:?}", with.unpriced);
    // ap-south-1: two t3.small (0.0224/h), their 8 GiB gp3 roots (0.0912/GB-month) and two
    // public addresses (0.005/h), 730 h a month.
    let expected = 2.0 * (0.0224 * 730.0 + 8.0 * 0.0912) + 2.0 * 0.005 * 730.0;
    for (with, without) in [
        (with.monthly_min, without.monthly_min),
        (with.monthly_max, without.monthly_max),
    ] {
        assert!(
            ((with - without) - expected).abs() < 0.01,
            "{with} - {without} != {expected}"
        );
    }
}
