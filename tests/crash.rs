//! SIGKILL at many points of `up` and of `destroy`: the next run converges, with nothing
//! orphaned and nothing duplicated.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use crate::support::census::{census, nothing, resource_count, whole_cluster};
use crate::support::{FaultProxy, Moto, Project};

/// Runs `args` and SIGKILLs it after it has printed `events` JSON event lines; the pid killed.
pub(crate) fn kill_after(project: &Project, args: &[&str], events: usize) -> Option<u32> {
    let mut child = project
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut seen = 0;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if line.contains("\"kind\":\"event\"") {
            seen += 1;
            if seen >= events {
                let _ = child.kill();
                break;
            }
        }
    }
    // A run that ended on its own before the signal landed was not killed.
    let status = child.wait().expect("wait");
    (status.signal() == Some(9)).then(|| child.id())
}

/// Runs `args` after a run was killed: it takes the killed run's lock over by itself, says so,
/// and releases its own lock at the end.
fn run_after_kill(project: &Project, args: &[&str], killed: Option<u32>) -> crate::support::Run {
    let run = project.run(args).ok();
    if let Some(pid) = killed {
        assert!(
            run.stderr
                .contains(&format!("taking over a lock left by pid {pid} on ")),
            "{}",
            run.stderr
        );
    }
    assert!(!project.path("state/local.json.lock").exists());
    run
}

/// Kills `up` after each count of events in `points`, runs it again, checks that the whole
/// cluster stands (nothing duplicated), destroys it and checks that nothing is left (nothing
/// orphaned); each part runs on its own emulator, so the parts run side by side. Returns how
/// many of the runs were killed before they finished.
async fn kill_up_at(points: impl IntoIterator<Item = usize>) -> usize {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    // Latency on every call spreads the kill points over the whole run.
    let proxy = FaultProxy::start(&moto.endpoint, &["--delay-ms", "8", "--jitter-ms", "4"]);
    let project = Project::new(Some(&proxy.endpoint));
    let mut killed_runs = 0;
    for events in points {
        let killed = kill_after(&project, &["up", "local", "--yes", "--json"], events);
        let up = run_after_kill(&project, &["up", "local", "--yes"], killed);
        assert_eq!(
            census(&sdk).await,
            whole_cluster(),
            "after a kill at event {events} and a new up: {}",
            up.stderr
        );
        killed_runs += usize::from(killed.is_some());
        project.run(&["destroy", "local", "--yes"]).ok();
        assert_eq!(
            census(&sdk).await,
            nothing(),
            "destroy after a kill at event {events}"
        );
    }
    killed_runs
}

