//! A listener of a load balancer: HTTP or HTTPS (with a certificate and a TLS policy) on an
//! Application Load Balancer, TCP, UDP or TLS (with a certificate and a TLS policy: TLS
//! terminated, forwarded to a TCP target group) on a Network Load Balancer; it forwards to a target
//! group, or (HTTP) redirects to HTTPS on another port.

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, ProtocolEnum, RedirectActionConfig,
    RedirectActionStatusCodeEnum,
};
use serde::{Deserialize, Serialize};

use ams_engine::{Input, Kind, ProviderError};

use super::{elb_tags, first_arn};
use crate::call::OrError;
use crate::kind::{AwsKind, Codes, Ctx, Current, Res};
use crate::outputs::ArnOutputs;
use crate::Aws;

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:elbv2:Listener", outputs = ArnOutputs)]
pub struct Listener {
    #[kind(replace)]
    pub load_balancer_arn: Input<String>,
    pub port: i32,
    /// `HTTP` or `HTTPS` on an Application Load Balancer; `TCP`, `UDP` or `TLS` on a Network one.
    pub protocol: String,
    /// HTTPS and TLS only.
    pub certificate_arn: Option<Input<String>>,
    /// The TLS security policy of an HTTPS or TLS listener (`tls::TLS_POLICIES`).
    pub ssl_policy: Option<String>,
    /// Where it forwards; absent when it redirects.
    pub target_group_arn: Option<Input<String>>,
    /// The HTTPS port a plain-HTTP listener redirects to (301, same host, path and query).
    pub redirect_to_port: Option<i32>,
}

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
        let ssl_policy = match (&certificates, &self.ssl_policy) {
            (Some(_), Some(policy)) => Some(policy.clone()),
            (Some(_), None) => {
                return Err(ProviderError::new(
                    "an HTTPS listener needs a TLS policy (ssl_policy)",
                ))
            }
            (None, _) => None,
        };
        Ok(Parts {
            protocol: ProtocolEnum::from(self.protocol.as_str()),
            ssl_policy,
            certificates,
            action: self.action()?,
        })
    }

    /// Forward to the target group, or redirect to HTTPS on `redirect_to_port`.
    fn action(&self) -> Result<Action, ProviderError> {
        match (&self.target_group_arn, self.redirect_to_port) {
            (Some(arn), None) => Ok(Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(arn.get()?)
                .build()),
            (None, Some(port)) => Ok(Action::builder()
                .r#type(ActionTypeEnum::Redirect)
                .redirect_config(https_redirect(port))
                .build()),
            _ => Err(ProviderError::new(format!(
                "listener on port {}: give either target_group_arn or redirect_to_port",
                self.port
            ))),
        }
    }
}

/// A permanent redirect to HTTPS on `port`, keeping the host, the path and the query (ELB's
/// `#{host}`, `#{path}` and `#{query}` placeholders are its defaults).
fn https_redirect(port: i32) -> RedirectActionConfig {
    RedirectActionConfig::builder()
        .protocol("HTTPS")
        .port(port.to_string())
        .host("#{host}")
        .path("/#{path}")
        .query("#{query}")
        .status_code(RedirectActionStatusCodeEnum::Http301)
        .build()
}

impl AwsKind for Listener {
    const NOT_FOUND: Codes = &["ListenerNotFound"];
    const ALREADY_EXISTS: Codes = &["DuplicateListener"];
    const NOT_YET_VISIBLE: Codes = &[
        "TargetGroupNotFound",
        "CertificateNotFound",
        "LoadBalancerNotFound",
    ];

    async fn create(&self, aws: &Aws, ctx: &Ctx) -> Res<String> {
        let parts = self.parts()?;
        let create = aws
            .once
            .elbv2
            .create_listener()
            .load_balancer_arn(self.load_balancer_arn.get()?)
            .protocol(parts.protocol)
            .port(self.port)
            .set_certificates(parts.certificates)
            .set_ssl_policy(parts.ssl_policy)
            .default_actions(parts.action)
            .set_tags(elb_tags(ctx));
        let out = create.send().await.or_error()?;
        first_arn(out.listeners(), |made| made.listener_arn(), "listener")
    }

