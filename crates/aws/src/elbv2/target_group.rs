//! A target group of instances: HTTP behind the Application Load Balancer (with a balancing
//! algorithm and cookie stickiness), or TCP/UDP behind the Network Load Balancer; each with its
//! health check.

use aws_sdk_elasticloadbalancingv2::types::{ProtocolEnum, TargetGroupAttribute, TargetTypeEnum};
use serde::{Deserialize, Serialize};

use ams_engine::{Input, Kind, Outputs, ProviderError};

use super::{elb_tags, first_arn, ours, Named, NAME_MAX};
use crate::call::{required, OrError};
use crate::kind::{AwsKind, Codes, Ctx, Current, Res};
use crate::names::physical_name;
use crate::Aws;

/// How long a health check waits for its answer, for every protocol (within AWS's 2-120 s, and
/// below the shortest interval allowed here).
const CHECK_TIMEOUT_SECONDS: i32 = 5;

/// Health check timing: seconds between checks and how many in a row make a target healthy or
/// unhealthy. A dead target is out of service after `interval_seconds * unhealthy` seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthTiming {
    /// 10-300 (AWS allows 5; a 5 s timeout needs a longer interval).
    pub interval_seconds: i32,
    /// 2-10 each.
    pub healthy: i32,
    pub unhealthy: i32,
}

impl HealthTiming {
    fn is_default(&self) -> bool {
        *self == HealthTiming::default()
    }
}

impl Default for HealthTiming {
    /// What groups made before the timing was a setting have: 30 s, 3 healthy, 5 unhealthy
    /// (two and a half minutes to notice a dead node).
    fn default() -> Self {
        HealthTiming {
            interval_seconds: 30,
            healthy: 3,
            unhealthy: 5,
        }
    }
}

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:elbv2:TargetGroup", outputs = TargetGroupOutputs)]
pub struct TargetGroup {
    #[kind(replace)]
    pub vpc_id: Input<String>,
    #[kind(replace)]
    pub port: i32,
    /// `HTTP` (the default, left out of the JSON), `HTTPS`, or for a Network Load Balancer
    /// `TCP`, `UDP` or `TCP_UDP`.
    #[kind(replace)]
    #[serde(default = "http", skip_serializing_if = "is_http")]
    pub protocol: String,
    /// The path of HTTP(S) health checks (AWS's default `/` when absent); none for TCP checks.
    pub health_check_path: Option<String>,
    /// `HTTP`, `HTTPS` or `TCP`; by default HTTP for an HTTP(S) group, TCP for the others. UDP
    /// cannot be health-checked: a UDP group is checked over TCP.
    pub health_check_protocol: Option<String>,
    /// The port of the health check (`traffic-port` when absent); a UDP group needs another
    /// port, where the targets answer TCP.
    pub health_check_port: Option<String>,
    /// `least_outstanding_requests` or `round_robin`: HTTP(S) groups only.
    pub algorithm: Option<String>,
    /// Load-balancer cookie stickiness, in seconds; none when absent. HTTP(S) groups only.
    pub sticky_seconds: Option<i32>,
    /// How long a leaving target keeps its connections before the load balancer closes them
    /// (0-3600 s; AWS's 300 when absent).
    pub deregistration_delay_seconds: Option<i32>,
    /// The health checks' timing (changed in place); left out of the JSON when it is the
    /// timing groups had before it was a setting.
    #[serde(default, skip_serializing_if = "HealthTiming::is_default")]
    pub health_timing: HealthTiming,
}

#[derive(Clone, Serialize, Deserialize, Outputs)]
pub struct TargetGroupOutputs {
    pub arn: String,
    pub name: String,
}

/// The protocol a target group stored before the argument existed has (serde's default; left
/// out when stored, so such a resource reads unchanged).
fn http() -> String {
    "HTTP".to_string()
}

fn is_http(value: &str) -> bool {
    value == "HTTP"
}

/// One of the key-value attributes ELB sets on a target group.
fn attribute(key: &str, value: impl ToString) -> TargetGroupAttribute {
    let attribute = TargetGroupAttribute::builder().key(key);
    attribute.value(value.to_string()).build()
}

