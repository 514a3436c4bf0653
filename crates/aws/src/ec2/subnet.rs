//! A subnet in one availability zone; public subnets give instances a public address.

use aws_sdk_ec2::types::AttributeBooleanValue;
use aws_sdk_ec2::types::ResourceType;
use serde::{Deserialize, Serialize};

use ams_engine::{Input, Kind, ProviderError};

use super::listing::{created, existing, find_tagged};
use super::tag_spec;
use crate::call::OrError;
use crate::kind::{AwsKind, Codes, Ctx, Current, Res};
use crate::outputs::IdOutputs;
use crate::Aws;

#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:ec2:Subnet", outputs = IdOutputs)]
pub struct Subnet {
    #[kind(replace)]
    pub vpc_id: Input<String>,
    #[kind(replace)]
    pub cidr_block: Input<String>,
    #[kind(replace)]
    pub availability_zone: Input<String>,
    pub map_public_ip_on_launch: bool,
}

impl Subnet {
    /// Whether instances launched in the subnet get a public address, as asked.
    async fn set_public_ip(&self, aws: &Aws, id: &str) -> Result<(), ProviderError> {
        let public = AttributeBooleanValue::builder().value(self.map_public_ip_on_launch);
        let call = aws
            .ec2
            .modify_subnet_attribute()
            .map_public_ip_on_launch(public.build());
        call.subnet_id(id).send().await.or_error()?;
        Ok(())
    }
}

impl AwsKind for Subnet {
    const NOT_FOUND: Codes = &["InvalidSubnetID.NotFound"];
    /// The VPC was just made, or the subnet itself (its attribute is set right after).
    const NOT_YET_VISIBLE: Codes = &["InvalidVpcID.NotFound", "InvalidSubnetID.NotFound"];
    /// The block is taken: by the subnet an earlier attempt made.
    const ALREADY_EXISTS: Codes = &["InvalidSubnet.Conflict"];

    async fn create(&self, aws: &Aws, ctx: &Ctx) -> Res<String> {
        let request = aws
            .ec2
            .create_subnet()
            .vpc_id(self.vpc_id.get()?)
            .cidr_block(self.cidr_block.get()?)
            .availability_zone(self.availability_zone.get()?);
        let out = request
            .tag_specifications(tag_spec(ctx, ResourceType::Subnet))
            .send()
            .await
            .or_error()?;
        created::<Self>(out.subnet(), "subnet")
    }

    async fn find(&self, aws: &Aws, ctx: &Ctx) -> Res<Option<String>> {
        find_tagged::<Self>(aws, ctx).await
    }

    async fn finish(&self, aws: &Aws, ctx: &Ctx, id: &str) -> Res<Self::Outputs> {
        if !ctx.read_only {
            self.set_public_ip(aws, id).await?;
        }
        Ok(IdOutputs::of(id))
    }

    async fn update(&self, aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<Self::Outputs> {
        self.set_public_ip(aws, &current.id).await?;
        Ok(current.outputs.clone())
    }

    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        aws.ec2
            .delete_subnet()
            .subnet_id(&current.id)
            .send()
            .await
            .done_or_gone::<Self>()
    }

    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        existing::<Self>(aws, resources, "subnet-id").await
    }
}
