//! Day 2 without losing data, on the emulator through the strict cloud: pinned images, MongoDB
//! changed in place, protection, its data volume kept across a replacement, backup, restore,
//! growth, and destroy's final snapshot.

use aws_sdk_ec2::types::Filter;

use crate::support::{FaultProxy, Moto, Project};

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// The one MongoDB instance that runs: (id, type).
async fn mongodb(ec2: &aws_sdk_ec2::Client) -> (String, String) {
    let out = ec2
        .describe_instances()
        .filters(filter("tag:ams-stack:name", "mongodb"))
        .filters(filter("instance-state-name", "running"))
        .send()
        .await
        .expect("instances");
    let running: Vec<_> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .collect();
    assert_eq!(running.len(), 1, "one MongoDB runs: {running:?}");
    let instance = running[0];
    (
        instance.instance_id().expect("id").to_string(),
        instance.instance_type().expect("type").as_str().to_string(),
    )
}

/// The data volumes of the stack that exist: (id, size, snapshot it came from, attached to).
async fn data_volumes(ec2: &aws_sdk_ec2::Client) -> Vec<(String, i32, String, Option<String>)> {
    let out = ec2
        .describe_volumes()
        .filters(filter("tag:ams-stack:name", "mongodb-data"))
        .send()
        .await
        .expect("volumes");
    out.volumes()
        .iter()
        .filter(|v| {
            v.state()
                .is_some_and(|s| s.as_str() != "deleting" && s.as_str() != "deleted")
        })
        .map(|v| {
            assert_eq!(v.volume_type().map(|t| t.as_str()), Some("gp3"));
            assert_eq!(v.encrypted(), Some(true), "encrypted");
            (
                v.volume_id().expect("id").to_string(),
                v.size().expect("size"),
                v.snapshot_id().unwrap_or_default().to_string(),
                v.attachments()
                    .iter()
                    .find(|a| a.device() == Some("/dev/sdf"))
                    .and_then(|a| a.instance_id())
                    .map(String::from),
            )
        })
        .collect()
}

