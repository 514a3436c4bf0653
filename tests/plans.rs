//! Saved plans (`preview --out`, `up --plan`), the stack's history and rollback, on the
//! emulator: a plan is applied exactly or refused before any mutating call, naming what moved.

use crate::support::{mutating, Moto, Project};

/// Runs `args` (an `up --plan` that must be refused); asserts it made no mutating call and
/// said `why`; returns its stderr.
#[track_caller]
fn refused(project: &Project, args: &[&str], why: &str) -> String {
    let (run, calls) = project.run_logged(args);
    let run = run.fails();
    assert!(
        run.stderr.contains(why),
        "expected `{why}`:\n{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    assert!(
        mutating(&calls).is_empty(),
        "mutating calls by a refused plan: {:?}",
        mutating(&calls)
    );
    run.stderr
}

/// The values of every SSM parameter of the emulator, decrypted.
async fn parameter_values(sdk: &aws_config::SdkConfig) -> Vec<String> {
    let ssm = aws_sdk_ssm::Client::new(sdk);
    let described = ssm.describe_parameters().send().await.expect("parameters");
    let mut values = Vec::new();
    for parameter in described.parameters() {
        let name = parameter.name().expect("name");
        let got = ssm
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .expect("parameter");
        values.push(
            got.parameter()
                .and_then(|p| p.value())
                .expect("value")
                .to_string(),
        );
    }
    values
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_is_applied_as_is_and_refused_before_any_change_when_anything_moved() {
    let moto = Moto::start();
    let project = Project::new(Some(&moto.endpoint));
    let sdk = moto.sdk().await;
    let plan = project.path("plan.json");
    let plan = plan.to_str().expect("path");

    // Not a plan, or a truncated one: an error naming the file, before anything.
    project.write("bad.json", "{\"format\": \"ams-stack-plan\", \"format_ver");
    let bad = project.path("bad.json");
    let bad = bad.to_str().expect("path");
    refused(
        &project,
        &["up", "local", "--plan", bad, "--yes"],
        "is not an ams-stack plan",
    );

    project.run(&["up", "local", "--yes"]).ok();

    // A change, saved as a plan: no secret in it.
    project.edit("stacks/local.toml", "max_size = 4", "max_size = 6");
    project.run(&["preview", "local", "--out", plan]).ok();
    let text = std::fs::read_to_string(plan).expect("plan file");
    let saved: serde_json::Value = serde_json::from_str(&text).expect("plan is JSON");
    assert_eq!(saved["format"], "ams-stack-plan");
    assert_eq!(saved["stack"], "local");
    assert_eq!(saved["plan"]["changes"]["update"], 1, "{text}");
    assert!(saved["computed_from"]["state_serial"].as_u64().is_some());
    assert_eq!(
        saved["computed_from"]["stack_file_sha256"]
            .as_str()
            .map(str::len),
        Some(64)
    );
    assert!(saved["images"]["image.origin"]["id"].is_string(), "{text}");
    assert!(!saved["cost"].as_array().expect("cost").is_empty());
    let secrets = parameter_values(&sdk).await;
    assert!(
        secrets.len() >= 2,
        "the passwords are parameters: {secrets:?}"
    );
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret is in the plan file"
        );
    }

    // Another stack's plan, and a stack file changed since: refused.
    project.write(
        "stacks/other.toml",
        &std::fs::read_to_string(project.path("stacks/local.toml")).expect("stack"),
    );
    refused(
        &project,
        &["up", "other", "--plan", plan, "--yes"],
        "is a plan for stack `local`, not `other`",
    );
    project.edit("stacks/local.toml", "cpu_target = 60", "cpu_target = 70");
    refused(
        &project,
        &["up", "local", "--plan", plan, "--yes"],
        "the stack file",
    );
    project.edit("stacks/local.toml", "cpu_target = 70", "cpu_target = 60");

    // As is: exactly the plan.
    let up = project
        .run(&["up", "local", "--plan", plan, "--yes", "--json"])
        .ok();
    assert!(up.stdout.contains("\"updated\":1"), "{}", up.stdout);

    // Made again, then another `up` writes the state: refused.
    project.edit("stacks/local.toml", "max_size = 6", "max_size = 5");
    project.run(&["preview", "local", "--out", plan]).ok();
    project.run(&["up", "local", "--yes"]).ok();
    refused(
        &project,
        &["up", "local", "--plan", plan, "--yes"],
        "the state changed since the plan was made",
    );

    // The cloud drifts after the plan was read from it: `--refresh` sees it and refuses.
    project
        .run(&["preview", "local", "--refresh", "--out", plan])
        .ok();
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let groups = ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:ams-stack:name")
                .values("nodes-sg")
                .build(),
        )
        .send()
        .await
        .expect("sg");
    let nodes_sg = groups.security_groups()[0].group_id().expect("id");
    ec2.authorize_security_group_ingress()
        .group_id(nodes_sg)
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
    refused(
        &project,
        &["up", "local", "--plan", plan, "--refresh", "--yes"],
        "the cloud no longer matches what the plan read: nodes-sg (changed)",
    );

    // A plan that resolves the images again (`--update-images`), then the newest AMS image is
    // withdrawn: the image it would use now is not the plan's.
    project
        .run(&["preview", "local", "--update-images", "--out", plan])
        .ok();
    ec2.deregister_image()
        .image_id("ami-0antmedia2120ee01")
        .send()
        .await
        .expect("deregistered");
    refused(
        &project,
        &["up", "local", "--plan", plan, "--yes"],
        "a pinned image changed (image.edge: ami-0antmedia2120ee01 in the plan, ami-0antmedia2113ee01 now",
    );
}