    /// The load balancer's listener on this port (a port has one listener).
    async fn find(&self, aws: &Aws, _ctx: &Ctx) -> Res<Option<String>> {
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

    async fn finish(&self, _aws: &Aws, _ctx: &Ctx, arn: &str) -> Res<Self::Outputs> {
        Ok(ArnOutputs::of(arn))
    }

    /// The protocol is sent only when it changes (moto refuses a `ModifyListener` that names
    /// UDP, which AWS accepts), so that a UDP listener can move to another target group.
    async fn update(&self, aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<Self::Outputs> {
        let parts = self.parts()?;
        let changed = current.args.protocol != self.protocol;
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

    /// One call for all of them: each listener's protocol, port, certificate, TLS policy, and
    /// where its default action forwards or redirects to. A `DescribeListeners` naming one that
    /// is gone fails as a whole: then one call each, to tell which. What a hand-made listener
    /// does otherwise (a fixed response, a redirect elsewhere) reads as neither, which the next
    /// update puts right.
    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        let arns: Vec<String> = resources.iter().map(|r| r.id.clone()).collect();
        let all = aws
            .elbv2
            .describe_listeners()
            .set_listener_arns(Some(arns))
            .send()
            .await
            .or_gone::<Self>()?;
        let mut listed: Vec<aws_sdk_elasticloadbalancingv2::types::Listener> = match all {
            Some(out) => out.listeners().to_vec(),
            None => Vec::new(),
        };
        if listed.len() < resources.len() {
            listed.clear();
            for resource in &resources {
                let one = aws
                    .elbv2
                    .describe_listeners()
                    .listener_arns(&resource.id)
                    .send()
                    .await
                    .or_gone::<Self>()?;
                listed.extend(one.iter().flat_map(|out| out.listeners().to_vec()));
            }
        }
        Ok(resources
            .into_iter()
            .map(|resource| {
                let listener = listed
                    .iter()
                    .find(|l| l.listener_arn() == Some(resource.id.as_str()))?;
                Some(live_listener(resource.args, listener))
            })
            .collect())
    }

    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        aws.elbv2
            .delete_listener()
            .listener_arn(&current.id)
            .send()
            .await
            .done_or_gone::<Self>()
    }
}

/// The stored listener `stored` with what `listener` says it is now.
fn live_listener(
    stored: Listener,
    listener: &aws_sdk_elasticloadbalancingv2::types::Listener,
) -> Listener {
    let action = listener.default_actions().first();
    let forwards_to = action.and_then(|a| {
        a.target_group_arn().map(String::from).or_else(|| {
            a.forward_config()
                .and_then(|f| f.target_groups().first())
                .and_then(|t| t.target_group_arn())
                .map(String::from)
        })
    });
    let redirects_to = action
        .and_then(|a| a.redirect_config())
        .filter(|r| r.protocol() == Some("HTTPS"))
        .and_then(|r| r.port())
        .and_then(|port| port.parse().ok());
    let protocol = listener
        .protocol()
        .map_or(stored.protocol, |p| p.as_str().to_string());
    // Only a TLS listener has a certificate and a policy (an emulator may say one for others).
    let tls = matches!(protocol.as_str(), "HTTPS" | "TLS");
    Listener {
        load_balancer_arn: stored.load_balancer_arn,
        port: listener.port().unwrap_or(stored.port),
        certificate_arn: listener
            .certificates()
            .first()
            .and_then(|c| c.certificate_arn())
            .filter(|_| tls)
            .map(|arn| Input::Value(arn.to_string())),
        ssl_policy: listener.ssl_policy().filter(|_| tls).map(String::from),
        protocol,
        target_group_arn: forwards_to.map(Input::Value),
        redirect_to_port: redirects_to,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09";

    fn listener(protocol: &str, certificate: Option<&str>) -> Listener {
        let mut args = json!({
            "load_balancer_arn": "arn:lb",
            "port": 1935,
            "protocol": protocol,
            "target_group_arn": "arn:tg",
        });
        if let Some(arn) = certificate {
            args["certificate_arn"] = json!(arn);
            args["ssl_policy"] = json!(POLICY);
        }
        serde_json::from_value(args).unwrap()
    }

    #[test]
    fn a_hand_made_listener_reads_as_what_it_does_not_as_stored() {
        use aws_sdk_elasticloadbalancingv2::types::Listener as Live;
        let forwarding = Live::builder()
            .port(80)
            .protocol(ProtocolEnum::Http)
            .default_actions(
                Action::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .target_group_arn("arn:by-hand")
                    .build(),
            )
            .build();
        let stored: Listener = serde_json::from_value(json!({
            "load_balancer_arn": "arn:lb", "port": 80, "protocol": "HTTP", "redirect_to_port": 443,
        }))
        .unwrap();
        let live = live_listener(stored, &forwarding);
        assert_eq!(
            serde_json::to_value(&live).unwrap(),
            json!({"load_balancer_arn": "arn:lb", "port": 80, "protocol": "HTTP",
                   "target_group_arn": "arn:by-hand"})
        );
        let https = Live::builder()
            .port(443)
            .protocol(ProtocolEnum::Https)
            .certificates(Certificate::builder().certificate_arn("arn:cert").build())
            .ssl_policy("ELBSecurityPolicy-2016-08")
            .default_actions(
                Action::builder()
                    .r#type(ActionTypeEnum::Redirect)
                    .redirect_config(https_redirect(5443))
                    .build(),
            )
            .build();
        let live = live_listener(listener("HTTPS", Some("arn:other")), &https);
        assert_eq!(
            live.certificate_arn.and_then(|c| c.get().ok().cloned()),
            Some("arn:cert".into())
        );
        assert_eq!(
            live.ssl_policy.as_deref(),
            Some("ELBSecurityPolicy-2016-08")
        );
        assert_eq!(
            (live.target_group_arn.is_none(), live.redirect_to_port),
            (true, Some(5443))
        );
    }

    #[test]
    fn a_stored_listener_without_the_new_fields_still_reads() {
        let stored = json!({
            "load_balancer_arn": "arn:lb", "port": 80, "protocol": "HTTP", "target_group_arn": "arn:tg",
        });
        let parsed: Listener = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), stored);
    }

