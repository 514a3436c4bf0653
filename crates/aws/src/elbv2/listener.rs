//! A listener that forwards a port of a load balancer to a target group: HTTP or HTTPS (with a
//! certificate) on an Application Load Balancer, TCP or UDP on a Network Load Balancer.

use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, Certificate, ProtocolEnum};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use ams_engine::{Input, Kind, Outputs, ProviderError, StepContext};

use super::{elb_tags, first_arn};
use crate::call::{gone, OrError};
use crate::kind::{AwsKind, Ctx, Current, Res};
use crate::Aws;

#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:elbv2:Listener", outputs = ListenerOutputs)]
pub struct Listener {
    #[kind(replace)]
    pub load_balancer_arn: Input<String>,
    pub port: i32,
    /// `HTTP` or `HTTPS` on an Application Load Balancer; `TCP` or `UDP` on a Network one.
    pub protocol: String,
    /// HTTPS only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_arn: Option<Input<String>>,
    pub target_group_arn: Input<String>,
}

#[derive(Clone, Serialize, Deserialize, Outputs)]
pub struct ListenerOutputs {
    pub arn: String,
}

/// The TLS policy of HTTPS listeners: TLS 1.2 and 1.3 only.
const SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/// What a create and an update both send.
struct Parts {
    protocol: ProtocolEnum,
    certificates: Option<Vec<Certificate>>,
    ssl_policy: Option<String>,
    action: Action,
}

impl Listener {
    fn parts(&self) -> Result<Parts, ProviderError> {
        let certificates = match &self.certificate_arn {
            Some(arn) => Some(vec![Certificate::builder()
                .certificate_arn(arn.get()?)
                .build()]),
            None => None,
        };
        Ok(Parts {
            protocol: ProtocolEnum::from(self.protocol.as_str()),
            ssl_policy: certificates.is_some().then(|| SSL_POLICY.to_string()),
            certificates,
            action: Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(self.target_group_arn.get()?)
                .build(),
        })
    }
}

#[async_trait::async_trait]
impl AwsKind for Listener {
    const NOT_FOUND: &'static [&'static str] = &["ListenerNotFound"];
    const ALREADY_EXISTS: &'static [&'static str] = &["DuplicateListener"];
    const NOT_YET_VISIBLE: &'static [&'static str] = &[
        "TargetGroupNotFound",
        "CertificateNotFound",
        "LoadBalancerNotFound",
    ];

    async fn create(&self, aws: &Aws, ctx: &StepContext) -> Result<String, ProviderError> {
        let parts = self.parts()?;
        let out = aws
            .once
            .elbv2
            .create_listener()
            .load_balancer_arn(self.load_balancer_arn.get()?)
            .protocol(parts.protocol)
            .port(self.port)
            .set_certificates(parts.certificates)
            .set_ssl_policy(parts.ssl_policy)
            .default_actions(parts.action)
            .set_tags(elb_tags(ctx))
            .send()
            .await
            .or_error()?;
        first_arn(out.listeners(), |l| l.listener_arn(), "listener")
    }

    /// The load balancer's listener on this port (a port has one listener).
    async fn find(&self, aws: &Aws, _ctx: &StepContext) -> Result<Option<String>, ProviderError> {
        let out = aws
            .elbv2
            .describe_listeners()
            .load_balancer_arn(self.load_balancer_arn.get()?)
            .send()
            .await
            .or_error()?;
        Ok(out
            .listeners()
            .iter()
            .find(|l| l.port() == Some(self.port))
            .and_then(|l| l.listener_arn())
            .map(String::from))
    }

    async fn finish(&self, _aws: &Aws, _ctx: &Ctx, arn: &str) -> Res<ListenerOutputs> {
        Ok(ListenerOutputs {
            arn: arn.to_string(),
        })
    }

    /// The protocol is sent only when it changes (moto refuses a `ModifyListener` that names
    /// UDP, which AWS accepts), so that a UDP listener can move to another target group.
    async fn update(&self, aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<ListenerOutputs> {
        let parts = self.parts()?;
        let changed =
            current.inputs.get("protocol").and_then(Json::as_str) != Some(self.protocol.as_str());
        aws.elbv2
            .modify_listener()
            .listener_arn(&current.id)
            .set_protocol(changed.then_some(parts.protocol))
            .port(self.port)
            .set_certificates(parts.certificates)
            .set_ssl_policy(parts.ssl_policy)
            .default_actions(parts.action)
            .send()
            .await
            .or_error()?;
        Ok(current.outputs.clone())
    }

    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        gone!(Self, aws.elbv2.delete_listener().listener_arn(&current.id))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn listener(protocol: &str, certificate: Option<&str>) -> Listener {
        let mut args = json!({
            "load_balancer_arn": "arn:lb",
            "port": 1935,
            "protocol": protocol,
            "target_group_arn": "arn:tg",
        });
        if let Some(arn) = certificate {
            args["certificate_arn"] = json!(arn);
        }
        serde_json::from_value(args).unwrap()
    }

    #[test]
    fn tcp_and_udp_listeners_forward_without_a_certificate() {
        for protocol in ["TCP", "UDP"] {
            let parts = listener(protocol, None).parts().unwrap();
            assert_eq!(parts.protocol.as_str(), protocol);
            assert!(parts.certificates.is_none() && parts.ssl_policy.is_none());
            assert_eq!(parts.action.r#type(), Some(&ActionTypeEnum::Forward));
            assert_eq!(parts.action.target_group_arn(), Some("arn:tg"));
        }
    }

    #[test]
    fn an_https_listener_carries_its_certificate_and_the_tls_policy() {
        let parts = listener("HTTPS", Some("arn:cert")).parts().unwrap();
        assert_eq!(parts.protocol, ProtocolEnum::Https);
        assert_eq!(parts.ssl_policy.as_deref(), Some(SSL_POLICY));
        assert_eq!(parts.certificates.map(|c| c.len()), Some(1));
    }
}
