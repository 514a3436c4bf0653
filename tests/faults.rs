//! A cloud that misbehaves: throttling, server errors, calls that succeed but answer 503, and
//! AWS's delete-order rules, injected by the project's fault proxy in front of moto.

use crate::support::census::{census, nothing, whole_cluster};
use crate::support::{FaultProxy, Moto, Project};

/// Up then destroy behind a fault proxy started with `args`, exact as
/// [`up_makes_one_of_everything_and_destroy_leaves_nothing`] asks; how many faults of `counter`
/// the proxy injected.
async fn exact_behind(args: &[&str], counter: &str) -> u64 {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint, args);
    up_makes_one_of_everything_and_destroy_leaves_nothing(&moto, &proxy.endpoint).await;
    let counts = proxy.counts();
    eprintln!("faults: {counter}: {counts:?}");
    counts.get(counter).copied().unwrap_or(0)
}

/// `up` through `endpoint` succeeds and makes exactly the whole cluster, no more; `destroy`
/// succeeds and leaves nothing.
async fn up_makes_one_of_everything_and_destroy_leaves_nothing(moto: &Moto, endpoint: &str) {
    let project = Project::new(Some(endpoint));
    let up = project.run(&["up", "local", "--yes"]).ok();
    assert_eq!(
        census(&moto.sdk().await).await,
        whole_cluster(),
        "{}",
        up.stderr
    );
    project.run(&["destroy", "local", "--yes"]).ok();
    assert_eq!(census(&moto.sdk().await).await, nothing());
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_and_server_errors_converge_to_the_same_cluster() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(
        &moto.endpoint,
        &[
            "--throttle",
            "0.10",
            "--e500",
            "0.025",
            "--e503",
            "0.025",
            "--seed",
            "7",
        ],
    );
    up_makes_one_of_everything_and_destroy_leaves_nothing(&moto, &proxy.endpoint).await;
    let counts = proxy.counts();
    eprintln!("faults: throttling and 5xx: {counts:?}");
    let injected = |kind: &str| {
        counts
            .get(&format!("injected:{kind}"))
            .copied()
            .unwrap_or(0)
    };
    assert!(
        injected("throttle") >= 5 && injected("e500") + injected("e503") >= 2,
        "faults were injected: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_that_succeed_but_answer_503_make_nothing_twice() {
    let moto = Moto::start();
    let after = "Create,Run,Request,Put,Associate,Attach,Authorize,Add,Change,Modify";
    let proxy = FaultProxy::start(
        &moto.endpoint,
        &["--after", "0.3", "--after-only", after, "--seed", "3"],
    );
    let project = Project::new(Some(&proxy.endpoint));
    let up = project.run(&["up", "local", "--yes"]);
    if up.code != Some(0) {
        // A step may run out of retries; the next up resumes from the state.
        project.run(&["up", "local", "--yes"]).ok();
    }
    assert_eq!(
        census(&moto.sdk().await).await,
        whole_cluster(),
        "{}",
        up.stderr
    );
    let destroy = project.run(&["destroy", "local", "--yes"]);
    if destroy.code != Some(0) {
        project.run(&["destroy", "local", "--yes"]).ok();
    }
    assert_eq!(census(&moto.sdk().await).await, nothing());
    let counts = proxy.counts();
    eprintln!("faults: after: {counts:?}");
    let injected = counts.get("injected:after").copied().unwrap_or(0);
    assert!(
        injected >= 5,
        "only {injected} calls answered 503 after taking effect"
    );
}

/// Every call that makes something answers 503 although it took effect, every time: what was
/// made is found, never made again (the SDK's own retries meet a refusal, a NAT gateway's
/// address already taken, and that refusal is not the end of it).
#[tokio::test(flavor = "multi_thread")]
async fn every_make_whose_answer_is_lost_is_found_not_made_twice() {
    let makes = "Create,Run,Allocate,Request";
    let args = ["--after", "1", "--after-only", makes];
    let injected = exact_behind(&args, "injected:after").await;
    assert!(injected >= 40, "only {injected} makes answered 503");
}

/// Every make answers 503 although it took effect, and the SDK's retry of it is refused with a
/// code no kind expects: the refusal is looked behind, and what the first call made is adopted.
#[tokio::test(flavor = "multi_thread")]
async fn a_retry_refused_after_a_lost_answer_adopts_what_was_made() {
    let makes = [
        "CreateVpc",
        "CreateSubnet",
        "CreateInternetGateway",
        "CreateRouteTable",
        "CreateNatGateway",
        "AllocateAddress",
        "CreateSecurityGroup",
        "CreateLaunchTemplate",
        "CreateTargetGroup",
        "CreateLoadBalancer",
        "CreateListener",
        "CreateRule",
        "CreateRole",
        "CreateInstanceProfile",
        "CreateAutoScalingGroup",
        "RequestCertificate",
        "CreateLifecyclePolicy",
        "CreateBucket",
        "RunInstances",
        "CreateVolume",
    ]
    .join(",");
    let refuse = ["--then-refuse", "IdempotentParameterMismatch"];
    let args = ["--after", "1", "--after-only", &makes, refuse[0], refuse[1]];
    let refused = exact_behind(&args, "injected:then-refuse").await;
    assert!(refused >= 5, "only {refused} retries were refused");
}

#[tokio::test(flavor = "multi_thread")]
async fn destroy_keeps_the_order_aws_enforces() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint, &["--strict"]);
    let project = Project::new(Some(&proxy.endpoint));
    project.run(&["up", "local", "--yes"]).ok();

    // The strict proxy does refuse a delete in the wrong order (so this test can fail).
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.path("state/local.json")).expect("state"),
    )
    .expect("json");
    let nodes_sg = state["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["name"] == "nodes-sg")
        .expect("sg")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("ap-south-1"))
        .endpoint_url(&proxy.endpoint)
        .credentials_provider(aws_credential_types::Credentials::for_tests())
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let refused = aws_sdk_ec2::Client::new(&sdk)
        .delete_security_group()
        .group_id(&nodes_sg)
        .send()
        .await;
    let code = refused
        .as_ref()
        .err()
        .and_then(|e| aws_smithy_types::error::metadata::ProvideErrorMetadata::code(e));
    assert_eq!(code, Some("DependencyViolation"), "{refused:?}");

    project.run(&["destroy", "local", "--yes"]).ok();
    assert_eq!(census(&moto.sdk().await).await, nothing());
}
