//! Bad input: each gets a clear message, exit code 1, and loses nothing.

use ams_engine::state::LockInfo;

use crate::support::Project;

#[test]
fn invalid_cidr_names_the_file_line_and_key() {
    let project = Project::new(None);
    project.edit(
        "stacks/local.toml",
        "vpc_cidr = \"10.0.0.0/16\"",
        "vpc_cidr = \"10.0.0.300/16\"",
    );
    let run = project.run(&["preview", "local"]).fails();
    assert!(
        run.stderr.contains(
            "local.toml:6:12: `network.vpc_cidr`: `10.0.0.300/16` is not an IPv4 CIDR block"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn unknown_key_and_malformed_toml_are_rejected_before_any_aws_call() {
    let project = Project::new(None);
    project.edit("stacks/local.toml", "[edge]\n", "[edge]\nmax_sise = 3\n");
    let run = project.run(&["up", "local", "--yes"]).fails();
    assert!(
        run.stderr
            .contains("local.toml:24:1: unknown field `max_sise`"),
        "{}",
        run.stderr
    );

    project.write(
        "stacks/broken.toml",
        "region = \"ap-south-1\"\n[network\nvpc_cidr = 1\n",
    );
    let run = project.run(&["preview", "broken"]).fails();
    assert!(run.stderr.contains("broken.toml:2:"), "{}", run.stderr);
}

#[test]
fn a_value_of_the_wrong_type_names_the_section_and_the_key() {
    let project = Project::new(None);
    project.edit(
        "stacks/local.toml",
        "[origin]\ninstance_type = \"c5.xlarge\"",
        "[origin]\ninstance_type = 5",
    );
    let run = project.run(&["preview", "local"]).fails();
    assert!(
        run.stderr.contains(
            "local.toml:18:17: `origin.instance_type`: expected a string, found an integer `5`"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn min_size_above_max_size_is_rejected() {
    let project = Project::new(None);
    project.edit(
        "stacks/local.toml",
        "min_size = 1\nmax_size = 4",
        "min_size = 6\nmax_size = 4",
    );
    let run = project.run(&["preview", "local"]).fails();
    assert!(
        run.stderr
            .contains("`origin.min_size`: min_size (6) is larger than max_size (4)"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_missing_stack_file_lists_the_stacks() {
    let project = Project::new(None);
    let run = project.run(&["preview", "staging"]).fails();
    assert!(
        run.stderr
            .contains("staging.toml not found (stacks here: local, prod)"),
        "{}",
        run.stderr
    );
}

#[test]
fn without_a_stack_or_a_selection_the_stacks_are_listed_and_select_works() {
    let project = Project::new(None);
    let run = project.run(&["outputs"]).fails();
    assert!(
        run.stderr.contains("no stack named and none selected")
            && run.stderr.contains("local, prod"),
        "{}",
        run.stderr
    );
    project.run(&["stack", "select", "local"]).ok();
    let run = project.run(&["outputs"]).fails();
    assert!(
        run.stderr.contains("stack `local` has no outputs yet"),
        "{}",
        run.stderr
    );
    let run = project.run(&["stack", "ls"]).ok();
    assert_eq!(
        run.stdout,
        "  STACK            RESOURCES  LAST UPDATE\n* local                    0  never\n  prod                     0  never\n"
    );
}

#[test]
fn a_corrupt_state_file_is_reported_and_left_untouched() {
    let project = Project::new(None);
    let corrupt = "{\n  \"version\": 1,\n  \"stack\": \"local\",\n  \"serial\": 4,\n  \"resources\": [ {\"name\": \n";
    project.write("state/local.json", corrupt);
    for args in [
        &["preview", "local"][..],
        &["up", "local", "--yes"],
        &["destroy", "local", "--yes"],
    ] {
        let run = project.run(args).fails();
        assert!(
            run.stderr.contains("local.json is corrupt at line 6"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("it was left untouched"),
            "{}",
            run.stderr
        );
        assert_eq!(
            std::fs::read_to_string(project.path("state/local.json")).expect("state"),
            corrupt
        );
    }
    assert!(
        !project.path("state/local.json.lock").exists(),
        "the lock is released after the error"
    );
}

#[test]
fn a_locked_stack_names_the_holder_and_is_not_touched() {
    let project = Project::new(None);
    let lock = r#"{"id":"0123456789abcdef","who":"alice","host":"build-7","pid":4242,"operation":"up","created":"2026-11-26T10:00:00Z"}"#;
    project.write("state/local.json.lock", lock);
    let run = project.run(&["up", "local", "--yes"]).fails();
    assert!(
        run.stderr.contains("stack `local` is locked by alice on build-7 (pid 4242, up since 2026-11-26T10:00:00Z, lock id 0123456789abcdef)"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(project.path("state/local.json.lock")).expect("lock"),
        lock
    );
    let run = project.run(&["force-unlock", "local", "wrong"]).fails();
    assert!(run.stderr.contains("does not match"), "{}", run.stderr);
    project
        .run(&["force-unlock", "local", "0123456789abcdef"])
        .ok();
    assert!(!project.path("state/local.json.lock").exists());
}

/// The pid of a process of this host that has ended and been reaped.
pub(crate) fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    child.wait().expect("wait");
    child.id()
}

/// `state import` of an empty state: a command that takes the lock and touches no cloud.
fn import_empty(project: &Project) -> crate::support::Run {
    project.write(
        "empty.json",
        r#"{"version": 1, "stack": "local", "serial": 0, "resources": []}"#,
    );
    let file = project.path("empty.json").display().to_string();
    project.run(&["state", "import", "local", &file])
}

#[cfg(target_os = "linux")]
#[test]
fn a_lock_left_by_a_run_of_this_host_that_is_gone_is_taken_over_with_a_message() {
    let project = Project::new(None);
    let left = LockInfo {
        pid: dead_pid(),
        ..LockInfo::new("up")
    };
    project.write(
        "state/local.json.lock",
        &serde_json::to_string(&left).expect("json"),
    );
    let run = import_empty(&project).ok();
    assert!(
        run.stderr.contains(&format!(
            "stack `local`: taking over a lock left by pid {} on {} at {} (the process is gone)",
            left.pid, left.host, left.created
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Imported 0 resources"),
        "{}",
        run.stderr
    );
    assert!(!project.path("state/local.json.lock").exists());
}

#[cfg(target_os = "linux")]
#[test]
fn a_lock_whose_run_still_lives_is_not_taken_over() {
    let project = Project::new(None);
    let mut holder = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("spawn");
    let held = serde_json::to_string(&LockInfo {
        pid: holder.id(),
        ..LockInfo::new("up")
    })
    .expect("json");
    project.write("state/local.json.lock", &held);
    let run = import_empty(&project);
    let _ = holder.kill();
    let _ = holder.wait();
    let run = run.fails();
    assert!(
        run.stderr.contains("stack `local` is locked by") && !run.stderr.contains("taking over"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(project.path("state/local.json.lock")).expect("lock"),
        held
    );
    assert!(
        !project.path("state/local.json").exists(),
        "nothing imported"
    );
}

#[test]
fn missing_credentials_point_to_the_local_stack() {
    let project = Project::new(None);
    let home = tempfile::tempdir().expect("home");
    let output = project
        .command(&["preview", "prod"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
        .output()
        .expect("runs");
    let run = crate::support::Run::from(output).fails();
    assert!(
        run.stderr.contains("no AWS credentials found"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("use the local stack"), "{}", run.stderr);
}

#[test]
fn graph_is_dot_grouped_by_tier() {
    let project = Project::new(None);
    let run = project.run(&["graph", "prod"]).ok();
    assert!(run.stdout.starts_with("digraph stack {"), "{}", run.stdout);
    for tier in [
        "network",
        "data",
        "origin",
        "edge",
        "load balancer",
        "certificate",
        "dns",
    ] {
        assert!(
            run.stdout.contains(&format!("label=\"{tier}\"")),
            "missing tier {tier}"
        );
    }
    assert!(run
        .stdout
        .contains("\"mongodb\" -> \"origin-launch-template\""));
}

#[test]
fn completions_are_printed_for_each_shell() {
    let project = Project::new(None);
    for shell in ["bash", "zsh", "fish"] {
        let run = project.run(&["completions", shell]).ok();
        assert!(
            run.stdout.contains("ams-stack") && run.stdout.contains("preview"),
            "{shell}"
        );
    }
}
