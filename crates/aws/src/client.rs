//! The clients of one stack, the call log, and the waits.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_credential_types::provider::ProvideCredentials;

use ams_engine::{ProviderError, StepContext};

use crate::call::first_line;

/// One client per service.
pub struct Clients {
    pub ec2: aws_sdk_ec2::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub acm: aws_sdk_acm::Client,
    pub route53: aws_sdk_route53::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub iam: aws_sdk_iam::Client,
    /// Data Lifecycle Manager: the EBS snapshot policies.
    pub dlm: aws_sdk_dlm::Client,
    /// The stack's own buckets (path-style addressing on an emulator).
    pub s3: aws_sdk_s3::Client,
    /// Who the credentials belong to (the account id a bucket policy names).
    pub sts: aws_sdk_sts::Client,
    /// Read only: whether a stack that tagged what `adopt` finds still exists.
    pub cloudformation: aws_sdk_cloudformation::Client,
}

impl Clients {
    fn new(config: &aws_config::SdkConfig, calls: &CallLog) -> Self {
        // A macro because each service's client and configuration are their own SDK types
        // with no trait in common: one line a service instead of four.
        macro_rules! client {
            ($sdk:ident) => {
                $sdk::Client::from_conf(
                    $sdk::config::Builder::from(config)
                        .interceptor(calls.clone())
                        .build(),
                )
            };
        }
        Clients {
            ec2: client!(aws_sdk_ec2),
            autoscaling: client!(aws_sdk_autoscaling),
            elbv2: client!(aws_sdk_elasticloadbalancingv2),
            acm: client!(aws_sdk_acm),
            route53: client!(aws_sdk_route53),
            ssm: client!(aws_sdk_ssm),
            iam: client!(aws_sdk_iam),
            dlm: client!(aws_sdk_dlm),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(config)
                    .force_path_style(config.endpoint_url().is_some())
                    .interceptor(calls.clone())
                    .build(),
            ),
            sts: client!(aws_sdk_sts),
            cloudformation: client!(aws_sdk_cloudformation),
        }
    }
}

/// The AWS clients of one stack. `aws.ec2` and the others retry throttling and server errors
/// (the SDK's standard mode); `aws.once` makes each call exactly once, for the creates that AWS
/// does not make idempotent: a lost answer is then looked for (see [`crate::retry`]) before
/// anything is made again.
pub struct Aws {
    pub region: String,
    clients: Clients,
    pub once: Clients,
    /// The shared configuration (credentials, endpoint), for clients made elsewhere (state).
    pub config: aws_config::SdkConfig,
    /// Every AWS operation this run called, in order (`service:Operation`).
    pub calls: CallLog,
    /// How long to wait for the cloud (instance running, certificate issued, ...).
    pub wait_timeout: Duration,
    pub poll_interval: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("no AWS credentials found ({detail})\n  set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `aws configure`;\n  to try ams-stack without an AWS account, use the local stack: scripts/local-up.sh (or `ams-stack up local` with the emulator running)")]
    Missing { detail: String },
}

impl Aws {
    /// Clients for `region` through the standard credential chain; `endpoint` sends every
    /// service to an emulator instead of AWS.
    pub async fn connect(region: &str, endpoint: Option<&str>) -> Result<Self, CredentialsError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5))
            .region(aws_config::Region::new(region.to_string()));
        if let Some(endpoint) = endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let config = loader.load().await;
        let provider = config
            .credentials_provider()
            .ok_or_else(|| CredentialsError::Missing {
                detail: "no credential provider configured".into(),
            })?;
        let config = match provider.provide_credentials().await {
            Ok(_) => config,
            // An emulator accepts any credentials: do not make the user invent some.
            Err(_) if endpoint.is_some() => config
                .into_builder()
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(
                        aws_credential_types::Credentials::new(
                            "emulator",
                            "emulator",
                            None,
                            None,
                            "ams-stack",
                        ),
                    ),
                )
                .build(),
            Err(e) => {
                return Err(CredentialsError::Missing {
                    detail: first_line(&e),
                })
            }
        };
        let local = endpoint.is_some();
        let calls = CallLog::default();
        let once = config
            .clone()
            .into_builder()
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        Ok(Aws {
            region: region.to_string(),
            clients: Clients::new(&config, &calls),
            once: Clients::new(&once, &calls),
            config: config.clone(),
            calls,
            wait_timeout: if local {
                Duration::from_secs(120)
            } else {
                Duration::from_secs(45 * 60)
            },
            poll_interval: if local {
                Duration::from_millis(500)
            } else {
                Duration::from_secs(10)
            },
        })
    }

    /// An S3 client for `region` (the state bucket's), with this run's credentials and call log.
    pub fn s3_client(&self, region: &str, path_style: bool) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.config)
            .region(aws_config::Region::new(region.to_string()))
            .force_path_style(path_style)
            .interceptor(self.calls.clone())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// How long a delete waits for AWS to let go of what still holds the resource (a deleted
    /// load balancer's network interfaces, instances shutting down, a certificate in use):
    /// minutes on AWS, as Terraform's delete timeouts; `AMS_STACK_DELETE_PATIENCE` (seconds)
    /// overrides it.
    pub fn delete_patience(&self) -> Duration {
        std::env::var("AMS_STACK_DELETE_PATIENCE")
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(if self.is_emulator() {
                Duration::from_secs(180)
            } else {
                Duration::from_secs(20 * 60)
            })
    }

    /// Whether the clients talk to an emulator rather than AWS.
    pub fn is_emulator(&self) -> bool {
        self.config.endpoint_url().is_some()
    }

    /// Polls `check` until it returns a value, saying what it waits for; fails after the timeout.
    pub async fn wait_for<T, F, Fut>(
        &self,
        ctx: &StepContext,
        what: &str,
        check: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, ProviderError>>,
    {
        self.wait_within(ctx, what, self.wait_timeout, check).await
    }

    /// [`Aws::wait_for`] with its own time limit (`WaitTimeout` after `limit`).
    pub async fn wait_within<T, F, Fut>(
        &self,
        ctx: &StepContext,
        what: &str,
        limit: Duration,
        mut check: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, ProviderError>>,
    {
        let started = Instant::now();
        let mut announced = false;
        loop {
            if let Some(value) = check().await? {
                return Ok(value);
            }
            if started.elapsed() > limit {
                return Err(ProviderError {
                    code: Some("WaitTimeout".into()),
                    message: format!("timed out after {}s waiting for {what}", limit.as_secs()),
                });
            }
            if !announced {
                ctx.waiting(format!("waiting for {what}"));
                announced = true;
            }
            tokio::time::sleep(self.poll_interval).await;
        }
    }
}

/// Records the name of every AWS operation called, once it has finished (one entry per call,
/// not per retry).
#[derive(Clone, Debug, Default)]
pub struct CallLog(Arc<std::sync::Mutex<Vec<String>>>);

impl CallLog {
    pub fn calls(&self) -> Vec<String> {
        self.0.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for CallLog {
    fn name(&self) -> &'static str {
        "ams-stack call log"
    }

    fn read_after_execution(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let name = cfg
            .load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            .map_or_else(
                || "unknown:unknown".to_string(),
                |m| format!("{}:{}", m.service(), m.name()),
            );
        if let Ok(mut calls) = self.0.lock() {
            calls.push(name);
        }
        Ok(())
    }
}

impl std::ops::Deref for Aws {
    type Target = Clients;
    fn deref(&self) -> &Clients {
        &self.clients
    }
}
