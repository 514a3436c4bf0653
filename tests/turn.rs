//! `[turn] enabled = true` on the emulator: the relay's group, template, addresses, ports, name
//! and secret; the secret nowhere but SSM; `destroy` leaves nothing of it. (moto runs no user
//! data: the boot script's taking of an address is tested in tests/boot/turn_test.sh.)

use aws_sdk_ec2::types::Filter;

use crate::support::{user_data_text as decode, Moto, Project};

#[tokio::test(flavor = "multi_thread")]
async fn a_turn_relay_is_made_on_its_addresses_its_secret_only_in_ssm_and_destroy_takes_it_all() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let autoscaling = aws_sdk_autoscaling::Client::new(&sdk);
    let route53 = aws_sdk_route53::Client::new(&sdk);
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let project = Project::new(Some(&moto.endpoint));
    project.append_local("[turn]\nenabled = true\nsize = 2\n");

    let preview = project.run(&["preview", "local", "--json"]).ok();
    for name in [
        "turn-group",
        "turn-launch-template",
        "turn-address-2",
        "turn-secret",
    ] {
        assert!(preview.stdout.contains(name), "the preview shows {name}");
    }
    project.run(&["up", "local", "--yes"]).ok();

    // The group: two relays, on the TURN template, in both public subnets.
    let groups = autoscaling
        .describe_auto_scaling_groups()
        .send()
        .await
        .expect("groups");
    let tagged = |tags: &[aws_sdk_autoscaling::types::TagDescription], name: &str| {
        tags.iter()
            .any(|t| t.key() == Some("ams-stack:name") && t.value() == Some(name))
    };
    let group = groups
        .auto_scaling_groups()
        .iter()
        .find(|g| tagged(g.tags(), "turn-group"))
        .expect("the TURN group");
    assert_eq!((group.min_size(), group.max_size()), (Some(2), Some(2)));
    assert_eq!(
        group.vpc_zone_identifier().map(|s| s.split(',').count()),
        Some(2)
    );
    assert!(group.target_group_arns().is_empty());
    let template_id = group
        .launch_template()
        .and_then(|t| t.launch_template_id())
        .expect("a launch template")
        .to_string();

    // Its template: Ubuntu's image, t3.small, the TURN group only, the TURN profile, IMDSv2.
    let versions = ec2
        .describe_launch_template_versions()
        .launch_template_id(&template_id)
        .send()
        .await
        .expect("versions");
    let data = versions.launch_template_versions()[0]
        .launch_template_data()
        .expect("data")
        .clone();
    assert_eq!(data.instance_type().map(|t| t.as_str()), Some("t3.small"));
    assert_eq!(
        data.metadata_options()
            .and_then(|m| m.http_tokens())
            .map(|t| t.as_str()),
        Some("required")
    );
    let profile = data
        .iam_instance_profile()
        .and_then(|p| p.arn())
        .expect("a profile");
    assert!(profile.contains("turn-profile"), "{profile}");
    let user_data = decode(data.user_data().expect("user data"));
    assert!(user_data.contains("BOOT_NAME=ams-turn"));
    assert!(user_data.contains("REALM=\"turn.stream.ams-local.test\""));

    // Its security group: 3478 tcp and udp, the relay range, SSH from the admins; nothing else.
    let group_ids: Vec<String> = data
        .network_interfaces()
        .iter()
        .flat_map(|n| n.groups())
        .chain(data.security_group_ids())
        .cloned()
        .collect();
    assert_eq!(group_ids.len(), 1, "{group_ids:?}");
    let groups = ec2
        .describe_security_groups()
        .group_ids(&group_ids[0])
        .send()
        .await
        .expect("security group");
    let mut rules: Vec<(String, i32, i32, String)> = groups.security_groups()[0]
        .ip_permissions()
        .iter()
        .flat_map(|p| {
            p.ip_ranges().iter().map(|r| {
                (
                    p.ip_protocol().unwrap_or_default().to_string(),
                    p.from_port().unwrap_or_default(),
                    p.to_port().unwrap_or_default(),
                    r.cidr_ip().unwrap_or_default().to_string(),
                )
            })
        })
        .collect();
    rules.sort();
    let world = "0.0.0.0/0".to_string();
    assert_eq!(
        rules,
        [
            ("tcp".into(), 22, 22, "192.0.2.0/24".into()),
            ("tcp".into(), 3478, 3478, world.clone()),
            ("udp".into(), 3478, 3478, world.clone()),
            ("udp".into(), 49152, 65535, world),
        ]
    );

    // Two Elastic IPs, tagged as the stack's TURN addresses.
    let addresses = ec2.describe_addresses().send().await.expect("addresses");
    let turn: Vec<_> = addresses
        .addresses()
        .iter()
        .filter(|a| {
            a.tags()
                .iter()
                .any(|t| t.key() == Some("ams-stack:stack") && t.value() == Some("local"))
                && a.tags().iter().any(|t| {
                    t.key() == Some("ams-stack:name")
                        && t.value().is_some_and(|v| v.starts_with("turn-address-"))
                })
        })
        .collect();
    assert_eq!(turn.len(), 2);
    let mut ips: Vec<String> = turn
        .iter()
        .map(|a| a.public_ip().expect("ip").to_string())
        .collect();
    ips.sort();
    // The boot script finds them by those tags.
    assert!(user_data.contains("STACK=\"local\""));
    assert!(user_data.contains("ADDRESSES=\"turn-address-\""));

    // turn.DOMAIN: an A record of both addresses.
    let zones = route53
        .list_hosted_zones_by_name()
        .dns_name("ams-local.test")
        .send()
        .await
        .expect("zones");
    let records = route53
        .list_resource_record_sets()
        .hosted_zone_id(zones.hosted_zones()[0].id())
        .send()
        .await
        .expect("records");
    let record = records
        .resource_record_sets()
        .iter()
        .find(|r| r.name() == "turn.stream.ams-local.test.")
        .expect("turn.DOMAIN");
    assert_eq!(record.r#type().as_str(), "A");
    let mut values: Vec<String> = record
        .resource_records()
        .iter()
        .map(|r| r.value().to_string())
        .collect();
    values.sort();
    assert_eq!(values, ips);

    // The secret: a SecureString in SSM, and nowhere else.
    let parameter = ssm
        .get_parameter()
        .name("/ams-stack/local/turn-secret")
        .with_decryption(true)
        .send()
        .await
        .expect("the TURN secret");
    let parameter = parameter.parameter().expect("parameter");
    assert_eq!(parameter.r#type().map(|t| t.as_str()), Some("SecureString"));
    let secret = parameter.value().expect("value").to_string();
    assert!(secret.len() >= 24);
    let outputs = project.run(&["outputs", "local", "--json"]).ok();
    let json = outputs.json();
    assert_eq!(json["turn_url"], "turn:turn.stream.ams-local.test:3478");
    assert!(json.get("turn_secret").is_some(), "{}", outputs.stdout);
    let state = std::fs::read_to_string(project.path("state/local.json")).expect("state");
    let journal = std::fs::read_to_string(project.path("state/local.journal")).unwrap_or_default();
    let again = project.run(&["preview", "local", "--json"]).ok();
    for (what, text) in [
        ("the state", &state),
        ("the journal", &journal),
        ("preview --json", &preview.stdout),
        ("preview's messages", &preview.stderr),
        ("preview --json after up", &again.stdout),
        ("outputs --json", &outputs.stdout),
        ("the launch template's user data", &user_data),
    ] {
        assert!(!text.contains(&secret), "the TURN secret is in {what}");
    }
    let revealed = project
        .run(&["outputs", "local", "--json", "--show-secrets"])
        .ok();
    assert!(
        revealed.stdout.contains(&secret),
        "--show-secrets gives it to who asks"
    );

    // Destroy: nothing of TURN is left.
    project.run(&["destroy", "local", "--yes"]).ok();
    let groups = autoscaling
        .describe_auto_scaling_groups()
        .send()
        .await
        .expect("groups");
    assert!(!groups
        .auto_scaling_groups()
        .iter()
        .any(|g| tagged(g.tags(), "turn-group")));
    let left = ec2.describe_addresses().send().await.expect("addresses");
    assert!(
        left.addresses()
            .iter()
            .all(|a| !ips.contains(&a.public_ip().unwrap_or_default().to_string())),
        "the addresses are released"
    );
    let templates = ec2
        .describe_launch_templates()
        .launch_template_ids(&template_id)
        .send()
        .await;
    assert!(
        templates.map_or(true, |t| t.launch_templates().is_empty()),
        "the template is deleted"
    );
    assert!(ssm
        .get_parameter()
        .name("/ams-stack/local/turn-secret")
        .send()
        .await
        .is_err());
    let records = route53
        .list_resource_record_sets()
        .hosted_zone_id(zones.hosted_zones()[0].id())
        .send()
        .await
        .expect("records");
    assert!(!records
        .resource_record_sets()
        .iter()
        .any(|r| r.name().starts_with("turn.")));
    let groups = ec2
        .describe_security_groups()
        .filters(
            Filter::builder()
                .name("group-id")
                .values(&group_ids[0])
                .build(),
        )
        .send()
        .await
        .expect("security groups");
    assert!(groups.security_groups().is_empty(), "the group is deleted");
    let state = std::fs::read_to_string(project.path("state/local.json")).unwrap_or_default();
    assert!(!state.contains("turn-"), "the state holds nothing of TURN");
}