    #[test]
    fn plain_http_redirects_permanently_to_https_keeping_host_path_and_query() {
        let listener: Listener = serde_json::from_value(json!({
            "load_balancer_arn": "arn:lb", "port": 5080, "protocol": "HTTP", "redirect_to_port": 5443,
        }))
        .unwrap();
        let action = listener.parts().unwrap().action;
        assert_eq!(action.r#type(), Some(&ActionTypeEnum::Redirect));
        assert!(action.target_group_arn().is_none());
        let redirect = action.redirect_config().expect("redirect");
        assert_eq!(
            (
                redirect.protocol(),
                redirect.port(),
                redirect.host(),
                redirect.path(),
                redirect.query()
            ),
            (
                Some("HTTPS"),
                Some("5443"),
                Some("#{host}"),
                Some("/#{path}"),
                Some("#{query}")
            )
        );
        assert_eq!(
            redirect.status_code(),
            Some(&RedirectActionStatusCodeEnum::Http301)
        );
    }

    #[test]
    fn a_listener_forwards_or_redirects_never_both() {
        let both: Listener = serde_json::from_value(json!({
            "load_balancer_arn": "arn:lb", "port": 80, "protocol": "HTTP",
            "target_group_arn": "arn:tg", "redirect_to_port": 443,
        }))
        .unwrap();
        assert!(both.parts().is_err());
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
        assert_eq!(parts.ssl_policy.as_deref(), Some(POLICY));
        assert_eq!(parts.certificates.map(|c| c.len()), Some(1));
    }
}
