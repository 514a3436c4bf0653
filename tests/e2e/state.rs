//! What ams-stack keeps and prints after the first up: the stored state of every resource reads
//! back as its kind's types, and the outputs name the stream's URLs and the cluster's addresses.

use super::deployed::cluster;

/// What the state holds of every resource reads back as its kind's types, as each update and
/// delete reads it: a renamed or retyped field fails here, not at run time.
#[tokio::test(flavor = "multi_thread")]
async fn the_stored_state_reads_back_as_each_kinds_types() {
    let cluster = cluster();
    let stored = std::fs::read_to_string(cluster.project.path("state/local.json")).expect("state");
    let state =
        ams_engine::state::parse_state(&stored, "state/local.json", "local").expect("state");
    let aws = ams_aws::Aws::connect("ap-south-1", Some(&cluster.cloud.endpoint))
        .await
        .expect("clients");
    let provider = ams_aws::AwsProvider::new(std::sync::Arc::new(aws));
    for resource in &state.resources {
        provider
            .fits(resource)
            .unwrap_or_else(|e| panic!("{}: {e}", resource.name));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_outputs_name_the_urls_and_the_addresses() {
    let cluster = cluster();
    let outputs = &cluster.outputs;
    assert_eq!(
        outputs["publish_url"],
        "https://stream.ams-local.test/WebRTCAppEE/"
    );
    assert_eq!(
        outputs["play_url"],
        "https://stream.ams-local.test:5443/WebRTCAppEE/player.html"
    );
    // The addresses the other checks compare with (see `Deployed`).
    cluster.mongodb_ip();
    cluster.lb_dns();
    cluster.nlb_dns();
    assert_eq!(
        outputs["rtmps_url"],
        "rtmps://ingest.stream.ams-local.test/WebRTCAppEE"
    );
    assert_eq!(
        outputs["srt_url"],
        "srt://ingest.stream.ams-local.test:4200?streamid=WebRTCAppEE/STREAM_ID"
    );
}
