//! A failure mid-apply: what was made before it is kept in the state, the lock is released, and
//! the next up finishes without making anything twice.

use super::tagged;
use crate::support::{Moto, Project};

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_mid_apply_keeps_what_was_made_and_the_next_up_finishes() {
    let moto = Moto::start();
    let project = Project::new(Some(&moto.endpoint));
    // A key pair the account does not have: the MongoDB instance fails, the rest stops.
    project.edit(
        "stacks/local.toml",
        "[mongodb]\n",
        "[mongodb]\nkey_name = \"missing-key\"\n",
    );
    let failed = project.run(&["up", "local", "--yes"]).fails();
    assert!(
        failed.stderr.contains("InvalidKeyPair.NotFound"),
        "the AWS error code is named: {}",
        failed.stderr
    );
    let state = std::fs::read_to_string(project.path("state/local.json")).expect("state written");
    assert!(
        state.contains("\"vpc\""),
        "the VPC made before the failure is in the state"
    );
    assert!(
        failed
            .stderr
            .contains("mongodb (aws:ec2:Instance) failed while creating"),
        "{}",
        failed.stderr
    );
    assert!(!project.path("state/local.json.lock").exists());
    project.edit("stacks/local.toml", "key_name = \"missing-key\"\n", "");
    project.run(&["up", "local", "--yes"]).ok();
    let sdk = moto.sdk().await;
    let vpcs = aws_sdk_ec2::Client::new(&sdk)
        .describe_vpcs()
        .filters(tagged("vpc"))
        .send()
        .await
        .expect("vpcs");
    assert_eq!(
        vpcs.vpcs().len(),
        1,
        "no duplicate VPC after the resumed up"
    );
}
