//! Saved plans (`preview --out`, `up --plan`), the stack's history and rollback, on the
//! emulator: a plan is applied exactly or refused before any mutating call, naming what moved.

use crate::support::{Moto, Project};

/// Operations that change something.
fn mutating(calls: &[String]) -> Vec<&String> {
    let reads = ["Describe", "List", "Get", "Head"];
    calls
        .iter()
        .filter(|c| {
            let op = c.split(':').nth(1).unwrap_or_default();
            !reads.iter().any(|r| op.starts_with(r))
        })
        .collect()
}

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
