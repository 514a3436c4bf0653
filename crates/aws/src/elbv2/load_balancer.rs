//! An internet-facing load balancer: Application (HTTP, HTTPS) by default, or Network (TCP,
//! UDP); both in the given subnets, behind the given security groups.

use aws_sdk_elasticloadbalancingv2::types::{
    self as elb, LoadBalancerSchemeEnum, LoadBalancerStateEnum, LoadBalancerTypeEnum,
};
use serde::{Deserialize, Serialize};

use ams_engine::state::ResourceState;
use ams_engine::{Input, Kind, Outputs, ProviderError, StepContext};

use super::{arns, elb_tags, first_arn, ours, Named, NAME_MAX};
use crate::call::{missing, OrError};
use crate::kind::{existing, AwsKind, Ctx, Current, Res};
use crate::names::{physical_name, resolved};
use crate::Aws;

#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:elbv2:LoadBalancer", outputs = LoadBalancerOutputs)]
pub struct LoadBalancer {
    pub subnet_ids: Vec<Input<String>>,
    pub security_group_ids: Vec<Input<String>>,
    /// `application` (the default, left out of the JSON) or `network`.
    #[kind(replace)]
    #[serde(default = "application", skip_serializing_if = "is_application")]
    pub load_balancer_type: String,
}

#[derive(Clone, Serialize, Deserialize, Outputs)]
pub struct LoadBalancerOutputs {
    pub arn: String,
    pub name: String,
    pub dns_name: String,
    /// The canonical hosted zone of its DNS name, for alias records.
    pub zone_id: String,
}

fn application() -> String {
    "application".to_string()
}

fn is_application(load_balancer_type: &str) -> bool {
    load_balancer_type == "application"
}

/// The name and ARN of every load balancer of the account and region.
async fn all_named(aws: &Aws) -> Result<Named, ProviderError> {
    let list = aws.elbv2.describe_load_balancers().into_paginator();
    let all = list.items().send().try_collect().await.or_error()?;
    Ok(all
        .iter()
        .filter_map(|l| {
            Some((
                l.load_balancer_name()?.into(),
                l.load_balancer_arn()?.into(),
            ))
        })
        .collect())
}

/// Sets a list of the load balancer `$arn` to `$values` with `$set` (`set_subnets` or
/// `set_security_groups`, whose one argument has the operation's name).
macro_rules! set_list {
    ($aws:expr, $arn:expr, $set:ident, $values:expr) => {
        $aws.elbv2
            .$set()
            .load_balancer_arn($arn)
            .$set(Some($values))
            .send()
            .await
            .or_error()?
    };
}

/// The load balancer `arn`, or `None` once it is gone.
async fn describe(aws: &Aws, arn: &str) -> Result<Option<elb::LoadBalancer>, ProviderError> {
    let out = aws
        .elbv2
        .describe_load_balancers()
        .load_balancer_arns(arn)
        .send()
        .await
        .or_gone::<LoadBalancer>()?;
    Ok(out.and_then(|o| o.load_balancers().first().cloned()))
}

#[async_trait::async_trait]
impl AwsKind for LoadBalancer {
    const NOT_FOUND: &'static [&'static str] = &["LoadBalancerNotFound"];
    const ALREADY_EXISTS: &'static [&'static str] = &["DuplicateLoadBalancerName"];

    async fn create(&self, aws: &Aws, ctx: &StepContext) -> Result<String, ProviderError> {
        let out = aws
            .once
            .elbv2
            .create_load_balancer()
            .name(physical_name(ctx, NAME_MAX))
            .r#type(LoadBalancerTypeEnum::from(self.load_balancer_type.as_str()))
            .scheme(LoadBalancerSchemeEnum::InternetFacing)
            .set_subnets(Some(resolved(&self.subnet_ids)?))
            .set_security_groups(Some(resolved(&self.security_group_ids)?))
            .set_tags(elb_tags(ctx))
            .send()
            .await
            .or_error()?;
        first_arn(
            out.load_balancers(),
            |l| l.load_balancer_arn(),
            "load balancer",
        )
    }

    async fn find(&self, aws: &Aws, ctx: &StepContext) -> Result<Option<String>, ProviderError> {
        ours(aws, ctx, all_named(aws).await?).await
    }

    /// Waits until it is active (a preview only looks once) and reads its DNS name.
    async fn finish(&self, aws: &Aws, ctx: &Ctx, arn: &str) -> Res<LoadBalancerOutputs> {
        // arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID
        let what = format!(
            "load balancer {} to be active",
            arn.split('/').nth(2).unwrap_or(arn)
        );
        let lb = aws
            .wait_for(ctx, &what, || async {
                let lb = describe(aws, arn).await?.ok_or_else(|| ProviderError {
                    code: Some("LoadBalancerNotFound".into()),
                    message: format!("load balancer {arn} is not there"),
                })?;
                match lb.state().and_then(|s| s.code()) {
                    Some(LoadBalancerStateEnum::Active) => Ok(Some(lb)),
                    Some(LoadBalancerStateEnum::Failed) => Err(ProviderError {
                        code: Some("LoadBalancerFailed".into()),
                        message: format!("load balancer {arn} failed to provision"),
                    }),
                    _ if ctx.read_only => Ok(Some(lb)),
                    _ => Ok(None),
                }
            })
            .await?;
        Ok(LoadBalancerOutputs {
            arn: arn.to_string(),
            name: lb
                .load_balancer_name()
                .ok_or_else(|| missing("the load balancer's name"))?
                .to_string(),
            dns_name: lb
                .dns_name()
                .ok_or_else(|| missing("the load balancer's DNS name"))?
                .to_string(),
            zone_id: lb
                .canonical_hosted_zone_id()
                .unwrap_or_default()
                .to_string(),
        })
    }

    async fn update(&self, aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<Self::Outputs> {
        set_list!(aws, &current.id, set_subnets, resolved(&self.subnet_ids)?);
        set_list!(
            aws,
            &current.id,
            set_security_groups,
            resolved(&self.security_group_ids)?
        );
        Ok(current.outputs.clone())
    }

    /// Deletes it and waits until it is gone: its network interfaces hold the subnets and
    /// security groups until then.
    async fn delete(aws: &Aws, ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        let deleted = aws
            .elbv2
            .delete_load_balancer()
            .load_balancer_arn(&current.id)
            .send()
            .await
            .or_gone::<Self>()?;
        if deleted.is_none() {
            return Ok(());
        }
        let what = format!("load balancer {} to be deleted", current.id);
        aws.wait_for(ctx, &what, || async {
            Ok(describe(aws, &current.id).await?.is_none().then_some(()))
        })
        .await
    }

    async fn read(aws: &Aws, resources: &[ResourceState]) -> Res<Vec<Option<serde_json::Value>>> {
        Ok(existing(resources, arns(all_named(aws).await?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_application_load_balancer_keeps_the_json_it_always_had() {
        let stored =
            json!({ "subnet_ids": ["subnet-1", "subnet-2"], "security_group_ids": ["sg-1"] });
        let parsed: LoadBalancer = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(parsed.load_balancer_type, "application");
        assert_eq!(serde_json::to_value(&parsed).unwrap(), stored);
    }

    #[test]
    fn a_network_load_balancer_says_so_and_changing_the_type_replaces() {
        let network = json!({
            "subnet_ids": ["subnet-1"],
            "security_group_ids": ["sg-1"],
            "load_balancer_type": "network",
        });
        let parsed: LoadBalancer = serde_json::from_value(network.clone()).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), network);
        assert_eq!(LoadBalancer::replace_on(), ["load_balancer_type"]);
    }
}
