//! EC2: VPC, internet gateway, subnets, route table, security groups, instances, launch templates.

use aws_sdk_ec2::types::{
    AttributeBooleanValue, BlockDeviceMapping, EbsBlockDevice, Filter, HttpTokensState,
    InstanceMetadataEndpointState, InstanceMetadataOptionsRequest, InstanceStateName, InstanceType,
    IpPermission, IpRange, LaunchTemplateBlockDeviceMappingRequest,
    LaunchTemplateEbsBlockDeviceRequest, LaunchTemplateHttpTokensState,
    LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData, ResourceType, Tag,
    TagSpecification, UserIdGroupPair, VolumeType,
};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use super::{aws_error, error_code, gone, missing, physical_name, resolved, tags, Aws, AwsKind};
use crate::engine::{Created, Input, Kind, Output, ProviderError, Ref, StepContext};
use crate::state::ResourceState;

fn tag_spec(ctx: &StepContext, resource_type: ResourceType) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource_type)
        .set_tags(Some(
            tags(ctx)
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .build()
}

/// For creates that AWS does not make idempotent: one attempt per call, so that a lost answer is
/// looked for (by the provider's retry) before anything is made again.
fn no_sdk_retry() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::disabled()
}

/// Which of `resources` still exist, by one filtered Describe (following pagination).
macro_rules! existing_by_filter {
    ($aws:expr, $resources:expr, $call:ident, $filter:literal, $items:ident, $id:ident, $operation:literal) => {{
        let ids: Vec<&str> = $resources.iter().map(|r| r.id.as_str()).collect();
        existing_by_filter!(
            $aws,
            $resources,
            $call,
            filter($filter, &ids),
            $items,
            $id,
            $operation
        )
    }};
    ($aws:expr, $resources:expr, $call:ident, $filter:expr, $items:ident, $id:ident, $operation:literal) => {{
        let mut live = std::collections::BTreeSet::new();
        let mut pages = $aws.ec2.$call().filters($filter).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error($operation, e))?;
            live.extend(
                page.$items()
                    .iter()
                    .filter_map(|x| x.$id().map(String::from)),
            );
        }
        Ok(super::existing($resources, &live))
    }};
}

/// Filters for the resources tagged as this step's resource.
fn own_tags(ctx: &StepContext) -> Vec<Filter> {
    vec![
        filter(&format!("tag:{}", super::TAG_STACK), &[&ctx.stack]),
        filter(&format!("tag:{}", super::TAG_NAME), &[&ctx.name]),
    ]
}

fn created(id: &str, mut outputs: Json) -> Created {
    if let Some(map) = outputs.as_object_mut() {
        map.insert("id".into(), json!(id));
    }
    Created {
        id: id.to_string(),
        outputs,
    }
}

// ---------------------------------------------------------------------------------------------
/// A VPC with DNS host names on.
pub struct Vpc;

#[derive(Serialize, Deserialize)]
pub struct VpcArgs {
    pub cidr_block: Input<String>,
}

impl Kind for Vpc {
    const TYPE: &'static str = "aws:ec2:Vpc";
    type Args = VpcArgs;
    const REPLACE_ON: &'static [&'static str] = &["cidr_block"];
}

impl Ref<Vpc> {
    pub fn id(&self) -> Output<String> {
        self.output("id")
    }
}

#[async_trait::async_trait]
impl AwsKind for Vpc {
    async fn read(
        aws: &Aws,
        resources: &[ResourceState],
    ) -> Result<Vec<Option<Json>>, ProviderError> {
        existing_by_filter!(
            aws,
            resources,
            describe_vpcs,
            "vpc-id",
            vpcs,
            vpc_id,
            "ec2:DescribeVpcs"
        )
    }

    async fn find(
        aws: &Aws,
        ctx: &StepContext,
        _args: &VpcArgs,
    ) -> Result<Option<Created>, ProviderError> {
        let out = aws
            .ec2
            .describe_vpcs()
            .set_filters(Some(own_tags(ctx)))
            .send()
            .await
            .map_err(|e| aws_error("ec2:DescribeVpcs", e))?;
        let Some(id) = out.vpcs().iter().find_map(|v| v.vpc_id()) else {
            return Ok(None);
        };
        if ctx.read_only {
            return Ok(Some(created(id, json!({}))));
        }
        aws.ec2
            .modify_vpc_attribute()
            .vpc_id(id)
            .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
            .send()
            .await
            .map_err(|e| aws_error("ec2:ModifyVpcAttribute", e))?;
        Ok(Some(created(id, json!({}))))
    }

    async fn create(
        aws: &Aws,
        ctx: &StepContext,
        args: &VpcArgs,
    ) -> Result<Created, ProviderError> {
        let out = aws
            .ec2
            .create_vpc()
            .cidr_block(args.cidr_block.get()?)
            .tag_specifications(tag_spec(ctx, ResourceType::Vpc))
            .customize()
            .config_override(aws_sdk_ec2::config::Builder::default().retry_config(no_sdk_retry()))
            .send()
            .await
            .map_err(|e| aws_error("ec2:CreateVpc", e))?;
        let id = out
            .vpc()
            .and_then(|v| v.vpc_id())
            .ok_or_else(|| missing("ec2:CreateVpc", "VpcId"))?;
        aws.ec2
            .modify_vpc_attribute()
            .vpc_id(id)
            .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
            .send()
            .await
            .map_err(|e| aws_error("ec2:ModifyVpcAttribute", e))?;
        Ok(created(id, json!({})))
    }

