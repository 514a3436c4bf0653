//! Auto Scaling: node groups and their target-tracking CPU policies.

use aws_sdk_autoscaling::types::{
    LaunchTemplateSpecification, MetricType, PredefinedMetricSpecification, Tag,
    TargetTrackingConfiguration,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use super::{
    aws_error, error_code, missing, output_str, physical_name, physical_prefix, resolved, tags,
    Aws, AwsKind,
};
use crate::engine::{Created, Input, Kind, Output, ProviderError, Ref, StepContext};
use crate::state::ResourceState;

/// An auto-scaling group of nodes from a launch template, registered in target groups,
/// replaced when the load balancer finds them unhealthy. Deleting it drains it first.
pub struct Group;

#[derive(Serialize, Deserialize)]
pub struct GroupArgs {
    pub launch_template_id: Input<String>,
    pub min_size: i32,
    pub max_size: i32,
    pub subnet_ids: Vec<Input<String>>,
    pub target_group_arns: Vec<Input<String>>,
    pub health_check_grace_seconds: i32,
}

impl Kind for Group {
    const TYPE: &'static str = "aws:autoscaling:Group";
    type Args = GroupArgs;
    const REPLACE_ON: &'static [&'static str] = &[];
}

impl Ref<Group> {
    pub fn name_output(&self) -> Output<String> {
        self.output("name")
    }
}

fn template(id: &str) -> LaunchTemplateSpecification {
    LaunchTemplateSpecification::builder()
        .launch_template_id(id)
        .version("$Default")
        .build()
}

async fn instance_count(aws: &Aws, name: &str) -> Result<Option<usize>, ProviderError> {
    let out = aws
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .map_err(|e| aws_error("autoscaling:DescribeAutoScalingGroups", e))?;
    Ok(out
        .auto_scaling_groups()
        .first()
        .map(|g| g.instances().len()))
}

