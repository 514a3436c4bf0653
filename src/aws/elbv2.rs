//! Elastic Load Balancing v2: the Application Load Balancer, its target groups and listeners.

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, LoadBalancerSchemeEnum, LoadBalancerStateEnum,
    LoadBalancerTypeEnum, ProtocolEnum, Tag, TargetGroupAttribute, TargetTypeEnum,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use super::{
    aws_error, error_code, gone, missing, physical_name, physical_prefix, resolved, tags, Aws,
    AwsKind,
};
use crate::engine::{Created, Input, Kind, Output, ProviderError, Ref, StepContext};
use crate::state::ResourceState;

/// Every target group of the account and region (following pagination).
async fn all_target_groups(
    aws: &Aws,
) -> Result<Vec<aws_sdk_elasticloadbalancingv2::types::TargetGroup>, ProviderError> {
    let mut all = Vec::new();
    let mut pages = aws.elbv2.describe_target_groups().into_paginator().send();
    while let Some(page) = pages.next().await {
        all.extend(
            page.map_err(|e| aws_error("elbv2:DescribeTargetGroups", e))?
                .target_groups()
                .iter()
                .cloned(),
        );
    }
    Ok(all)
}

/// Every load balancer of the account and region (following pagination).
async fn all_load_balancers(
    aws: &Aws,
) -> Result<Vec<aws_sdk_elasticloadbalancingv2::types::LoadBalancer>, ProviderError> {
    let mut all = Vec::new();
    let mut pages = aws.elbv2.describe_load_balancers().into_paginator().send();
    while let Some(page) = pages.next().await {
        all.extend(
            page.map_err(|e| aws_error("elbv2:DescribeLoadBalancers", e))?
                .load_balancers()
                .iter()
                .cloned(),
        );
    }
    Ok(all)
}

/// The ARN among `arns` that carries this step's tags.
async fn tagged(
    aws: &Aws,
    ctx: &StepContext,
    arns: Vec<String>,
) -> Result<Option<String>, ProviderError> {
    for chunk in arns.chunks(20) {
        let out = aws
            .elbv2
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| aws_error("elbv2:DescribeTags", e))?;
        for description in out.tag_descriptions() {
            let has = |key: &str, value: &str| {
                description
                    .tags()
                    .iter()
                    .any(|t| t.key() == Some(key) && t.value() == Some(value))
            };
            if has(super::TAG_STACK, &ctx.stack) && has(super::TAG_NAME, &ctx.name) {
                return Ok(description.resource_arn().map(String::from));
            }
        }
    }
    Ok(None)
}

