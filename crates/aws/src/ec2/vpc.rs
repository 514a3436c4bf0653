//! A VPC with DNS host names on.

use aws_sdk_ec2::types::AttributeBooleanValue;
use aws_sdk_ec2::types::ResourceType;
use serde::{Deserialize, Serialize};

use ams_engine::{Input, Kind};

use super::listing::{created, existing, find_tagged};
use super::tag_spec;
use crate::call::OrError;
use crate::kind::{AwsKind, Codes, Ctx, Current, Res};
use crate::outputs::IdOutputs;
use crate::Aws;

#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:ec2:Vpc", outputs = IdOutputs, immutable)]
pub struct Vpc {
    pub cidr_block: Input<String>,
}

impl AwsKind for Vpc {
    const NOT_FOUND: Codes = &["InvalidVpcID.NotFound"];
    /// The attribute is set right after the create, which AWS may not show yet.
    const NOT_YET_VISIBLE: Codes = &["InvalidVpcID.NotFound"];

    async fn create(&self, aws: &Aws, ctx: &Ctx) -> Res<String> {
        let request = aws.once.ec2.create_vpc();
        let out = request
            .cidr_block(self.cidr_block.get()?)
            .tag_specifications(tag_spec(ctx, ResourceType::Vpc))
            .send()
            .await
            .or_error()?;
        created::<Self>(out.vpc(), "VPC")
    }

    async fn find(&self, aws: &Aws, ctx: &Ctx) -> Res<Option<String>> {
        find_tagged::<Self>(aws, ctx).await
    }

    async fn finish(&self, aws: &Aws, ctx: &Ctx, id: &str) -> Res<Self::Outputs> {
        if !ctx.read_only {
            aws.ec2
                .modify_vpc_attribute()
                .vpc_id(id)
                .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
                .send()
                .await
                .or_error()?;
        }
        Ok(IdOutputs::of(id))
    }

    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        aws.ec2
            .delete_vpc()
            .vpc_id(&current.id)
            .send()
            .await
            .done_or_gone::<Self>()
    }

    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        existing::<Self>(aws, resources, "vpc-id").await
    }
}