impl TargetGroup {
    /// Whether the group is an Application Load Balancer's (HTTP or HTTPS).
    fn for_application(&self) -> bool {
        matches!(self.protocol.as_str(), "HTTP" | "HTTPS")
    }

    /// The protocol of the health check: as asked, or AWS's default for the group's protocol.
    fn check_protocol(&self) -> &str {
        match (&self.health_check_protocol, self.for_application()) {
            (Some(protocol), _) => protocol,
            (None, true) => "HTTP",
            (None, false) => "TCP",
        }
    }

    fn checks_http(&self) -> bool {
        matches!(self.check_protocol(), "HTTP" | "HTTPS")
    }

    /// Refuses what AWS would refuse, or accept to no avail, with the reason.
    fn check(&self) -> Result<(), ProviderError> {
        let refuse = |why: String| Err(ProviderError::new(format!("target group: {why}")));
        let protocol = &self.protocol;
        if !self.for_application() && (self.algorithm.is_some() || self.sticky_seconds.is_some()) {
            return refuse(format!(
                "algorithm and sticky_seconds are Application Load Balancer attributes; a {protocol} group takes neither"
            ));
        }
        if !matches!(self.check_protocol(), "HTTP" | "HTTPS" | "TCP") {
            return refuse(format!(
                "health checks are HTTP, HTTPS or TCP, not {}",
                self.check_protocol()
            ));
        }
        if self.health_check_path.is_some() && !self.checks_http() {
            return refuse("a health check path is for HTTP(S) health checks only".into());
        }
        let timing = &self.health_timing;
        if !(10..=300).contains(&timing.interval_seconds)
            || ![timing.healthy, timing.unhealthy]
                .iter()
                .all(|n| (2..=10).contains(n))
        {
            return refuse(format!(
                "health checks every 10-300 s with thresholds of 2-10, not {timing:?}"
            ));
        }
        if self
            .deregistration_delay_seconds
            .is_some_and(|s| !(0..=3600).contains(&s))
        {
            return refuse("a deregistration delay is 0-3600 s".into());
        }
        if protocol == "UDP" && self.health_check_port.is_none() {
            return refuse(
                "a UDP group is health-checked over TCP, on another port: set health_check_port"
                    .into(),
            );
        }
        Ok(())
    }

    /// The deregistration delay, and the Application-Load-Balancer attributes (algorithm,
    /// cookie stickiness), which a Network Load Balancer's group does not take.
    fn attributes(&self) -> Vec<TargetGroupAttribute> {
        let mut attributes = Vec::new();
        if let Some(seconds) = self.deregistration_delay_seconds {
            attributes.push(attribute("deregistration_delay.timeout_seconds", seconds));
        }
        if !self.for_application() {
            return attributes;
        }
        if let Some(algorithm) = &self.algorithm {
            attributes.push(attribute("load_balancing.algorithm.type", algorithm));
        }
        attributes.push(attribute(
            "stickiness.enabled",
            self.sticky_seconds.is_some(),
        ));
        if let Some(seconds) = self.sticky_seconds {
            attributes.push(attribute("stickiness.type", "lb_cookie"));
            attributes.push(attribute("stickiness.lb_cookie.duration_seconds", seconds));
        }
        attributes
    }

    async fn set_attributes(&self, aws: &Aws, arn: &str) -> Result<(), ProviderError> {
        let attributes = self.attributes();
        if attributes.is_empty() {
            return Ok(());
        }
        aws.elbv2
            .modify_target_group_attributes()
            .target_group_arn(arn)
            .set_attributes(Some(attributes))
            .send()
            .await
            .or_error()?;
        Ok(())
    }
}

/// The name and ARN of every target group of the account and region.
async fn all_named(aws: &Aws) -> Result<Named, ProviderError> {
    let all = aws
        .elbv2
        .describe_target_groups()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .or_error()?;
    Ok(all
        .iter()
        .filter_map(|t| Some((t.target_group_name()?.into(), t.target_group_arn()?.into())))
        .collect())
}