/// The stack's history as `history STACK --json` lists it: (command, result) of each entry.
fn listed(project: &Project, stack: &str) -> Vec<(String, String)> {
    let list = project.run(&["history", stack, "--json"]).ok().json();
    list.as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["command"].as_str().expect("command").to_string(),
                e["result"].as_str().expect("result").to_string(),
            )
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(c, r)| (c.to_string(), r.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn history_lists_every_run_with_its_result_failed_and_interrupted_ones_too() {
    let moto = Moto::start();
    let project = Project::new(Some(&moto.endpoint));
    project.run(&["up", "local", "--yes"]).ok();
    project.edit("stacks/local.toml", "max_size = 4", "max_size = 6");
    project.run(&["up", "local", "--yes"]).ok();
    project
        .run(&["up", "local", "--plan", "no-such-plan.json", "--yes"])
        .fails();
    project.run(&["refresh", "local"]).ok();
    // Killed mid-destroy: its entry stays started, and reads as interrupted once it is gone.
    let killed = crate::crash::kill_after(&project, &["destroy", "local", "--yes", "--json"], 3);
    assert!(
        killed.is_some(),
        "the destroy was killed before it finished"
    );
    project.run(&["destroy", "local", "--yes"]).ok();
    assert_eq!(
        listed(&project, "local"),
        pairs(&[
            ("up", "succeeded"),
            ("up", "succeeded"),
            ("up --plan", "failed"),
            ("refresh", "succeeded"),
            ("destroy", "interrupted"),
            ("destroy", "succeeded"),
        ])
    );
    let list = project.run(&["history", "local", "--json"]).ok().json();
    let first = &list[0];
    assert!(
        first["counts"]["created"].as_u64().unwrap_or(0) > 20,
        "{first}"
    );
    assert!(
        first["identity"]
            .as_str()
            .unwrap_or("")
            .starts_with("arn:aws"),
        "{first}"
    );
    assert!(first["run"]["host"].is_string() && first["duration_ms"].is_u64());
    assert!(first["images"]["image.origin"]["id"].is_string(), "{first}");
    assert_eq!(list[1]["counts"]["updated"], 1, "{}", list[1]);
    assert!(list[2]["error"]
        .as_str()
        .unwrap_or("")
        .contains("no-such-plan.json"));
    assert!(project.path("state/local.history/000006.json").exists());

    let shown = project.run(&["history", "local", "show", "2"]).ok();
    assert!(
        shown.stdout.contains("update origin-group"),
        "{}",
        shown.stdout
    );
    let diff = project.run(&["history", "local", "diff", "1", "2"]).ok();
    assert!(
        diff.stdout.contains("-max_size = 4") && diff.stdout.contains("+max_size = 6"),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout.contains("Image pins: the same"),
        "{}",
        diff.stdout
    );

    // Bounded: `history_keep` keeps the newest.
    project.edit(
        "stacks/local.toml",
        "[dns]",
        "[state]\nhistory_keep = 2\n\n[dns]",
    );
    project.run(&["refresh", "local"]).ok();
    let kept: Vec<u64> = project
        .run(&["history", "local", "--json"])
        .ok()
        .json()
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["number"].as_u64().expect("number"))
        .collect();
    assert_eq!(kept, vec![6, 7]);
}

