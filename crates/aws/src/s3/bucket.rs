//! An S3 bucket for what the stack's services write (the load balancers' access logs):
//! encrypted with S3-managed keys (SSE-S3, the only encryption ELB log delivery supports for an
//! Application Load Balancer), all public access blocked, objects owned by the bucket owner (no
//! ACLs), a policy that lets the region's ELB log delivery write under each log prefix, and
//! objects expiring after some days. Its name is unique across all accounts
//! (`stack-name-` and 16 random hex digits). A delete empties it first (every object and
//! version): it holds only what the stack's services wrote.

use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, CreateBucketConfiguration, Delete,
    ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter,
    NoncurrentVersionExpiration, ObjectIdentifier, ObjectOwnership, OwnershipControls,
    OwnershipControlsRule, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use ams_engine::{Kind, Outputs, ProviderError};

use super::log_delivery::{log_delivery_statement, nlb_log_delivery_statements};
use crate::call::{required, OrError};
use crate::kind::{existing_each, AwsKind, Codes, Ctx, Current, Res};
use crate::names::{global_prefix, globally_unique_name, is_ours, partition, tags};
use crate::Aws;

/// The longest bucket name S3 accepts.
const NAME_MAX: usize = 63;

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:s3:Bucket", outputs = BucketOutputs)]
pub struct Bucket {
    /// Elastic Load Balancing may write access logs under `PREFIX/AWSLogs/ACCOUNT/`: the
    /// bucket policy grants that to the region's log delivery.
    pub elb_log_prefix: Option<String>,
    /// A Network Load Balancer may write access logs under `PREFIX/AWSLogs/ACCOUNT/`: the
    /// policy grants that to log delivery (`delivery.logs.amazonaws.com`) for this account.
    pub nlb_log_prefix: Option<String>,
    /// Objects (and old versions) expire this many days after they are written; 0: kept.
    pub expire_days: i32,
    /// It holds the user's data (recordings): a delete refuses while it holds anything, instead
    /// of emptying it as it does a bucket of logs (`destroy --delete-recordings` empties it
    /// first, said and counted).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keeps_data: bool,
}

/// How many objects (and old versions) bucket `name` holds, up to 1000 (enough to say it is not
/// empty, and roughly how full).
pub async fn object_count(aws: &Aws, name: &str) -> Res<usize> {
    let page = aws
        .s3
        .list_object_versions()
        .bucket(name)
        .send()
        .await
        .or_gone::<Bucket>()?;
    Ok(page.map_or(0, |p| p.versions().len() + p.delete_markers().len()))
}

/// Deletes every object and old version of bucket `name`; how many.
pub async fn delete_everything_in(aws: &Aws, name: &str) -> Res<usize> {
    empty(aws, name).await
}

#[derive(Clone, Serialize, Deserialize, Outputs)]
pub struct BucketOutputs {
    pub name: String,
    pub arn: String,
}

/// An S3 builder's error (a required field left out: a bug here, not the user's).
fn built<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, ProviderError> {
    result.map_err(|e| ProviderError::new(format!("S3 request cannot be built: {e}")))
}

/// The stack's tags, as S3 takes them.
fn tagging(ctx: &Ctx) -> Res<Tagging> {
    let tag_set = tags(ctx)
        .into_iter()
        .map(|(k, v)| built(Tag::builder().key(k).value(v).build()))
        .collect::<Result<Vec<_>, _>>()?;
    built(Tagging::builder().set_tag_set(Some(tag_set)).build())
}

/// Encryption at rest with S3-managed keys (SSE-S3).
fn encryption_at_rest() -> Res<ServerSideEncryptionConfiguration> {
    let algorithm =
        ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::Aes256);
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(built(algorithm.build())?);
    built(
        ServerSideEncryptionConfiguration::builder()
            .rules(rule.build())
            .build(),
    )
}

