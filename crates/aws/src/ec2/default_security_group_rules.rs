//! The rules of a VPC's default security group, which AWS makes with the VPC and deletes with it:
//! all of them removed (CIS / Security Hub EC2.2), so that anything put in the default group by
//! mistake is reachable by nothing and reaches nothing.
//!
//! A kind of its own rather than a step of the VPC's: a stack made before it gets it as a plain
//! create, refresh shows rules someone put back (`rules` counts them), and `up` removes them
//! again. Deleting it changes nothing: the group goes with its VPC.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::SecurityGroup as Ec2SecurityGroup;
use serde::{Deserialize, Serialize};

use ams_engine::{Input, Kind, ProviderError};

use super::{filter, id_filter, live_inputs};
use crate::call::{missing, OrError};
use crate::kind::{AwsKind, Codes, Ctx, Current, Res};
use crate::outputs::IdOutputs;
use crate::Aws;

#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:ec2:DefaultSecurityGroupRules", outputs = IdOutputs)]
pub struct DefaultSecurityGroupRules {
    #[kind(replace)]
    pub vpc_id: Input<String>,
    /// How many rules (inbound and outbound) the group keeps: declared 0; a refresh counts them.
    pub rules: usize,
}

/// How many rules `group` has, inbound and outbound.
fn rule_count(group: &Ec2SecurityGroup) -> usize {
    group.ip_permissions().len() + group.ip_permissions_egress().len()
}

/// The default security group of VPC `vpc_id`.
async fn default_group(aws: &Aws, vpc_id: &str) -> Res<Option<Ec2SecurityGroup>> {
    let out = aws
        .ec2
        .describe_security_groups()
        .filters(filter("vpc-id", &[vpc_id]))
        .filters(filter("group-name", &["default"]))
        .send()
        .await
        .or_error()?;
    Ok(out.security_groups().first().cloned())
}

/// The group of id `id`, as EC2 describes it.
async fn group(aws: &Aws, id: &str) -> Res<Ec2SecurityGroup> {
    let out = aws
        .ec2
        .describe_security_groups()
        .group_ids(id)
        .send()
        .await
        .or_error()?;
    let first = out.security_groups().first().cloned();
    first.ok_or_else(|| missing(&format!("security group {id}")))
}

/// Revokes every rule of `group`, inbound and outbound.
async fn revoke_all(aws: &Aws, group: &Ec2SecurityGroup) -> Res<()> {
    let id = group.group_id().unwrap_or_default();
    // A revoke of no rule is refused, and there is nothing to do.
    if !group.ip_permissions().is_empty() {
        aws.ec2
            .revoke_security_group_ingress()
            .group_id(id)
            .set_ip_permissions(Some(group.ip_permissions().to_vec()))
            .send()
            .await
            .or_error()?;
    }
    if !group.ip_permissions_egress().is_empty() {
        aws.ec2
            .revoke_security_group_egress()
            .group_id(id)
            .set_ip_permissions(Some(group.ip_permissions_egress().to_vec()))
            .send()
            .await
            .or_error()?;
    }
    Ok(())
}

impl AwsKind for DefaultSecurityGroupRules {
    const NOT_FOUND: Codes = &["InvalidGroup.NotFound"];
    /// The VPC (and so its default group) was just made.
    const NOT_YET_VISIBLE: Codes = &["InvalidVpcID.NotFound", "InvalidGroup.NotFound"];

    /// Nothing to make: the VPC has its default group already; its id.
    async fn create(&self, aws: &Aws, _ctx: &Ctx) -> Res<String> {
        let vpc_id = self.vpc_id.get()?;
        let found = default_group(aws, vpc_id).await?;
        let id = found.as_ref().and_then(|g| g.group_id()).map(String::from);
        id.ok_or_else(|| ProviderError {
            code: Some("InvalidGroup.NotFound".into()),
            message: format!("VPC {vpc_id} has no default security group (yet)"),
        })
    }

    async fn find(&self, aws: &Aws, _ctx: &Ctx) -> Res<Option<String>> {
        let found = default_group(aws, self.vpc_id.get()?).await?;
        Ok(found.and_then(|g| g.group_id().map(String::from)))
    }

    /// Removes every rule the group has.
    async fn finish(&self, aws: &Aws, ctx: &Ctx, id: &str) -> Res<Self::Outputs> {
        if !ctx.read_only {
            revoke_all(aws, &group(aws, id).await?).await?;
        }
        Ok(IdOutputs::of(id))
    }

    /// Removes the rules someone put back.
    async fn update(&self, aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<Self::Outputs> {
        revoke_all(aws, &group(aws, &current.id).await?).await?;
        Ok(current.outputs.clone())
    }

    /// Nothing: the default group is the VPC's, and goes with it.
    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        let _ = (aws, current);
        Ok(())
    }

    /// Which groups still exist, with how many rules they have now.
    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        let out = aws
            .ec2
            .describe_security_groups()
            .filters(id_filter("group-id", &resources))
            .send()
            .await
            .or_error()?;
        let live: BTreeMap<String, usize> = out
            .security_groups()
            .iter()
            .filter_map(|g| Some((g.group_id()?.to_string(), rule_count(g))))
            .collect();
        Ok(live_inputs(resources, &live, |rules, count| {
            rules.rules = *count;
        }))
    }
}
