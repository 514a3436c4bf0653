//! An auto-scaling group of nodes from an explicit launch template version (never `$Latest`),
//! registered in target groups (changed in place: attached and detached), replaced when the load
//! balancer finds them unhealthy. A create or a change ends only when the group's instances are
//! InService and healthy; a new template version rolls the instances launch before terminate
//! ([`super::roll`]). Deleting it drains it first, with its target groups' deregistration
//! delay set to 0 (a destroy waits for no stream).

use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::builders;
use std::time::Duration;

use aws_sdk_autoscaling::types::{
    AutoScalingGroup, Filter, LaunchTemplateSpecification, LifecycleHookSpecification, Tag,
};
use aws_sdk_elasticloadbalancingv2::types::TargetGroupAttribute;
use serde::{Deserialize, Serialize};

use ams_engine::state::State;
use ams_engine::{Input, Kind, ProviderError};

use super::lifecycle_hook::{LifecycleHook, LAUNCHING};
use super::roll::{template, when_settled, Fleet, Versions, ROLL_SUSPENDS};
use crate::call::OrError;
use crate::kind::{change_stored, AwsKind, Codes, Ctx, Current, Res};
use crate::names::{physical_name, resolved, tags, TAG_NAME, TAG_STACK};
use crate::outputs::NameOutputs;
use crate::Aws;

/// The longest name of an auto-scaling group.
const NAME_MAX: usize = 255;

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:autoscaling:Group", outputs = NameOutputs)]
pub struct Group {
    pub launch_template_id: Input<String>,
    /// The template version the group launches; `None` (stacks made before): `$Default`.
    pub launch_template_version: Option<Input<i64>>,
    /// How long a new instance may take to be InService and healthy (default 15 minutes).
    pub health_timeout_seconds: Option<u64>,
    /// How many instances a roll replaces at a time (default 1).
    pub max_batch: Option<u32>,
    pub min_size: i32,
    pub max_size: i32,
    pub subnet_ids: Vec<Input<String>>,
    /// Changed in place: the group is attached to the new ones and detached from the old.
    pub target_group_arns: Vec<Input<String>>,
    pub health_check_grace_seconds: i32,
    /// A launch hook the group's first instances already wait in: AWS takes hooks with the
    /// group's create, so that no instance launches before them (a group made before it had
    /// one gets it with its update); the hook's own resource ([`super::LifecycleHook`]) keeps
    /// it from then on.
    pub launch_hook: Option<LaunchHook>,
    /// The group's suspended processes, as read live (a refresh, or a plan after a roll that
    /// did not finish): ams-stack suspends none outside a roll, so a plan shows them going and
    /// the update resumes them. Declared empty (and then left out of the stored arguments).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suspended_processes: Vec<String>,
}

/// An `autoscaling:EC2_INSTANCE_LAUNCHING` hook made with the group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaunchHook {
    pub name: String,
    pub heartbeat_seconds: i32,
    /// `CONTINUE` or `ABANDON`, when the heartbeat timeout passes.
    pub default_result: String,
}

impl Group {
    /// The template version as AWS takes it: the number, or `$Default` when none is given.
    fn version(&self) -> Result<String, ProviderError> {
        Ok(match &self.launch_template_version {
            Some(version) => version.get()?.to_string(),
            None => "$Default".into(),
        })
    }

    fn template(&self) -> Result<LaunchTemplateSpecification, ProviderError> {
        Ok(template(self.launch_template_id.get()?, &self.version()?))
    }

    /// Puts the launch hook when it differs from the one the group was last applied with (a
    /// group made before it had one): the hook's own resource keeps it too.
    async fn put_launch_hook(&self, aws: &Aws, current: &Current<Self>) -> Res<()> {
        let Some(hook) = &self.launch_hook else {
            return Ok(());
        };
        if current.args.launch_hook.as_ref() == Some(hook) {
            return Ok(());
        }
        let put = LifecycleHook {
            group_name: current.id.clone().into(),
            name: hook.name.clone(),
            transition: LAUNCHING.into(),
            heartbeat_seconds: hook.heartbeat_seconds,
            default_result: hook.default_result.clone(),
        };
        put.put(aws).await
    }

