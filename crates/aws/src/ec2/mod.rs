//! EC2: VPC, internet gateway, subnets, route tables, an Elastic IP and a NAT gateway, security
//! groups (and the rules of the VPC's default one), instances, launch
//! templates, EBS data volumes and their attachments (and `snapshot`: the snapshots the CLI
//! takes), and what the service's kinds share: tags, filters, how EC2 lists them
//! (`listing.rs`), the creates that tag what they make, the deletes that find nothing to do when
//! it is gone.

use std::collections::BTreeMap;

use ams_engine::{Kind, ProviderError, StepContext};
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

use crate::call::missing;
use crate::kind::Current;
use crate::names::{tags, TAG_NAME, TAG_STACK};

mod listing;

mod default_security_group_rules;
mod elastic_ip;
mod instance;
mod internet_gateway;
mod launch_template;
mod machine;
mod nat_gateway;
mod route_table;
mod security_group;
pub mod snapshot;
mod subnet;
mod volume;
mod volume_attachment;
mod vpc;

pub use default_security_group_rules::DefaultSecurityGroupRules;
pub use elastic_ip::{ElasticIp, ElasticIpOutputs};
pub use instance::{Instance, InstanceOutputs};
pub use internet_gateway::InternetGateway;
pub use launch_template::{LaunchTemplate, LaunchTemplateOutputs};
pub use machine::{fitted_user_data, Machine};
pub use nat_gateway::NatGateway;
pub use route_table::{RouteTable, RouteTableOutputs};
pub use security_group::{Rule, SecurityGroup, SecurityGroupOutputs};
pub use subnet::Subnet;
pub use volume::{Volume, VolumeOutputs, GP3_IOPS, GP3_THROUGHPUT};
pub use volume_attachment::{VolumeAttachment, VolumeAttachmentOutputs};
pub use vpc::Vpc;

/// A filter of an EC2 Describe call (also for the lookups of other modules).
pub fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
        .build()
}

/// A filter `name` for the ids of `resources`.
fn id_filter<K: Kind>(name: &str, resources: &[Current<K>]) -> Filter {
    let ids: Vec<&str> = resources.iter().map(|r| r.id.as_str()).collect();
    filter(name, &ids)
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

/// EC2 tags as key/value pairs.
fn ec2_tag_pairs(tags: &[Tag]) -> impl Iterator<Item = (&str, &str)> {
    tags.iter()
        .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default())))
}

/// The step's tags, for a create of `resource_type` to put on what it makes.
fn tag_spec(ctx: &StepContext, resource_type: ResourceType) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource_type)
        .set_tags(Some(ec2_tags(ctx)))
        .build()
}

/// A value the answer must hold; without it, an error naming it (`what`).
fn answered(value: Option<&str>, what: &str) -> Result<String, ProviderError> {
    value.map(String::from).ok_or_else(|| missing(what))
}

/// The id a create's answer gives to the new `what`.
fn new_id(id: Option<&str>, what: &str) -> Result<String, ProviderError> {
    answered(id, &format!("the new {what}'s id"))
}

/// The live arguments of each of `resources`: `None` where `live` (by id) does not list it,
/// else its stored arguments as `merge` brings them up to date from what is listed.
fn live_inputs<K: Kind, V>(
    resources: Vec<Current<K>>,
    live: &BTreeMap<String, V>,
    merge: impl Fn(&mut K, &V),
) -> Vec<Option<K>> {
    resources
        .into_iter()
        .map(|r| {
            let listed = live.get(&r.id)?;
            let mut args = r.args;
            merge(&mut args, listed);
            Some(args)
        })
        .collect()
}
