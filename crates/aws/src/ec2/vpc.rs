//! A VPC with DNS host names on.

use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType};
use serde::{Deserialize, Serialize};

use ams_engine::state::ResourceState;
use ams_engine::{Input, Kind, Outputs, ProviderError, StepContext};

use super::tag_spec;
use crate::call::{missing, OrError};
use crate::kind::{AwsKind, Ctx, Current, Res};
use crate::Aws;

#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:ec2:Vpc", outputs = VpcOutputs)]
pub struct Vpc {
    #[kind(replace)]
    pub cidr_block: Input<String>,
}

#[derive(Clone, Serialize, Deserialize, Outputs)]
pub struct VpcOutputs {
    pub id: String,
}

#[async_trait::async_trait]
impl AwsKind for Vpc {
    const NOT_FOUND: &'static [&'static str] = &["InvalidVpcID.NotFound"];
    /// The attribute is set right after the create, which AWS may not show yet.
    const NOT_YET_VISIBLE: &'static [&'static str] = &["InvalidVpcID.NotFound"];

    async fn create(&self, aws: &Aws, ctx: &StepContext) -> Result<String, ProviderError> {
        let out = aws
            .once
            .ec2
            .create_vpc()
            .cidr_block(self.cidr_block.get()?)
            .tag_specifications(tag_spec(ctx, ResourceType::Vpc))
            .send()
            .await
            .or_error()?;
        out.vpc()
            .and_then(|v| v.vpc_id())
            .map(String::from)
            .ok_or_else(|| missing("the new VPC's id"))
    }

    async fn find(&self, aws: &Aws, ctx: &StepContext) -> Result<Option<String>, ProviderError> {
        find_tagged!(aws, ctx, describe_vpcs, vpcs, vpc_id)
    }

    async fn finish(&self, aws: &Aws, ctx: &Ctx, id: &str) -> Res<VpcOutputs> {
        if !ctx.read_only {
            aws.ec2
                .modify_vpc_attribute()
                .vpc_id(id)
                .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
                .send()
                .await
                .or_error()?;
        }
        Ok(VpcOutputs { id: id.to_string() })
    }

    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        aws.ec2
            .delete_vpc()
            .vpc_id(&current.id)
            .send()
            .await
            .or_gone::<Self>()?;
        Ok(())
    }

    async fn read(aws: &Aws, resources: &[ResourceState]) -> Res<Vec<Option<serde_json::Value>>> {
        existing_by_filter!(aws, resources, describe_vpcs, "vpc-id", vpcs, vpc_id)
    }
}
