//! A public NAT gateway in a public subnet, with an Elastic IP address: the way out to the
//! internet for instances in private subnets. Its create waits until it is available; its delete
//! waits until it is deleted, since until then it holds its subnet and its address.

use aws_sdk_ec2::types::{Filter, NatGateway as Ec2NatGateway, NatGatewayState, ResourceType};
use serde::{Deserialize, Serialize};

use ams_engine::{Input, Kind, ProviderError};

use super::tag_spec;
use super::{ec2_tag_pairs, filter, id_filter, new_id, own_tags};
use crate::call::OrError;
use crate::kind::{AwsKind, Codes, Ctx, Current, Res};
use crate::names::is_ours;
use crate::outputs::IdOutputs;
use crate::Aws;

#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:ec2:NatGateway", outputs = IdOutputs, immutable)]
pub struct NatGateway {
    /// The public subnet it sits in.
    pub subnet_id: Input<String>,
    /// The Elastic IP address's allocation id.
    pub allocation_id: Input<String>,
}

/// The NAT gateways EC2 lists for `filters`.
async fn listed(aws: &Aws, filters: Vec<Filter>) -> Res<Vec<Ec2NatGateway>> {
    let mut found = Vec::new();
    let mut pages = aws
        .ec2
        .describe_nat_gateways()
        .set_filter(Some(filters))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        found.extend(page.or_error()?.nat_gateways().iter().cloned());
    }
    Ok(found)
}

/// The state of NAT gateway `id`; `None` when EC2 does not list it.
async fn state_of(aws: &Aws, id: &str) -> Res<Option<Ec2NatGateway>> {
    let found = listed(aws, vec![filter("nat-gateway-id", &[id])]).await?;
    Ok(found.into_iter().next())
}

/// Gone or going: what a find must not adopt and a read must not count.
fn ending(gateway: &Ec2NatGateway) -> bool {
    matches!(
        gateway.state(),
        Some(NatGatewayState::Deleting | NatGatewayState::Deleted | NatGatewayState::Failed)
    )
}

impl AwsKind for NatGateway {
    const NOT_FOUND: Codes = &["NatGatewayNotFound", "InvalidNatGatewayID.NotFound"];
    /// The subnet or the address was just made.
    const NOT_YET_VISIBLE: Codes = &["InvalidSubnetID.NotFound", "InvalidAllocationID.NotFound"];

    async fn create(&self, aws: &Aws, ctx: &Ctx) -> Res<String> {
        // Exactly once: moto ignores the client token, and a retried create then meets the
        // address the first one took (`Resource.AlreadyAssociated`).
        let request = aws
            .once
            .ec2
            .create_nat_gateway()
            .subnet_id(self.subnet_id.get()?)
            .allocation_id(self.allocation_id.get()?)
            .set_client_token(ctx.token.clone());
        let out = request
            .tag_specifications(tag_spec(ctx, ResourceType::Natgateway))
            .send()
            .await
            .or_error()?;
        new_id(
            out.nat_gateway().and_then(|n| n.nat_gateway_id()),
            "NAT gateway",
        )
    }

    async fn find(&self, aws: &Aws, ctx: &Ctx) -> Res<Option<String>> {
        // Tags checked here too: not every emulator filters NAT gateways by tag.
        let found = listed(aws, own_tags(ctx)).await?;
        Ok(found
            .iter()
            .filter(|n| !ending(n) && is_ours(ctx, ec2_tag_pairs(n.tags())))
            .filter_map(|n| n.nat_gateway_id())
            .find(|id| !ctx.is_replaced(id))
            .map(String::from))
    }

    /// Waits until the gateway is available; one that failed is an error with AWS's reason.
    async fn finish(&self, aws: &Aws, ctx: &Ctx, id: &str) -> Res<Self::Outputs> {
        let what = format!("NAT gateway {id} to be available");
        aws.wait_for(ctx, &what, || async {
            let Some(gateway) = state_of(aws, id).await? else {
                return Ok(None);
            };
            match gateway.state() {
                Some(NatGatewayState::Available) => Ok(Some(())),
                Some(NatGatewayState::Pending) | None => Ok(None),
                Some(other) => Err(ProviderError {
                    code: gateway.failure_code().map(String::from),
                    message: format!(
                        "NAT gateway {id} is {}: {}",
                        other.as_str(),
                        gateway.failure_message().unwrap_or("AWS gave no reason")
                    ),
                }),
            }
        })
        .await?;
        Ok(IdOutputs::of(id))
    }

    /// Deletes, then waits until EC2 says it is deleted: until then it holds its subnet's
    /// network interface and its Elastic IP address.
    async fn delete(aws: &Aws, ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        let id = &current.id;
        aws.ec2
            .delete_nat_gateway()
            .nat_gateway_id(id)
            .send()
            .await
            .done_or_gone::<Self>()?;
        let what = format!("NAT gateway {id} to be deleted");
        aws.wait_for(ctx, &what, || async {
            let gateway = state_of(aws, id).await?;
            let gone = gateway.is_none_or(|g| g.state() == Some(&NatGatewayState::Deleted));
            Ok(gone.then_some(()))
        })
        .await
    }

    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        let found = listed(aws, vec![id_filter("nat-gateway-id", &resources)]).await?;
        let live = found.iter().filter(|n| !ending(n));
        Ok(crate::kind::existing(
            resources,
            live.filter_map(|n| n.nat_gateway_id()),
        ))
    }
}
