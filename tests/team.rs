//! Team state on S3 (moto's S3 honours If-None-Match and If-Match): one lock, one writer,
//! no lost update.

use std::process::Stdio;
use std::time::{Duration, Instant};

use ams_engine::state::LockInfo;

use crate::cli_errors::dead_pid;
use crate::support::census::resource_count;
use crate::support::{Moto, Project, Run};

const BUCKET: &str = "team-state";

/// A project whose `team` stack keeps its state in the moto bucket.
pub(crate) fn team_project(moto: &Moto) -> Project {
    let project = Project::new(Some(&moto.endpoint));
    let local = std::fs::read_to_string(project.path("stacks/local.toml")).expect("local stack");
    project.write(
        "stacks/team.toml",
        &format!("{local}\n[state]\nbackend = \"s3\"\nbucket = \"{BUCKET}\"\n"),
    );
    project
}

pub(crate) async fn s3(moto: &Moto) -> aws_sdk_s3::Client {
    let sdk = moto.sdk().await;
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    client
        .create_bucket()
        .bucket(BUCKET)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::ApSouth1)
                .build(),
        )
        .send()
        .await
        .expect("bucket");
    client
}

pub(crate) async fn object(client: &aws_sdk_s3::Client, key: &str) -> Option<String> {
    let out = client
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .ok()?;
    let bytes = out.body.collect().await.ok()?.into_bytes();
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// How many VPCs the stack `team` has in the emulator.
async fn team_vpcs(sdk: &aws_config::SdkConfig) -> usize {
    aws_sdk_ec2::Client::new(sdk)
        .describe_vpcs()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:ams-stack:stack")
                .values("team")
                .build(),
        )
        .send()
        .await
        .expect("vpcs")
        .vpcs()
        .len()
}