    async fn delete(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
    ) -> Result<(), ProviderError> {
        gone(
            aws.ec2.delete_vpc().vpc_id(&current.id).send().await,
            "ec2:DeleteVpc",
            &["InvalidVpcID.NotFound"],
        )
    }
}

// ---------------------------------------------------------------------------------------------
/// An internet gateway attached to a VPC.
pub struct InternetGateway;

#[derive(Serialize, Deserialize)]
pub struct InternetGatewayArgs {
    pub vpc_id: Input<String>,
}

impl Kind for InternetGateway {
    const TYPE: &'static str = "aws:ec2:InternetGateway";
    type Args = InternetGatewayArgs;
    const REPLACE_ON: &'static [&'static str] = &["vpc_id"];
}

impl Ref<InternetGateway> {
    pub fn id(&self) -> Output<String> {
        self.output("id")
    }
}

#[async_trait::async_trait]
impl AwsKind for InternetGateway {
    async fn read(
        aws: &Aws,
        resources: &[ResourceState],
    ) -> Result<Vec<Option<Json>>, ProviderError> {
        existing_by_filter!(
            aws,
            resources,
            describe_internet_gateways,
            "internet-gateway-id",
            internet_gateways,
            internet_gateway_id,
            "ec2:DescribeInternetGateways"
        )
    }

    async fn find(
        aws: &Aws,
        ctx: &StepContext,
        args: &InternetGatewayArgs,
    ) -> Result<Option<Created>, ProviderError> {
        let out = aws
            .ec2
            .describe_internet_gateways()
            .set_filters(Some(own_tags(ctx)))
            .send()
            .await
            .map_err(|e| aws_error("ec2:DescribeInternetGateways", e))?;
        let Some(gateway) = out.internet_gateways().first() else {
            return Ok(None);
        };
        let id = gateway
            .internet_gateway_id()
            .ok_or_else(|| missing("ec2:DescribeInternetGateways", "id"))?;
        if gateway.attachments().is_empty() && !ctx.read_only {
            aws.ec2
                .attach_internet_gateway()
                .internet_gateway_id(id)
                .vpc_id(args.vpc_id.get()?)
                .send()
                .await
                .map_err(|e| aws_error("ec2:AttachInternetGateway", e))?;
        }
        Ok(Some(created(id, json!({}))))
    }

    async fn create(
        aws: &Aws,
        ctx: &StepContext,
        args: &InternetGatewayArgs,
    ) -> Result<Created, ProviderError> {
        let out = aws
            .ec2
            .create_internet_gateway()
            .tag_specifications(tag_spec(ctx, ResourceType::InternetGateway))
            .customize()
            .config_override(aws_sdk_ec2::config::Builder::default().retry_config(no_sdk_retry()))
            .send()
            .await
            .map_err(|e| aws_error("ec2:CreateInternetGateway", e))?;
        let id = out
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .ok_or_else(|| missing("ec2:CreateInternetGateway", "InternetGatewayId"))?;
        aws.ec2
            .attach_internet_gateway()
            .internet_gateway_id(id)
            .vpc_id(args.vpc_id.get()?)
            .send()
            .await
            .map_err(|e| aws_error("ec2:AttachInternetGateway", e))?;
        Ok(created(id, json!({})))
    }

    async fn delete(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
    ) -> Result<(), ProviderError> {
        if let Some(vpc_id) = current.inputs.get("vpc_id").and_then(Json::as_str) {
            gone(
                aws.ec2
                    .detach_internet_gateway()
                    .internet_gateway_id(&current.id)
                    .vpc_id(vpc_id)
                    .send()
                    .await,
                "ec2:DetachInternetGateway",
                &["Gateway.NotAttached", "InvalidInternetGatewayID.NotFound"],
            )?;
        }
        gone(
            aws.ec2
                .delete_internet_gateway()
                .internet_gateway_id(&current.id)
                .send()
                .await,
            "ec2:DeleteInternetGateway",
            &["InvalidInternetGatewayID.NotFound"],
        )
    }
}

// ---------------------------------------------------------------------------------------------
/// A subnet in one availability zone; public subnets give instances a public address.
pub struct Subnet;

#[derive(Serialize, Deserialize)]
pub struct SubnetArgs {
    pub vpc_id: Input<String>,
    pub cidr_block: Input<String>,
    pub availability_zone: Input<String>,
    pub map_public_ip_on_launch: bool,
}

impl Kind for Subnet {
    const TYPE: &'static str = "aws:ec2:Subnet";
    type Args = SubnetArgs;
    const REPLACE_ON: &'static [&'static str] = &["vpc_id", "cidr_block", "availability_zone"];
}

impl Ref<Subnet> {
    pub fn id(&self) -> Output<String> {
        self.output("id")
    }
}

async fn set_public_ip(aws: &Aws, id: &str, public: bool) -> Result<(), ProviderError> {
    aws.ec2
        .modify_subnet_attribute()
        .subnet_id(id)
        .map_public_ip_on_launch(AttributeBooleanValue::builder().value(public).build())
        .send()
        .await
        .map_err(|e| aws_error("ec2:ModifySubnetAttribute", e))?;
    Ok(())
}

