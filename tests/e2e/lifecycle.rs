//! A cluster's life after its first up, on a cluster of its own (it changes it, so the shared one
//! is not used): with nothing changed the preview says so and a second up makes no mutating
//! call; one property changed is exactly one in-place update; destroy leaves nothing of the
//! stack, neither in the cloud, nor in DNS, nor in the state.

use super::deployed::up;
use crate::support::census::resource_count;
use crate::support::mutating;
use crate::support::{FaultProxy, Moto, Project};

#[tokio::test(flavor = "multi_thread")]
async fn a_no_op_up_calls_nothing_mutating_one_change_updates_in_place_destroy_leaves_nothing() {
    let moto = Moto::start();
    // Through the strict cloud: AWS's rules and clocks, not only moto's leniency.
    let cloud = FaultProxy::strict(&moto.endpoint, &[]);
    let project = Project::new(Some(&cloud.endpoint));
    let sdk = moto.sdk().await;
    let asg = aws_sdk_autoscaling::Client::new(&sdk);
    let route53 = aws_sdk_route53::Client::new(&sdk);
    up(&project);

    // Nothing changed: the preview says so, and a second up makes no mutating call.
    let preview = project.run(&["preview", "local", "--json"]).ok().json();
    assert_eq!(
        preview["changes"],
        serde_json::json!({"create": 0, "update": 0, "replace": 0, "delete": 0, "same": resource_count()})
    );
    assert_eq!(
        project.run(&["preview", "local", "--exit-code"]).code,
        Some(0),
        "no changes"
    );
    let (up, calls) = project.run_logged(&["up", "local", "--yes"]);
    let up = up.ok();
    assert!(up.stderr.contains("No changes"), "{}", up.stderr);
    assert!(!calls.is_empty(), "the call log works");
    assert!(
        mutating(&calls).is_empty(),
        "mutating calls on a no-op up: {:?}",
        mutating(&calls)
    );

    // One property changed: exactly one in-place update, then applied.
    project.edit("stacks/local.toml", "max_size = 4", "max_size = 6");
    let preview = project.run(&["preview", "local", "--json"]).ok().json();
    assert_eq!(
        preview["changes"],
        serde_json::json!({"create": 0, "update": 1, "replace": 0, "delete": 0, "same": resource_count() - 1})
    );
    let step = preview["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["op"] == "update")
        .expect("update")
        .clone();
    assert_eq!(step["name"], "origin-group");
    assert_eq!(
        step["changes"],
        serde_json::json!([{"property": "max_size", "old": 4, "new": 6, "forces_replace": false}])
    );
    let human = project.run(&["preview", "local"]).ok();
    assert!(
        human
            .stderr
            .contains("~ origin-group (aws:autoscaling:Group)\n      max_size: 4 -> 6"),
        "{}",
        human.stderr
    );
    project.run(&["up", "local", "--yes"]).ok();
    let groups = asg
        .describe_auto_scaling_groups()
        .send()
        .await
        .expect("asgs");
    let mut max: Vec<_> = groups
        .auto_scaling_groups()
        .iter()
        .map(|g| {
            (
                g.auto_scaling_group_name()
                    .unwrap_or_default()
                    .contains("origin"),
                g.max_size(),
            )
        })
        .collect();
    max.sort();
    assert_eq!(max, [(false, Some(4)), (true, Some(6))]);

    // Destroy: nothing of the stack is left; a log object in the bucket does not stop it.
    let zones = route53.list_hosted_zones().send().await.expect("zones");
    let zone_id = zones.hosted_zones()[0].id().to_string();
    crate::load_balancer::write_a_log(&sdk).await;
    let destroy = project.run(&["destroy", "local", "--yes"]).ok();
    crate::load_balancer::destroy_said_so(&destroy.stderr);
    assert!(
        destroy
            .stderr
            .contains(&format!("{} deleted", resource_count())),
        "{}",
        destroy.stderr
    );
    // Every kind of the stack, counted the same way as after a crash (instances still running,
    // groups, load balancers, target groups, templates, certificates, roles, ...): none left.
    assert_eq!(
        crate::support::census::census(&moto.sdk().await).await,
        crate::support::census::nothing()
    );
    let records = route53
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .send()
        .await
        .expect("records");
    let kinds: Vec<&str> = records
        .resource_record_sets()
        .iter()
        .map(|r| r.r#type().as_str())
        .collect();
    assert!(
        kinds.iter().all(|k| *k == "NS" || *k == "SOA"),
        "records left: {kinds:?}"
    );
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.path("state/local.json")).expect("state"),
    )
    .expect("json");
    assert_eq!(state["resources"], serde_json::json!([]));
    assert_eq!(state["pending_deletes"], serde_json::json!([]));
}