/// No public access, by ACL or by policy, whatever is asked later.
fn no_public_access() -> PublicAccessBlockConfiguration {
    PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .ignore_public_acls(true)
        .block_public_policy(true)
        .restrict_public_buckets(true)
        .build()
}

/// Every object belongs to the bucket's owner: ACLs are off.
fn owner_owns() -> Res<OwnershipControls> {
    let rule =
        OwnershipControlsRule::builder().object_ownership(ObjectOwnership::BucketOwnerEnforced);
    built(
        OwnershipControls::builder()
            .rules(built(rule.build())?)
            .build(),
    )
}

impl Bucket {
    /// The bucket policy: ELB log delivery under each prefix asked. (No deny of plain-HTTP requests: the
    /// emulator the tests run against is plain HTTP and enforces bucket policies, so it could
    /// then neither write nor empty the bucket; on AWS the SDK and log delivery use TLS.)
    fn policy(&self, region: &str, account: &str, bucket: &str) -> Option<Json> {
        let mut statements = Vec::new();
        if let Some(prefix) = &self.elb_log_prefix {
            statements.push(log_delivery_statement(region, account, bucket, prefix));
        }
        if let Some(prefix) = &self.nlb_log_prefix {
            statements.extend(nlb_log_delivery_statements(region, account, bucket, prefix));
        }
        if statements.is_empty() {
            return None;
        }
        Some(json!({
            "Version": "2012-10-17",
            "Statement": statements,
        }))
    }

    /// Objects, and versions no longer current, expire after `expire_days`.
    fn lifecycle(&self) -> Res<BucketLifecycleConfiguration> {
        let rule = built(
            LifecycleRule::builder()
                .id("expire")
                .status(ExpirationStatus::Enabled)
                .filter(LifecycleRuleFilter::builder().prefix("").build())
                .expiration(
                    LifecycleExpiration::builder()
                        .days(self.expire_days)
                        .build(),
                )
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(self.expire_days)
                        .build(),
                )
                .build(),
        )?;
        built(BucketLifecycleConfiguration::builder().rules(rule).build())
    }

    /// Brings the bucket `name` to what the arguments ask: tags, encryption, public access
    /// block, ownership, policy, lifecycle. Every call says the whole setting.
    async fn configure(&self, aws: &Aws, ctx: &Ctx, name: &str) -> Res<()> {
        let s3 = &aws.s3;
        let tagging = s3.put_bucket_tagging().tagging(tagging(ctx)?);
        tagging.bucket(name).send().await.or_error()?;
        let encryption = s3.put_bucket_encryption();
        let encryption = encryption.server_side_encryption_configuration(encryption_at_rest()?);
        encryption.bucket(name).send().await.or_error()?;
        let block = s3.put_public_access_block();
        let block = block.public_access_block_configuration(no_public_access());
        block.bucket(name).send().await.or_error()?;
        let ownership = s3
            .put_bucket_ownership_controls()
            .ownership_controls(owner_owns()?);
        ownership.bucket(name).send().await.or_error()?;
        let identity = aws.sts.get_caller_identity().send().await.or_error()?;
        let account = required(identity.account(), "the account id (sts:GetCallerIdentity)")?;
        match self.policy(&aws.region, &account, name) {
            Some(policy) => {
                s3.put_bucket_policy()
                    .bucket(name)
                    .policy(policy.to_string())
                    .send()
                    .await
                    .or_error()?;
            }
            None => {
                s3.delete_bucket_policy()
                    .bucket(name)
                    .send()
                    .await
                    .or_error()?;
            }
        }
        if self.expire_days > 0 {
            let lifecycle = s3.put_bucket_lifecycle_configuration();
            let lifecycle = lifecycle.lifecycle_configuration(self.lifecycle()?);
            lifecycle.bucket(name).send().await.or_error()?;
        } else {
            // Kept until deleted (recordings with no `expire_days`).
            let lifecycle = s3.delete_bucket_lifecycle().bucket(name);
            lifecycle.send().await.or_error()?;
        }
        Ok(())
    }
}