// Up killed after 1, 6, 11, ... 106 events (each create is a save, a start, a done and a save),
// in three parts.

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_early_in_up_converges_without_duplicates_or_orphans() {
    let points: Vec<usize> = (1..=31).step_by(5).collect();
    assert_eq!(kill_up_at(points.clone()).await, points.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_midway_through_up_converges_without_duplicates_or_orphans() {
    let points: Vec<usize> = (36..=71).step_by(5).collect();
    assert_eq!(kill_up_at(points.clone()).await, points.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_late_in_up_converges_without_duplicates_or_orphans() {
    // The last points may come after the run has finished: most must still be kills.
    let killed = kill_up_at((76..=106).step_by(5)).await;
    assert!(
        killed >= 5,
        "only {killed} of 7 runs were killed before they finished"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_anywhere_in_destroy_converges_without_orphans() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let proxy = FaultProxy::start(&moto.endpoint, &["--delay-ms", "8", "--jitter-ms", "4"]);
    let project = Project::new(Some(&proxy.endpoint));
    for events in [1, 4, 9, 15, 22, 30] {
        project.run(&["up", "local", "--yes"]).ok();
        let killed = kill_after(&project, &["destroy", "local", "--yes", "--json"], events);
        run_after_kill(&project, &["destroy", "local", "--yes"], killed);
        assert_eq!(
            census(&sdk).await,
            nothing(),
            "destroy after a kill of destroy at event {events}"
        );
    }
}

/// The same, through the strict cloud: a killed run leaves creates half-visible, deletes
/// lingering and a lock behind; the next run waits them out and takes the lock over. Kills `up`
/// after each count of events in `points` and `destroy` after a third of it.
async fn kill_through_the_strict_cloud_at(points: &[usize]) {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let cloud = FaultProxy::strict(&moto.endpoint, &["--delay-ms", "8", "--jitter-ms", "4"]);
    let project = Project::new(Some(&cloud.endpoint));
    for &events in points {
        let killed = kill_after(&project, &["up", "local", "--yes", "--json"], events);
        let up = run_after_kill(&project, &["up", "local", "--yes"], killed);
        assert_eq!(
            census(&sdk).await,
            whole_cluster(),
            "after a kill at event {events} and a new up: {}",
            up.stderr
        );
        let destroy_killed = kill_after(
            &project,
            &["destroy", "local", "--yes", "--json"],
            events / 3 + 1,
        );
        run_after_kill(&project, &["destroy", "local", "--yes"], destroy_killed);
        assert_eq!(
            census(&sdk).await,
            nothing(),
            "destroy after a kill of destroy at event {}",
            events / 3 + 1
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_early_through_the_strict_cloud_converges_without_a_manual_step() {
    kill_through_the_strict_cloud_at(&[3, 30]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_late_through_the_strict_cloud_converges_without_a_manual_step() {
    kill_through_the_strict_cloud_at(&[70, 110]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_ups_on_one_local_stack_run_one_at_a_time() {
    let moto = Moto::start();
    let project = Project::new(Some(&moto.endpoint));
    let spawn = || {
        project
            .command(&["up", "local", "--yes"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn(), spawn());
    let runs: Vec<crate::support::Run> = [a, b]
        .into_iter()
        .map(|c| crate::support::Run::from(c.wait_with_output().expect("wait")))
        .collect();
    assert_eq!(
        runs.iter().filter(|r| r.code == Some(0)).count(),
        1,
        "exactly one runs"
    );
    let refused = runs.iter().find(|r| r.code != Some(0)).expect("the other");
    assert!(
        refused.stderr.contains("stack `local` is locked by"),
        "{}",
        refused.stderr
    );
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.path("state/local.json")).expect("state"),
    )
    .expect("intact");
    assert_eq!(
        state["resources"].as_array().map(Vec::len),
        Some(resource_count())
    );
    assert_eq!(census(&moto.sdk().await).await, whole_cluster());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_up_finishes_what_is_in_flight_saves_and_says_so() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint, &["--delay-ms", "20"]);
    let project = Project::new(Some(&proxy.endpoint));
    let mut child = project
        .command(&["up", "local", "--yes", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    let mut events = 0;
    for line in lines.by_ref() {
        events += usize::from(line.contains("\"event\":\"done\""));
        if events == 3 {
            break;
        }
    }
    let terminated = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(terminated.success());
    let rest: Vec<String> = lines.collect();
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Interrupted: finishing the steps in flight"),
        "{stderr}"
    );
    assert!(
        stderr.contains("interrupted:") && stderr.contains("steps not started"),
        "{stderr}"
    );
    assert!(
        rest.iter().any(|l| l.contains("\"kind\":\"summary\"")),
        "a summary of what was done"
    );
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.path("state/local.json")).expect("state"),
    )
    .expect("json");
    assert!(
        state["pending"].as_array().is_some_and(Vec::is_empty),
        "in-flight steps finished and were recorded"
    );
    assert!(
        !project.path("state/local.json.lock").exists(),
        "the lock is released"
    );
    project.run(&["up", "local", "--yes"]).ok();
    assert_eq!(census(&moto.sdk().await).await, whole_cluster());
}
