//! Secure by default, checked against the emulator: the password, the role, IMDSv2, encryption,
//! and the security checks that stop `up`.

use crate::support::{user_data_text as decode, Moto, Project};

#[tokio::test(flavor = "multi_thread")]
async fn the_password_never_shows_and_the_role_reads_only_it() {
    let moto = Moto::start();
    let project = Project::new(Some(&moto.endpoint));
    let sdk = moto.sdk().await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);

    let mut printed = Vec::new();
    let mut keep = |run: crate::support::Run| {
        printed.push(run.stdout.clone());
        printed.push(run.stderr.clone());
        run
    };
    keep(project.run(&["preview", "local"]).ok());
    keep(project.run(&["up", "local", "--yes"]).ok());
    let outputs = keep(project.run(&["outputs", "local"]).ok());
    assert!(
        outputs
            .stdout
            .lines()
            .any(|line| line.starts_with("mongodb_password ")
                && line.trim_end().ends_with("= [secret]")),
        "{}",
        outputs.stdout
    );

    // The parameter: a SecureString of at least 24 characters.
    let name = "/ams-stack/local/mongodb-password";
    let parameter = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .expect("parameter");
    let parameter = parameter.parameter().expect("parameter");
    assert_eq!(parameter.r#type().map(|t| t.as_str()), Some("SecureString"));
    let password = parameter.value().expect("value").to_string();
    assert!(password.len() >= 24);
    // The panel's first admin's password: the same rules.
    let panel = ssm
        .get_parameter()
        .name("/ams-stack/local/panel-password")
        .with_decryption(true)
        .send()
        .await
        .expect("panel parameter");
    let panel = panel.parameter().expect("panel parameter");
    assert_eq!(panel.r#type().map(|t| t.as_str()), Some("SecureString"));
    let panel_password = panel.value().expect("value").to_string();
    let panel_arn = panel.arn().expect("arn").to_string();
    assert!(panel_password.len() >= 24);
    assert!(
        outputs
            .stdout
            .lines()
            .any(|line| line.starts_with("panel_password ")
                && line.trim_end().ends_with("= [secret]")),
        "{}",
        outputs.stdout
    );
    assert!(!outputs.stdout.contains(&panel_password));
    let revealed = project.run(&["outputs", "local", "--show-secrets"]).ok();
    assert!(
        revealed.stdout.contains(&password) && revealed.stdout.contains(&panel_password),
        "--show-secrets prints them for who asks"
    );

    // Nowhere else: state, output, user data.
    let state = std::fs::read_to_string(project.path("state/local.json")).expect("state");
    assert!(!state.contains(&password), "the password is in the state");
    assert!(
        !state.contains(&panel_password),
        "the panel password is in the state"
    );
    let instances = ec2.describe_instances().send().await.expect("instances");
    let mut user_data = Vec::new();
    for instance in instances.reservations().iter().flat_map(|r| r.instances()) {
        let id = instance.instance_id().expect("id");
        let attribute = ec2
            .describe_instance_attribute()
            .instance_id(id)
            .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
            .send()
            .await
            .expect("user data");
        if let Some(data) = attribute.user_data().and_then(|u| u.value()) {
            user_data.push(decode(data));
        }
        if instance.tags().iter().any(|t| t.value() == Some("mongodb")) {
            let tokens = instance
                .metadata_options()
                .and_then(|m| m.http_tokens())
                .map(|t| t.as_str());
            assert_eq!(
                tokens,
                Some("required"),
                "the MongoDB instance requires IMDSv2"
            );
        }
    }
    let templates = ec2
        .describe_launch_templates()
        .send()
        .await
        .expect("templates");
    for template in templates.launch_templates() {
        let versions = ec2
            .describe_launch_template_versions()
            .launch_template_id(template.launch_template_id().expect("id"))
            .send()
            .await
            .expect("versions");
        for version in versions.launch_template_versions() {
            let data = version.launch_template_data().expect("data");
            user_data.push(decode(data.user_data().expect("user data")));
            assert_eq!(
                data.metadata_options()
                    .and_then(|m| m.http_tokens())
                    .map(|t| t.as_str()),
                Some("required")
            );
            assert_eq!(
                data.metadata_options()
                    .and_then(|m| m.http_put_response_hop_limit()),
                Some(1)
            );
            let ebs = data.block_device_mappings()[0].ebs().expect("ebs");
            assert_eq!(ebs.encrypted(), Some(true));
            assert_eq!(ebs.volume_type().map(|v| v.as_str()), Some("gp3"));
            assert!(
                data.iam_instance_profile().and_then(|p| p.arn()).is_some(),
                "nodes run with the profile"
            );
        }
    }
    assert!(
        user_data.len() >= 3,
        "MongoDB and both templates: {}",
        user_data.len()
    );
    for data in &user_data {
        assert!(!data.contains(&password), "the password is in user data");
        assert!(
            !data.contains(&panel_password),
            "the panel password is in user data"
        );
        assert!(data.contains(name), "user data names the parameter");
    }

    // The role may read that one parameter and nothing else.
    let roles = iam
        .list_roles()
        .path_prefix("/ams-stack/")
        .send()
        .await
        .expect("roles");
    assert_eq!(
        roles.roles().len(),
        2,
        "the instances' and the daily snapshots'"
    );
    let backup = roles
        .roles()
        .iter()
        .find(|r| r.role_name().contains("backup-role"))
        .expect("the snapshot policy's role");
    let trust = percent_encoding::percent_decode_str(
        backup.assume_role_policy_document().unwrap_or_default(),
    )
    .decode_utf8()
    .expect("utf-8")
    .into_owned();
    assert!(
        trust.contains("dlm.amazonaws.com") && !trust.contains("ec2.amazonaws.com"),
        "{trust}"
    );
    let role = roles
        .roles()
        .iter()
        .find(|r| r.role_name().contains("instance-role"))
        .expect("the instances' role")
        .role_name();
    let policies = iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .expect("policies");
    assert_eq!(policies.policy_names().len(), 1);
    let document = iam
        .get_role_policy()
        .role_name(role)
        .policy_name(&policies.policy_names()[0])
        .send()
        .await
        .expect("policy");
    let text = percent_encoding::percent_decode_str(document.policy_document())
        .decode_utf8()
        .expect("utf-8")
        .into_owned();
    let policy: serde_json::Value = serde_json::from_str(&text).expect("json");
    let arn = parameter.arn().expect("arn");
    for statement in policy["Statement"].as_array().expect("statements") {
        let actions: Vec<&str> = statement["Action"]
            .as_array()
            .expect("actions")
            .iter()
            .filter_map(|a| a.as_str())
            .collect();
        match actions.as_slice() {
            ["ssm:GetParameter"] => assert!(
                statement["Resource"] == arn || statement["Resource"] == panel_arn,
                "{statement}"
            ),
            ["autoscaling:SetInstanceHealth", "autoscaling:SetInstanceProtection", "autoscaling:RecordLifecycleActionHeartbeat", "autoscaling:CompleteLifecycleAction"] =>
            {
                assert_eq!(
                    statement["Resource"],
                    "arn:aws:autoscaling:ap-south-1:*:autoScalingGroup:*:autoScalingGroupName/*"
                );
                assert_eq!(
                    statement["Condition"]["StringEquals"]
                        ["autoscaling:ResourceTag/ams-stack:stack"],
                    "local"
                );
            }
            ["autoscaling:DescribeAutoScalingInstances"] => {
                assert_eq!(statement["Resource"], "*");
                assert!(statement.get("Condition").is_none());
            }
            other => panic!("unexpected permission {other:?}"),
        }
    }

    // Destroy takes the parameter, the role and the profile with it.
    keep(project.run(&["destroy", "local", "--yes"]).ok());
    assert!(
        ssm.get_parameter().name(name).send().await.is_err(),
        "the parameter is gone"
    );
    assert!(iam
        .list_roles()
        .path_prefix("/ams-stack/")
        .send()
        .await
        .expect("roles")
        .roles()
        .is_empty());
    assert!(iam
        .list_instance_profiles()
        .path_prefix("/ams-stack/")
        .send()
        .await
        .expect("profiles")
        .instance_profiles()
        .is_empty());
    for text in &printed {
        assert!(
            !text.contains(&password),
            "the password was printed by a command that was not asked to"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ssh_open_to_the_world_stops_up_until_the_control_is_accepted() {
    let moto = Moto::start();
    let project = Project::new(Some(&moto.endpoint));
    project.edit(
        "stacks/local.toml",
        "admin_cidr = \"192.0.2.0/24\"",
        "admin_cidr = \"0.0.0.0/0\"",
    );
    let preview = project.run(&["preview", "local"]).ok();
    assert!(
        preview
            .stderr
            .contains("BLOCKS UP EC2.13 [high] nodes-sg: SSH (22) is open to 0.0.0.0/0"),
        "{}",
        preview.stderr
    );
    assert!(
        preview.stderr.contains("local.toml:8:14"),
        "the line that causes it: {}",
        preview.stderr
    );
    let (run, calls) = project.run_logged(&["up", "local", "--yes"]);
    let run = run.fails();
    assert!(
        run.stderr
            .contains("refusing to apply: 2 high-severity security finding(s): EC2.13"),
        "{}",
        run.stderr
    );
    let mutating: Vec<&String> = calls
        .iter()
        .filter(|c| {
            !["Describe", "List", "Get"]
                .iter()
                .any(|r| c.split(':').nth(1).unwrap_or_default().starts_with(r))
        })
        .collect();
    assert!(mutating.is_empty(), "{mutating:?}");

    project.edit(
        "stacks/local.toml",
        "[dns]\n",
        "[security]\naccept = [\"EC2.13\"]\n\n[dns]\n",
    );
    let up = project.run(&["up", "local", "--yes"]).ok();
    assert!(
        up.stderr.contains("accepted EC2.13 [high]"),
        "{}",
        up.stderr
    );
    assert!(
        up.stderr.contains("local.toml:11:11: `security.accept`)"),
        "{}",
        up.stderr
    );
}

/// A key of the account's own in KMS, made with the emulator's boto3 (the tests have no KMS
/// client); its ARN.
fn customer_key(moto: &Moto) -> String {
    let made = std::process::Command::new(crate::support::repo().join(".venv/bin/python"))
        .args([
            "-c",
            "import boto3, sys; kms = boto3.client('kms', endpoint_url=sys.argv[1], region_name='ap-south-1', aws_access_key_id='test', aws_secret_access_key='test'); print(kms.create_key(Description='ours')['KeyMetadata']['Arn'])",
            &moto.endpoint,
        ])
        .output()
        .expect("python runs");
    assert!(made.status.success(), "{made:?}");
    String::from_utf8_lossy(&made.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_managed_ebs_key_is_named_with_what_its_policy_must_grant() {
    let moto = Moto::start();
    let project = Project::new(Some(&moto.endpoint));
    let ec2 = aws_sdk_ec2::Client::new(&moto.sdk().await);

    // AWS's managed key: nothing to say.
    let preview = project.run(&["preview", "local"]).ok();
    assert!(
        !preview.stderr.contains("customer-managed key"),
        "{}",
        preview.stderr
    );

    // The account encrypts new volumes with a key of its own: its policy must let Auto Scaling
    // (and DLM) use it, or launches fail long after `up` began.
    let key = customer_key(&moto);
    ec2.modify_ebs_default_kms_key_id()
        .kms_key_id(&key)
        .send()
        .await
        .expect("the default key changed");
    let preview = project.run(&["preview", "local"]).ok();
    for expected in [
        format!("with the customer-managed key {key}"),
        "arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling".to_string(),
        "\"kms:CreateGrant\"".to_string(),
        "\"kms:GrantIsForAWSResource\": true".to_string(),
        "backup-role".to_string(),
    ] {
        assert!(preview.stderr.contains(&expected), "{expected}: {}", preview.stderr);
    }
}
