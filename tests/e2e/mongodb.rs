//! The MongoDB instance: at the address the outputs name, of the configured type, on the newest
//! Ubuntu 24.04, in the first private subnet without a public address, with one-minute metrics.

use super::deployed::cluster;
use super::{subnet_id, tagged};

#[tokio::test(flavor = "multi_thread")]
async fn mongodb_runs_the_newest_ubuntu_in_the_first_private_subnet_without_a_public_address() {
    let cluster = cluster();
    let ec2 = aws_sdk_ec2::Client::new(&cluster.moto.sdk().await);
    let reservations = ec2
        .describe_instances()
        .filters(tagged("mongodb"))
        .send()
        .await
        .expect("instances");
    let mongodb = &reservations.reservations()[0].instances()[0];
    assert_eq!(mongodb.private_ip_address(), Some(cluster.mongodb_ip()));
    assert_eq!(
        mongodb.instance_type().map(|t| t.as_str()),
        Some("m5.xlarge")
    );
    assert_eq!(
        mongodb.image_id(),
        Some("ami-0ubuntu2404noble02"),
        "the newest Ubuntu 24.04"
    );
    // In the first private subnet, without a public address, with one-minute metrics.
    assert_eq!(
        mongodb.subnet_id(),
        Some(subnet_id(&ec2, "private-subnet-1").await.as_str())
    );
    assert_eq!(mongodb.public_ip_address(), None);
    assert_eq!(
        mongodb
            .monitoring()
            .and_then(|m| m.state())
            .map(|s| s.as_str()),
        Some("enabled")
    );
}
