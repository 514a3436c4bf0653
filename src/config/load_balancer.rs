//! `[load_balancer]`: what the audit asks of the load balancers, each with a safe default.

use std::collections::BTreeMap;

use ams_aws::elbv2::{tls_policy, DEFAULT_TLS_POLICY};

use super::raw::RawLoadBalancer;
use super::{ConfigError, Location, SourceFile};

/// What plain HTTP (80, 5080) does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlainHttp {
    /// 301 to HTTPS on 443 / 5443, same host, path and query (the default).
    Redirect,
    /// Forward in clear to the node groups, as the guide does.
    Forward,
}

/// The load balancers' settings.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadBalancerConfig {
    pub plain_http: PlainHttp,
    /// The HTTPS listeners' TLS security policy (one of `ams_aws::elbv2::TLS_POLICIES`).
    pub tls_policy: String,
    /// Both load balancers refuse to be deleted outside ams-stack.
    pub deletion_protection: bool,
    /// Days the ALB's access logs are kept in the stack's bucket; 0: no access logs, no bucket.
    pub access_log_days: i32,
}

impl Default for LoadBalancerConfig {
    fn default() -> Self {
        LoadBalancerConfig {
            plain_http: PlainHttp::Redirect,
            tls_policy: DEFAULT_TLS_POLICY.to_string(),
            deletion_protection: true,
            access_log_days: 30,
        }
    }
}

/// S3 lifecycle expirations: 1 day to 10 years (0 turns logs off).
const LOG_DAYS: (i32, i32) = (0, 3650);

/// Policies ELB once had that Application Load Balancers no longer take (they are not in AWS's
/// table of ALB security policies: `ELBSecurityPolicy-2015-05` is in the Network Load
/// Balancer's only, `ELBSecurityPolicy-TLS-1-0-2015-04` in neither), each with the listed
/// policy for the clients it kept: both accepted TLS 1.0, and had no TLS 1.3.
const RETIRED_TLS_POLICIES: [(&str, &str); 2] = [
    (
        "ELBSecurityPolicy-2015-05",
        "ELBSecurityPolicy-TLS13-1-0-PQ-2025-09",
    ),
    (
        "ELBSecurityPolicy-TLS-1-0-2015-04",
        "ELBSecurityPolicy-TLS13-1-0-PQ-2025-09",
    ),
];

impl SourceFile<'_> {
    /// `[load_balancer]`; each key written is recorded in `lines` for the checks.
    pub(super) fn load_balancer(
        &self,
        raw: Option<&RawLoadBalancer>,
        lines: &mut BTreeMap<String, Location>,
    ) -> Result<LoadBalancerConfig, ConfigError> {
        let mut config = LoadBalancerConfig::default();
        let Some(raw) = raw else {
            return Ok(config);
        };
        if let Some(mode) = &raw.plain_http {
            let key = "load_balancer.plain_http";
            config.plain_http = match mode.get_ref().as_str() {
                "redirect" => PlainHttp::Redirect,
                "forward" => PlainHttp::Forward,
                other => {
                    return Err(self.error(
                        key,
                        mode,
                        format!(
                            "`{other}` is not a plain_http mode (use \"redirect\" or \"forward\")"
                        ),
                    ))
                }
            };
            lines.insert(key.into(), self.location(key, mode));
        }
        if let Some(name) = &raw.tls_policy {
            let key = "load_balancer.tls_policy";
            if let Some((retired, instead)) = RETIRED_TLS_POLICIES
                .iter()
                .find(|(retired, _)| retired == name.get_ref())
            {
                return Err(self.error(
                    key,
                    name,
                    format!(
                        "`{retired}` is no longer accepted by Application Load Balancers; use the default `{DEFAULT_TLS_POLICY}`, or `{instead}` for clients that still need TLS 1.0"
                    ),
                ));
            }
            let Some(policy) = tls_policy(name.get_ref()) else {
                let near = ams_aws::elbv2::TLS_POLICIES
                    .iter()
                    .map(|p| p.name)
                    .min_by_key(|p| strsim::levenshtein(p, name.get_ref()))
                    .unwrap_or(DEFAULT_TLS_POLICY);
                return Err(self.error(
                    key,
                    name,
                    format!(
                        "`{}` is not an Application Load Balancer security policy (did you mean `{near}`? the default is `{DEFAULT_TLS_POLICY}`)",
                        name.get_ref()
                    ),
                ));
            };
            config.tls_policy = policy.name.to_string();
            lines.insert(key.into(), self.location(key, name));
        }
        if let Some(protect) = &raw.deletion_protection {
            let key = "load_balancer.deletion_protection";
            config.deletion_protection = *protect.get_ref();
            lines.insert(key.into(), self.location(key, protect));
        }
        let key = "load_balancer.access_log_days";
        if let Some(days) = self.within(key, &raw.access_log_days, LOG_DAYS)? {
            config.access_log_days = days;
            if let Some(raw_days) = &raw.access_log_days {
                lines.insert(key.into(), self.location(key, raw_days));
            }
        }
        Ok(config)
    }
}
