//! EC2: VPC, internet gateway, subnets, route table, security groups, instances, launch
//! templates, and what the service's kinds share: tags, filters, the listings by filter.

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

use ams_engine::StepContext;

use crate::names::{tags, TAG_NAME, TAG_STACK};

/// Which of `resources` still exist, by one filtered Describe (following pagination): the
/// Describe call, its filter (a filter name, for the resources' ids, or a [`Filter`]), the list
/// in each page and the id of each item.
macro_rules! existing_by_filter {
    ($aws:expr, $resources:expr, $call:ident, $filter:literal, $items:ident, $id:ident) => {{
        let ids: Vec<&str> = $resources.iter().map(|r| r.id.as_str()).collect();
        existing_by_filter!(
            $aws,
            $resources,
            $call,
            $crate::ec2::filter($filter, &ids),
            $items,
            $id
        )
    }};
    ($aws:expr, $resources:expr, $call:ident, $filter:expr, $items:ident, $id:ident) => {{
        let mut live = std::collections::BTreeSet::new();
        let mut pages = $aws.ec2.$call().filters($filter).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = $crate::call::OrError::or_error(page)?;
            live.extend(
                page.$items()
                    .iter()
                    .filter_map(|x| x.$id().map(String::from)),
            );
        }
        Ok($crate::kind::existing($resources, &live))
    }};
}

/// The id of the first resource a Describe call lists among those tagged as this step's
/// resource: the Describe call, the list in its answer and the id of each item.
macro_rules! find_tagged {
    ($aws:expr, $ctx:expr, $call:ident, $items:ident, $id:ident) => {{
        let out = $crate::call::OrError::or_error(
            $aws.ec2
                .$call()
                .set_filters(Some($crate::ec2::own_tags($ctx)))
                .send()
                .await,
        )?;
        Ok(out.$items().iter().find_map(|x| x.$id()).map(String::from))
    }};
}

/// The one resource of id `$id` as a Describe call lists it (owned): the Describe call, its
/// setter of ids, the list in its answer, and what to call the resource if the list is empty.
macro_rules! describe_by_id {
    ($aws:expr, $call:ident, $ids:ident, $id:expr, $items:ident, $what:literal) => {{
        let out = $crate::call::OrError::or_error($aws.ec2.$call().$ids($id).send().await)?;
        out.$items()
            .first()
            .cloned()
            .ok_or_else(|| $crate::call::missing(&format!("{} {}", $what, $id)))?
    }};
}

mod instance;
mod internet_gateway;
mod launch_template;
mod machine;
mod route_table;
mod security_group;
mod subnet;
mod vpc;

pub use instance::{Instance, InstanceOutputs};
pub use internet_gateway::{InternetGateway, InternetGatewayOutputs};
pub use launch_template::{LaunchTemplate, LaunchTemplateOutputs};
pub use machine::Machine;
pub use route_table::{RouteTable, RouteTableOutputs};
pub use security_group::{Rule, SecurityGroup, SecurityGroupOutputs};
pub use subnet::{Subnet, SubnetOutputs};
pub use vpc::{Vpc, VpcOutputs};

/// A filter of an EC2 Describe call (also for the lookups of other modules).
pub fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
        .build()
}

/// Filters for the resources tagged as this step's resource.
fn own_tags(ctx: &StepContext) -> Vec<Filter> {
    vec![
        filter(&format!("tag:{TAG_STACK}"), &[&ctx.stack]),
        filter(&format!("tag:{TAG_NAME}"), &[&ctx.name]),
    ]
}

/// The step's tags as EC2 tags.
fn ec2_tags(ctx: &StepContext) -> Vec<Tag> {
    tags(ctx)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The step's tags, for a create of `resource_type` to put on what it makes.
fn tag_spec(ctx: &StepContext, resource_type: ResourceType) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource_type)
        .set_tags(Some(ec2_tags(ctx)))
        .build()
}
