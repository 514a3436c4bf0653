//! The stack's tags (`ams-stack:stack`, `ams-stack:name`) on resources it adopted: made by hand,
//! they carry none, and the tags are how another `adopt` knows they are owned, and how the
//! nodes' role and the snapshots know the stack's own. Set by one resource, shown in the plan
//! with every resource it tags; nothing else of theirs (a `Name` the user gave) is touched.

use serde::{Deserialize, Serialize};

use ams_engine::{Input, Kind, NoOutputs, ProviderError};

use crate::call::OrError;
use crate::kind::{AwsKind, Ctx, Current, Res};
use crate::names::{TAG_NAME, TAG_STACK};
use crate::Aws;

/// One resource to tag: its name in the stack and its id (an EC2 id or an ARN).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tagged {
    pub name: String,
    pub id: Input<String>,
}

#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:ams:StackTags", outputs = NoOutputs)]
pub struct StackTags {
    /// EC2 resources: instances, security groups, launch templates.
    pub ec2: Vec<Tagged>,
    /// Elastic Load Balancing resources: load balancers, target groups.
    pub elb: Vec<Tagged>,
    /// ACM certificates.
    pub certificates: Vec<Tagged>,
}

impl StackTags {
    /// Puts the stack's tags on every resource listed (again, where they are there already).
    async fn put(&self, aws: &Aws, ctx: &Ctx) -> Res<()> {
        let pairs = |tagged: &Tagged| {
            [
                (TAG_STACK.to_string(), ctx.stack.clone()),
                (TAG_NAME.to_string(), tagged.name.clone()),
            ]
        };
        for tagged in &self.ec2 {
            let tags = pairs(tagged)
                .into_iter()
                .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
                .collect();
            aws.ec2
                .create_tags()
                .resources(tagged.id.get()?)
                .set_tags(Some(tags))
                .send()
                .await
                .or_error()?;
        }
        for tagged in &self.elb {
            let tags = pairs(tagged)
                .into_iter()
                .map(|(k, v)| {
                    aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                        .key(k)
                        .value(v)
                        .build()
                })
                .collect();
            aws.elbv2
                .add_tags()
                .resource_arns(tagged.id.get()?)
                .set_tags(Some(tags))
                .send()
                .await
                .or_error()?;
        }
        for tagged in &self.certificates {
            let tags = pairs(tagged)
                .into_iter()
                .map(|(k, v)| aws_sdk_acm::types::Tag::builder().key(k).value(v).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ProviderError::new(format!("certificate tags: {e}")))?;
            aws.acm
                .add_tags_to_certificate()
                .certificate_arn(tagged.id.get()?)
                .set_tags(Some(tags))
                .send()
                .await
                .or_error()?;
        }
        Ok(())
    }
}

impl AwsKind for StackTags {
    async fn create(&self, aws: &Aws, ctx: &Ctx) -> Res<String> {
        self.put(aws, ctx).await?;
        Ok(format!("{}-stack-tags", ctx.stack))
    }

    /// Tagging again is harmless: a create that lost its answer simply tags again.
    async fn find(&self, _aws: &Aws, _ctx: &Ctx) -> Res<Option<String>> {
        Ok(None)
    }

    async fn finish(&self, _aws: &Aws, _ctx: &Ctx, _id: &str) -> Res<Self::Outputs> {
        Ok(NoOutputs {})
    }

    async fn update(&self, aws: &Aws, ctx: &Ctx, _current: &Current<Self>) -> Res<Self::Outputs> {
        self.put(aws, ctx).await?;
        Ok(NoOutputs {})
    }

    /// The tags go with the resources they are on (a destroy deletes those): nothing to do.
    async fn delete(_aws: &Aws, _ctx: &Ctx, _current: &Current<Self>) -> Res<()> {
        Ok(())
    }
}