fn elb_tags(ctx: &StepContext) -> Option<Vec<Tag>> {
    Some(
        tags(ctx)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------------
/// An HTTP target group of instances, with a health check and a balancing algorithm.
pub struct TargetGroup;

#[derive(Serialize, Deserialize)]
pub struct TargetGroupArgs {
    pub vpc_id: Input<String>,
    pub port: i32,
    pub health_check_path: String,
    /// `least_outstanding_requests` or `round_robin`.
    pub algorithm: String,
    /// Load-balancer cookie stickiness, in seconds; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky_seconds: Option<i32>,
}

impl Kind for TargetGroup {
    const TYPE: &'static str = "aws:elbv2:TargetGroup";
    type Args = TargetGroupArgs;
    const REPLACE_ON: &'static [&'static str] = &["vpc_id", "port"];
}

impl Ref<TargetGroup> {
    pub fn arn(&self) -> Output<String> {
        self.output("arn")
    }
}

fn attribute(key: &str, value: impl ToString) -> TargetGroupAttribute {
    TargetGroupAttribute::builder()
        .key(key)
        .value(value.to_string())
        .build()
}

async fn set_attributes(aws: &Aws, arn: &str, args: &TargetGroupArgs) -> Result<(), ProviderError> {
    let mut attributes = vec![
        attribute("load_balancing.algorithm.type", &args.algorithm),
        attribute("stickiness.enabled", args.sticky_seconds.is_some()),
    ];
    if let Some(seconds) = args.sticky_seconds {
        attributes.push(attribute("stickiness.type", "lb_cookie"));
        attributes.push(attribute("stickiness.lb_cookie.duration_seconds", seconds));
    }
    aws.elbv2
        .modify_target_group_attributes()
        .target_group_arn(arn)
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(|e| aws_error("elbv2:ModifyTargetGroupAttributes", e))?;
    Ok(())
}

#[async_trait::async_trait]
impl AwsKind for TargetGroup {
    async fn read(
        aws: &Aws,
        resources: &[ResourceState],
    ) -> Result<Vec<Option<Json>>, ProviderError> {
        let live = all_target_groups(aws)
            .await?
            .iter()
            .filter_map(|t| t.target_group_arn().map(String::from))
            .collect();
        Ok(super::existing(resources, &live))
    }

    async fn find(
        aws: &Aws,
        ctx: &StepContext,
        args: &TargetGroupArgs,
    ) -> Result<Option<Created>, ProviderError> {
        let prefix = physical_prefix(ctx, 32);
        let candidates: Vec<String> = all_target_groups(aws)
            .await?
            .iter()
            .filter(|t| {
                t.target_group_name()
                    .is_some_and(|n| n.starts_with(&prefix))
            })
            .filter_map(|t| t.target_group_arn().map(String::from))
            .collect();
        let Some(arn) = tagged(aws, ctx, candidates).await? else {
            return Ok(None);
        };
        if !ctx.read_only {
            set_attributes(aws, &arn, args).await?;
        }
        let name = arn.split('/').nth(1).unwrap_or_default().to_string();
        Ok(Some(Created {
            id: arn.clone(),
            outputs: json!({ "arn": arn, "name": name }),
        }))
    }

    async fn create(
        aws: &Aws,
        ctx: &StepContext,
        args: &TargetGroupArgs,
    ) -> Result<Created, ProviderError> {
        let name = physical_name(ctx, 32);
        let out = aws
            .elbv2
            .create_target_group()
            .name(&name)
            .protocol(ProtocolEnum::Http)
            .port(args.port)
            .vpc_id(args.vpc_id.get()?)
            .target_type(TargetTypeEnum::Instance)
            .health_check_path(&args.health_check_path)
            .health_check_interval_seconds(30)
            .health_check_timeout_seconds(5)
            .healthy_threshold_count(3)
            .unhealthy_threshold_count(5)
            .set_tags(elb_tags(ctx))
            .send()
            .await
            .map_err(|e| aws_error("elbv2:CreateTargetGroup", e))?;
        let arn = out
            .target_groups()
            .first()
            .and_then(|t| t.target_group_arn())
            .ok_or_else(|| missing("elbv2:CreateTargetGroup", "TargetGroupArn"))?;
        set_attributes(aws, arn, args).await?;
        Ok(Created {
            id: arn.to_string(),
            outputs: json!({ "arn": arn, "name": name }),
        })
    }

    async fn update(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
        args: &TargetGroupArgs,
    ) -> Result<Json, ProviderError> {
        aws.elbv2
            .modify_target_group()
            .target_group_arn(&current.id)
            .health_check_path(&args.health_check_path)
            .send()
            .await
            .map_err(|e| aws_error("elbv2:ModifyTargetGroup", e))?;
        set_attributes(aws, &current.id, args).await?;
        Ok(current.outputs.clone())
    }

    async fn delete(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
    ) -> Result<(), ProviderError> {
        gone(
            aws.elbv2
                .delete_target_group()
                .target_group_arn(&current.id)
                .send()
                .await,
            "elbv2:DeleteTargetGroup",
            &["TargetGroupNotFound"],
        )
    }
}

// ---------------------------------------------------------------------------------------------
/// An internet-facing Application Load Balancer.
pub struct LoadBalancer;

#[derive(Serialize, Deserialize)]
pub struct LoadBalancerArgs {
    pub subnet_ids: Vec<Input<String>>,
    pub security_group_ids: Vec<Input<String>>,
}

impl Kind for LoadBalancer {
    const TYPE: &'static str = "aws:elbv2:LoadBalancer";
    type Args = LoadBalancerArgs;
    const REPLACE_ON: &'static [&'static str] = &[];
}

impl Ref<LoadBalancer> {
    pub fn arn(&self) -> Output<String> {
        self.output("arn")
    }

    pub fn dns_name(&self) -> Output<String> {
        self.output("dns_name")
    }
}

#[async_trait::async_trait]
impl AwsKind for LoadBalancer {
    async fn read(
        aws: &Aws,
        resources: &[ResourceState],
    ) -> Result<Vec<Option<Json>>, ProviderError> {
        let live = all_load_balancers(aws)
            .await?
            .iter()
            .filter_map(|l| l.load_balancer_arn().map(String::from))
            .collect();
        Ok(super::existing(resources, &live))
    }

