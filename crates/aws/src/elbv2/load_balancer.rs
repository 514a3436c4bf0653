//! An internet-facing load balancer: Application (HTTP, HTTPS) by default, or Network (TCP,
//! UDP); both in the given subnets, behind the given security groups; with its attributes
//! (deletion protection, invalid headers dropped, cross-zone balancing, access logs: an
//! Application one logs its requests, a Network one its TLS listeners' connections).

use aws_sdk_elasticloadbalancingv2::types::{
    self as elb, LoadBalancerAttribute, LoadBalancerSchemeEnum, LoadBalancerStateEnum,
    LoadBalancerTypeEnum,
};
use serde::{Deserialize, Serialize};

use ams_engine::{Input, Kind, Outputs, ProviderError};

use super::{elb_tags, first_arn, ours, Named, NAME_MAX};
use crate::call::{required, OrError};
use crate::kind::{AwsKind, Codes, Ctx, Current, Res};
use crate::names::{physical_name, resolved};
use crate::Aws;

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:elbv2:LoadBalancer", outputs = LoadBalancerOutputs)]
pub struct LoadBalancer {
    pub subnet_ids: Vec<Input<String>>,
    pub security_group_ids: Vec<Input<String>>,
    /// `application` (the default, left out of the JSON) or `network`.
    #[kind(replace)]
    #[serde(default = "application", skip_serializing_if = "is_application")]
    pub load_balancer_type: String,
    /// `deletion_protection.enabled`: AWS refuses to delete it; a delete here turns it off first.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deletion_protection: bool,
    /// `routing.http.drop_invalid_header_fields.enabled` (Application only).
    #[serde(default, skip_serializing_if = "is_false")]
    pub drop_invalid_header_fields: bool,
    /// `load_balancing.cross_zone.enabled` (Network only: an Application Load Balancer always
    /// balances across zones).
    #[serde(default, skip_serializing_if = "is_false")]
    pub cross_zone: bool,
    /// `access_logs.s3.*`: where its access logs go (a Network Load Balancer writes them for its
    /// TLS listeners only).
    pub access_logs: Option<AccessLogs>,
}

/// An S3 bucket and a prefix in it that Elastic Load Balancing may write to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessLogs {
    pub bucket: Input<String>,
    pub prefix: String,
}

#[derive(Clone, Serialize, Deserialize, Outputs)]
pub struct LoadBalancerOutputs {
    pub arn: String,
    pub name: String,
    pub dns_name: String,
    /// The canonical hosted zone of its DNS name, for alias records.
    pub zone_id: String,
}

/// The type a load balancer stored before the argument existed has (serde's default; left out
/// when stored, so such a resource reads unchanged).
fn application() -> String {
    "application".to_string()
}

fn is_application(value: &str) -> bool {
    value == "application"
}

fn is_false(value: &bool) -> bool {
    !value
}

/// One of the key-value attributes ELB sets on a load balancer.
fn attribute(key: &str, value: impl ToString) -> LoadBalancerAttribute {
    let attribute = LoadBalancerAttribute::builder().key(key);
    attribute.value(value.to_string()).build()
}

impl LoadBalancer {
    /// The attributes it sets, each said every time (so that a change back is applied too).
    fn attributes(&self) -> Result<Vec<LoadBalancerAttribute>, ProviderError> {
        let mut attributes = vec![attribute(
            "deletion_protection.enabled",
            self.deletion_protection,
        )];
        if is_application(&self.load_balancer_type) {
            attributes.push(attribute(
                "routing.http.drop_invalid_header_fields.enabled",
                self.drop_invalid_header_fields,
            ));
        } else {
            attributes.push(attribute(
                "load_balancing.cross_zone.enabled",
                self.cross_zone,
            ));
        }
        attributes.push(attribute(
            "access_logs.s3.enabled",
            self.access_logs.is_some(),
        ));
        if let Some(logs) = &self.access_logs {
            attributes.push(attribute("access_logs.s3.bucket", logs.bucket.get()?));
            attributes.push(attribute("access_logs.s3.prefix", &logs.prefix));
        }
        Ok(attributes)
    }

    async fn set_attributes(&self, aws: &Aws, arn: &str) -> Result<(), ProviderError> {
        aws.elbv2
            .modify_load_balancer_attributes()
            .load_balancer_arn(arn)
            .set_attributes(Some(self.attributes()?))
            .send()
            .await
            .or_error()?;
        Ok(())
    }
}

/// Turns deletion protection off, so that the load balancer can be deleted; `None` once it is
/// gone.
async fn unprotect(aws: &Aws, arn: &str) -> Result<Option<()>, ProviderError> {
    let call = aws
        .elbv2
        .modify_load_balancer_attributes()
        .load_balancer_arn(arn);
    let done = call
        .attributes(attribute("deletion_protection.enabled", false))
        .send()
        .await
        .or_gone::<LoadBalancer>()?;
    Ok(done.map(|_| ()))
}

