//! Who writes a load balancer's access logs, by region, and the bucket policy statements that
//! let it.
//!
//! Source: AWS, Elastic Load Balancing, Application Load Balancers, "Enable access logs for
//! your Application Load Balancer", step "Attach a policy to your S3 bucket": in regions
//! available before August 2022 the principal is the region's Elastic Load Balancing account
//! (`arn:aws:iam::ELB_ACCOUNT:root`, in the region's partition: `names::partition`); in later
//! regions it is the log delivery service principal
//! `logdelivery.elasticloadbalancing.amazonaws.com`. Either may `s3:PutObject` under
//! `PREFIX/AWSLogs/ACCOUNT/` only.
//!
//! A Network Load Balancer's access logs (its TLS listeners' connections) are written by
//! another writer in every region: the service principal `delivery.logs.amazonaws.com`, which
//! checks the bucket's ACL and then puts objects with the `bucket-owner-full-control` ACL, both
//! only for the load balancer's own account and region (`aws:SourceAccount`, `aws:SourceArn`
//! `arn:PARTITION:logs:REGION:ACCOUNT:*`). Source: AWS, Elastic Load Balancing, Network Load
//! Balancers, "Enable access logs for your Network Load Balancer", "Bucket requirements" and its
//! example bucket policy.

use serde_json::{json, Value as Json};

use crate::names::partition;

/// The Elastic Load Balancing account of each region available before August 2022.
const ELB_ACCOUNTS: [(&str, &str); 24] = [
    ("us-east-1", "127311923021"),
    ("us-east-2", "033677994240"),
    ("us-west-1", "027434742980"),
    ("us-west-2", "797873946194"),
    ("af-south-1", "098369216593"),
    ("ap-east-1", "754344448648"),
    ("ap-southeast-3", "589379963580"),
    ("ap-south-1", "718504428378"),
    ("ap-northeast-3", "383597477331"),
    ("ap-northeast-2", "600734575887"),
    ("ap-southeast-1", "114774131450"),
    ("ap-southeast-2", "783225319266"),
    ("ap-northeast-1", "582318560864"),
    ("ca-central-1", "985666609251"),
    ("eu-central-1", "054676820928"),
    ("eu-west-1", "156460612806"),
    ("eu-west-2", "652711504416"),
    ("eu-south-1", "635631232127"),
    ("eu-west-3", "009996457667"),
    ("eu-north-1", "897822967062"),
    ("me-south-1", "076674570225"),
    ("sa-east-1", "507241528517"),
    ("us-gov-west-1", "048591011584"),
    ("us-gov-east-1", "190560391635"),
];

/// The service principal of log delivery in regions opened since August 2022.
const LOG_DELIVERY_SERVICE: &str = "logdelivery.elasticloadbalancing.amazonaws.com";

/// The service principal that writes a Network Load Balancer's access logs, in every region.
const NLB_LOG_DELIVERY_SERVICE: &str = "delivery.logs.amazonaws.com";

/// The region's Elastic Load Balancing account; `None` in a region opened since August 2022.
pub fn elb_account(region: &str) -> Option<&'static str> {
    ELB_ACCOUNTS
        .iter()
        .find(|(r, _)| *r == region)
        .map(|(_, account)| *account)
}

/// The statement that lets the region's ELB log delivery write `bucket/prefix/AWSLogs/account/*`.
pub fn log_delivery_statement(region: &str, account: &str, bucket: &str, prefix: &str) -> Json {
    let partition = partition(region);
    let principal = match elb_account(region) {
        Some(elb) => json!({"AWS": format!("arn:{partition}:iam::{elb}:root")}),
        None => json!({"Service": LOG_DELIVERY_SERVICE}),
    };
    json!({
        "Sid": "ElbAccessLogDelivery",
        "Effect": "Allow",
        "Principal": principal,
        "Action": "s3:PutObject",
        "Resource": format!("arn:{partition}:s3:::{bucket}/{prefix}/AWSLogs/{account}/*"),
    })
}