#[tokio::test(flavor = "multi_thread")]
async fn history_on_s3_state_is_kept_in_the_bucket_and_an_unwritable_one_stops_the_run_first() {
    let moto = Moto::start();
    let project = crate::team::team_project(&moto);
    let s3 = crate::team::s3(&moto).await;
    project.run(&["up", "team", "--yes"]).ok();
    project
        .run(&["up", "team", "--plan", "no-such-plan.json", "--yes"])
        .fails();
    project.run(&["destroy", "team", "--yes"]).ok();
    assert_eq!(
        listed(&project, "team"),
        pairs(&[
            ("up", "succeeded"),
            ("up --plan", "failed"),
            ("destroy", "succeeded")
        ])
    );
    let entry = crate::team::object(&s3, "ams-stack/team.history/000001.json")
        .await
        .expect("the entry is an object beside the state");
    assert!(entry.contains("\"result\": \"succeeded\""), "{entry}");

    // A bucket that refuses the entry: the run stops before anything.
    project.edit(
        "stacks/team.toml",
        "bucket = \"team-state\"",
        "bucket = \"no-such-bucket\"",
    );
    let (run, calls) = project.run_logged(&["up", "team", "--yes"]);
    let run = run.fails();
    assert!(
        run.stderr
            .contains("cannot write the history entry of this `up`"),
        "{}",
        run.stderr
    );
    assert!(mutating(&calls).is_empty(), "{:?}", mutating(&calls));
}

/// The image of the origin group's launch template, as its latest version says.
async fn origin_image(ec2: &aws_sdk_ec2::Client) -> String {
    let templates = ec2
        .describe_launch_templates()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:ams-stack:name")
                .values("origin-launch-template")
                .build(),
        )
        .send()
        .await
        .expect("templates");
    let id = templates.launch_templates()[0]
        .launch_template_id()
        .expect("id")
        .to_string();
    let versions = ec2
        .describe_launch_template_versions()
        .launch_template_id(id)
        .versions("$Latest")
        .send()
        .await
        .expect("versions");
    versions.launch_template_versions()[0]
        .launch_template_data()
        .and_then(|d| d.image_id())
        .expect("image")
        .to_string()
}