/// Deletes every object version and delete marker of `bucket`; how many there were.
async fn empty(aws: &Aws, bucket: &str) -> Res<usize> {
    let mut doomed = Vec::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = aws
            .s3
            .list_object_versions()
            .bucket(bucket)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .send()
            .await
            .or_error()?;
        let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
        let markers = page
            .delete_markers()
            .iter()
            .map(|m| (m.key(), m.version_id()));
        for (key, version) in versions.chain(markers) {
            let Some(key) = key else { continue };
            doomed.push(built(
                ObjectIdentifier::builder()
                    .key(key)
                    .set_version_id(version.map(String::from))
                    .build(),
            )?);
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(String::from);
        version_marker = page.next_version_id_marker().map(String::from);
        if key_marker.is_none() {
            break;
        }
    }
    /// How many keys one `DeleteObjects` takes.
    const DELETE_BATCH: usize = 1000;
    for batch in doomed.chunks(DELETE_BATCH) {
        let out = aws
            .s3
            .delete_objects()
            .bucket(bucket)
            .delete(built(
                Delete::builder()
                    .set_objects(Some(batch.to_vec()))
                    .quiet(true)
                    .build(),
            )?)
            .send()
            .await
            .or_error()?;
        // A quiet DeleteObjects answers 200 and lists only what it could not delete.
        if let Some(failed) = out.errors().first() {
            return Err(ProviderError {
                code: failed.code().map(String::from),
                message: format!(
                    "could not delete {} from bucket {bucket} ({} of {} refused): {}",
                    failed.key().unwrap_or("an object"),
                    out.errors().len(),
                    batch.len(),
                    failed.message().unwrap_or("no message")
                ),
            });
        }
    }
    Ok(doomed.len())
}

impl AwsKind for Bucket {
    const NOT_FOUND: Codes = &["NoSuchBucket", "NotFound"];
    /// `BucketAlreadyExists`: someone else's name; the next try draws another one.
    const ALREADY_EXISTS: Codes = &["BucketAlreadyOwnedByYou", "BucketAlreadyExists"];
    /// Logs delivered while it was being emptied: emptied again.
    const BUSY: Codes = &["BucketNotEmpty"];