/// The stack `team`'s state object in the bucket, which must be whole JSON.
async fn stored_state(client: &aws_sdk_s3::Client) -> serde_json::Value {
    serde_json::from_str(
        &object(client, "ams-stack/team.json")
            .await
            .expect("state object"),
    )
    .expect("intact JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn two_ups_at_once_make_one_cluster_and_one_intact_state() {
    let moto = Moto::start();
    let client = s3(&moto).await;
    let (first, second) = (team_project(&moto), team_project(&moto));
    let spawn = |project: &Project| {
        project
            .command(&["up", "team", "--yes"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn(&first), spawn(&second));
    let runs: Vec<Run> = [a, b]
        .into_iter()
        .map(|c| Run::from(c.wait_with_output().expect("wait")))
        .collect();
    let succeeded = runs.iter().filter(|r| r.code == Some(0)).count();
    assert_eq!(
        succeeded,
        1,
        "exactly one runs: {:?}",
        runs.iter().map(|r| &r.stderr).collect::<Vec<_>>()
    );
    let refused = runs.iter().find(|r| r.code != Some(0)).expect("the other");
    assert!(
        refused.stderr.contains("stack `team` is locked by"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains(" on ") && refused.stderr.contains("up since"),
        "{}",
        refused.stderr
    );

    let sdk = moto.sdk().await;
    assert_eq!(team_vpcs(&sdk).await, 1, "one cluster");
    let state = stored_state(&client).await;
    assert_eq!(
        state["resources"].as_array().map(Vec::len),
        Some(resource_count())
    );
    assert!(
        state["serial"].as_u64().unwrap_or(0) > 2 * resource_count() as u64,
        "every change was recorded: {}",
        state["serial"]
    );
    let journal = client
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("ams-stack/team.journal/")
        .send()
        .await
        .expect("list");
    assert!(
        journal.contents().is_empty(),
        "the journal is folded into the state at the run's end: {:?}",
        journal.contents()
    );
    assert!(
        object(&client, "ams-stack/team.json.lock").await.is_none(),
        "the lock is released"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lock_left_by_someone_else_is_named_and_nothing_else_is_called() {
    let moto = Moto::start();
    let client = s3(&moto).await;
    let project = team_project(&moto);
    let lock = r#"{"id":"f00dfeedf00dfeed","who":"alice","host":"laptop-7","pid":4242,"operation":"destroy","created":"2026-11-26T09:00:00Z"}"#;
    client
        .put_object()
        .bucket(BUCKET)
        .key("ams-stack/team.json.lock")
        .body(lock.as_bytes().to_vec().into())
        .send()
        .await
        .expect("put lock");
    let (run, calls) = project.run_logged(&["up", "team", "--yes"]);
    let run = run.fails();
    assert!(
        run.stderr.contains("locked by alice on laptop-7 (pid 4242, destroy since 2026-11-26T09:00:00Z, lock id f00dfeedf00dfeed)"),
        "{}",
        run.stderr
    );
    assert!(
        calls.iter().all(|c| c.starts_with("S3:")),
        "only the lock was touched: {calls:?}"
    );
    assert_eq!(
        object(&client, "ams-stack/team.json.lock").await.as_deref(),
        Some(lock),
        "the lock is theirs, untouched"
    );

    project.run(&["force-unlock", "team", "wrong-id"]).fails();
    project
        .run(&["force-unlock", "team", "f00dfeedf00dfeed"])
        .ok();
    assert!(object(&client, "ams-stack/team.json.lock").await.is_none());

    project.edit(
        "stacks/team.toml",
        &format!("bucket = \"{BUCKET}\""),
        "bucket = \"no-such-bucket\"",
    );
    let run = project.run(&["preview", "team"]).fails();
    assert!(
        run.stderr
            .contains("s3://no-such-bucket: the state bucket is missing or not accessible"),
        "{}",
        run.stderr
    );
}

/// Writes `lock` as the team stack's lock object, as another run would have.
async fn put_lock(client: &aws_sdk_s3::Client, lock: &LockInfo) -> String {
    let text = serde_json::to_string(lock).expect("json");
    client
        .put_object()
        .bucket(BUCKET)
        .key("ams-stack/team.json.lock")
        .body(text.as_bytes().to_vec().into())
        .send()
        .await
        .expect("put lock");
    text
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread")]
async fn a_lock_left_by_a_run_of_this_host_that_is_gone_is_taken_over() {
    let moto = Moto::start();
    let client = s3(&moto).await;
    let project = team_project(&moto);
    let left = LockInfo {
        pid: dead_pid(),
        ..LockInfo::new("up")
    };
    put_lock(&client, &left).await;
    let run = project.run(&["destroy", "team", "--yes"]).ok();
    assert!(
        run.stderr.contains(&format!(
            "stack `team`: taking over a lock left by pid {} on {} at {} (the process is gone)",
            left.pid, left.host, left.created
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nothing to destroy"), "{}", run.stderr);
    assert!(
        object(&client, "ams-stack/team.json.lock").await.is_none(),
        "the lock taken over is released at the end"
    );
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread")]
async fn a_lock_whose_run_lives_or_runs_elsewhere_is_kept() {
    let moto = Moto::start();
    let client = s3(&moto).await;
    let project = team_project(&moto);
    let mut holder = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("spawn");
    let here = LockInfo::new("up");
    let kept = [
        LockInfo {
            pid: holder.id(),
            ..here.clone()
        },
        LockInfo {
            pid: dead_pid(),
            host: "laptop-7".into(),
            ..here.clone()
        },
    ];
    let mut runs = Vec::new();
    for lock in &kept {
        let text = put_lock(&client, lock).await;
        runs.push(project.run(&["destroy", "team", "--yes"]));
        assert_eq!(
            object(&client, "ams-stack/team.json.lock").await,
            Some(text),
            "the lock of pid {} on {} is kept",
            lock.pid,
            lock.host
        );
    }
    let _ = holder.kill();
    let _ = holder.wait();
    for run in runs {
        let run = run.fails();
        assert!(
            run.stderr.contains("stack `team` is locked by") && !run.stderr.contains("taking over"),
            "{}",
            run.stderr
        );
    }
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runs_taking_over_one_stale_lock_at_once_leave_one_holder() {
    use ams_engine::state::{StateBackend, StateError};
    use std::sync::{Arc, Mutex};

    let moto = Moto::start();
    let client = s3(&moto).await;
    for _ in 0..10 {
        put_lock(
            &client,
            &LockInfo {
                pid: dead_pid(),
                ..LockInfo::new("up")
            },
        )
        .await;
        let said = Arc::new(Mutex::new(0));
        let mut runs = Vec::new();
        for _ in 0..2 {
            let sink = said.clone();
            let backend = ams_aws::S3Backend::connect(client.clone(), BUCKET, "ams-stack", "team")
                .await
                .expect("connect")
                .with_notice(Arc::new(move |_: &str| *sink.lock().expect("said") += 1));
            runs.push(tokio::spawn(async move {
                let lock = backend.lock("up").await;
                (backend, lock)
            }));
        }
        let mut won = Vec::new();
        let mut refused = Vec::new();
        for run in runs {
            match run.await.expect("join") {
                (backend, Ok(lock)) => won.push((backend, lock)),
                (_, Err(StateError::Locked { holder, .. })) => refused.push(*holder),
                (_, Err(e)) => panic!("{e}"),
            }
        }
        assert_eq!(won.len(), 1, "exactly one run holds the lock");
        let (backend, lock) = won.remove(0);
        assert_eq!(
            refused,
            std::slice::from_ref(&lock),
            "the other names the winner"
        );
        assert_eq!(*said.lock().expect("said"), 1, "one takeover is said");
        let held: LockInfo = serde_json::from_str(
            &object(&client, "ams-stack/team.json.lock")
                .await
                .expect("lock"),
        )
        .expect("lock json");
        assert_eq!(held, lock);
        backend.unlock(&lock).await.expect("unlock");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_state_replaced_behind_a_runs_back_is_never_overwritten() {
    let moto = Moto::start();
    let client = s3(&moto).await;
    let project = team_project(&moto);
    let child = project
        .command(&["up", "team", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // As soon as the run has written its first state, someone else writes theirs.
    let started = Instant::now();
    let theirs = "{\"someone\": \"else\"}\n";
    loop {
        if object(&client, "ams-stack/team.json").await.is_some() {
            client
                .put_object()
                .bucket(BUCKET)
                .key("ams-stack/team.json")
                .body(theirs.as_bytes().to_vec().into())
                .send()
                .await
                .expect("put");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the run never wrote its state"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let run = Run::from(child.wait_with_output().expect("wait")).fails();
    assert!(
        run.stderr
            .contains("was changed by another run since this one read it; it was not overwritten"),
        "{}",
        run.stderr
    );
    assert_eq!(
        object(&client, "ams-stack/team.json").await.as_deref(),
        Some(theirs)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_moves_from_the_local_file_to_s3_by_export_and_import() {
    let moto = Moto::start();
    let client = s3(&moto).await;
    let project = Project::new(Some(&moto.endpoint));
    project.run(&["up", "local", "--yes"]).ok();
    let exported = project.run(&["state", "export", "local"]).ok();
    project.write("moved.json", &exported.stdout);
    project.edit(
        "stacks/local.toml",
        "[dns]\n",
        &format!("[state]\nbackend = \"s3\"\nbucket = \"{BUCKET}\"\n\n[dns]\n"),
    );
    let imported = project
        .run(&[
            "state",
            "import",
            "local",
            &project.path("moved.json").display().to_string(),
        ])
        .ok();
    assert!(
        imported.stderr.contains(&format!(
            "Imported {} resources into stack `local` at s3://team-state/ams-stack/local.json",
            resource_count()
        )),
        "{}",
        imported.stderr
    );
    assert!(object(&client, "ams-stack/local.json").await.is_some());
    let preview = project.run(&["preview", "local", "--json"]).ok().json();
    assert_eq!(
        preview["changes"]["same"],
        resource_count(),
        "the moved state matches the cloud: {preview}"
    );

    project.write("bad.json", "{\"version\": 1, \"stack\": \"other\"}");
    let refused = project
        .run(&[
            "state",
            "import",
            "local",
            &project.path("bad.json").display().to_string(),
        ])
        .fails();
    assert!(
        refused.stderr.contains("corrupt") || refused.stderr.contains("belongs to stack"),
        "{}",
        refused.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_mid_up_leaves_its_journal_on_s3_and_the_next_run_converges() {
    let moto = Moto::start();
    let client = s3(&moto).await;
    let project = team_project(&moto);
    let sdk = moto.sdk().await;
    for events in [9, 41] {
        let killed = crate::crash::kill_after(&project, &["up", "team", "--yes", "--json"], events);
        assert!(killed.is_some(), "killed after {events} events");
    }
    // The next run takes the killed run's lock over, reads what it recorded (snapshot and
    // journal) and finishes: nothing made twice, nothing left out.
    project.run(&["up", "team", "--yes"]).ok();
    assert_eq!(team_vpcs(&sdk).await, 1, "one VPC: none made twice");
    let state = stored_state(&client).await;
    assert_eq!(
        state["resources"].as_array().map(Vec::len),
        Some(resource_count())
    );
    assert!(state["pending"].as_array().is_some_and(Vec::is_empty));
    let journal = client
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("ams-stack/team.journal/")
        .send()
        .await
        .expect("list");
    assert!(journal.contents().is_empty(), "{:?}", journal.contents());
}
