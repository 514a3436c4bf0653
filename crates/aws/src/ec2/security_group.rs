//! A security group and its inbound rules. Outbound stays AWS's default (all).

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType, UserIdGroupPair};
use serde::{Deserialize, Serialize};

use ams_engine::{Input, Kind, Outputs, ProviderError};

use super::listing::{describe_one, find_tagged, Listed};
use super::{answered, id_filter, live_inputs, new_id, tag_spec};
use crate::call::OrError;
use crate::kind::{AwsKind, Codes, Ctx, Current, Res};
use crate::names::physical_name;
use crate::Aws;

/// The code by which AWS refuses a rule the group has already.
const DUPLICATE_RULE: &str = "InvalidPermission.Duplicate";

#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:ec2:SecurityGroup", outputs = SecurityGroupOutputs)]
pub struct SecurityGroup {
    #[kind(replace)]
    pub vpc_id: Input<String>,
    #[kind(replace)]
    pub description: String,
    pub ingress: Vec<Rule>,
}

/// One inbound rule.
#[serde_with::skip_serializing_none]
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct Rule {
    /// `tcp` or `udp`.
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    /// Exactly one source: a CIDR block, another group, or this group itself.
    pub cidr: Option<String>,
    pub source_group: Option<Input<String>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_self: bool,
    pub description: String,
}

#[derive(Clone, Serialize, Deserialize, Outputs)]
pub struct SecurityGroupOutputs {
    pub id: String,
    /// The group's name (made unique from the stack and the resource's name).
    pub name: String,
}

/// A rule as AWS takes it, for the group `group_id`.
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

/// Rules as AWS takes them, for the group `group_id`.
fn permissions(group_id: &str, rules: &[&Rule]) -> Result<Vec<IpPermission>, ProviderError> {
    rules.iter().map(|r| permission(group_id, r)).collect()
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

/// The rules of `rules` that `others` does not hold, in their order.
fn not_in<'a>(rules: &'a [Rule], others: &[Rule]) -> Vec<&'a Rule> {
    rules.iter().filter(|r| !others.contains(r)).collect()
}

/// Adds `rules` to the group, in one call; none when there are no rules (AWS refuses a call
/// without one, and there is nothing to do).
async fn authorize(aws: &Aws, group_id: &str, rules: &[&Rule]) -> Result<(), ProviderError> {
    if rules.is_empty() {
        return Ok(());
    }
    aws.ec2
        .authorize_security_group_ingress()
        .group_id(group_id)
        .set_ip_permissions(Some(permissions(group_id, rules)?))
        .send()
        .await
        .or_error()?;
    Ok(())
}

/// Removes `rules` from the group, in one call; none when there are no rules.
async fn revoke(aws: &Aws, group_id: &str, rules: &[&Rule]) -> Result<(), ProviderError> {
    if rules.is_empty() {
        return Ok(());
    }
    aws.ec2
        .revoke_security_group_ingress()
        .group_id(group_id)
        .set_ip_permissions(Some(permissions(group_id, rules)?))
        .send()
        .await
        .or_error()?;
    Ok(())
}

/// Whether two rules let in the same traffic (whatever their descriptions say).
fn same_access(a: &Rule, b: &Rule) -> bool {
    Rule {
        description: String::new(),
        ..a.clone()
    } == Rule {
        description: String::new(),
        ..b.clone()
    }
}

/// Adds the `rules` that the group does not list yet: in one call, or, when AWS says some are
/// there already (as another description, say), one by one, skipping those.
async fn authorize_missing(aws: &Aws, group_id: &str, rules: &[Rule], live: &[Rule]) -> Res<()> {
    let missing = not_in(rules, live);
    match authorize(aws, group_id, &missing).await {
        Err(e) if e.code.as_deref() == Some(DUPLICATE_RULE) => {}
        other => return other,
    }
    for rule in missing {
        match authorize(aws, group_id, &[rule]).await {
            Err(e) if e.code.as_deref() == Some(DUPLICATE_RULE) => {}
            other => other?,
        }
    }
    Ok(())
}

/// The live rules in the stored order first, then those added by hand, so that order is no
/// drift.
fn in_stored_order(stored: &[Rule], live: &[Rule]) -> Vec<Rule> {
    let kept = stored.iter().filter(|s| live.contains(s));
    kept.chain(not_in(live, stored)).cloned().collect()
}

