//! The whole cluster against a cloud that enforces AWS's rules (the fault proxy's strict mode):
//! gateway before internet-facing load balancers, lingering network interfaces, shutting-down
//! instances, certificates in use, eventual consistency, Route 53, Marketplace terms, AWS's
//! clocks. Each rule is shown to bite by `scripts/faultproxy/test_strict.py`; here the project
//! meets every one of them and gets through.

use crate::support::census::{census, nothing, whole_cluster};
use crate::support::{FaultProxy, Moto, Project};

#[tokio::test(flavor = "multi_thread")]
async fn the_whole_cluster_goes_up_and_away_through_the_strict_cloud() {
    let moto = Moto::start();
    // A deleted load balancer's interfaces keep its groups and subnets busy for 20 s (AWS:
    // minutes; the proxy's own test_linger_can_exceed_a_minute shows a longer one holds on),
    // far past every retry's first answers: destroy must wait, not fail. Nodes may drain for an
    // hour, and a leaving node is first deregistered for its target groups' delay (an hour,
    // scaled to 3 minutes, longer than a group's drain may take): destroy waits for no stream.
    let cloud = FaultProxy::strict(
        &moto.endpoint,
        &["--linger-s", "20", "--lifecycle-scale", "0.05"],
    );
    let project = Project::new(Some(&cloud.endpoint));
    for tier in ["[origin]\n", "[edge]\n"] {
        project.edit(
            "stacks/local.toml",
            tier,
            &format!("{tier}drain_timeout = \"1h\"\n"),
        );
    }

    // Access logs turned on for a load balancer that had none: its bucket's new policy is not
    // visible to ELB at once ("Access Denied for bucket"), which is waited out.
    let logs_off = "[load_balancer]\naccess_log_days = 0\n";
    let text = std::fs::read_to_string(project.path("stacks/local.toml")).expect("stack file");
    project.write("stacks/local.toml", &format!("{text}\n{logs_off}"));
    project.run(&["up", "local", "--yes"]).ok();
    project.edit("stacks/local.toml", logs_off, "");
    project.run(&["up", "local", "--yes"]).ok();
    assert_eq!(census(&moto.sdk().await).await, whole_cluster());
    let preview = project.run(&["preview", "local", "--json"]).ok().json();
    assert_eq!(preview["changes"]["create"], 0, "{preview}");
    assert_eq!(preview["changes"]["update"], 0, "{preview}");
    assert_eq!(preview["changes"]["replace"], 0, "{preview}");

    let destroy = project.run(&["destroy", "local", "--yes"]).ok();
    assert!(
        destroy.stderr.contains("waiting for AWS to let go"),
        "the progress says what a delete waits for: {}",
        destroy.stderr
    );
    assert_eq!(census(&moto.sdk().await).await, nothing());

    // The cloud did refuse: the project waited and retried instead of failing.
    let refused = cloud.refusals();
    for rule in ["eventual-consistency", "lingering-enis", "access-log-race"] {
        assert!(
            refused.get(rule).copied().unwrap_or_default() > 0,
            "{rule} never refused anything: {refused:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_whose_terms_are_not_accepted_stops_everything_before_it_starts() {
    let moto = Moto::start();
    let cloud = FaultProxy::strict(
        &moto.endpoint,
        &["--not-subscribed", "ami-0antmedia2120ee01"],
    );
    let project = Project::new(Some(&cloud.endpoint));

    let preview = project.run(&["preview", "local"]).fails();
    for expected in [
        "ami-0antmedia2120ee01",
        "https://aws.amazon.com/marketplace/pp?sku=4wh7rhpic3wfwamyp5905tsbt",
    ] {
        assert!(preview.stderr.contains(expected), "{}", preview.stderr);
    }
    let up = project.run(&["up", "local", "--yes"]).fails();
    assert!(up.stderr.contains("Marketplace"), "{}", up.stderr);
    assert_eq!(
        census(&moto.sdk().await).await,
        nothing(),
        "nothing is created before the refusal"
    );
}