    async fn find(
        aws: &Aws,
        ctx: &StepContext,
        _args: &LoadBalancerArgs,
    ) -> Result<Option<Created>, ProviderError> {
        let prefix = physical_prefix(ctx, 32);
        let found: Vec<_> = all_load_balancers(aws)
            .await?
            .into_iter()
            .filter(|l| {
                l.load_balancer_name()
                    .is_some_and(|n| n.starts_with(&prefix))
            })
            .collect();
        let arns = found
            .iter()
            .filter_map(|l| l.load_balancer_arn().map(String::from))
            .collect();
        let Some(arn) = tagged(aws, ctx, arns).await? else {
            return Ok(None);
        };
        let Some(lb) = found
            .iter()
            .find(|l| l.load_balancer_arn() == Some(arn.as_str()))
        else {
            return Ok(None);
        };
        Ok(Some(Created {
            id: arn.clone(),
            outputs: json!({
                "arn": arn,
                "name": lb.load_balancer_name(),
                "dns_name": lb.dns_name(),
                "zone_id": lb.canonical_hosted_zone_id(),
            }),
        }))
    }

    async fn create(
        aws: &Aws,
        ctx: &StepContext,
        args: &LoadBalancerArgs,
    ) -> Result<Created, ProviderError> {
        let name = physical_name(ctx, 32);
        let out = aws
            .elbv2
            .create_load_balancer()
            .name(&name)
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(LoadBalancerSchemeEnum::InternetFacing)
            .set_subnets(Some(resolved(&args.subnet_ids)?))
            .set_security_groups(Some(resolved(&args.security_group_ids)?))
            .set_tags(elb_tags(ctx))
            .customize()
            .config_override(
                aws_sdk_elasticloadbalancingv2::config::Builder::default()
                    .retry_config(aws_config::retry::RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|e| aws_error("elbv2:CreateLoadBalancer", e))?;
        let lb = out
            .load_balancers()
            .first()
            .ok_or_else(|| missing("elbv2:CreateLoadBalancer", "LoadBalancer"))?;
        let arn = lb
            .load_balancer_arn()
            .ok_or_else(|| missing("elbv2:CreateLoadBalancer", "LoadBalancerArn"))?;
        let what = format!("load balancer {name} to be active");
        aws.wait_for(ctx, &what, || async {
            let out = aws
                .elbv2
                .describe_load_balancers()
                .load_balancer_arns(arn)
                .send()
                .await
                .map_err(|e| aws_error("elbv2:DescribeLoadBalancers", e))?;
            let state = out
                .load_balancers()
                .first()
                .and_then(|l| l.state())
                .and_then(|s| s.code())
                .cloned();
            match state {
                Some(LoadBalancerStateEnum::Active) => Ok(Some(())),
                Some(LoadBalancerStateEnum::Failed) => Err(ProviderError {
                    code: Some("LoadBalancerFailed".into()),
                    message: format!("load balancer {name} failed to provision"),
                }),
                _ => Ok(None),
            }
        })
        .await?;
        Ok(Created {
            id: arn.to_string(),
            outputs: json!({
                "arn": arn,
                "name": name,
                "dns_name": lb.dns_name(),
                "zone_id": lb.canonical_hosted_zone_id(),
            }),
        })
    }

    async fn update(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
        args: &LoadBalancerArgs,
    ) -> Result<Json, ProviderError> {
        aws.elbv2
            .set_subnets()
            .load_balancer_arn(&current.id)
            .set_subnets(Some(resolved(&args.subnet_ids)?))
            .send()
            .await
            .map_err(|e| aws_error("elbv2:SetSubnets", e))?;
        aws.elbv2
            .set_security_groups()
            .load_balancer_arn(&current.id)
            .set_security_groups(Some(resolved(&args.security_group_ids)?))
            .send()
            .await
            .map_err(|e| aws_error("elbv2:SetSecurityGroups", e))?;
        Ok(current.outputs.clone())
    }

    async fn delete(
        aws: &Aws,
        ctx: &StepContext,
        current: &ResourceState,
    ) -> Result<(), ProviderError> {
        match aws
            .elbv2
            .delete_load_balancer()
            .load_balancer_arn(&current.id)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if error_code(&e) == Some("LoadBalancerNotFound") => return Ok(()),
            Err(e) => return Err(aws_error("elbv2:DeleteLoadBalancer", e)),
        }
        // Its network interfaces hold the subnets and security groups until it is gone.
        let what = format!("load balancer {} to be deleted", current.id);
        aws.wait_for(ctx, &what, || async {
            match aws
                .elbv2
                .describe_load_balancers()
                .load_balancer_arns(&current.id)
                .send()
                .await
            {
                Err(e) if error_code(&e) == Some("LoadBalancerNotFound") => Ok(Some(())),
                Err(e) => Err(aws_error("elbv2:DescribeLoadBalancers", e)),
                Ok(out) => Ok(out.load_balancers().is_empty().then_some(())),
            }
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------------
/// A listener that forwards a port to a target group; HTTPS listeners carry a certificate.
pub struct Listener;

#[derive(Serialize, Deserialize)]
pub struct ListenerArgs {
    pub load_balancer_arn: Input<String>,
    pub port: i32,
    /// `HTTP` or `HTTPS`.
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_arn: Option<Input<String>>,
    pub target_group_arn: Input<String>,
}

impl Kind for Listener {
    const TYPE: &'static str = "aws:elbv2:Listener";
    type Args = ListenerArgs;
    const REPLACE_ON: &'static [&'static str] = &["load_balancer_arn"];
}

/// The TLS policy of HTTPS listeners: TLS 1.2 and 1.3 only.
const SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";

fn listener_parts(
    args: &ListenerArgs,
) -> Result<(ProtocolEnum, Option<Vec<Certificate>>, Action), ProviderError> {
    let protocol = ProtocolEnum::from(args.protocol.as_str());
    let certificates = match &args.certificate_arn {
        Some(arn) => Some(vec![Certificate::builder()
            .certificate_arn(arn.get()?)
            .build()]),
        None => None,
    };
    let action = Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(args.target_group_arn.get()?)
        .build();
    Ok((protocol, certificates, action))
}

#[async_trait::async_trait]
impl AwsKind for Listener {
    async fn find(
        aws: &Aws,
        _ctx: &StepContext,
        args: &ListenerArgs,
    ) -> Result<Option<Created>, ProviderError> {
        let out = aws
            .elbv2
            .describe_listeners()
            .load_balancer_arn(args.load_balancer_arn.get()?)
            .send()
            .await
            .map_err(|e| aws_error("elbv2:DescribeListeners", e))?;
        Ok(out
            .listeners()
            .iter()
            .find(|l| l.port() == Some(args.port))
            .and_then(|l| l.listener_arn())
            .map(|arn| Created {
                id: arn.to_string(),
                outputs: json!({ "arn": arn }),
            }))
    }

    async fn create(
        aws: &Aws,
        ctx: &StepContext,
        args: &ListenerArgs,
    ) -> Result<Created, ProviderError> {
        let (protocol, certificates, action) = listener_parts(args)?;
        let https = certificates.is_some();
        let out = aws
            .elbv2
            .create_listener()
            .load_balancer_arn(args.load_balancer_arn.get()?)
            .protocol(protocol)
            .port(args.port)
            .set_certificates(certificates)
            .set_ssl_policy(https.then(|| SSL_POLICY.to_string()))
            .default_actions(action)
            .set_tags(elb_tags(ctx))
            .customize()
            .config_override(
                aws_sdk_elasticloadbalancingv2::config::Builder::default()
                    .retry_config(aws_config::retry::RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|e| aws_error("elbv2:CreateListener", e))?;
        let arn = out
            .listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .ok_or_else(|| missing("elbv2:CreateListener", "ListenerArn"))?;
        Ok(Created {
            id: arn.to_string(),
            outputs: json!({ "arn": arn }),
        })
    }

    async fn update(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
        args: &ListenerArgs,
    ) -> Result<Json, ProviderError> {
        let (protocol, certificates, action) = listener_parts(args)?;
        let https = certificates.is_some();
        aws.elbv2
            .modify_listener()
            .listener_arn(&current.id)
            .protocol(protocol)
            .port(args.port)
            .set_certificates(certificates)
            .set_ssl_policy(https.then(|| SSL_POLICY.to_string()))
            .default_actions(action)
            .send()
            .await
            .map_err(|e| aws_error("elbv2:ModifyListener", e))?;
        Ok(current.outputs.clone())
    }

    async fn delete(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
    ) -> Result<(), ProviderError> {
        gone(
            aws.elbv2
                .delete_listener()
                .listener_arn(&current.id)
                .send()
                .await,
            "elbv2:DeleteListener",
            &["ListenerNotFound"],
        )
    }
}