#[async_trait::async_trait]
impl AwsKind for Subnet {
    async fn read(
        aws: &Aws,
        resources: &[ResourceState],
    ) -> Result<Vec<Option<Json>>, ProviderError> {
        existing_by_filter!(
            aws,
            resources,
            describe_subnets,
            "subnet-id",
            subnets,
            subnet_id,
            "ec2:DescribeSubnets"
        )
    }

    async fn find(
        aws: &Aws,
        ctx: &StepContext,
        args: &SubnetArgs,
    ) -> Result<Option<Created>, ProviderError> {
        let out = aws
            .ec2
            .describe_subnets()
            .set_filters(Some(own_tags(ctx)))
            .send()
            .await
            .map_err(|e| aws_error("ec2:DescribeSubnets", e))?;
        let Some(id) = out.subnets().iter().find_map(|s| s.subnet_id()) else {
            return Ok(None);
        };
        if !ctx.read_only {
            set_public_ip(aws, id, args.map_public_ip_on_launch).await?;
        }
        Ok(Some(created(id, json!({}))))
    }

    async fn create(
        aws: &Aws,
        ctx: &StepContext,
        args: &SubnetArgs,
    ) -> Result<Created, ProviderError> {
        let out = aws
            .ec2
            .create_subnet()
            .vpc_id(args.vpc_id.get()?)
            .cidr_block(args.cidr_block.get()?)
            .availability_zone(args.availability_zone.get()?)
            .tag_specifications(tag_spec(ctx, ResourceType::Subnet))
            .send()
            .await
            .map_err(|e| aws_error("ec2:CreateSubnet", e))?;
        let id = out
            .subnet()
            .and_then(|s| s.subnet_id())
            .ok_or_else(|| missing("ec2:CreateSubnet", "SubnetId"))?;
        set_public_ip(aws, id, args.map_public_ip_on_launch).await?;
        Ok(created(id, json!({})))
    }

    async fn update(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
        args: &SubnetArgs,
    ) -> Result<Json, ProviderError> {
        set_public_ip(aws, &current.id, args.map_public_ip_on_launch).await?;
        Ok(current.outputs.clone())
    }

    async fn delete(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
    ) -> Result<(), ProviderError> {
        gone(
            aws.ec2.delete_subnet().subnet_id(&current.id).send().await,
            "ec2:DeleteSubnet",
            &["InvalidSubnetID.NotFound"],
        )
    }
}

// ---------------------------------------------------------------------------------------------
/// A route table with a default route to an internet gateway, associated with subnets.
pub struct RouteTable;

#[derive(Serialize, Deserialize)]
pub struct RouteTableArgs {
    pub vpc_id: Input<String>,
    pub internet_gateway_id: Input<String>,
    pub subnet_ids: Vec<Input<String>>,
}

impl Kind for RouteTable {
    const TYPE: &'static str = "aws:ec2:RouteTable";
    type Args = RouteTableArgs;
    const REPLACE_ON: &'static [&'static str] = &["vpc_id", "internet_gateway_id"];
}

async fn associate(
    aws: &Aws,
    table: &str,
    subnets: &[Input<String>],
) -> Result<Json, ProviderError> {
    let mut associations = serde_json::Map::new();
    for subnet in subnets {
        let subnet = subnet.get()?;
        let out = aws
            .ec2
            .associate_route_table()
            .route_table_id(table)
            .subnet_id(subnet)
            .send()
            .await
            .map_err(|e| aws_error("ec2:AssociateRouteTable", e))?;
        let id = out
            .association_id()
            .ok_or_else(|| missing("ec2:AssociateRouteTable", "AssociationId"))?;
        associations.insert(subnet.clone(), json!(id));
    }
    Ok(Json::Object(associations))
}

