//! An internet gateway attached to a VPC.

use aws_sdk_ec2::types::ResourceType;
use serde::{Deserialize, Serialize};

use ams_engine::{Input, Kind};

use super::listing::{created, describe_one, existing, find_tagged};
use super::tag_spec;
use crate::call::OrError;
use crate::kind::{AwsKind, Codes, Ctx, Current, Res};
use crate::outputs::IdOutputs;
use crate::Aws;

#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:ec2:InternetGateway", outputs = IdOutputs, immutable)]
pub struct InternetGateway {
    pub vpc_id: Input<String>,
}

impl AwsKind for InternetGateway {
    /// Gone, or (when detaching) no longer attached.
    const NOT_FOUND: Codes = &["InvalidInternetGatewayID.NotFound", "Gateway.NotAttached"];
    /// The VPC to attach to was just made, and so was the gateway.
    const NOT_YET_VISIBLE: Codes = &["InvalidVpcID.NotFound", "InvalidInternetGatewayID.NotFound"];
    const ALREADY_EXISTS: Codes = &["Resource.AlreadyAssociated"];

    async fn create(&self, aws: &Aws, ctx: &Ctx) -> Res<String> {
        let request = aws.once.ec2.create_internet_gateway();
        let out = request
            .tag_specifications(tag_spec(ctx, ResourceType::InternetGateway))
            .send()
            .await
            .or_error()?;
        created::<Self>(out.internet_gateway(), "internet gateway")
    }

    async fn find(&self, aws: &Aws, ctx: &Ctx) -> Res<Option<String>> {
        find_tagged::<Self>(aws, ctx).await
    }

    /// Attaches the gateway to the VPC unless it is attached already.
    async fn finish(&self, aws: &Aws, ctx: &Ctx, id: &str) -> Res<Self::Outputs> {
        let gateway = describe_one::<Self>(aws, id, "internet gateway").await?;
        if gateway.attachments().is_empty() && !ctx.read_only {
            aws.ec2
                .attach_internet_gateway()
                .internet_gateway_id(id)
                .vpc_id(self.vpc_id.get()?)
                .send()
                .await
                .or_error()?;
        }
        Ok(IdOutputs::of(id))
    }

    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        if let Ok(vpc_id) = current.args.vpc_id.get() {
            let detach = aws.ec2.detach_internet_gateway().vpc_id(vpc_id);
            detach
                .internet_gateway_id(&current.id)
                .send()
                .await
                .done_or_gone::<Self>()?;
        }
        aws.ec2
            .delete_internet_gateway()
            .internet_gateway_id(&current.id)
            .send()
            .await
            .done_or_gone::<Self>()
    }

    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        existing::<Self>(aws, resources, "internet-gateway-id").await
    }
}