impl AwsKind for SecurityGroup {
    const NOT_FOUND: Codes = &["InvalidGroup.NotFound"];
    /// The VPC, or a source group, was just made.
    const NOT_YET_VISIBLE: Codes = &["InvalidGroup.NotFound", "InvalidVpcID.NotFound"];
    /// An earlier attempt made the group, or added the rules.
    const ALREADY_EXISTS: Codes = &["InvalidGroup.Duplicate", DUPLICATE_RULE];

    async fn create(&self, aws: &Aws, ctx: &Ctx) -> Res<String> {
        let request = aws
            .ec2
            .create_security_group()
            .group_name(physical_name(ctx, 255))
            .description(&self.description)
            .vpc_id(self.vpc_id.get()?);
        let out = request
            .tag_specifications(tag_spec(ctx, ResourceType::SecurityGroup))
            .send()
            .await
            .or_error()?;
        new_id(out.group_id(), "security group")
    }

    async fn find(&self, aws: &Aws, ctx: &Ctx) -> Res<Option<String>> {
        find_tagged::<Self>(aws, ctx).await
    }

    /// Adds the inbound rules the group does not have yet.
    async fn finish(&self, aws: &Aws, ctx: &Ctx, id: &str) -> Res<Self::Outputs> {
        let group = describe_one::<Self>(aws, id, "security group").await?;
        if !ctx.read_only {
            let live = live_rules(id, group.ip_permissions());
            authorize_missing(aws, id, &self.ingress, &live).await?;
        }
        Ok(SecurityGroupOutputs {
            id: id.to_string(),
            name: answered(
                group.group_name(),
                &format!("the name of security group {id}"),
            )?,
        })
    }

    /// Never a moment with less access than either the old rules or the new ones give: a rule
    /// that only changes its description is described anew in place, new rules are added
    /// before the rules they replace are removed.
    async fn update(&self, aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<Self::Outputs> {
        let old = &current.args.ingress;
        let (redescribed, added): (Vec<&Rule>, Vec<&Rule>) = not_in(&self.ingress, old)
            .into_iter()
            .partition(|new| old.iter().any(|o| same_access(o, new)));
        authorize(aws, &current.id, &added).await?;
        if !redescribed.is_empty() {
            aws.ec2
                .update_security_group_rule_descriptions_ingress()
                .group_id(&current.id)
                .set_ip_permissions(Some(permissions(&current.id, &redescribed)?))
                .send()
                .await
                .or_error()?;
        }
        let removed: Vec<&Rule> = not_in(old, &self.ingress)
            .into_iter()
            .filter(|o| !redescribed.iter().any(|new| same_access(o, new)))
            .collect();
        revoke(aws, &current.id, &removed).await?;
        Ok(current.outputs.clone())
    }

    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        aws.ec2
            .delete_security_group()
            .group_id(&current.id)
            .send()
            .await
            .done_or_gone::<Self>()
    }

    /// The live inbound rules of each group, as its arguments.
    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        let groups = Self::describe_all(aws, id_filter("group-id", &resources)).await?;
        let live: BTreeMap<String, Vec<Rule>> = groups
            .iter()
            .filter_map(|group| {
                let id = group.group_id()?;
                Some((id.to_string(), live_rules(id, group.ip_permissions())))
            })
            .collect();
        Ok(live_inputs(resources, &live, |group, rules| {
            group.ingress = in_stored_order(&group.ingress, rules);
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(port: i32, cidr: &str) -> Rule {
        Rule {
            protocol: "tcp".into(),
            from_port: port,
            to_port: port,
            cidr: Some(cidr.into()),
            source_group: None,
            from_self: false,
            description: String::new(),
        }
    }

    #[test]
    fn live_rules_follow_the_stored_order_and_end_with_those_added_by_hand() {
        let stored = vec![
            tcp(22, "10.0.0.0/8"),
            tcp(80, "0.0.0.0/0"),
            tcp(443, "0.0.0.0/0"),
        ];
        let live = vec![
            tcp(443, "0.0.0.0/0"),
            tcp(8080, "0.0.0.0/0"),
            tcp(22, "10.0.0.0/8"),
        ];
        let ordered = in_stored_order(&stored, &live);
        let ports: Vec<i32> = ordered.iter().map(|r| r.from_port).collect();
        assert_eq!(ports, vec![22, 443, 8080]);
    }
}
