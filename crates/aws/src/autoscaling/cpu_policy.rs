//! A target-tracking policy that keeps a group's average CPU near a target.

use aws_sdk_autoscaling::types::{
    MetricType, PredefinedMetricSpecification, ScalingPolicy, TargetTrackingConfiguration,
};
use serde::{Deserialize, Serialize};

use ams_engine::{Input, Kind, Outputs};

use crate::call::{missing, OrError};
use crate::kind::{AwsKind, Codes, Ctx, Current, Res};
use crate::names::{physical_name, physical_prefix};
use crate::Aws;

/// The longest name of a scaling policy.
const NAME_MAX: usize = 255;

#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:autoscaling:CpuPolicy", outputs = CpuPolicyOutputs)]
pub struct CpuPolicy {
    #[kind(replace)]
    pub group_name: Input<String>,
    pub target_cpu_percent: f64,
}

#[derive(Clone, Serialize, Deserialize, Outputs)]
pub struct CpuPolicyOutputs {
    pub name: String,
    pub arn: String,
}

/// Makes or changes the policy `policy` of `group` (the same call does both); its ARN.
async fn put_policy(aws: &Aws, group: &str, policy: &str, target: f64) -> Res<String> {
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
        .or_error()?;
    if let Some(arn) = out.policy_arn() {
        return Ok(arn.to_string());
    }
    // Some implementations leave the ARN out of the answer; read it back.
    policies(aws, group, Some(policy))
        .await?
        .iter()
        .find_map(|p| p.policy_arn())
        .map(String::from)
        .ok_or_else(|| missing("the scaling policy's ARN"))
}

/// The scaling policies of `group`: all of them, or only the one named `name`.
async fn policies(aws: &Aws, group: &str, name: Option<&str>) -> Res<Vec<ScalingPolicy>> {
    let out = aws
        .autoscaling
        .describe_policies()
        .auto_scaling_group_name(group)
        .set_policy_names(name.map(|n| vec![n.to_string()]))
        .send()
        .await
        .or_error()?;
    Ok(out.scaling_policies.unwrap_or_default())
}

/// The policy's name, from its ARN (`...:autoScalingGroupName/GROUP:policyName/NAME`).
fn name_in_arn(arn: &str) -> Option<&str> {
    arn.rsplit_once(":policyName/").map(|(_, name)| name)
}

impl AwsKind for CpuPolicy {
    /// Deleting a policy whose group is gone (and the policy with it) is a ValidationError.
    const NOT_FOUND: Codes = &["ValidationError"];
    /// The group was just made.
    const NOT_YET_VISIBLE: Codes = &["ValidationError:not found"];

    async fn create(&self, aws: &Aws, ctx: &Ctx) -> Res<String> {
        // Policy names are per group in AWS but global in moto: make them unique anyway.
        let name = physical_name(ctx, NAME_MAX);
        put_policy(aws, self.group_name.get()?, &name, self.target_cpu_percent).await
    }

    /// The group's policy whose name has this step's prefix.
    async fn find(&self, aws: &Aws, ctx: &Ctx) -> Res<Option<String>> {
        let prefix = physical_prefix(ctx, NAME_MAX);
        Ok(policies(aws, self.group_name.get()?, None)
            .await?
            .iter()
            .filter(|p| p.policy_name().is_some_and(|n| n.starts_with(&prefix)))
            .filter_map(|p| p.policy_arn())
            // Old and new of a replacement share the prefix: never the one being replaced.
            .find(|arn| !ctx.is_replaced(arn))
            .map(String::from))
    }

    /// Its name, from its ARN, or else from the group's policies.
    async fn finish(&self, aws: &Aws, _ctx: &Ctx, arn: &str) -> Res<Self::Outputs> {
        let name = match name_in_arn(arn) {
            Some(name) => name.to_string(),
            None => policies(aws, self.group_name.get()?, None)
                .await?
                .iter()
                .find(|p| p.policy_arn() == Some(arn))
                .and_then(|p| p.policy_name())
                .map(String::from)
                .ok_or_else(|| missing("the scaling policy's name"))?,
        };
        Ok(CpuPolicyOutputs {
            name,
            arn: arn.to_string(),
        })
    }

    async fn update(&self, aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<Self::Outputs> {
        put_policy(
            aws,
            self.group_name.get()?,
            &current.outputs.name,
            self.target_cpu_percent,
        )
        .await?;
        Ok(current.outputs.clone())
    }

    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        let group = current.args.group_name.get()?;
        let call = aws
            .autoscaling
            .delete_policy()
            .auto_scaling_group_name(group);
        let call = call.policy_name(&current.outputs.name);
        // Gone already, with its group or by itself: nothing to do.
        call.send().await.done_or_gone::<Self>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_name_is_read_from_its_arn() {
        let arn = "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:c322761b-3172-4d56-9a21-0ed9d6161d67:autoScalingGroupName/s-origin-group-1a2b:policyName/s-origin-cpu-policy-3c4d";
        assert_eq!(name_in_arn(arn), Some("s-origin-cpu-policy-3c4d"));
        assert_eq!(name_in_arn("arn:aws:autoscaling:policy"), None);
    }
}
