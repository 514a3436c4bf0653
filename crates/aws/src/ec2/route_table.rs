//! A route table with a default route to an internet gateway (public subnets) or to a NAT
//! gateway (private subnets), associated with subnets.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::ResourceType;
use serde::{Deserialize, Serialize};

use ams_engine::{Input, Kind, Outputs, ProviderError};

use super::listing::{created, describe_one, existing, find_tagged};
use super::{new_id, tag_spec};
use crate::call::OrError;
use crate::kind::{AwsKind, Codes, Ctx, Current, Res};
use crate::names::resolved;
use crate::Aws;

/// Where the default route goes.
const DEFAULT_ROUTE: &str = "0.0.0.0/0";

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:ec2:RouteTable", outputs = RouteTableOutputs)]
pub struct RouteTable {
    #[kind(replace)]
    pub vpc_id: Input<String>,
    /// Where the default route goes: an internet gateway, or
    #[kind(replace)]
    pub internet_gateway_id: Option<Input<String>>,
    /// a NAT gateway.
    #[kind(replace)]
    pub nat_gateway_id: Option<Input<String>>,
    pub subnet_ids: Vec<Input<String>>,
}

#[derive(Clone, Serialize, Deserialize, Outputs)]
pub struct RouteTableOutputs {
    pub id: String,
    /// The association id of each associated subnet, by subnet id.
    #[serde(default)]
    pub associations: BTreeMap<String, String>,
}

/// Associates `table` with each of `subnets`; the association ids by subnet.
async fn associate(aws: &Aws, table: &str, subnets: &[String]) -> Res<BTreeMap<String, String>> {
    let mut associations = BTreeMap::new();
    for subnet in subnets {
        let out = aws
            .ec2
            .associate_route_table()
            .route_table_id(table)
            .subnet_id(subnet)
            .send()
            .await
            .or_error()?;
        let id = new_id(out.association_id(), "route table association")?;
        associations.insert(subnet.clone(), id);
    }
    Ok(associations)
}

/// Ends the `associations` of subnets not in `keep`.
async fn disassociate(
    aws: &Aws,
    associations: &BTreeMap<String, String>,
    keep: &[String],
) -> Result<(), ProviderError> {
    for (_, association) in associations.iter().filter(|(s, _)| !keep.contains(s)) {
        aws.ec2
            .disassociate_route_table()
            .association_id(association)
            .send()
            .await
            .done_or_gone::<RouteTable>()?;
    }
    Ok(())
}

impl AwsKind for RouteTable {
    const NOT_FOUND: Codes = &[
        "InvalidRouteTableID.NotFound",
        "InvalidAssociationID.NotFound",
    ];
    /// The VPC, the gateway, the subnets or the table itself were just made.
    const NOT_YET_VISIBLE: Codes = &[
        "InvalidVpcID.NotFound",
        "InvalidRouteTableID.NotFound",
        "InvalidInternetGatewayID.NotFound",
        "InvalidGatewayID.NotFound",
        "InvalidNatGatewayID.NotFound",
        "InvalidSubnetID.NotFound",
    ];
    /// An earlier attempt made the route or the association.
    const ALREADY_EXISTS: Codes = &["RouteAlreadyExists", "Resource.AlreadyAssociated"];

    async fn create(&self, aws: &Aws, ctx: &Ctx) -> Res<String> {
        let request = aws.once.ec2.create_route_table();
        let out = request
            .vpc_id(self.vpc_id.get()?)
            .tag_specifications(tag_spec(ctx, ResourceType::RouteTable))
            .send()
            .await
            .or_error()?;
        created::<Self>(out.route_table(), "route table")
    }

    async fn find(&self, aws: &Aws, ctx: &Ctx) -> Res<Option<String>> {
        find_tagged::<Self>(aws, ctx).await
    }

    /// Adds the default route and the associations the table does not have yet.
    async fn finish(&self, aws: &Aws, ctx: &Ctx, id: &str) -> Res<Self::Outputs> {
        let table = describe_one::<Self>(aws, id, "route table").await?;
        let routed = table
            .routes()
            .iter()
            .any(|r| r.destination_cidr_block() == Some(DEFAULT_ROUTE));
        if !routed && !ctx.read_only {
            let gateway = match &self.internet_gateway_id {
                Some(gateway) => Some(gateway.get()?.clone()),
                None => None,
            };
            let nat = match &self.nat_gateway_id {
                Some(nat) => Some(nat.get()?.clone()),
                None => None,
            };
            if gateway.is_none() && nat.is_none() {
                return Err(ProviderError::new(format!(
                    "route table {id}: the default route needs an internet or a NAT gateway"
                )));
            }
            let route = aws.ec2.create_route().destination_cidr_block(DEFAULT_ROUTE);
            let route = route.set_gateway_id(gateway).set_nat_gateway_id(nat);
            // A retry of a create whose answer was lost: the route is there.
            route
                .route_table_id(id)
                .send()
                .await
                .done_already_if("RouteAlreadyExists")?;
        }
        let mut associations: BTreeMap<String, String> = table
            .associations()
            .iter()
            .filter_map(|a| {
                Some((
                    a.subnet_id()?.to_string(),
                    a.route_table_association_id()?.to_string(),
                ))
            })
            .collect();
        let unassociated: Vec<String> = resolved(&self.subnet_ids)?
            .into_iter()
            .filter(|s| !associations.contains_key(s))
            .collect();
        if !ctx.read_only {
            associations.extend(associate(aws, id, &unassociated).await?);
        }
        Ok(RouteTableOutputs {
            id: id.to_string(),
            associations,
        })
    }

    async fn update(&self, aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<Self::Outputs> {
        let wanted = resolved(&self.subnet_ids)?;
        let existing = &current.outputs.associations;
        disassociate(aws, existing, &wanted).await?;
        let new: Vec<String> = wanted
            .iter()
            .filter(|s| !existing.contains_key(*s))
            .cloned()
            .collect();
        let added = associate(aws, &current.id, &new).await?;
        let associations = wanted
            .iter()
            .filter_map(|s| {
                let id = existing.get(s).or_else(|| added.get(s))?;
                Some((s.clone(), id.clone()))
            })
            .collect();
        Ok(RouteTableOutputs {
            id: current.id.clone(),
            associations,
        })
    }

    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        disassociate(aws, &current.outputs.associations, &[]).await?;
        aws.ec2
            .delete_route_table()
            .route_table_id(&current.id)
            .send()
            .await
            .done_or_gone::<Self>()
    }

    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        existing::<Self>(aws, resources, "route-table-id").await
    }
}