#[async_trait::async_trait]
impl AwsKind for Group {
    async fn read(
        aws: &Aws,
        resources: &[ResourceState],
    ) -> Result<Vec<Option<Json>>, ProviderError> {
        let mut live = std::collections::BTreeMap::new();
        for chunk in resources.chunks(50) {
            let names: Vec<String> = chunk.iter().map(|r| r.id.clone()).collect();
            let mut pages = aws
                .autoscaling
                .describe_auto_scaling_groups()
                .set_auto_scaling_group_names(Some(names))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page =
                    page.map_err(|e| aws_error("autoscaling:DescribeAutoScalingGroups", e))?;
                for group in page.auto_scaling_groups() {
                    if let Some(name) = group.auto_scaling_group_name() {
                        live.insert(name.to_string(), (group.min_size(), group.max_size()));
                    }
                }
            }
        }
        Ok(resources
            .iter()
            .map(|r| {
                live.get(&r.id).map(|(min, max)| {
                    let mut inputs = r.inputs.clone();
                    if let Some(min) = min {
                        inputs["min_size"] = json!(min);
                    }
                    if let Some(max) = max {
                        inputs["max_size"] = json!(max);
                    }
                    inputs
                })
            })
            .collect())
    }

    async fn find(
        aws: &Aws,
        ctx: &StepContext,
        _args: &GroupArgs,
    ) -> Result<Option<Created>, ProviderError> {
        let filter = |key: &str, value: &str| {
            aws_sdk_autoscaling::types::Filter::builder()
                .name(format!("tag:{key}"))
                .values(value)
                .build()
        };
        let out = aws
            .autoscaling
            .describe_auto_scaling_groups()
            .filters(filter(super::TAG_STACK, &ctx.stack))
            .filters(filter(super::TAG_NAME, &ctx.name))
            .send()
            .await
            .map_err(|e| aws_error("autoscaling:DescribeAutoScalingGroups", e))?;
        Ok(out.auto_scaling_groups().first().map(|g| {
            let name = g.auto_scaling_group_name().unwrap_or_default().to_string();
            Created {
                id: name.clone(),
                outputs: json!({ "name": name }),
            }
        }))
    }

    async fn create(
        aws: &Aws,
        ctx: &StepContext,
        args: &GroupArgs,
    ) -> Result<Created, ProviderError> {
        let name = physical_name(ctx, 255);
        let group_tags = tags(ctx)
            .into_iter()
            .map(|(k, v)| {
                Tag::builder()
                    .key(k)
                    .value(v)
                    .propagate_at_launch(true)
                    .resource_id(&name)
                    .resource_type("auto-scaling-group")
                    .build()
            })
            .collect();
        aws.autoscaling
            .create_auto_scaling_group()
            .auto_scaling_group_name(&name)
            .launch_template(template(args.launch_template_id.get()?))
            .min_size(args.min_size)
            .max_size(args.max_size)
            .desired_capacity(args.min_size)
            .vpc_zone_identifier(resolved(&args.subnet_ids)?.join(","))
            .set_target_group_arns(Some(resolved(&args.target_group_arns)?))
            .health_check_type("ELB")
            .health_check_grace_period(args.health_check_grace_seconds)
            .set_tags(Some(group_tags))
            .customize()
            .config_override(
                aws_sdk_autoscaling::config::Builder::default()
                    .retry_config(aws_config::retry::RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|e| aws_error("autoscaling:CreateAutoScalingGroup", e))?;
        Ok(Created {
            id: name.clone(),
            outputs: json!({ "name": name }),
        })
    }

    async fn update(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
        args: &GroupArgs,
    ) -> Result<Json, ProviderError> {
        aws.autoscaling
            .update_auto_scaling_group()
            .auto_scaling_group_name(&current.id)
            .launch_template(template(args.launch_template_id.get()?))
            .min_size(args.min_size)
            .max_size(args.max_size)
            .vpc_zone_identifier(resolved(&args.subnet_ids)?.join(","))
            .health_check_type("ELB")
            .health_check_grace_period(args.health_check_grace_seconds)
            .send()
            .await
            .map_err(|e| aws_error("autoscaling:UpdateAutoScalingGroup", e))?;
        let old: Vec<String> = current
            .inputs
            .get("target_group_arns")
            .and_then(Json::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Json::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        let new = resolved(&args.target_group_arns)?;
        let detach: Vec<String> = old.iter().filter(|a| !new.contains(a)).cloned().collect();
        let attach: Vec<String> = new.iter().filter(|a| !old.contains(a)).cloned().collect();
        if !detach.is_empty() {
            aws.autoscaling
                .detach_load_balancer_target_groups()
                .auto_scaling_group_name(&current.id)
                .set_target_group_arns(Some(detach))
                .send()
                .await
                .map_err(|e| aws_error("autoscaling:DetachLoadBalancerTargetGroups", e))?;
        }
        if !attach.is_empty() {
            aws.autoscaling
                .attach_load_balancer_target_groups()
                .auto_scaling_group_name(&current.id)
                .set_target_group_arns(Some(attach))
                .send()
                .await
                .map_err(|e| aws_error("autoscaling:AttachLoadBalancerTargetGroups", e))?;
        }
        Ok(current.outputs.clone())
    }

    async fn delete(
        aws: &Aws,
        ctx: &StepContext,
        current: &ResourceState,
    ) -> Result<(), ProviderError> {
        // Drain first, as Terraform does: AWS refuses to delete a group with instances, and an
        // emulator that allows it leaves them running.
        if instance_count(aws, &current.id).await?.is_none() {
            return Ok(());
        }
        aws.autoscaling
            .update_auto_scaling_group()
            .auto_scaling_group_name(&current.id)
            .min_size(0)
            .max_size(0)
            .desired_capacity(0)
            .send()
            .await
            .map_err(|e| aws_error("autoscaling:UpdateAutoScalingGroup", e))?;
        let what = format!("group {} to drain", current.id);
        aws.wait_for(ctx, &what, || async {
            Ok(instance_count(aws, &current.id)
                .await?
                .is_none_or(|n| n == 0)
                .then_some(()))
        })
        .await?;
        match aws
            .autoscaling
            .delete_auto_scaling_group()
            .auto_scaling_group_name(&current.id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if error_code(&e) == Some("ValidationError")
                    && instance_count(aws, &current.id).await?.is_none() =>
            {
                Ok(())
            }
            Err(e) => Err(aws_error("autoscaling:DeleteAutoScalingGroup", e)),
        }
    }
}

/// A target-tracking policy that keeps a group's average CPU near a target.
pub struct CpuPolicy;

#[derive(Serialize, Deserialize)]
pub struct CpuPolicyArgs {
    pub group_name: Input<String>,
    pub target_cpu_percent: f64,
}

impl Kind for CpuPolicy {
    const TYPE: &'static str = "aws:autoscaling:CpuPolicy";
    type Args = CpuPolicyArgs;
    const REPLACE_ON: &'static [&'static str] = &["group_name"];
}

