//! The nodes' own settings as code, on the emulator through the strict cloud (new nodes held until
//! their boot says they are ready, which the cloud plays): a changed application setting is a new
//! version of both launch templates, previewed as that setting's line, and rolls both groups
//! launch before terminate, never below their serving count; a plugin whose SHA-256 is not the one
//! the stack file names fails its node's boot, which stops the roll and keeps the old version.

use crate::support::groups::{group_version, instances, serving, ServingWatch};
use crate::support::{FaultProxy, Moto, Project};

/// Every launch template's default version's user data, as text.
async fn templates_text(ec2: &aws_sdk_ec2::Client) -> String {
    let mut all = String::new();
    let templates = ec2
        .describe_launch_templates()
        .send()
        .await
        .expect("templates");
    for template in templates.launch_templates() {
        let versions = ec2
            .describe_launch_template_versions()
            .launch_template_id(template.launch_template_id().unwrap_or_default())
            .versions("$Default")
            .send()
            .await
            .expect("version");
        if let Some(data) = versions.launch_template_versions()[0]
            .launch_template_data()
            .and_then(|d| d.user_data())
        {
            all.push_str(&crate::support::user_data_text(data));
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_app_setting_previews_as_its_line_and_rolls_both_groups_never_below_serving() {
    let moto = Moto::start();
    // Group instances Pending for 3 s, new targets `initial` for 4 s: a roll has to wait.
    let cloud = FaultProxy::strict(
        &moto.endpoint,
        &["--asg-pending-s", "3", "--target-initial-s", "4"],
    );
    let project = Project::new(Some(&cloud.endpoint));
    let sdk = moto.sdk().await;
    let asg = aws_sdk_autoscaling::Client::new(&sdk);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    project.run(&["up", "local", "--yes"]).ok();
    let before: Vec<_> = [
        instances(&asg, "origin").await,
        instances(&asg, "edge").await,
    ]
    .concat();

    project.append_local("[app.WebRTCAppEE]\nsettings = { mp4MuxingEnabled = true }\n");
    let preview = project.run(&["preview", "local", "--json"]).ok().json();
    let mut changed: Vec<(String, String)> = preview["steps"]
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
    changed.sort();
    assert_eq!(
        changed,
        [
            ("edge-group".to_string(), "update".to_string()),
            ("edge-launch-template".to_string(), "update".to_string()),
            ("origin-group".to_string(), "update".to_string()),
            ("origin-launch-template".to_string(), "update".to_string()),
        ],
        "one template update per group, and the roll: {preview}"
    );
    let shown = project.run(&["preview", "local"]).ok();
    for expected in [
        "+ WebRTCAppEE mp4MuxingEnabled true",
        "origin-group: rolls its instances onto the new launch template version",
        "edge-group: rolls its instances onto the new launch template version",
    ] {
        assert!(
            shown.stderr.contains(expected),
            "{expected}: {}",
            shown.stderr
        );
    }
    // The diff of the boot script is the setting's line, not the whole script.
    let script_lines = shown
        .stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("+ ") || l.trim_start().starts_with("- "))
        .count();
    assert!(script_lines <= 4, "{}", shown.stderr);

    // Watch both groups while `up` rolls them.
    let watch = ServingWatch::start(&asg, &elb, &["origin", "edge"]);
    let up = tokio::task::spawn_blocking(move || {
        let run = project.run(&["up", "local", "--yes"]);
        (run, project)
    })
    .await
    .expect("up runs");
    let (least, samples) = watch.stop().await;
    let (up, project) = up;
    let up = up.ok();
    assert!(samples >= 10, "watched through the roll");
    assert!(
        least >= 1,
        "neither group dropped below one serving instance: {}",
        up.stderr
    );
    for tier in ["origin", "edge"] {
        let after = instances(&asg, tier).await;
        let live: Vec<_> = after.iter().filter(|(_, _, s)| s == "InService").collect();
        assert_eq!(live.len(), 1, "{tier}: {after:?}");
        assert!(
            before
                .iter()
                .all(|(id, version, _)| id != &live[0].0 && version != &live[0].1),
            "{tier}: a new instance, of the new version: {after:?} {before:?}"
        );
    }
    assert_eq!(
        project.run(&["preview", "local", "--exit-code"]).code,
        Some(0),
        "and then nothing to change"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_whose_digest_is_not_the_stack_files_stops_the_roll_and_the_old_version_serves() {
    let moto = Moto::start();
    // The cloud serves one plugin file, with this digest; a node's boot checks it.
    let served = "9c56cc51b374c3ba189210d5b6d4bf57790d351c96c47c02190ecf1e430635ab";
    let cloud = FaultProxy::strict(
        &moto.endpoint,
        &["--plugin-digests", &format!("filter-plugin.jar={served}")],
    );
    let project = Project::new(Some(&cloud.endpoint));
    for tier in ["[origin]\n", "[edge]\n"] {
        // An emulator stack's timeout may be seconds: the wait is the test's own clock.
        project.edit(
            "stacks/local.toml",
            tier,
            &format!("{tier}health_timeout = \"10s\"\n"),
        );
    }
    let sdk = moto.sdk().await;
    let asg = aws_sdk_autoscaling::Client::new(&sdk);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    project.run(&["up", "local", "--yes"]).ok();
    let before = instances(&asg, "origin").await;
    let version = group_version(&asg, "origin").await;

    // The stack file names another digest than the file's: the node refuses to install it.
    let named = "0".repeat(64);
    project.append_local(&format!("[server]\nplugins = [{{ url = \"https://plugins.example.com/filter-plugin.jar\", sha256 = \"{named}\" }}]\n"),
    );
    let up = project.run(&["up", "local", "--yes"]).fails();
    for expected in [
        "the roll of",
        "abandoned with Lifecycle Action Result ABANDON",
        "the old instances keep serving",
    ] {
        assert!(up.stderr.contains(expected), "{expected}: {}", up.stderr);
    }
    let after = instances(&asg, "origin").await;
    let live: Vec<_> = after.iter().filter(|(_, _, s)| s == "InService").collect();
    assert_eq!(live.len(), 1, "{after:?}");
    assert_eq!(live[0].0, before[0].0, "the old instance serves: {after:?}");
    assert_eq!(serving(&asg, &elb, "origin").await, 1, "and is healthy");
    assert_eq!(
        group_version(&asg, "origin").await,
        version,
        "the group points back at the old version"
    );

    // With the file's own digest, the roll goes through.
    project.edit("stacks/local.toml", &named, served);
    project.run(&["up", "local", "--yes"]).ok();
    let rolled = instances(&asg, "origin").await;
    let live: Vec<_> = rolled.iter().filter(|(_, _, s)| s == "InService").collect();
    assert_eq!(live.len(), 1, "{rolled:?}");
    assert_ne!(live[0].0, before[0].0, "a new instance: {rolled:?}");
    assert_ne!(
        group_version(&asg, "origin").await,
        version,
        "on the new version"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn recording_turn_settings_and_a_licence_deploy_together_the_licence_checked_first() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let project = Project::new(Some(&moto.endpoint));
    project.append_local(
        "[recording]\ns3 = true\nstorage_class = \"STANDARD_IA\"\n\n[turn]\nenabled = true\n\n\
         [server]\nproperties = { \"server.cpu_limit\" = 80 }\n\n\
         [app.WebRTCAppEE]\nsettings = { mp4MuxingEnabled = true }\n\n\
         [app.Classroom]\nsettings = { hlsMuxingEnabled = false }\n\n\
         [license]\nkey_parameter = \"/ams/licence-key\"\n",
    );
    // No licence in SSM yet: refused before anything, naming the line and what to do.
    let (refused, calls) = project.run_logged(&["up", "local", "--yes"]);
    let refused = refused.fails();
    assert!(
        refused.stderr.contains("stacks/local.toml:")
            && refused.stderr.contains("no SSM parameter /ams/licence-key")
            && refused.stderr.contains("--type SecureString"),
        "{}",
        refused.stderr
    );
    assert!(
        crate::support::mutating(&calls).is_empty(),
        "nothing made: {calls:?}"
    );

    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let licence = "LICENCE-0f1e2d3c-test-only";
    // In clear (a String): refused too, saying how it must be kept.
    ssm.put_parameter()
        .name("/ams/licence-key")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .value(licence)
        .send()
        .await
        .expect("licence put in clear");
    let clear = project.run(&["preview", "local"]).fails();
    assert!(
        clear
            .stderr
            .contains("SSM parameter /ams/licence-key is a String")
            && clear.stderr.contains("kept as a SecureString"),
        "{}",
        clear.stderr
    );
    ssm.delete_parameter()
        .name("/ams/licence-key")
        .send()
        .await
        .expect("deleted");
    ssm.put_parameter()
        .name("/ams/licence-key")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .value(licence)
        .send()
        .await
        .expect("licence put");
    project.run(&["up", "local", "--yes"]).ok();
    let outputs = project.run(&["outputs", "local", "--json"]).ok().json();
    let bucket = outputs["recordings_bucket"].as_str().expect("bucket");
    assert_eq!(outputs["turn_url"], "turn:turn.stream.ams-local.test:3478");
    let turn_secret = ssm
        .get_parameter()
        .name("/ams-stack/local/turn-secret")
        .with_decryption(true)
        .send()
        .await
        .expect("turn secret")
        .parameter()
        .and_then(|p| p.value())
        .expect("value")
        .to_string();

    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let templates = ec2
        .describe_launch_templates()
        .send()
        .await
        .expect("templates");
    let mut seen = 0;
    for template in templates.launch_templates() {
        let name = template.launch_template_name().unwrap_or_default();
        if !(name.contains("origin-launch-template") || name.contains("edge-launch-template")) {
            continue;
        }
        seen += 1;
        let versions = ec2
            .describe_launch_template_versions()
            .launch_template_id(template.launch_template_id().unwrap_or_default())
            .versions("$Default")
            .send()
            .await
            .expect("version");
        let data = versions.launch_template_versions()[0]
            .launch_template_data()
            .and_then(|d| d.user_data())
            .expect("user data");
        let script = crate::support::user_data_text(data);
        for expected in [
            format!("S3_BUCKET=\"{bucket}\""),
            "S3_STORAGE_CLASS=\"STANDARD_IA\"".into(),
            "TURN_URI=\"turn:turn.stream.ams-local.test:3478\"".into(),
            "TURN_PARAMETER=\"/ams-stack/local/turn-secret\"".into(),
            "LICENSE_PARAMETER=\"/ams/licence-key\"".into(),
            "\nserver.cpu_limit=80\n".into(),
            "\nWebRTCAppEE mp4MuxingEnabled true\n".into(),
            "\nClassroom hlsMuxingEnabled false\n".into(),
            "ExecStart=/usr/bin/python3 /usr/local/sbin/ams-s3-proxy".into(),
        ] {
            assert!(script.contains(&expected), "{name}: no {expected:?}");
        }
        assert!(!script.contains(licence), "{name}: the licence key");
        assert!(!script.contains(&turn_secret), "{name}: the TURN secret");
    }
    assert_eq!(seen, 2, "both templates");
    // No IAM user and no access key anywhere: the nodes record through their role.
    let iam = aws_sdk_iam::Client::new(&sdk);
    let users = iam.list_users().send().await.expect("users");
    assert!(users.users().is_empty(), "{:?}", users.users());
    assert!(
        !templates_text(&ec2).await.contains("AKIA"),
        "no access key id in any template"
    );
    let state = std::fs::read_to_string(project.path("state/local.json")).expect("state");
    assert!(!state.contains(licence) && !state.contains(&turn_secret));

    project.run(&["destroy", "local", "--yes"]).ok();
}
