//! An Elastic IP address (in the VPC domain): the fixed public address of the NAT gateway.

use aws_sdk_ec2::types::{Address, DomainType, ResourceType};
use serde::{Deserialize, Serialize};

use ams_engine::{Kind, Outputs};

use super::tag_spec;
use super::{answered, ec2_tag_pairs, filter, id_filter, new_id, own_tags};
use crate::call::OrError;
use crate::kind::{AwsKind, Codes, Ctx, Current, Res};
use crate::names::is_ours;
use crate::Aws;

/// An address for use in a VPC; it has no arguments, only its tags.
#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:ec2:ElasticIp", outputs = ElasticIpOutputs)]
pub struct ElasticIp {}

#[derive(Clone, Serialize, Deserialize, Outputs)]
pub struct ElasticIpOutputs {
    /// The allocation id (`eipalloc-...`), also the resource's id.
    pub id: String,
    pub public_ip: String,
}

/// The addresses EC2 lists for `filters`.
async fn addresses(aws: &Aws, filters: Vec<aws_sdk_ec2::types::Filter>) -> Res<Vec<Address>> {
    let out = aws
        .ec2
        .describe_addresses()
        .set_filters(Some(filters))
        .send()
        .await
        .or_error()?;
    Ok(out.addresses().to_vec())
}

impl AwsKind for ElasticIp {
    const NOT_FOUND: Codes = &["InvalidAllocationID.NotFound"];
    /// Just allocated, not listed yet.
    const NOT_YET_VISIBLE: Codes = &["InvalidAllocationID.NotFound"];
    /// Released while still associated (with a NAT gateway being deleted).
    const BUSY: Codes = &["InvalidIPAddress.InUse"];

    async fn create(&self, aws: &Aws, ctx: &Ctx) -> Res<String> {
        let request = aws.once.ec2.allocate_address().domain(DomainType::Vpc);
        let out = request
            .tag_specifications(tag_spec(ctx, ResourceType::ElasticIp))
            .send()
            .await
            .or_error()?;
        new_id(out.allocation_id(), "Elastic IP address")
    }

    async fn find(&self, aws: &Aws, ctx: &Ctx) -> Res<Option<String>> {
        let found = addresses(aws, own_tags(ctx)).await?;
        Ok(found
            .iter()
            .filter(|a| is_ours(ctx, ec2_tag_pairs(a.tags())))
            .find_map(|a| a.allocation_id())
            .map(String::from))
    }

    async fn finish(&self, aws: &Aws, _ctx: &Ctx, id: &str) -> Res<Self::Outputs> {
        let found = addresses(aws, vec![filter("allocation-id", &[id])]).await?;
        let address = found.first();
        Ok(ElasticIpOutputs {
            id: id.to_string(),
            public_ip: answered(
                address.and_then(|a| a.public_ip()),
                &format!("the public address of {id}"),
            )?,
        })
    }

    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        aws.ec2
            .release_address()
            .allocation_id(&current.id)
            .send()
            .await
            .done_or_gone::<Self>()
    }

    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        let found = addresses(aws, vec![id_filter("allocation-id", &resources)]).await?;
        let live = found.iter().filter_map(|a| a.allocation_id());
        Ok(crate::kind::existing(resources, live))
    }
}