    /// The group `name` as a fleet to wait on and roll.
    fn fleet<'a>(&self, name: &'a str, target_groups: &'a [String]) -> Fleet<'a> {
        Fleet {
            name,
            target_groups,
            health_timeout: Duration::from_secs(self.health_timeout_seconds.unwrap_or(15 * 60)),
        }
    }
}

/// The first group a `DescribeAutoScalingGroups` call answers with.
async fn first_group(
    call: builders::DescribeAutoScalingGroupsFluentBuilder,
) -> Result<Option<AutoScalingGroup>, ProviderError> {
    let out = call.send().await.or_error()?;
    Ok(out.auto_scaling_groups.and_then(|g| g.into_iter().next()))
}

/// How many instances the group has; `None` when the group is gone.
async fn instance_count(aws: &Aws, name: &str) -> Result<Option<usize>, ProviderError> {
    let call = aws
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name);
    Ok(first_group(call).await?.map(|g| g.instances().len()))
}

/// The target groups to detach (in `old` only) and to attach (in `new` only).
fn target_group_changes(old: &[String], new: &[String]) -> (Vec<String>, Vec<String>) {
    let detach = old.iter().filter(|a| !new.contains(a)).cloned().collect();
    let attach = new.iter().filter(|a| !old.contains(a)).cloned().collect();
    (detach, attach)
}