/// The launch template versions the origin group's instances run, and the template's latest.
async fn origin_versions(sdk: &aws_config::SdkConfig) -> (Vec<String>, String) {
    let (ec2, asg) = (
        aws_sdk_ec2::Client::new(sdk),
        aws_sdk_autoscaling::Client::new(sdk),
    );
    let templates = ec2
        .describe_launch_templates()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:ams-stack:name")
                .values("origin-launch-template")
                .build(),
        )
        .send()
        .await
        .expect("templates");
    let latest = templates.launch_templates()[0]
        .latest_version_number()
        .expect("latest")
        .to_string();
    let groups = asg
        .describe_auto_scaling_groups()
        .send()
        .await
        .expect("groups");
    let group = groups
        .auto_scaling_groups()
        .iter()
        .find(|g| {
            g.auto_scaling_group_name()
                .is_some_and(|n| n.contains("origin-group"))
        })
        .expect("origin group");
    let running = group
        .instances()
        .iter()
        .map(|i| {
            i.launch_template()
                .and_then(|t| t.version())
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    (running, latest)
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_takes_the_nodes_back_to_an_earlier_image_through_the_roll_and_keeps_mongodb_protected(
) {
    let moto = Moto::start();
    let project = Project::new(Some(&moto.endpoint));
    let ec2 = aws_sdk_ec2::Client::new(&moto.sdk().await);
    let stack = project.path("stacks/local.toml");
    let read = || std::fs::read_to_string(&stack).expect("stack file");
    project.run(&["up", "local", "--yes"]).ok();
    let first = read();
    assert_eq!(origin_image(&ec2).await, "ami-0antmedia2120ee01");

    // A release on an older AMS image.
    project.edit(
        "stacks/local.toml",
        "[origin]\n",
        "[origin]\nami = \"ami-0antmedia2113ee01\"\n",
    );
    project.run(&["up", "local", "--yes"]).ok();
    assert_eq!(origin_image(&ec2).await, "ami-0antmedia2113ee01");
    let second = read();

    let none = project.run(&["rollback", "local", "99", "--yes"]).fails();
    assert!(
        none.stderr
            .contains("no history entry 99 before this rollback"),
        "{}",
        none.stderr
    );
    // That refusal is itself an entry (3): the rollback below is entry 5.

    // Unconfirmed: the plan is shown, nothing changes, the stack file stays.
    let (run, calls) = project.run_logged(&["rollback", "local", "1"]);
    let run = run.fails();
    assert!(
        run.stderr.contains("origin-group: rolls its instances"),
        "{}",
        run.stderr
    );
    assert!(mutating(&calls).is_empty(), "{:?}", mutating(&calls));
    assert_eq!(read(), second);

    let back = project.run(&["rollback", "local", "1", "--yes"]).ok();
    assert!(
        back.stderr.contains("origin-group: rolls its instances"),
        "{}",
        back.stderr
    );
    assert_eq!(origin_image(&ec2).await, "ami-0antmedia2120ee01");
    let (running, latest) = origin_versions(&moto.sdk().await).await;
    assert!(
        !running.is_empty() && running.iter().all(|v| *v == latest),
        "the origin nodes were rolled onto version {latest}: {running:?}"
    );
    assert_eq!(read(), first, "the stack file is entry 1's again");
    let list = project.run(&["history", "local", "--json"]).ok().json();
    let last = &list[list.as_array().expect("entries").len() - 1];
    assert_eq!(last["command"], "rollback 1");
    assert_eq!(last["result"], "succeeded");
    assert!(
        last["counts"]["updated"].as_u64().unwrap_or(0) >= 1,
        "{last}"
    );
    let shown = project
        .run(&["history", "local", "show", "5", "--json"])
        .ok()
        .json();
    assert_eq!(shown["stack_file"].as_str(), Some(first.as_str()));

    // A rollback that would replace MongoDB needs its word.
    project.edit(
        "stacks/local.toml",
        "[mongodb]\n",
        "[mongodb]\nami = \"ami-0ubuntu2404noble01\"\n",
    );
    project
        .run(&["up", "local", "--yes", "--allow-replace", "mongodb"])
        .ok();
    let third = read();
    let (run, calls) = project.run_logged(&["rollback", "local", "5", "--yes"]);
    let run = run.fails();
    assert!(
        run.stderr.contains("--allow-replace mongodb"),
        "{}",
        run.stderr
    );
    assert!(mutating(&calls).is_empty(), "{:?}", mutating(&calls));
    assert_eq!(read(), third);
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_appending_history_to_s3_at_once_lose_no_entry() {
    use ams_engine::state::history::append;
    use ams_engine::state::HistoryStore;
    let moto = Moto::start();
    let client = crate::team::s3(&moto).await;
    let store = std::sync::Arc::new(ams_aws::S3History::new(
        client,
        "team-state",
        "ams-stack",
        "team",
    ));
    let runs: Vec<_> = (0..8)
        .map(|run| {
            let store = store.clone();
            tokio::spawn(async move {
                let text = move |n: u64| format!("{{\"number\": {n}, \"run\": {run}}}");
                append(store.as_ref(), &text).await.expect("appended")
            })
        })
        .collect();
    let mut numbers = Vec::new();
    for run in runs {
        numbers.push(run.await.expect("run"));
    }
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (1..=8).collect::<Vec<_>>(),
        "each number taken once"
    );
    let mut seen = std::collections::BTreeSet::new();
    for n in store.numbers().await.expect("numbers") {
        let text = store.read(n).await.expect("read").expect("entry");
        assert!(text.starts_with(&format!("{{\"number\": {n},")), "{text}");
        seen.insert(text.split("\"run\": ").nth(1).map(String::from));
    }
    assert_eq!(seen.len(), 8, "every run's entry is kept");
}