    async fn create(&self, aws: &Aws, ctx: &Ctx) -> Res<String> {
        let name = globally_unique_name(ctx, NAME_MAX);
        // us-east-1 is the one region a location constraint must not name.
        let location = (aws.region != "us-east-1").then(|| {
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(aws.region.as_str()))
                .build()
        });
        aws.once
            .s3
            .create_bucket()
            .bucket(&name)
            .set_create_bucket_configuration(location)
            .object_ownership(ObjectOwnership::BucketOwnerEnforced)
            .send()
            .await
            .or_error()?;
        Ok(name)
    }

    /// The account's bucket named for this step and tagged for it (or not tagged yet: a create
    /// interrupted before its tags).
    async fn find(&self, aws: &Aws, ctx: &Ctx) -> Res<Option<String>> {
        let prefix = global_prefix(ctx, NAME_MAX);
        let out = aws.s3.list_buckets().send().await.or_error()?;
        for bucket in out.buckets() {
            // Exactly a name this step makes: the prefix and 16 hex digits (a user's
            // `STACK-access-logs-archive` starts the same).
            let Some(name) = bucket.name().filter(|n| {
                n.strip_prefix(prefix.as_str()).is_some_and(|rest| {
                    rest.len() == 16 && rest.bytes().all(|b| b.is_ascii_hexdigit())
                }) && !ctx.is_replaced(n)
            }) else {
                continue;
            };
            let tagging = aws.s3.get_bucket_tagging().bucket(name).send().await;
            let ours = match &tagging {
                Ok(t) => is_ours(ctx, t.tag_set().iter().map(|t| (t.key(), t.value()))),
                Err(e) => {
                    use aws_smithy_types::error::metadata::ProvideErrorMetadata;
                    e.code() == Some("NoSuchTagSet")
                }
            };
            if ours {
                return Ok(Some(name.to_string()));
            }
        }
        Ok(None)
    }

    async fn finish(&self, aws: &Aws, ctx: &Ctx, name: &str) -> Res<Self::Outputs> {
        if !ctx.read_only {
            self.configure(aws, ctx, name).await?;
        }
        Ok(BucketOutputs {
            name: name.to_string(),
            arn: format!("arn:{}:s3:::{name}", partition(&aws.region)),
        })
    }

    async fn update(&self, aws: &Aws, ctx: &Ctx, current: &Current<Self>) -> Res<Self::Outputs> {
        self.configure(aws, ctx, &current.id).await?;
        Ok(current.outputs.clone())
    }

    async fn delete(aws: &Aws, ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        let name = &current.id;
        if current.args.keeps_data {
            let held = object_count(aws, name).await?;
            if held > 0 {
                return Err(ProviderError {
                    code: Some("RecordingsKept".into()),
                    message: format!(
                        "bucket {name} holds {held}{} recordings or versions: it is the user's data, never emptied unasked (`destroy --delete-recordings` deletes them)",
                        if held >= 1000 { " or more" } else { "" }
                    ),
                });
            }
        }
        ctx.waiting(format!(
            "emptying bucket {name} (it holds only the access logs this stack's load balancer wrote)"
        ));
        if !aws
            .s3
            .head_bucket()
            .bucket(name)
            .send()
            .await
            .exists::<Self>()?
        {
            return Ok(());
        }
        let removed = empty(aws, name).await?;
        ctx.waiting(format!(
            "deleting bucket {name}: {removed} log objects and versions deleted"
        ));
        aws.s3
            .delete_bucket()
            .bucket(name)
            .send()
            .await
            .or_gone::<Self>()?;
        Ok(())
    }

    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        existing_each(resources, |name| async move {
            aws.s3
                .head_bucket()
                .bucket(name)
                .send()
                .await
                .exists::<Self>()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_lets_log_delivery_write_under_the_prefix_only() {
        let bucket = Bucket {
            elb_log_prefix: Some("alb".into()),
            nlb_log_prefix: None,
            expire_days: 30,
            keeps_data: false,
        };
        let policy = bucket
            .policy("ap-south-1", "123456789012", "logs-1")
            .expect("a policy");
        let statements = policy["Statement"].as_array().expect("statements");
        assert_eq!(statements.len(), 1);
        assert_eq!(
            statements[0]["Resource"],
            "arn:aws:s3:::logs-1/alb/AWSLogs/123456789012/*"
        );
        let plain = Bucket {
            elb_log_prefix: None,
            nlb_log_prefix: None,
            expire_days: 30,
            keeps_data: false,
        };
        assert!(plain.policy("ap-south-1", "1", "b").is_none());
    }

    #[test]
    fn the_policy_lets_each_load_balancers_log_delivery_write_under_its_own_prefix() {
        let bucket = Bucket {
            elb_log_prefix: Some("alb".into()),
            nlb_log_prefix: Some("nlb".into()),
            expire_days: 30,
            keeps_data: false,
        };
        let policy = bucket
            .policy("eu-west-1", "123456789012", "logs-1")
            .expect("a policy");
        let statements = policy["Statement"].as_array().expect("statements");
        let resources: Vec<&str> = statements
            .iter()
            .filter_map(|s| s["Resource"].as_str())
            .collect();
        assert_eq!(
            resources,
            [
                "arn:aws:s3:::logs-1/alb/AWSLogs/123456789012/*",
                "arn:aws:s3:::logs-1",
                "arn:aws:s3:::logs-1/nlb/AWSLogs/123456789012/*",
            ]
        );
    }
}