/// Empties group `name` (its protected instances too), waits until it has none, and deletes it.
async fn drain_and_delete(aws: &Aws, ctx: &Ctx, name: &str) -> Res<()> {
    aws.autoscaling
        .update_auto_scaling_group()
        .auto_scaling_group_name(name)
        .min_size(0)
        .max_size(0)
        .desired_capacity(0)
        .send()
        .await
        .or_error()?;
    // Instances protected from scale-in (an origin with publishers) stay at desired 0: a
    // termination by hand ignores the protection (the drain hook is deleted before the group).
    let call = aws
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name);
    let protected: Vec<String> = first_group(call)
        .await?
        .map(|g| {
            g.instances()
                .iter()
                .filter(|i| i.protected_from_scale_in() == Some(true))
                .filter_map(|i| i.instance_id().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    for instance in &protected {
        ctx.waiting(format!(
            "terminating {instance}, protected from scale-in, with the group"
        ));
        let terminate = aws.autoscaling.terminate_instance_in_auto_scaling_group();
        let terminate = terminate.should_decrement_desired_capacity(false);
        // Already leaving, or gone: nothing to do.
        terminate
            .instance_id(instance)
            .send()
            .await
            .done_already_if("ValidationError")?;
    }
    let what = format!("group {} to drain", name);
    aws.wait_for(ctx, &what, || async {
        Ok(instance_count(aws, name)
            .await?
            .is_none_or(|n| n == 0)
            .then_some(()))
    })
    .await?;
    match aws
        .autoscaling
        .delete_auto_scaling_group()
        .auto_scaling_group_name(name)
        .send()
        .await
        .or_error()
    {
        Ok(_) => Ok(()),
        // AWS's "not found" is a ValidationError: gone if the group is no longer listed.
        Err(e)
            if e.code.as_deref() == Some("ValidationError")
                && instance_count(aws, name).await?.is_none() =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Target group `arn`'s deregistration delay in seconds, as AWS keeps it (text); `None` when
/// the target group is gone.
async fn deregistration_delay(aws: &Aws, arn: &str) -> Res<Option<String>> {
    let call = aws.elbv2.describe_target_group_attributes();
    let out = match call.target_group_arn(arn).send().await.or_error() {
        Ok(out) => out,
        Err(e) if e.code.as_deref() == Some("TargetGroupNotFound") => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(out
        .attributes()
        .iter()
        .find(|a| a.key() == Some(DEREGISTRATION_DELAY))
        .and_then(|a| a.value().map(String::from)))
}

/// Sets target group `arn`'s deregistration delay.
async fn set_deregistration_delay(aws: &Aws, arn: &str, seconds: &str) -> Res<()> {
    let delay = TargetGroupAttribute::builder()
        .key(DEREGISTRATION_DELAY)
        .value(seconds)
        .build();
    let call = aws.elbv2.modify_target_group_attributes();
    // Gone already (destroyed by hand): nothing to change.
    call.target_group_arn(arn)
        .attributes(delay)
        .send()
        .await
        .done_already_if("TargetGroupNotFound")
}

/// The target group attribute: how long a leaving target keeps its connections.
const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";

/// The processes `group` has suspended, by name, in order (AWS lists them in none).
fn suspended(group: &AutoScalingGroup) -> Vec<String> {
    let mut names: Vec<String> = group
        .suspended_processes()
        .iter()
        .filter_map(|p| p.process_name().map(String::from))
        .collect();
    names.sort();
    names
}

/// Resumes every process group `name` has suspended (a roll's, left by a crash; or any other:
/// the group is ams-stack's, and it declares none).
async fn resume_suspended(aws: &Aws, ctx: &Ctx, name: &str) -> Res<()> {
    let call = aws
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name);
    let left = first_group(call)
        .await?
        .map(|g| suspended(&g))
        .unwrap_or_default();
    if left.is_empty() {
        return Ok(());
    }
    ctx.waiting(format!("resuming {} of group {name}", left.join(", ")));
    when_settled(
        aws,
        ctx,
        &format!("resuming processes of {name}"),
        || async {
            aws.autoscaling
                .resume_processes()
                .auto_scaling_group_name(name)
                .set_scaling_processes(Some(left.clone()))
                .send()
                .await
                .or_error()
        },
    )
    .await?;
    Ok(())
}

/// The live suspended processes of the stack's groups in `state`, put in their stored arguments
/// (a roll that did not finish, after a crash or a kill, leaves some), so that the plan shows
/// them going and the update resumes them. One line for each group with some.
pub async fn left_suspended(aws: &Aws, state: &mut State) -> Res<Vec<String>> {
    /// How many groups one `DescribeAutoScalingGroups` call may name.
    const GROUPS_PER_CALL: usize = 50;
    let names: Vec<String> = state
        .resources
        .iter()
        .filter(|r| r.type_name == Group::TYPE)
        .map(|r| r.id.clone())
        .collect();
    let mut live = std::collections::BTreeMap::new();
    for chunk in names.chunks(GROUPS_PER_CALL) {
        let call = aws.autoscaling.describe_auto_scaling_groups();
        for group in call
            .set_auto_scaling_group_names(Some(chunk.to_vec()))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_error()?
        {
            if let Some(name) = group.auto_scaling_group_name() {
                live.insert(name.to_string(), suspended(&group));
            }
        }
    }
    let mut lines = Vec::new();
    for resource in &mut state.resources {
        let Some(suspended) = live.get(&resource.id) else {
            continue;
        };
        // As they are now, none included: what an earlier run recorded is not kept.
        change_stored::<Group>(resource, |group| {
            group.suspended_processes = suspended.clone();
        })?;
        if suspended.is_empty() {
            continue;
        }
        let why = if suspended
            .iter()
            .any(|p| ROLL_SUSPENDS.contains(&p.as_str()))
        {
            "a roll that did not finish"
        } else {
            "ams-stack suspends none outside a roll"
        };
        lines.push(format!(
            "{}: {} suspended in group {} ({why}); `up` resumes them",
            resource.name,
            suspended.join(", "),
            resource.id
        ));
    }
    Ok(lines)
}

/// The stack's tags on group `name`, passed on to every instance it launches.
fn stack_tags(ctx: &Ctx, name: &str) -> Vec<Tag> {
    tags(ctx)
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .propagate_at_launch(true)
                .resource_id(name)
                .resource_type("auto-scaling-group")
                .build()
        })
        .collect()
}

impl AwsKind for Group {
    const ALREADY_EXISTS: Codes = &["AlreadyExists", "AlreadyExistsFault"];
    /// A delete refused while a scaling activity is in progress is tried again, whole, for the
    /// delete patience (terraform-provider-aws retries it too); a change meets these codes
    /// call by call inside its step ([`when_settled`]), so that a roll is never started over.
    const BUSY: Codes = &super::roll::NOT_NOW;
    /// The instance profile of the launch template, or a target group, just made.
    const NOT_YET_VISIBLE: Codes = &[
        "ValidationError:iamInstanceProfile",
        "ValidationError:TargetGroup",
        "ValidationError:Target Groups",
        "InvalidParameterValue:iamInstanceProfile",
    ];

    async fn create(&self, aws: &Aws, ctx: &Ctx) -> Res<String> {
        let name = physical_name(ctx, NAME_MAX);
        aws.once
            .autoscaling
            .create_auto_scaling_group()
            .auto_scaling_group_name(&name)
            .launch_template(self.template()?)
            .min_size(self.min_size)
            .max_size(self.max_size)
            .desired_capacity(self.min_size)
            .vpc_zone_identifier(resolved(&self.subnet_ids)?.join(","))
            .set_target_group_arns(Some(resolved(&self.target_group_arns)?))
            .health_check_type("ELB")
            .health_check_grace_period(self.health_check_grace_seconds)
            .set_lifecycle_hook_specification_list(self.launch_hook.as_ref().map(|hook| {
                vec![LifecycleHookSpecification::builder()
                    .lifecycle_hook_name(&hook.name)
                    .lifecycle_transition(LAUNCHING)
                    .heartbeat_timeout(hook.heartbeat_seconds)
                    .default_result(&hook.default_result)
                    .build()]
            }))
            .set_tags(Some(stack_tags(ctx, &name)))
            .send()
            .await
            .or_error()?;
        Ok(name)
    }

    /// The group tagged with this step's stack and name.
    async fn find(&self, aws: &Aws, ctx: &Ctx) -> Res<Option<String>> {
        let filter = |key: &str, value: &str| {
            Filter::builder()
                .name(format!("tag:{key}"))
                .values(value)
                .build()
        };
        let call = aws
            .autoscaling
            .describe_auto_scaling_groups()
            .filters(filter(TAG_STACK, &ctx.stack))
            .filters(filter(TAG_NAME, &ctx.name));
        Ok(first_group(call)
            .await?
            .and_then(|g| g.auto_scaling_group_name))
    }

    /// Waits until the group has its desired count InService and healthy in its target groups.
    async fn finish(&self, aws: &Aws, ctx: &Ctx, name: &str) -> Res<Self::Outputs> {
        if !ctx.read_only {
            let target_groups = resolved(&self.target_group_arns)?;
            self.fleet(name, &target_groups)
                .serving_desired(aws, ctx)
                .await?;
        }
        Ok(NameOutputs::of(name))
    }

    /// Changes the sizes, template version, subnets and health check; resumes processes left
    /// suspended; detaches the target groups no longer asked for and attaches the new ones;
    /// rolls the instances onto a new template version; ends when the desired count serves.
    async fn update(&self, aws: &Aws, ctx: &Ctx, current: &Current<Self>) -> Res<Self::Outputs> {
        let (template, subnets) = (self.template()?, resolved(&self.subnet_ids)?.join(","));
        let what = format!("changing group {}", current.id);
        when_settled(aws, ctx, &what, || async {
            aws.autoscaling
                .update_auto_scaling_group()
                .auto_scaling_group_name(&current.id)
                .launch_template(template.clone())
                .min_size(self.min_size)
                .max_size(self.max_size)
                .vpc_zone_identifier(&subnets)
                .health_check_type("ELB")
                .health_check_grace_period(self.health_check_grace_seconds)
                .send()
                .await
                .or_error()
        })
        .await?;
        resume_suspended(aws, ctx, &current.id).await?;
        // A group made before the stack (adopted) gets the stack's tags before it launches a
        // node: the nodes' role acts only on groups that carry them, and new nodes inherit them
        // (its own `Name`, if it has one, stays).
        let ours: Vec<Tag> = stack_tags(ctx, &current.id)
            .into_iter()
            .filter(|t| t.key() != Some("Name"))
            .collect();
        aws.autoscaling
            .create_or_update_tags()
            .set_tags(Some(ours))
            .send()
            .await
            .or_error()?;
        self.put_launch_hook(aws, current).await?;
        let (detach, attach) = target_group_changes(
            &resolved(&current.args.target_group_arns)?,
            &resolved(&self.target_group_arns)?,
        );
        // A call without a target group is refused, and there is nothing to do.
        if !detach.is_empty() {
            aws.autoscaling
                .detach_load_balancer_target_groups()
                .auto_scaling_group_name(&current.id)
                .set_target_group_arns(Some(detach))
                .send()
                .await
                .or_error()?;
        }
        if !attach.is_empty() {
            aws.autoscaling
                .attach_load_balancer_target_groups()
                .auto_scaling_group_name(&current.id)
                .set_target_group_arns(Some(attach))
                .send()
                .await
                .or_error()?;
        }
        let target_groups = resolved(&self.target_group_arns)?;
        let fleet = self.fleet(&current.id, &target_groups);
        // The version the instances run: the stored one; for a group made before versions were
        // explicit (it launched `$Default`, which the template's update has just moved on to
        // the new version), the one before the new version.
        let stored = match &current.args.launch_template_version {
            Some(version) => Some(*version.get()?),
            None => None,
        };
        let previous = match (stored, &self.launch_template_version) {
            (Some(version), _) => version.to_string(),
            (None, Some(new)) if *new.get()? > 1 => (new.get()? - 1).to_string(),
            (None, _) => "$Default".to_string(),
        };
        // A new version (or the first explicit one): every instance there now is rolled.
        if self.launch_template_version.is_some() && self.version()? != previous {
            let new = self.version()?;
            let versions = Versions {
                template_id: self.launch_template_id.get()?,
                new: &new,
                previous: &previous,
            };
            let batch = self.max_batch.unwrap_or(1) as usize;
            fleet.roll(aws, ctx, &versions, batch).await?;
        }
        fleet.serving_desired(aws, ctx).await?;
        Ok(current.outputs.clone())
    }

    /// Drains it first, as Terraform does: AWS refuses to delete a group with instances, and an
    /// emulator that allows it leaves them running.
    async fn delete(aws: &Aws, ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        if instance_count(aws, &current.id).await?.is_none() {
            return Ok(());
        }
        // A destroy waits for no stream: a leaving instance is not held in its target groups
        // for the drain time (up to an hour), which would outlast the drain's wait. The delays
        // are put back whichever way the drain ends (a target group may outlive the group:
        // `--target`; a busy delete is tried again and must find them as they were).
        let mut delays = Vec::new();
        for arn in resolved(&current.args.target_group_arns)? {
            if let Some(delay) = deregistration_delay(aws, &arn).await? {
                set_deregistration_delay(aws, &arn, "0").await?;
                delays.push((arn, delay));
            }
        }
        let deleted = drain_and_delete(aws, ctx, &current.id).await;
        for (arn, delay) in delays {
            set_deregistration_delay(aws, &arn, &delay).await?;
        }
        deleted
    }

    /// The live sizes of the groups (which scaling changes), in one call per 50 groups.
    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        /// How many groups one `DescribeAutoScalingGroups` call may name.
        const GROUPS_PER_CALL: usize = 50;
        let mut live = std::collections::BTreeMap::new();
        for chunk in resources.chunks(GROUPS_PER_CALL) {
            let names: Vec<String> = chunk.iter().map(|r| r.id.clone()).collect();
            let call = aws.autoscaling.describe_auto_scaling_groups();
            for group in call
                .set_auto_scaling_group_names(Some(names))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .or_error()?
            {
                if let Some(name) = group.auto_scaling_group_name() {
                    let sizes = (group.min_size(), group.max_size());
                    live.insert(name.to_string(), (sizes, suspended(&group)));
                }
            }
        }
        Ok(resources
            .into_iter()
            .map(|r| {
                let ((min, max), suspended) = live.get(&r.id)?;
                let mut group = r.args;
                group.min_size = min.unwrap_or(group.min_size);
                group.max_size = max.unwrap_or(group.max_size);
                group.suspended_processes = suspended.clone();
                Some(group)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn changing_the_target_groups_attaches_and_detaches_in_place() {
        let old = vec!["arn:http".to_string()];
        let new = vec!["arn:http".to_string(), "arn:srt".to_string()];
        assert_eq!(
            target_group_changes(&old, &new),
            (vec![], vec!["arn:srt".to_string()])
        );
        assert_eq!(
            target_group_changes(&new, &old),
            (vec!["arn:srt".to_string()], vec![])
        );
        assert!(Group::replace_on().is_empty());
    }

    #[test]
    fn the_group_name_is_an_output() {
        let outputs: NameOutputs =
            serde_json::from_value(json!({ "name": "s-origin-1a2b" })).unwrap();
        assert_eq!(
            serde_json::to_value(&outputs).unwrap(),
            json!({ "name": "s-origin-1a2b" })
        );
    }
}