/// The stack's snapshots taken for `why` (the `ams-stack:snapshot` tag).
async fn snapshots(ec2: &aws_sdk_ec2::Client, why: &str) -> Vec<(String, String)> {
    let out = ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(filter("tag:ams-stack:stack", "local"))
        .filters(filter("tag:ams-stack:snapshot", why))
        .send()
        .await
        .expect("snapshots");
    out.snapshots()
        .iter()
        .map(|s| {
            (
                s.snapshot_id().expect("id").to_string(),
                s.volume_id().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn mongodb_keeps_its_data_through_day_two() {
    let moto = Moto::start();
    // AWS has no m5.4xlarge capacity in the zone today; a volume modification takes 20 s
    // (modifying for 10, optimizing for 10) before EBS takes another.
    let cloud = FaultProxy::strict(
        &moto.endpoint,
        &[
            "--no-capacity",
            "m5.4xlarge",
            "--volume-modification-s",
            "20",
        ],
    );
    let project = Project::new(Some(&cloud.endpoint));
    let sdk = moto.sdk().await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let dlm = aws_sdk_dlm::Client::new(&sdk);

    let up = project.run(&["up", "local", "--yes"]).ok();
    assert!(
        up.stderr.contains("ami-0ubuntu2404noble02 (ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20251110"),
        "up names the images in use: {}",
        up.stderr
    );
    let (instance, instance_type) = mongodb(&ec2).await;
    assert_eq!(instance_type, "m5.xlarge");
    let volumes = data_volumes(&ec2).await;
    assert_eq!(volumes.len(), 1, "{volumes:?}");
    let (volume, size, _, attached) = volumes[0].clone();
    assert_eq!((size, attached.as_deref()), (100, Some(instance.as_str())));
    let policies = dlm.get_lifecycle_policies().send().await.expect("policies");
    let summaries = policies.policies();
    assert_eq!(summaries.len(), 1, "the daily snapshot policy");
    let policy = dlm
        .get_lifecycle_policy()
        .policy_id(summaries[0].policy_id().expect("id"))
        .send()
        .await
        .expect("policy");
    let details = policy
        .policy()
        .and_then(|p| p.policy_details())
        .expect("details");
    let keep = details.schedules()[0].retain_rule().and_then(|r| r.count());
    assert_eq!(keep, Some(7));
    let outputs = project.run(&["outputs", "local", "--json"]).ok().json();
    let image = outputs["mongodb_image"].as_str().unwrap_or_default();
    assert!(
        image.starts_with("ami-0ubuntu2404noble02 (ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20251110, 2025-11-10"),
        "outputs names the images: {outputs}"
    );
    assert!(outputs["origin_image"]
        .as_str()
        .unwrap_or_default()
        .contains("AntMedia-AWS-Marketplace-EE-2.12.0"));

    // A different image upstream (here the newest one withdrawn: moto cannot publish as
    // Canonical) changes nothing; --update-images shows it and is refused for MongoDB.
    ec2.deregister_image()
        .image_id("ami-0ubuntu2404noble02")
        .send()
        .await
        .expect("deregistered");
    assert_eq!(
        project.run(&["preview", "local", "--exit-code"]).code,
        Some(0),
        "pinned: nothing changes"
    );
    let update = project
        .run(&["preview", "local", "--update-images"])
        .fails();
    for expected in [
        "Image of mongodb: ami-0ubuntu2404noble02",
        "-> ami-0ubuntu2404noble01",
        "mongodb (aws:ec2:Instance",
        "image_id changes (ami-0ubuntu2404noble02 -> ami-0ubuntu2404noble01)",
        "--allow-replace mongodb",
    ] {
        assert!(
            update.stderr.contains(expected),
            "{expected}: {}",
            update.stderr
        );
    }

    // A bigger instance type: the same instance, stopped, changed, started.
    project.edit(
        "stacks/local.toml",
        "[mongodb]\ninstance_type = \"m5.xlarge\"",
        "[mongodb]\ninstance_type = \"m5.2xlarge\"",
    );
    let preview = project.run(&["preview", "local"]).ok();
    assert!(
        preview
            .stderr
            .contains("MongoDB is down for a minute or two"),
        "{}",
        preview.stderr
    );
    project.run(&["up", "local", "--yes"]).ok();
    assert_eq!(
        mongodb(&ec2).await,
        (instance.clone(), "m5.2xlarge".to_string())
    );

    // A type AWS has no capacity for: MongoDB goes back to the type it had and runs again; the
    // change stays in the plan.
    project.edit(
        "stacks/local.toml",
        "[mongodb]\ninstance_type = \"m5.2xlarge\"",
        "[mongodb]\ninstance_type = \"m5.4xlarge\"",
    );
    let refused = project.run(&["up", "local", "--yes"]).fails();
    for expected in [
        "InsufficientInstanceCapacity",
        "changed back to m5.2xlarge and runs again as before",
    ] {
        assert!(
            refused.stderr.contains(expected),
            "{expected}: {}",
            refused.stderr
        );
    }
    assert_eq!(
        mongodb(&ec2).await,
        (instance.clone(), "m5.2xlarge".to_string())
    );
    let state = ec2
        .describe_instances()
        .instance_ids(&instance)
        .send()
        .await
        .expect("instance");
    let running = state
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.state().and_then(|s| s.name()))
        .map(|s| s.as_str().to_string())
        .collect::<Vec<_>>();
    assert_eq!(running, ["running"], "MongoDB runs");
    let preview = project.run(&["preview", "local"]).ok();
    assert!(
        preview.stderr.contains("m5.2xlarge -> m5.4xlarge"),
        "the change is still to be made: {}",
        preview.stderr
    );
    project.edit(
        "stacks/local.toml",
        "[mongodb]\ninstance_type = \"m5.4xlarge\"",
        "[mongodb]\ninstance_type = \"m5.2xlarge\"",
    );

    // Growth in place; shrinking refused at preview.
    project.edit(
        "stacks/local.toml",
        "[mongodb]\n",
        "[mongodb]\ndata_volume_gib = 150\n",
    );
    project.run(&["up", "local", "--yes"]).ok();
    assert_eq!(data_volumes(&ec2).await[0].0, volume, "the same volume");
    assert_eq!(data_volumes(&ec2).await[0].1, 150);
    // Again at once: EBS takes a new modification only after the last one completed, so the
    // second one waits for it instead of failing.
    project.edit(
        "stacks/local.toml",
        "data_volume_gib = 150",
        "data_volume_gib = 160",
    );
    let grown = project.run(&["up", "local", "--yes"]).ok();
    assert!(
        grown.stderr.contains("last modification to complete"),
        "{}",
        grown.stderr
    );
    assert_eq!(data_volumes(&ec2).await[0].1, 160);
    project.edit(
        "stacks/local.toml",
        "data_volume_gib = 160",
        "data_volume_gib = 120",
    );
    let shrink = project.run(&["preview", "local"]).fails();
    assert!(shrink.stderr.contains("only grow"), "{}", shrink.stderr);
    project.edit(
        "stacks/local.toml",
        "data_volume_gib = 120",
        "data_volume_gib = 160",
    );

    // Replacing MongoDB: refused without consent, nothing changed; with it, the volume moves.
    project.edit(
        "stacks/local.toml",
        "[mongodb]\n",
        "[mongodb]\nroot_volume_gib = 60\n",
    );
    let refused = project.run(&["up", "local", "--yes"]).fails();
    assert!(
        refused
            .stderr
            .contains("root_volume_gib changes (50 -> 60)"),
        "{}",
        refused.stderr
    );
    assert_eq!(mongodb(&ec2).await.0, instance, "nothing was changed");
    project
        .run(&["up", "local", "--yes", "--allow-replace", "mongodb"])
        .ok();
    let (replaced, _) = mongodb(&ec2).await;
    assert_ne!(replaced, instance, "a new instance");
    let volumes = data_volumes(&ec2).await;
    assert_eq!(volumes.len(), 1, "{volumes:?}");
    assert_eq!(
        (volumes[0].0.as_str(), volumes[0].3.as_deref()),
        (volume.as_str(), Some(replaced.as_str())),
        "the same data volume, on the new instance"
    );

    // Backup, then restore onto a new volume made from it.
    let backup = project.run(&["backup", "local"]).ok();
    let manual = snapshots(&ec2, "manual").await;
    assert_eq!(manual.len(), 1, "{}", backup.stderr);
    let (snapshot, of) = manual[0].clone();
    assert_eq!(of, volume);
    assert!(backup.stderr.contains(&snapshot), "{}", backup.stderr);
    let listed = project
        .run(&["backup", "local", "--list", "--json"])
        .ok()
        .json();
    assert_eq!(listed["snapshots"][0]["id"], snapshot.as_str());
    let refused = project
        .run(&["restore", "local", &snapshot, "--yes"])
        .fails();
    assert!(
        refused.stderr.contains("--allow-replace mongodb"),
        "{}",
        refused.stderr
    );
    project
        .run(&[
            "restore",
            "local",
            &snapshot,
            "--yes",
            "--allow-replace",
            "mongodb",
        ])
        .ok();
    let volumes = data_volumes(&ec2).await;
    assert_eq!(volumes.len(), 1, "the old volume is gone: {volumes:?}");
    let (restored, _, from, on) = volumes[0].clone();
    assert_ne!(restored, volume);
    assert_eq!(
        (from.as_str(), on.as_deref()),
        (snapshot.as_str(), Some(replaced.as_str()))
    );
    let kept = snapshots(&ec2, "replaced").await;
    assert_eq!(
        kept.len(),
        1,
        "the volume left behind was snapshotted first"
    );
    assert_eq!(kept[0].1, volume);
    assert_eq!(
        project.run(&["preview", "local", "--exit-code"]).code,
        Some(0),
        "the restored volume stays"
    );

    // Destroy: a final snapshot, then nothing of the stack but its snapshots.
    let destroy = project.run(&["destroy", "local", "--yes"]).ok();
    let finals = snapshots(&ec2, "final").await;
    assert_eq!(finals.len(), 1, "{}", destroy.stderr);
    assert_eq!(finals[0].1, restored);
    assert!(destroy.stderr.contains(&finals[0].0), "{}", destroy.stderr);
    assert!(data_volumes(&ec2).await.is_empty());
    let policies = dlm.get_lifecycle_policies().send().await.expect("policies");
    assert!(policies.policies().is_empty(), "the policy is gone");
}

/// A stack made with MongoDB in a public subnet (the layout before `private_database`), then
/// upgraded: the plan would move MongoDB, which the guard refuses, saying both ways on; keeping
/// the old layout changes nothing of MongoDB's placement; allowing the move puts it in the
/// private subnet with its data volume; destroy leaves nothing.
#[tokio::test(flavor = "multi_thread")]
async fn upgrading_to_the_private_database_layout_moves_mongodb_only_when_allowed() {
    let moto = Moto::start();
    let cloud = FaultProxy::strict(&moto.endpoint, &[]);
    let project = Project::new(Some(&cloud.endpoint));
    let sdk = moto.sdk().await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let old_layout = "admin_cidr = \"192.0.2.0/24\"\nprivate_database = false";
    project.edit(
        "stacks/local.toml",
        "admin_cidr = \"192.0.2.0/24\"",
        old_layout,
    );

    let up = project.run(&["up", "local", "--yes"]).ok();
    assert!(
        up.stderr.contains("EC2.9") && up.stderr.contains("private_database = false"),
        "the public MongoDB is a finding the stack file accepts: {}",
        up.stderr
    );
    let (old, _) = mongodb(&ec2).await;
    let described = ec2
        .describe_instances()
        .instance_ids(&old)
        .send()
        .await
        .expect("mongodb");
    let instance = &described.reservations()[0].instances()[0];
    assert!(
        instance.public_ip_address().is_some(),
        "asked for: {instance:?}"
    );
    let volume = data_volumes(&ec2).await[0].0.clone();

    // The upgrade: the key goes (the default is the private layout).
    project.edit(
        "stacks/local.toml",
        old_layout,
        "admin_cidr = \"192.0.2.0/24\"",
    );
    let refused = project.run(&["up", "local", "--yes"]).fails();
    for words in [
        "would move MongoDB to another subnet",
        "subnet_id changes",
        "`private_database = false` under `[network]`",
        "`--allow-replace mongodb`",
        "its data volume follows (it is in the same zone)",
        "nothing was changed",
    ] {
        assert!(
            refused.stderr.contains(words),
            "{words}: {}",
            refused.stderr
        );
    }
    assert_eq!(mongodb(&ec2).await.0, old, "refused: MongoDB stays");

    // Allowed: MongoDB moves to the private subnet, its data volume with it.
    project
        .run(&["up", "local", "--yes", "--allow-replace", "mongodb"])
        .ok();
    let (new, _) = mongodb(&ec2).await;
    assert_ne!(new, old);
    let described = ec2
        .describe_instances()
        .instance_ids(&new)
        .send()
        .await
        .expect("mongodb");
    let instance = &described.reservations()[0].instances()[0];
    assert_eq!(instance.public_ip_address(), None);
    let private = ec2
        .describe_subnets()
        .filters(filter("tag:ams-stack:name", "private-subnet-1"))
        .send()
        .await
        .expect("private subnet");
    assert_eq!(instance.subnet_id(), private.subnets()[0].subnet_id());
    let volumes = data_volumes(&ec2).await;
    assert_eq!(volumes.len(), 1, "{volumes:?}");
    assert_eq!(
        (volumes[0].0.as_str(), volumes[0].3.as_deref()),
        (volume.as_str(), Some(new.as_str())),
        "the same volume, attached to the new instance"
    );

    project.run(&["destroy", "local", "--yes"]).ok();
    assert_eq!(
        crate::support::census::census(&sdk).await,
        crate::support::census::nothing()
    );
}