async fn put_policy(
    aws: &Aws,
    group: &str,
    policy: &str,
    target: f64,
) -> Result<String, ProviderError> {
    let out = aws
        .autoscaling
        .put_scaling_policy()
        .auto_scaling_group_name(group)
        .policy_name(policy)
        .policy_type("TargetTrackingScaling")
        .target_tracking_configuration(
            TargetTrackingConfiguration::builder()
                .predefined_metric_specification(
                    PredefinedMetricSpecification::builder()
                        .predefined_metric_type(MetricType::AsgAverageCpuUtilization)
                        .build(),
                )
                .target_value(target)
                .build(),
        )
        .send()
        .await
        .map_err(|e| aws_error("autoscaling:PutScalingPolicy", e))?;
    if let Some(arn) = out.policy_arn() {
        return Ok(arn.to_string());
    }
    // Some implementations leave the ARN out of the answer; read it back.
    let described = aws
        .autoscaling
        .describe_policies()
        .auto_scaling_group_name(group)
        .policy_names(policy)
        .send()
        .await
        .map_err(|e| aws_error("autoscaling:DescribePolicies", e))?;
    described
        .scaling_policies()
        .iter()
        .find_map(|p| p.policy_arn())
        .map(String::from)
        .ok_or_else(|| missing("autoscaling:PutScalingPolicy", "PolicyARN"))
}

#[async_trait::async_trait]
impl AwsKind for CpuPolicy {
    async fn find(
        aws: &Aws,
        ctx: &StepContext,
        args: &CpuPolicyArgs,
    ) -> Result<Option<Created>, ProviderError> {
        let prefix = physical_prefix(ctx, 255);
        let out = aws
            .autoscaling
            .describe_policies()
            .auto_scaling_group_name(args.group_name.get()?)
            .send()
            .await
            .map_err(|e| aws_error("autoscaling:DescribePolicies", e))?;
        let Some(policy) = out
            .scaling_policies()
            .iter()
            .find(|p| p.policy_name().is_some_and(|n| n.starts_with(&prefix)))
        else {
            return Ok(None);
        };
        let name = policy.policy_name().unwrap_or_default().to_string();
        let arn = if ctx.read_only {
            policy.policy_arn().unwrap_or_default().to_string()
        } else {
            put_policy(aws, args.group_name.get()?, &name, args.target_cpu_percent).await?
        };
        Ok(Some(Created {
            id: arn.clone(),
            outputs: json!({ "name": name, "arn": arn }),
        }))
    }

    async fn create(
        aws: &Aws,
        ctx: &StepContext,
        args: &CpuPolicyArgs,
    ) -> Result<Created, ProviderError> {
        // Policy names are per group in AWS but global in moto: make them unique anyway.
        let name = physical_name(ctx, 255);
        let arn = put_policy(aws, args.group_name.get()?, &name, args.target_cpu_percent).await?;
        Ok(Created {
            id: arn.clone(),
            outputs: json!({ "name": name, "arn": arn }),
        })
    }

    async fn update(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
        args: &CpuPolicyArgs,
    ) -> Result<Json, ProviderError> {
        put_policy(
            aws,
            args.group_name.get()?,
            output_str(current, "name")?,
            args.target_cpu_percent,
        )
        .await?;
        Ok(current.outputs.clone())
    }

    async fn delete(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
    ) -> Result<(), ProviderError> {
        let group = current
            .inputs
            .get("group_name")
            .and_then(Json::as_str)
            .unwrap_or_default();
        match aws
            .autoscaling
            .delete_policy()
            .auto_scaling_group_name(group)
            .policy_name(output_str(current, "name")?)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // The group, and with it the policy, is already gone.
            Err(e) if error_code(&e) == Some("ValidationError") => Ok(()),
            Err(e) => Err(aws_error("autoscaling:DeletePolicy", e)),
        }
    }
}