impl AwsKind for TargetGroup {
    const NOT_FOUND: Codes = &["TargetGroupNotFound"];
    const ALREADY_EXISTS: Codes = &["DuplicateTargetGroupName"];

    async fn create(&self, aws: &Aws, ctx: &Ctx) -> Res<String> {
        self.check()?;
        let create = aws
            .elbv2
            .create_target_group()
            .name(physical_name(ctx, NAME_MAX))
            .protocol(ProtocolEnum::from(self.protocol.as_str()))
            .port(self.port)
            .vpc_id(self.vpc_id.get()?)
            .target_type(TargetTypeEnum::Instance)
            .set_health_check_protocol(
                self.health_check_protocol
                    .as_deref()
                    .map(ProtocolEnum::from),
            )
            .set_health_check_port(self.health_check_port.clone())
            .set_health_check_path(self.health_check_path.clone())
            .health_check_interval_seconds(self.health_timing.interval_seconds)
            .health_check_timeout_seconds(CHECK_TIMEOUT_SECONDS)
            .healthy_threshold_count(self.health_timing.healthy)
            .unhealthy_threshold_count(self.health_timing.unhealthy)
            .set_tags(elb_tags(ctx));
        let out = create.send().await.or_error()?;
        first_arn(
            out.target_groups(),
            |made| made.target_group_arn(),
            "target group",
        )
    }

    async fn find(&self, aws: &Aws, ctx: &Ctx) -> Res<Option<String>> {
        ours(aws, ctx, all_named(aws).await?).await
    }

    async fn finish(&self, aws: &Aws, ctx: &Ctx, arn: &str) -> Res<Self::Outputs> {
        if !ctx.read_only {
            self.set_attributes(aws, arn).await?;
        }
        // arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID
        let name = arn.split('/').nth(1);
        Ok(TargetGroupOutputs {
            arn: arn.to_string(),
            name: required(name, "the target group's name in its ARN")?,
        })
    }

    /// Changes the health check (what is not given goes back to AWS's default), its timing and
    /// the attributes.
    async fn update(&self, aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<Self::Outputs> {
        self.check()?;
        let path = self
            .checks_http()
            .then(|| self.health_check_path.as_deref().unwrap_or("/").to_string());
        let port = self.health_check_port.as_deref().unwrap_or("traffic-port");
        aws.elbv2
            .modify_target_group()
            .target_group_arn(&current.id)
            .health_check_protocol(ProtocolEnum::from(self.check_protocol()))
            .health_check_port(port)
            .set_health_check_path(path)
            .health_check_interval_seconds(self.health_timing.interval_seconds)
            .health_check_timeout_seconds(CHECK_TIMEOUT_SECONDS)
            .healthy_threshold_count(self.health_timing.healthy)
            .unhealthy_threshold_count(self.health_timing.unhealthy)
            .send()
            .await
            .or_error()?;
        self.set_attributes(aws, &current.id).await?;
        Ok(current.outputs.clone())
    }

    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        let deletion = aws.elbv2.delete_target_group();
        deletion
            .target_group_arn(&current.id)
            .send()
            .await
            .done_or_gone::<Self>()
    }

