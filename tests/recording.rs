//! `[recording] s3 = true`: a bucket of the stack's for AMS's recordings, which `destroy` never
//! empties unasked.

use crate::support::{Moto, Project};

#[tokio::test(flavor = "multi_thread")]
async fn a_recordings_bucket_holding_recordings_is_refused_by_destroy_until_it_is_asked_for() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let project = Project::new(Some(&moto.endpoint));
    project.append_local("[recording]\ns3 = true\nexpire_days = 30\n");
    project.run(&["up", "local", "--yes"]).ok();
    let outputs = project.run(&["outputs", "local", "--json"]).ok().json();
    let bucket = outputs["recordings_bucket"]
        .as_str()
        .expect("the bucket's name is an output")
        .to_string();
    assert!(bucket.starts_with("local-recordings-"), "{bucket}");
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    s3.put_object()
        .bucket(&bucket)
        .key("recordings/stream1.mp4")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"mp4"))
        .send()
        .await
        .expect("a recording");

    // Refused before anything changes: the recording, the bucket and the cluster stay.
    let run = project.run(&["destroy", "local", "--yes"]).fails();
    assert!(
        run.stderr.contains("--delete-recordings") && run.stderr.contains(&bucket),
        "{}",
        run.stderr
    );
    s3.head_object()
        .bucket(&bucket)
        .key("recordings/stream1.mp4")
        .send()
        .await
        .expect("the recording is still there");
    let state = std::fs::read_to_string(project.path("state/local.json")).expect("state");
    assert!(state.contains("\"load-balancer\""), "nothing was destroyed");

    // Asked for: emptied, then everything goes.
    let run = project
        .run(&["destroy", "local", "--yes", "--delete-recordings"])
        .ok();
    assert!(
        run.stderr.contains("deleted 1 recordings"),
        "{}",
        run.stderr
    );
    let listed = s3.list_buckets().send().await.expect("buckets");
    assert!(
        listed
            .buckets()
            .iter()
            .all(|b| b.name() != Some(bucket.as_str())),
        "the bucket is gone"
    );
}