/// The name and ARN of every load balancer of the account and region.
async fn all_named(aws: &Aws) -> Result<Named, ProviderError> {
    let all = aws
        .elbv2
        .describe_load_balancers()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .or_error()?;
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

/// The load balancer `arn`, or `None` once it is gone.
async fn describe(aws: &Aws, arn: &str) -> Result<Option<elb::LoadBalancer>, ProviderError> {
    let call = aws.elbv2.describe_load_balancers();
    let out = call
        .load_balancer_arns(arn)
        .send()
        .await
        .or_gone::<LoadBalancer>()?;
    Ok(out.and_then(|o| o.load_balancers().first().cloned()))
}

impl AwsKind for LoadBalancer {
    const NOT_FOUND: Codes = &["LoadBalancerNotFound"];
    const ALREADY_EXISTS: Codes = &["DuplicateLoadBalancerName"];
    /// Access logs turned on just after the log bucket's policy was put: ELB does not see the
    /// policy yet ("Access Denied for bucket: NAME. Please check S3bucket permission").
    const NOT_YET_VISIBLE: Codes = &["InvalidConfigurationRequest:Access Denied for bucket"];

    async fn create(&self, aws: &Aws, ctx: &Ctx) -> Res<String> {
        let create = aws
            .once
            .elbv2
            .create_load_balancer()
            .name(physical_name(ctx, NAME_MAX))
            .r#type(LoadBalancerTypeEnum::from(self.load_balancer_type.as_str()))
            .scheme(LoadBalancerSchemeEnum::InternetFacing)
            .set_subnets(Some(resolved(&self.subnet_ids)?))
            .set_security_groups(Some(resolved(&self.security_group_ids)?))
            .set_tags(elb_tags(ctx));
        let out = create.send().await.or_error()?;
        first_arn(
            out.load_balancers(),
            |made| made.load_balancer_arn(),
            "load balancer",
        )
    }

    async fn find(&self, aws: &Aws, ctx: &Ctx) -> Res<Option<String>> {
        ours(aws, ctx, all_named(aws).await?).await
    }

    /// Waits until it is active (a preview only looks once) and reads its DNS name.
    async fn finish(&self, aws: &Aws, ctx: &Ctx, arn: &str) -> Res<Self::Outputs> {
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
        if !ctx.read_only {
            self.set_attributes(aws, arn).await?;
        }
        Ok(LoadBalancerOutputs {
            arn: arn.to_string(),
            name: required(lb.load_balancer_name(), "the load balancer's name")?,
            dns_name: required(lb.dns_name(), "the load balancer's DNS name")?,
            zone_id: lb
                .canonical_hosted_zone_id()
                .unwrap_or_default()
                .to_string(),
        })
    }

    async fn update(&self, aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<Self::Outputs> {
        aws.elbv2
            .set_subnets()
            .load_balancer_arn(&current.id)
            .set_subnets(Some(resolved(&self.subnet_ids)?))
            .send()
            .await
            .or_error()?;
        aws.elbv2
            .set_security_groups()
            .load_balancer_arn(&current.id)
            .set_security_groups(Some(resolved(&self.security_group_ids)?))
            .send()
            .await
            .or_error()?;
        self.set_attributes(aws, &current.id).await?;
        Ok(current.outputs.clone())
    }

    /// Turns deletion protection off (saying so when it was on), deletes it and waits until it
    /// is gone: its network interfaces hold the subnets and security groups until then.
    async fn delete(aws: &Aws, ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        if current.args.deletion_protection {
            ctx.waiting("turning deletion protection off to delete it");
        }
        // Always: protection turned on outside ams-stack would refuse the delete too.
        if unprotect(aws, &current.id).await?.is_none() {
            return Ok(());
        }
        let delete = aws.elbv2.delete_load_balancer();
        if delete
            .load_balancer_arn(&current.id)
            .send()
            .await
            .or_gone::<Self>()?
            .is_none()
        {
            return Ok(());
        }
        let what = format!("load balancer {} to be deleted", current.id);
        aws.wait_for(ctx, &what, || async {
            Ok(describe(aws, &current.id).await?.is_none().then_some(()))
        })
        .await
    }

    /// One listing, then one call per load balancer for its attributes: its subnets and groups
    /// (in the stored order where they are the same ones), deletion protection, header drop,
    /// access logs, cross-zone balancing (a Network one). A load balancer
    /// made by hand and adopted shows what its first update changes.
    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        let listed = aws
            .elbv2
            .describe_load_balancers()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_error()?;
        let mut live = Vec::with_capacity(resources.len());
        for resource in resources {
            let Some(balancer) = listed
                .iter()
                .find(|l| l.load_balancer_arn() == Some(resource.id.as_str()))
            else {
                live.push(None);
                continue;
            };
            let attributes = aws
                .elbv2
                .describe_load_balancer_attributes()
                .load_balancer_arn(&resource.id)
                .send()
                .await
                .or_gone::<Self>()?;
            let Some(attributes) = attributes else {
                live.push(None);
                continue;
            };
            let attribute = |key: &str| {
                attributes
                    .attributes()
                    .iter()
                    .find(|a| a.key() == Some(key))
                    .and_then(|a| a.value())
                    .map(String::from)
            };
            let on = |key: &str| attribute(key).is_some_and(|v| v == "true");
            let mut args = resource.args;
            let subnets: Vec<String> = balancer
                .availability_zones()
                .iter()
                .filter_map(|z| z.subnet_id())
                .map(String::from)
                .collect();
            args.subnet_ids = same_or_live(args.subnet_ids, subnets);
            args.security_group_ids =
                same_or_live(args.security_group_ids, balancer.security_groups().to_vec());
            args.deletion_protection = on("deletion_protection.enabled");
            if is_application(&args.load_balancer_type) {
                args.drop_invalid_header_fields =
                    on("routing.http.drop_invalid_header_fields.enabled");
            } else {
                args.cross_zone = on("load_balancing.cross_zone.enabled");
            }
            args.access_logs = match (on("access_logs.s3.enabled"), args.access_logs) {
                (false, _) => None,
                (true, stored) => Some(AccessLogs {
                    bucket: attribute("access_logs.s3.bucket")
                        .map(Input::Value)
                        .or(stored.as_ref().map(|s| s.bucket.clone()))
                        .unwrap_or_else(|| Input::Value(String::new())),
                    prefix: attribute("access_logs.s3.prefix").unwrap_or_default(),
                }),
            };
            live.push(Some(args));
        }
        Ok(live)
    }
}

/// The stored ids where the live ones are the same set (their order is the stack file's),
/// else the live ones.
fn same_or_live(stored: Vec<Input<String>>, live: Vec<String>) -> Vec<Input<String>> {
    let stored_ids: std::collections::BTreeSet<&String> =
        stored.iter().filter_map(|i| i.get().ok()).collect();
    let live_ids: std::collections::BTreeSet<&String> = live.iter().collect();
    if stored_ids == live_ids && stored_ids.len() == stored.len() {
        stored
    } else {
        live.into_iter().map(Input::Value).collect()
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

    fn keys(lb: &LoadBalancer) -> Vec<(String, String)> {
        lb.attributes()
            .unwrap()
            .iter()
            .map(|a| (a.key().unwrap().to_string(), a.value().unwrap().to_string()))
            .collect()
    }

    #[test]
    fn an_application_load_balancer_drops_bad_headers_and_logs_to_its_bucket() {
        let alb: LoadBalancer = serde_json::from_value(json!({
            "subnet_ids": [], "security_group_ids": [],
            "deletion_protection": true, "drop_invalid_header_fields": true,
            "access_logs": {"bucket": "logs-1", "prefix": "alb"},
        }))
        .unwrap();
        let pairs = keys(&alb);
        for (key, value) in [
            ("deletion_protection.enabled", "true"),
            ("routing.http.drop_invalid_header_fields.enabled", "true"),
            ("access_logs.s3.enabled", "true"),
            ("access_logs.s3.bucket", "logs-1"),
            ("access_logs.s3.prefix", "alb"),
        ] {
            assert!(
                pairs.contains(&(key.into(), value.into())),
                "{key}: {pairs:?}"
            );
        }
        assert!(!pairs.iter().any(|(k, _)| k.starts_with("load_balancing")));
    }

    #[test]
    fn a_network_load_balancer_balances_across_zones_and_sets_no_http_attribute() {
        let nlb: LoadBalancer = serde_json::from_value(json!({
            "subnet_ids": [], "security_group_ids": [], "load_balancer_type": "network",
            "cross_zone": true,
        }))
        .unwrap();
        assert_eq!(
            keys(&nlb),
            [
                ("deletion_protection.enabled".into(), "false".into()),
                ("load_balancing.cross_zone.enabled".into(), "true".into()),
                ("access_logs.s3.enabled".into(), "false".into()),
            ]
        );
    }

    #[test]
    fn a_network_load_balancer_logs_its_tls_connections_to_its_bucket() {
        let nlb: LoadBalancer = serde_json::from_value(json!({
            "subnet_ids": [], "security_group_ids": [], "load_balancer_type": "network",
            "cross_zone": true, "access_logs": {"bucket": "logs-1", "prefix": "nlb"},
        }))
        .unwrap();
        let pairs = keys(&nlb);
        for (key, value) in [
            ("access_logs.s3.enabled", "true"),
            ("access_logs.s3.bucket", "logs-1"),
            ("access_logs.s3.prefix", "nlb"),
        ] {
            assert!(
                pairs.contains(&(key.into(), value.into())),
                "{key}: {pairs:?}"
            );
        }
        assert!(!pairs.iter().any(|(k, _)| k.starts_with("routing.http")));
    }
}