async fn disassociate(
    aws: &Aws,
    associations: &Json,
    keep: &[String],
) -> Result<(), ProviderError> {
    for (subnet, association) in associations.as_object().into_iter().flatten() {
        if keep.contains(subnet) {
            continue;
        }
        if let Some(association) = association.as_str() {
            gone(
                aws.ec2
                    .disassociate_route_table()
                    .association_id(association)
                    .send()
                    .await,
                "ec2:DisassociateRouteTable",
                &["InvalidAssociationID.NotFound"],
            )?;
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl AwsKind for RouteTable {
    async fn read(
        aws: &Aws,
        resources: &[ResourceState],
    ) -> Result<Vec<Option<Json>>, ProviderError> {
        existing_by_filter!(
            aws,
            resources,
            describe_route_tables,
            "route-table-id",
            route_tables,
            route_table_id,
            "ec2:DescribeRouteTables"
        )
    }

    async fn find(
        aws: &Aws,
        ctx: &StepContext,
        args: &RouteTableArgs,
    ) -> Result<Option<Created>, ProviderError> {
        let out = aws
            .ec2
            .describe_route_tables()
            .set_filters(Some(own_tags(ctx)))
            .send()
            .await
            .map_err(|e| aws_error("ec2:DescribeRouteTables", e))?;
        let Some(table) = out.route_tables().first() else {
            return Ok(None);
        };
        let id = table
            .route_table_id()
            .ok_or_else(|| missing("ec2:DescribeRouteTables", "id"))?;
        if !table
            .routes()
            .iter()
            .any(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            && !ctx.read_only
        {
            aws.ec2
                .create_route()
                .route_table_id(id)
                .destination_cidr_block("0.0.0.0/0")
                .gateway_id(args.internet_gateway_id.get()?)
                .send()
                .await
                .map_err(|e| aws_error("ec2:CreateRoute", e))?;
        }
        let mut associations = serde_json::Map::new();
        for association in table.associations() {
            if let (Some(subnet), Some(association)) = (
                association.subnet_id(),
                association.route_table_association_id(),
            ) {
                associations.insert(subnet.to_string(), json!(association));
            }
        }
        let missing_subnets: Vec<Input<String>> = resolved(&args.subnet_ids)?
            .into_iter()
            .filter(|s| !associations.contains_key(s))
            .map(Input::Value)
            .collect();
        if ctx.read_only {
            return Ok(Some(created(id, json!({ "associations": associations }))));
        }
        if let Json::Object(added) = associate(aws, id, &missing_subnets).await? {
            associations.extend(added);
        }
        Ok(Some(created(id, json!({ "associations": associations }))))
    }

    async fn create(
        aws: &Aws,
        ctx: &StepContext,
        args: &RouteTableArgs,
    ) -> Result<Created, ProviderError> {
        let out = aws
            .ec2
            .create_route_table()
            .vpc_id(args.vpc_id.get()?)
            .tag_specifications(tag_spec(ctx, ResourceType::RouteTable))
            .customize()
            .config_override(aws_sdk_ec2::config::Builder::default().retry_config(no_sdk_retry()))
            .send()
            .await
            .map_err(|e| aws_error("ec2:CreateRouteTable", e))?;
        let id = out
            .route_table()
            .and_then(|t| t.route_table_id())
            .ok_or_else(|| missing("ec2:CreateRouteTable", "RouteTableId"))?;
        aws.ec2
            .create_route()
            .route_table_id(id)
            .destination_cidr_block("0.0.0.0/0")
            .gateway_id(args.internet_gateway_id.get()?)
            .send()
            .await
            .map_err(|e| aws_error("ec2:CreateRoute", e))?;
        let associations = associate(aws, id, &args.subnet_ids).await?;
        Ok(created(id, json!({ "associations": associations })))
    }

    async fn update(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
        args: &RouteTableArgs,
    ) -> Result<Json, ProviderError> {
        let wanted = resolved(&args.subnet_ids)?;
        let existing = current
            .outputs
            .get("associations")
            .cloned()
            .unwrap_or(json!({}));
        disassociate(aws, &existing, &wanted).await?;
        let new: Vec<Input<String>> = wanted
            .iter()
            .filter(|s| existing.get(s.as_str()).is_none())
            .map(|s| Input::Value(s.clone()))
            .collect();
        let added = associate(aws, &current.id, &new).await?;
        let mut associations = serde_json::Map::new();
        for subnet in &wanted {
            if let Some(id) = existing.get(subnet).or_else(|| added.get(subnet)) {
                associations.insert(subnet.clone(), id.clone());
            }
        }
        Ok(json!({ "id": current.id, "associations": associations }))
    }

    async fn delete(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
    ) -> Result<(), ProviderError> {
        let existing = current
            .outputs
            .get("associations")
            .cloned()
            .unwrap_or(json!({}));
        disassociate(aws, &existing, &[]).await?;
        gone(
            aws.ec2
                .delete_route_table()
                .route_table_id(&current.id)
                .send()
                .await,
            "ec2:DeleteRouteTable",
            &["InvalidRouteTableID.NotFound"],
        )
    }
}

// ---------------------------------------------------------------------------------------------
/// A security group and its inbound rules. Outbound stays AWS's default (all).
pub struct SecurityGroup;

#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct Rule {
    /// `tcp` or `udp`.
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    /// Exactly one source: a CIDR block, another group, or this group itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_group: Option<Input<String>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_self: bool,
    pub description: String,
}

#[derive(Serialize, Deserialize)]
pub struct SecurityGroupArgs {
    pub vpc_id: Input<String>,
    pub description: String,
    pub ingress: Vec<Rule>,
}

impl Kind for SecurityGroup {
    const TYPE: &'static str = "aws:ec2:SecurityGroup";
    type Args = SecurityGroupArgs;
    const REPLACE_ON: &'static [&'static str] = &["vpc_id", "description"];
}

impl Ref<SecurityGroup> {
    pub fn id(&self) -> Output<String> {
        self.output("id")
    }
}

fn permission(group_id: &str, rule: &Rule) -> Result<IpPermission, ProviderError> {
    let mut builder = IpPermission::builder()
        .ip_protocol(&rule.protocol)
        .from_port(rule.from_port)
        .to_port(rule.to_port);
    if let Some(cidr) = &rule.cidr {
        builder = builder.ip_ranges(
            IpRange::builder()
                .cidr_ip(cidr)
                .description(&rule.description)
                .build(),
        );
    }
    let source = match (&rule.source_group, rule.from_self) {
        (Some(group), _) => Some(group.get()?.as_str()),
        (None, true) => Some(group_id),
        (None, false) => None,
    };
    if let Some(source) = source {
        builder = builder.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(source)
                .description(&rule.description)
                .build(),
        );
    }
    Ok(builder.build())
}

/// The inbound rules of a group as AWS lists them, one rule per source.
fn live_rules(group_id: &str, permissions: &[IpPermission]) -> Vec<Rule> {
    let mut rules = Vec::new();
    for permission in permissions {
        let base = Rule {
            protocol: permission.ip_protocol().unwrap_or_default().to_string(),
            from_port: permission.from_port().unwrap_or(-1),
            to_port: permission.to_port().unwrap_or(-1),
            cidr: None,
            source_group: None,
            from_self: false,
            description: String::new(),
        };
        for range in permission.ip_ranges() {
            rules.push(Rule {
                cidr: range.cidr_ip().map(String::from),
                description: range.description().unwrap_or_default().to_string(),
                ..base.clone()
            });
        }
        for pair in permission.user_id_group_pairs() {
            let source = pair.group_id().unwrap_or_default();
            rules.push(Rule {
                source_group: (source != group_id).then(|| Input::Value(source.to_string())),
                from_self: source == group_id,
                description: pair.description().unwrap_or_default().to_string(),
                ..base.clone()
            });
        }
    }
    rules
}

async fn authorize(aws: &Aws, group_id: &str, rules: &[&Rule]) -> Result<(), ProviderError> {
    if rules.is_empty() {
        return Ok(());
    }
    let permissions = rules
        .iter()
        .map(|r| permission(group_id, r))
        .collect::<Result<Vec<_>, _>>()?;
    aws.ec2
        .authorize_security_group_ingress()
        .group_id(group_id)
        .set_ip_permissions(Some(permissions))
        .send()
        .await
        .map_err(|e| aws_error("ec2:AuthorizeSecurityGroupIngress", e))?;
    Ok(())
}

#[async_trait::async_trait]
impl AwsKind for SecurityGroup {
    async fn read(
        aws: &Aws,
        resources: &[ResourceState],
    ) -> Result<Vec<Option<Json>>, ProviderError> {
        let ids: Vec<&str> = resources.iter().map(|r| r.id.as_str()).collect();
        let mut live = std::collections::BTreeMap::new();
        let mut pages = aws
            .ec2
            .describe_security_groups()
            .filters(filter("group-id", &ids))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("ec2:DescribeSecurityGroups", e))?;
            for group in page.security_groups() {
                if let Some(id) = group.group_id() {
                    live.insert(id.to_string(), live_rules(id, group.ip_permissions()));
                }
            }
        }
        Ok(resources
            .iter()
            .map(|r| {
                live.get(&r.id).map(|rules| {
                    // Stored order first, then what was added by hand, so that order is no drift.
                    let stored: Vec<Rule> = r
                        .inputs
                        .get("ingress")
                        .cloned()
                        .and_then(|v| serde_json::from_value(v).ok())
                        .unwrap_or_default();
                    let mut ordered: Vec<&Rule> =
                        stored.iter().filter(|s| rules.contains(s)).collect();
                    ordered.extend(rules.iter().filter(|l| !stored.contains(l)));
                    let mut inputs = r.inputs.clone();
                    inputs["ingress"] = serde_json::to_value(ordered).unwrap_or_default();
                    inputs
                })
            })
            .collect())
    }

    async fn find(
        aws: &Aws,
        ctx: &StepContext,
        args: &SecurityGroupArgs,
    ) -> Result<Option<Created>, ProviderError> {
        let out = aws
            .ec2
            .describe_security_groups()
            .set_filters(Some(own_tags(ctx)))
            .send()
            .await
            .map_err(|e| aws_error("ec2:DescribeSecurityGroups", e))?;
        let Some(group) = out.security_groups().first() else {
            return Ok(None);
        };
        let id = group
            .group_id()
            .ok_or_else(|| missing("ec2:DescribeSecurityGroups", "GroupId"))?;
        // Rules one by one, so that those already there are simply skipped.
        for rule in args.ingress.iter().filter(|_| !ctx.read_only) {
            match authorize(aws, id, &[rule]).await {
                Err(e) if e.code.as_deref() == Some("InvalidPermission.Duplicate") => {}
                other => other?,
            }
        }
        Ok(Some(created(id, json!({ "name": group.group_name() }))))
    }

    async fn create(
        aws: &Aws,
        ctx: &StepContext,
        args: &SecurityGroupArgs,
    ) -> Result<Created, ProviderError> {
        let name = physical_name(ctx, 255);
        let out = aws
            .ec2
            .create_security_group()
            .group_name(&name)
            .description(&args.description)
            .vpc_id(args.vpc_id.get()?)
            .tag_specifications(tag_spec(ctx, ResourceType::SecurityGroup))
            .send()
            .await
            .map_err(|e| aws_error("ec2:CreateSecurityGroup", e))?;
        let id = out
            .group_id()
            .ok_or_else(|| missing("ec2:CreateSecurityGroup", "GroupId"))?;
        authorize(aws, id, &args.ingress.iter().collect::<Vec<_>>()).await?;
        Ok(created(id, json!({ "name": name })))
    }

    async fn update(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
        args: &SecurityGroupArgs,
    ) -> Result<Json, ProviderError> {
        let old: Vec<Rule> = current
            .inputs
            .get("ingress")
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| {
                ProviderError::new(format!(
                    "stored rules of {} are unreadable: {e}",
                    current.name
                ))
            })?
            .unwrap_or_default();
        let removed: Vec<&Rule> = old.iter().filter(|r| !args.ingress.contains(r)).collect();
        if !removed.is_empty() {
            let permissions = removed
                .iter()
                .map(|r| permission(&current.id, r))
                .collect::<Result<Vec<_>, _>>()?;
            aws.ec2
                .revoke_security_group_ingress()
                .group_id(&current.id)
                .set_ip_permissions(Some(permissions))
                .send()
                .await
                .map_err(|e| aws_error("ec2:RevokeSecurityGroupIngress", e))?;
        }
        let added: Vec<&Rule> = args.ingress.iter().filter(|r| !old.contains(r)).collect();
        authorize(aws, &current.id, &added).await?;
        Ok(current.outputs.clone())
    }

    async fn delete(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
    ) -> Result<(), ProviderError> {
        gone(
            aws.ec2
                .delete_security_group()
                .group_id(&current.id)
                .send()
                .await,
            "ec2:DeleteSecurityGroup",
            &["InvalidGroup.NotFound"],
        )
    }
}