    /// One listing, then one call per group for its attributes: its health check (path,
    /// protocol, port, timing), algorithm, stickiness and deregistration delay, each left as
    /// stored where AWS says its default for what the stored arguments leave to it. A group made
    /// by hand and adopted shows what its first update changes.
    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        let listed = aws
            .elbv2
            .describe_target_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .or_error()?;
        let mut live = Vec::with_capacity(resources.len());
        for resource in resources {
            let Some(group) = listed
                .iter()
                .find(|g| g.target_group_arn() == Some(resource.id.as_str()))
            else {
                live.push(None);
                continue;
            };
            let Some(attributes) = aws
                .elbv2
                .describe_target_group_attributes()
                .target_group_arn(&resource.id)
                .send()
                .await
                .or_gone::<Self>()?
            else {
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
            let mut args = resource.args;
            // What AWS says where the stored arguments leave it to its default: kept so.
            let unless_default = |stored: Option<String>, live: Option<String>, default: &str| {
                match (stored, live) {
                    (None, Some(live)) if live == default => None,
                    (stored, None) => stored,
                    (_, live) => live,
                }
            };
            if args.checks_http() {
                args.health_check_path = group.health_check_path().map(String::from);
            }
            let default_check = args.check_protocol().to_string();
            args.health_check_protocol = unless_default(
                args.health_check_protocol,
                group
                    .health_check_protocol()
                    .map(|p| p.as_str().to_string()),
                &default_check,
            );
            args.health_check_port = unless_default(
                args.health_check_port,
                group.health_check_port().map(String::from),
                "traffic-port",
            );
            args.health_timing = HealthTiming {
                interval_seconds: group
                    .health_check_interval_seconds()
                    .unwrap_or(args.health_timing.interval_seconds),
                healthy: group
                    .healthy_threshold_count()
                    .unwrap_or(args.health_timing.healthy),
                unhealthy: group
                    .unhealthy_threshold_count()
                    .unwrap_or(args.health_timing.unhealthy),
            };
            let delay = unless_default(
                args.deregistration_delay_seconds.map(|d| d.to_string()),
                attribute("deregistration_delay.timeout_seconds"),
                "300",
            );
            args.deregistration_delay_seconds = delay.and_then(|d| d.parse().ok());
            if args.for_application() {
                args.algorithm = unless_default(
                    args.algorithm,
                    attribute("load_balancing.algorithm.type"),
                    "round_robin",
                );
                let sticky = attribute("stickiness.enabled").is_some_and(|v| v == "true");
                args.sticky_seconds = sticky
                    .then(|| attribute("stickiness.lb_cookie.duration_seconds"))
                    .flatten()
                    .and_then(|d| d.parse().ok());
            }
            live.push(Some(args));
        }
        Ok(live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn group(value: serde_json::Value) -> TargetGroup {
        serde_json::from_value(value).unwrap()
    }

    fn http_group() -> serde_json::Value {
        json!({
            "vpc_id": "vpc-1",
            "port": 5080,
            "health_check_path": "/",
            "algorithm": "least_outstanding_requests",
        })
    }

    #[test]
    fn an_http_group_keeps_the_json_it_always_had() {
        let stored = http_group();
        let parsed = group(stored.clone());
        assert_eq!(parsed.protocol, "HTTP");
        assert_eq!(serde_json::to_value(&parsed).unwrap(), stored);
        let keys: Vec<_> = parsed
            .attributes()
            .iter()
            .map(|a| a.key().unwrap_or_default().to_string())
            .collect();
        assert_eq!(
            keys,
            ["load_balancing.algorithm.type", "stickiness.enabled"]
        );
        assert!(parsed.check().is_ok());
        assert!(TargetGroup::replace_on().contains(&"protocol"));
    }

    #[test]
    fn a_udp_group_is_checked_over_tcp_elsewhere_and_sets_no_alb_attributes() {
        let udp = json!({
            "vpc_id": "vpc-1",
            "port": 4200,
            "protocol": "UDP",
            "health_check_protocol": "TCP",
            "health_check_port": "5080",
        });
        let parsed = group(udp.clone());
        assert_eq!(serde_json::to_value(&parsed).unwrap(), udp);
        assert!(parsed.check().is_ok());
        assert!(parsed.attributes().is_empty());
        assert!(!parsed.checks_http());

        let mut unchecked = udp.clone();
        unchecked
            .as_object_mut()
            .unwrap()
            .remove("health_check_port");
        assert!(group(unchecked).check().is_err());
        let mut sticky = udp.clone();
        sticky["sticky_seconds"] = json!(60);
        assert!(group(sticky).check().is_err());
        let mut path = udp;
        path["health_check_path"] = json!("/");
        assert!(group(path).check().is_err());
    }

    #[test]
    fn a_tcp_group_defaults_to_tcp_checks_on_the_traffic_port() {
        let parsed = group(json!({ "vpc_id": "vpc-1", "port": 1935, "protocol": "TCP" }));
        assert_eq!(parsed.check_protocol(), "TCP");
        assert!(parsed.check().is_ok());
        assert!(parsed.attributes().is_empty());
    }
}
