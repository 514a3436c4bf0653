//! Day 2 without dropping streams, on the emulator through the strict cloud (instances that take
//! time to start and to pass health checks, a CPU policy that scales an idle group back in, new
//! nodes held until they say they are ready, leaving ones deregistered before their hook): a new
//! AMS image rolls the groups launch before terminate, never below their healthy count, and
//! leaves no process of theirs suspended whichever way the roll ends.

use crate::support::groups::{group_name, group_version, instances, ServingWatch};
use crate::support::{FaultProxy, Moto, Project};

/// The origin group's name and instances: (id, launch template version, lifecycle state).
async fn origin(asg: &aws_sdk_autoscaling::Client) -> (String, Vec<(String, String, String)>) {
    (
        group_name(asg, "origin").await,
        instances(asg, "origin").await,
    )
}

/// How many of the origin group's instances are InService and healthy in its target group.
async fn serving(
    asg: &aws_sdk_autoscaling::Client,
    elb: &aws_sdk_elasticloadbalancingv2::Client,
) -> usize {
    crate::support::groups::serving(asg, elb, "origin").await
}

/// The launch template version the origin group launches.
async fn origin_version(asg: &aws_sdk_autoscaling::Client) -> String {
    group_version(asg, "origin").await
}

/// The processes the group `name` has suspended.
async fn suspended(asg: &aws_sdk_autoscaling::Client, name: &str) -> Vec<String> {
    let groups = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .expect("groups");
    groups
        .auto_scaling_groups()
        .iter()
        .flat_map(|g| g.suspended_processes())
        .filter_map(|p| p.process_name().map(String::from))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_ams_image_rolls_the_groups_launch_before_terminate() {
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
    let ec2 = aws_sdk_ec2::Client::new(&sdk);

    project.run(&["up", "local", "--yes"]).ok();
    let (group, before) = origin(&asg).await;
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(
        serving(&asg, &elb).await,
        1,
        "up ends when the group serves"
    );
    // Leaving instances wait for their drain agent: the termination hook.
    let hooks = asg
        .describe_lifecycle_hooks()
        .auto_scaling_group_name(&group)
        .send()
        .await
        .expect("hooks");
    let hooks: Vec<_> = hooks
        .lifecycle_hooks()
        .iter()
        .map(|h| {
            (
                h.lifecycle_hook_name().unwrap_or_default().to_string(),
                h.lifecycle_transition().unwrap_or_default().to_string(),
                h.heartbeat_timeout(),
                h.default_result().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let mut hooks = hooks;
    hooks.sort();
    assert_eq!(
        hooks,
        [
            (
                "ams-stack-drain".to_string(),
                "autoscaling:EC2_INSTANCE_TERMINATING".to_string(),
                Some(900),
                "CONTINUE".to_string()
            ),
            // New nodes wait in Pending:Wait until their boot script says they are ready.
            (
                "ams-stack-ready".to_string(),
                "autoscaling:EC2_INSTANCE_LAUNCHING".to_string(),
                Some(3600),
                "ABANDON".to_string()
            )
        ]
    );

    // A different AMS image (the newest withdrawn: moto cannot publish as the Marketplace).
    ec2.deregister_image()
        .image_id("ami-0antmedia2120ee01")
        .send()
        .await
        .expect("deregistered");
    project.edit(
        "stacks/local.toml",
        "[mongodb]\n",
        "[mongodb]\nami = \"ami-0ubuntu2404noble02\"\n",
    );
    let preview = project.run(&["preview", "local", "--update-images"]).ok();
    assert!(
        preview.stderr.contains(
            "origin-group: rolls its instances onto the new launch template version, 1 at a time"
        ),
        "{}",
        preview.stderr
    );

    // Watch the origin group while `up` rolls it.
    let watch = ServingWatch::start(&asg, &elb, &["origin"]);
    let (up, calls) = tokio::task::spawn_blocking(move || {
        let logged = project.run_logged(&["up", "local", "--yes", "--update-images"]);
        (logged, project)
    })
    .await
    .map(|((run, calls), project)| ((run, project), calls))
    .expect("up runs");
    let (least, samples) = watch.stop().await;
    let (up, project) = up;
    let up = up.ok();
    assert!(samples >= 10, "watched through the roll");
    assert!(
        least >= 1,
        "the origin group never dropped below one serving instance: {}",
        up.stderr
    );

    let (_, after) = origin(&asg).await;
    let live: Vec<_> = after.iter().filter(|(_, _, s)| s == "InService").collect();
    assert_eq!(live.len(), 1, "{after:?}");
    assert_ne!(
        live[0].0, before[0].0,
        "a new instance: {after:?} {}",
        up.stderr
    );
    assert_ne!(live[0].1, before[0].1, "of the new template version");
    let at = |name: &str| {
        calls
            .iter()
            .position(|c| c.ends_with(name))
            .unwrap_or_else(|| panic!("no {name}: {calls:?}"))
    };
    let suspend = at("SuspendProcesses");
    let terminate = at("TerminateInstanceInAutoScalingGroup");
    let launch = suspend
        + calls[suspend..]
            .iter()
            .position(|c| c.ends_with("UpdateAutoScalingGroup"))
            .expect("the group grew");
    assert!(
        launch < terminate,
        "suspended, then launch before terminate: {calls:?}"
    );
    let resume = calls
        .iter()
        .rposition(|c| c.ends_with("ResumeProcesses"))
        .expect("resumed");
    assert!(terminate < resume, "resumed after the roll: {calls:?}");
    assert_eq!(
        suspended(&asg, &group).await,
        Vec::<String>::new(),
        "nothing left suspended"
    );
    // The idle group's CPU policy never scaled it in: the roll had suspended its alarm.
    let acted = cloud.refusals();
    assert_eq!(
        acted.get("idle-scale-in").copied().unwrap_or_default(),
        0,
        "{acted:?}"
    );

    // A roll that a crash (or a kill) left unfinished leaves the processes suspended: the next
    // plan shows them, and `up` resumes them.
    asg.suspend_processes()
        .auto_scaling_group_name(&group)
        .scaling_processes("AlarmNotification")
        .scaling_processes("ScheduledActions")
        .send()
        .await
        .expect("suspended");
    let refresh = project.run(&["refresh", "local"]).ok();
    assert!(
        refresh.stderr.contains(
            "suspended_processes: (none) -> [\"AlarmNotification\",\"ScheduledActions\"]"
        ),
        "refresh shows them as drift: {}",
        refresh.stderr
    );
    let preview = project.run(&["preview", "local"]).ok();
    assert!(
        preview
            .stderr
            .contains("Left suspended by an unfinished roll")
            && preview
                .stderr
                .contains("AlarmNotification, ScheduledActions suspended"),
        "{}",
        preview.stderr
    );
    assert!(
        preview.stderr.contains("suspended_processes"),
        "the plan shows them going: {}",
        preview.stderr
    );
    project.run(&["up", "local", "--yes"]).ok();
    assert_eq!(suspended(&asg, &group).await, Vec::<String>::new());
    assert_eq!(
        project.run(&["preview", "local", "--exit-code"]).code,
        Some(0),
        "and then nothing to change"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_image_that_never_serves_stops_the_roll_and_the_old_instances_keep_serving() {
    let moto = Moto::start();
    // The older AMS image's nodes never pass the load balancer's health checks.
    let cloud = FaultProxy::strict(
        &moto.endpoint,
        &["--never-healthy", "ami-0antmedia2113ee01"],
    );
    let project = Project::new(Some(&cloud.endpoint));
    for tier in ["[origin]\n", "[edge]\n"] {
        project.edit(
            "stacks/local.toml",
            tier,
            // An emulator stack's timeout may be seconds: the wait is the test's own clock.
            &format!("{tier}health_timeout = \"10s\"\n"),
        );
    }
    let sdk = moto.sdk().await;
    let asg = aws_sdk_autoscaling::Client::new(&sdk);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    project.run(&["up", "local", "--yes"]).ok();
    let (_, before) = origin(&asg).await;
    let version = origin_version(&asg).await;

    ec2.deregister_image()
        .image_id("ami-0antmedia2120ee01")
        .send()
        .await
        .expect("deregistered");
    let up = project
        .run(&["up", "local", "--yes", "--update-images"])
        .fails();
    for expected in [
        "the roll of",
        "stopped: a new instance did not become healthy in 10s",
        "Health checks failed with these codes: [404]",
        "the old instances keep serving",
    ] {
        assert!(up.stderr.contains(expected), "{expected}: {}", up.stderr);
    }
    let (_, after) = origin(&asg).await;
    let live: Vec<_> = after.iter().filter(|(_, _, s)| s == "InService").collect();
    assert_eq!(live.len(), 1, "{after:?}");
    assert_eq!(live[0].0, before[0].0, "the old instance serves: {after:?}");
    assert_eq!(serving(&asg, &elb).await, 1, "and is healthy");
    assert_eq!(
        origin_version(&asg).await,
        version,
        "the group points back at the old version"
    );
    let (group, _) = origin(&asg).await;
    assert_eq!(
        suspended(&asg, &group).await,
        Vec::<String>::new(),
        "a failed roll leaves no process suspended"
    );
}