// ---------------------------------------------------------------------------------------------
/// Settings shared by a standalone instance and a launch template.
#[derive(Clone, Serialize, Deserialize)]
pub struct MachineArgs {
    pub image_id: Input<String>,
    pub instance_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    pub security_group_ids: Vec<Input<String>>,
    /// The boot script, as text; base64 is the provider's business.
    pub user_data: Input<String>,
    pub root_volume_gib: i32,
    /// The root device name of the image (`/dev/sda1` on Ubuntu and the AMS images).
    pub root_device: String,
    /// Whether the root volume is encrypted (the cluster always asks for it; checks verify it).
    pub encrypted: bool,
    /// Instance metadata: `required` (IMDSv2 only) or `optional`.
    pub http_tokens: String,
    pub hop_limit: i32,
    /// The instance profile the machine runs with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_profile_arn: Option<Input<String>>,
}

impl MachineArgs {
    fn security_groups(&self) -> Result<Vec<String>, ProviderError> {
        resolved(&self.security_group_ids)
    }

    fn user_data_base64(&self) -> Result<String, ProviderError> {
        Ok(base64::engine::general_purpose::STANDARD.encode(self.user_data.get()?))
    }

    fn profile(&self) -> Result<Option<String>, ProviderError> {
        Ok(match &self.instance_profile_arn {
            Some(arn) => Some(arn.get()?.clone()),
            None => None,
        })
    }
}