/// The two statements that let a Network Load Balancer's log delivery write
/// `bucket/prefix/AWSLogs/account/*`: its ACL check on the bucket and its writes under the
/// prefix, each for this account's load balancers of this region only.
pub fn nlb_log_delivery_statements(
    region: &str,
    account: &str,
    bucket: &str,
    prefix: &str,
) -> [Json; 2] {
    let partition = partition(region);
    let source = json!({
        "StringEquals": {"aws:SourceAccount": [account]},
        "ArnLike": {"aws:SourceArn": [format!("arn:{partition}:logs:{region}:{account}:*")]},
    });
    let mut write = source.clone();
    write["StringEquals"]["s3:x-amz-acl"] = json!("bucket-owner-full-control");
    [
        json!({
            "Sid": "NlbAccessLogAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": NLB_LOG_DELIVERY_SERVICE},
            "Action": "s3:GetBucketAcl",
            "Resource": format!("arn:{partition}:s3:::{bucket}"),
            "Condition": source,
        }),
        json!({
            "Sid": "NlbAccessLogDelivery",
            "Effect": "Allow",
            "Principal": {"Service": NLB_LOG_DELIVERY_SERVICE},
            "Action": "s3:PutObject",
            "Resource": format!("arn:{partition}:s3:::{bucket}/{prefix}/AWSLogs/{account}/*"),
            "Condition": write,
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_load_balancers_logs_are_written_by_log_delivery_for_this_account_only() {
        let [acl, write] = nlb_log_delivery_statements("eu-west-1", "111122223333", "logs", "nlb");
        for statement in [&acl, &write] {
            assert_eq!(
                statement["Principal"],
                json!({"Service": "delivery.logs.amazonaws.com"})
            );
            assert_eq!(
                statement["Condition"]["StringEquals"]["aws:SourceAccount"],
                json!(["111122223333"])
            );
            assert_eq!(
                statement["Condition"]["ArnLike"]["aws:SourceArn"],
                json!(["arn:aws:logs:eu-west-1:111122223333:*"])
            );
        }
        assert_eq!(acl["Action"], "s3:GetBucketAcl");
        assert_eq!(acl["Resource"], "arn:aws:s3:::logs");
        assert_eq!(write["Action"], "s3:PutObject");
        assert_eq!(
            write["Resource"],
            "arn:aws:s3:::logs/nlb/AWSLogs/111122223333/*"
        );
        assert_eq!(
            write["Condition"]["StringEquals"]["s3:x-amz-acl"],
            "bucket-owner-full-control"
        );
    }

    /// A region older than August 2022 grants its own Elastic Load Balancing account, named in
    /// the region's partition.
    #[test]
    fn an_older_region_grants_its_elb_account_in_its_partition() {
        for (region, principal, resource) in [
            (
                "ap-south-1",
                "arn:aws:iam::718504428378:root",
                "arn:aws:s3:::logs/alb/AWSLogs/111122223333/*",
            ),
            (
                "us-gov-west-1",
                "arn:aws-us-gov:iam::048591011584:root",
                "arn:aws-us-gov:s3:::logs/alb/AWSLogs/111122223333/*",
            ),
        ] {
            let statement = log_delivery_statement(region, "111122223333", "logs", "alb");
            assert_eq!(statement["Principal"]["AWS"], principal, "{region}");
            assert_eq!(statement["Action"], "s3:PutObject", "{region}");
            assert_eq!(statement["Resource"], resource, "{region}");
        }
    }

    #[test]
    fn a_newer_region_grants_the_log_delivery_service() {
        for region in ["ap-south-2", "eu-central-2", "il-central-1", "mx-central-1"] {
            let statement = log_delivery_statement(region, "111122223333", "logs", "alb");
            assert_eq!(
                statement["Principal"],
                json!({"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}),
                "{region}"
            );
        }
    }
}