/// A standalone EC2 instance (the MongoDB server): IMDSv2 only, encrypted gp3 root volume.
pub struct Instance;

#[derive(Serialize, Deserialize)]
pub struct InstanceArgs {
    pub subnet_id: Input<String>,
    #[serde(flatten)]
    pub machine: MachineArgs,
}

impl Kind for Instance {
    const TYPE: &'static str = "aws:ec2:Instance";
    type Args = InstanceArgs;
    const REPLACE_ON: &'static [&'static str] = &[
        "subnet_id",
        "image_id",
        "instance_type",
        "key_name",
        "user_data",
        "root_volume_gib",
        "root_device",
        "encrypted",
        "http_tokens",
        "hop_limit",
        "instance_profile_arn",
    ];
}

impl Ref<Instance> {
    pub fn private_ip(&self) -> Output<String> {
        self.output("private_ip")
    }
}

#[async_trait::async_trait]
impl AwsKind for Instance {
    async fn read(
        aws: &Aws,
        resources: &[ResourceState],
    ) -> Result<Vec<Option<Json>>, ProviderError> {
        let ids: Vec<&str> = resources.iter().map(|r| r.id.as_str()).collect();
        let mut live = std::collections::BTreeMap::new();
        let mut pages = aws
            .ec2
            .describe_instances()
            .filters(filter("instance-id", &ids))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("ec2:DescribeInstances", e))?;
            for instance in page.reservations().iter().flat_map(|r| r.instances()) {
                let running = !matches!(
                    instance.state().and_then(|s| s.name()),
                    Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown)
                );
                if let (Some(id), true) = (instance.instance_id(), running) {
                    live.insert(
                        id.to_string(),
                        instance.instance_type().map(|t| t.as_str().to_string()),
                    );
                }
            }
        }
        Ok(resources
            .iter()
            .map(|r| {
                live.get(&r.id).map(|instance_type| {
                    let mut inputs = r.inputs.clone();
                    if let Some(instance_type) = instance_type {
                        inputs["instance_type"] = json!(instance_type);
                    }
                    inputs
                })
            })
            .collect())
    }

    async fn find(
        aws: &Aws,
        ctx: &StepContext,
        _args: &InstanceArgs,
    ) -> Result<Option<Created>, ProviderError> {
        let mut filters = own_tags(ctx);
        filters.push(filter("instance-state-name", &["pending", "running"]));
        let out = aws
            .ec2
            .describe_instances()
            .set_filters(Some(filters))
            .send()
            .await
            .map_err(|e| aws_error("ec2:DescribeInstances", e))?;
        let Some(id) = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find_map(|i| i.instance_id())
        else {
            return Ok(None);
        };
        let (private_ip, public_ip) = wait_running(aws, ctx, id).await?;
        Ok(Some(created(
            id,
            json!({ "private_ip": private_ip, "public_ip": public_ip }),
        )))
    }

    async fn create(
        aws: &Aws,
        ctx: &StepContext,
        args: &InstanceArgs,
    ) -> Result<Created, ProviderError> {
        let machine = &args.machine;
        let profile = machine.profile()?.map(|arn| {
            aws_sdk_ec2::types::IamInstanceProfileSpecification::builder()
                .arn(arn)
                .build()
        });
        let (image_id, subnet_id) = (machine.image_id.get()?, args.subnet_id.get()?);
        let (security_groups, user_data) =
            (machine.security_groups()?, machine.user_data_base64()?);
        let run = || {
            aws.ec2
                .run_instances()
                .set_iam_instance_profile(profile.clone())
                .image_id(image_id)
                .instance_type(InstanceType::from(machine.instance_type.as_str()))
                .min_count(1)
                .max_count(1)
                .subnet_id(subnet_id)
                .set_security_group_ids(Some(security_groups.clone()))
                .set_key_name(machine.key_name.clone())
                .user_data(user_data.clone())
                .metadata_options(
                    InstanceMetadataOptionsRequest::builder()
                        .http_tokens(HttpTokensState::from(machine.http_tokens.as_str()))
                        .http_endpoint(InstanceMetadataEndpointState::Enabled)
                        .http_put_response_hop_limit(machine.hop_limit)
                        .build(),
                )
                .block_device_mappings(
                    BlockDeviceMapping::builder()
                        .device_name(&machine.root_device)
                        .ebs(
                            EbsBlockDevice::builder()
                                .volume_size(machine.root_volume_gib)
                                .volume_type(VolumeType::Gp3)
                                .encrypted(machine.encrypted)
                                .delete_on_termination(true)
                                .build(),
                        )
                        .build(),
                )
                .tag_specifications(tag_spec(ctx, ResourceType::Instance))
                .tag_specifications(tag_spec(ctx, ResourceType::Volume))
                .set_client_token(ctx.token.clone())
                .customize()
                .config_override(
                    aws_sdk_ec2::config::Builder::default().retry_config(no_sdk_retry()),
                )
                .send()
        };
        // A new instance profile takes a few seconds to be usable in EC2: retry that error only.
        let mut attempts = 0;
        let out = loop {
            match run().await {
                Err(e)
                    if attempts < 20
                        && error_code(&e) == Some("InvalidParameterValue")
                        && format!("{e:?}").contains("iamInstanceProfile") =>
                {
                    attempts += 1;
                    ctx.waiting("the new instance profile to become usable");
                    tokio::time::sleep(
                        aws.poll_interval.max(std::time::Duration::from_millis(500)),
                    )
                    .await;
                }
                other => break other.map_err(|e| aws_error("ec2:RunInstances", e))?,
            }
        };
        let id = out
            .instances()
            .first()
            .and_then(|i| i.instance_id())
            .ok_or_else(|| missing("ec2:RunInstances", "InstanceId"))?
            .to_string();
        let (private_ip, public_ip) = wait_running(aws, ctx, &id).await?;
        Ok(created(
            &id,
            json!({ "private_ip": private_ip, "public_ip": public_ip }),
        ))
    }

    async fn delete(
        aws: &Aws,
        ctx: &StepContext,
        current: &ResourceState,
    ) -> Result<(), ProviderError> {
        gone(
            aws.ec2
                .terminate_instances()
                .instance_ids(&current.id)
                .send()
                .await,
            "ec2:TerminateInstances",
            &["InvalidInstanceID.NotFound"],
        )?;
        let what = format!("instance {} to terminate", current.id);
        aws.wait_for(ctx, &what, || async {
            let out = aws
                .ec2
                .describe_instances()
                .instance_ids(&current.id)
                .send()
                .await;
            match out {
                Err(e) if error_code(&e) == Some("InvalidInstanceID.NotFound") => Ok(Some(())),
                Err(e) => Err(aws_error("ec2:DescribeInstances", e)),
                Ok(out) => {
                    let state = out
                        .reservations()
                        .iter()
                        .flat_map(|r| r.instances())
                        .next()
                        .and_then(|i| i.state())
                        .and_then(|s| s.name())
                        .cloned();
                    Ok(matches!(state, None | Some(InstanceStateName::Terminated)).then_some(()))
                }
            }
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------------
/// Waits for an instance to run; its private and public addresses.
async fn wait_running(
    aws: &Aws,
    ctx: &StepContext,
    id: &str,
) -> Result<(Option<String>, Option<String>), ProviderError> {
    let what = format!("instance {id} to be running");
    aws.wait_for(ctx, &what, || async {
        let out = aws
            .ec2
            .describe_instances()
            .instance_ids(id)
            .send()
            .await
            .map_err(|e| aws_error("ec2:DescribeInstances", e))?;
        let instance = out.reservations().iter().flat_map(|r| r.instances()).next();
        let state = instance.and_then(|i| i.state()).and_then(|s| s.name());
        Ok(match state {
            Some(InstanceStateName::Running) => instance.map(|i| {
                (
                    i.private_ip_address().map(String::from),
                    i.public_ip_address().map(String::from),
                )
            }),
            Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown) => {
                return Err(ProviderError {
                    code: Some("InstanceTerminated".into()),
                    message: format!("instance {id} terminated while starting"),
                })
            }
            _ => None,
        })
    })
    .await
}

/// A launch template for auto-scaling nodes: IMDSv2 only, encrypted gp3 root volume.
/// Changing it makes a new version and makes that the default.
pub struct LaunchTemplate;

#[derive(Serialize, Deserialize)]
pub struct LaunchTemplateArgs {
    #[serde(flatten)]
    pub machine: MachineArgs,
}

impl Kind for LaunchTemplate {
    const TYPE: &'static str = "aws:ec2:LaunchTemplate";
    type Args = LaunchTemplateArgs;
    const REPLACE_ON: &'static [&'static str] = &[];
}

impl Ref<LaunchTemplate> {
    pub fn id(&self) -> Output<String> {
        self.output("id")
    }
}

fn template_data(
    ctx: &StepContext,
    machine: &MachineArgs,
) -> Result<RequestLaunchTemplateData, ProviderError> {
    let instance_tags = tags(ctx)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    Ok(RequestLaunchTemplateData::builder()
        .image_id(machine.image_id.get()?)
        .instance_type(InstanceType::from(machine.instance_type.as_str()))
        .set_key_name(machine.key_name.clone())
        .set_security_group_ids(Some(machine.security_groups()?))
        .user_data(machine.user_data_base64()?)
        .set_iam_instance_profile(machine.profile()?.map(|arn| {
            aws_sdk_ec2::types::LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                .arn(arn)
                .build()
        }))
        .metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_tokens(LaunchTemplateHttpTokensState::from(
                    machine.http_tokens.as_str(),
                ))
                .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
                .http_put_response_hop_limit(machine.hop_limit)
                .build(),
        )
        .block_device_mappings(
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .device_name(&machine.root_device)
                .ebs(
                    LaunchTemplateEbsBlockDeviceRequest::builder()
                        .volume_size(machine.root_volume_gib)
                        .volume_type(VolumeType::Gp3)
                        .encrypted(machine.encrypted)
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        )
        .tag_specifications(
            LaunchTemplateTagSpecificationRequest::builder()
                .resource_type(ResourceType::Instance)
                .set_tags(Some(instance_tags))
                .build(),
        )
        .build())
}

#[async_trait::async_trait]
impl AwsKind for LaunchTemplate {
    async fn read(
        aws: &Aws,
        resources: &[ResourceState],
    ) -> Result<Vec<Option<Json>>, ProviderError> {
        // By name tag, which every emulator filters on; the ids pick out ours.
        let names: Vec<&str> = resources.iter().map(|r| r.name.as_str()).collect();
        let by_name = filter(&format!("tag:{}", super::TAG_NAME), &names);
        existing_by_filter!(
            aws,
            resources,
            describe_launch_templates,
            by_name,
            launch_templates,
            launch_template_id,
            "ec2:DescribeLaunchTemplates"
        )
    }

    async fn find(
        aws: &Aws,
        ctx: &StepContext,
        _args: &LaunchTemplateArgs,
    ) -> Result<Option<Created>, ProviderError> {
        let out = aws
            .ec2
            .describe_launch_templates()
            .set_filters(Some(own_tags(ctx)))
            .send()
            .await
            .map_err(|e| aws_error("ec2:DescribeLaunchTemplates", e))?;
        let Some(template) = out.launch_templates().first() else {
            return Ok(None);
        };
        let id = template
            .launch_template_id()
            .ok_or_else(|| missing("ec2:DescribeLaunchTemplates", "id"))?;
        Ok(Some(created(
            id,
            json!({ "name": template.launch_template_name(), "version": template.latest_version_number().unwrap_or(1) }),
        )))
    }

    async fn create(
        aws: &Aws,
        ctx: &StepContext,
        args: &LaunchTemplateArgs,
    ) -> Result<Created, ProviderError> {
        let name = physical_name(ctx, 128);
        let out = aws
            .ec2
            .create_launch_template()
            .launch_template_name(&name)
            .set_client_token(ctx.token.clone())
            .launch_template_data(template_data(ctx, &args.machine)?)
            .tag_specifications(tag_spec(ctx, ResourceType::LaunchTemplate))
            .send()
            .await
            .map_err(|e| aws_error("ec2:CreateLaunchTemplate", e))?;
        let template = out
            .launch_template()
            .ok_or_else(|| missing("ec2:CreateLaunchTemplate", "LaunchTemplate"))?;
        let id = template
            .launch_template_id()
            .ok_or_else(|| missing("ec2:CreateLaunchTemplate", "LaunchTemplateId"))?;
        Ok(created(
            id,
            json!({ "name": name, "version": template.latest_version_number().unwrap_or(1) }),
        ))
    }

    async fn update(
        aws: &Aws,
        ctx: &StepContext,
        current: &ResourceState,
        args: &LaunchTemplateArgs,
    ) -> Result<Json, ProviderError> {
        let out = aws
            .ec2
            .create_launch_template_version()
            .launch_template_id(&current.id)
            .launch_template_data(template_data(ctx, &args.machine)?)
            .send()
            .await
            .map_err(|e| aws_error("ec2:CreateLaunchTemplateVersion", e))?;
        let version = out
            .launch_template_version()
            .and_then(|v| v.version_number())
            .ok_or_else(|| missing("ec2:CreateLaunchTemplateVersion", "VersionNumber"))?;
        aws.ec2
            .modify_launch_template()
            .launch_template_id(&current.id)
            .default_version(version.to_string())
            .send()
            .await
            .map_err(|e| aws_error("ec2:ModifyLaunchTemplate", e))?;
        let mut outputs = current.outputs.clone();
        outputs["version"] = json!(version);
        Ok(outputs)
    }

    async fn delete(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
    ) -> Result<(), ProviderError> {
        gone(
            aws.ec2
                .delete_launch_template()
                .launch_template_id(&current.id)
                .send()
                .await,
            "ec2:DeleteLaunchTemplate",
            &["InvalidLaunchTemplateId.NotFound"],
        )
    }
}

/// Filters for the EC2 describe calls of other modules.
pub(crate) fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
        .build()
}
