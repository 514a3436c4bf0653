//! The AWS provider: one module per service, each defining the kinds it makes.
//!
//! Every kind implements [`AwsKind`]; [`AwsProvider`] dispatches the engine's calls to the
//! kind named by the resource's type. Errors carry the service, the operation and AWS's code.

pub mod acm;
pub mod autoscaling;
pub mod ec2;
pub mod elbv2;
pub mod iam;
pub mod lookup;
pub mod route53;
pub mod ssm;

use std::collections::BTreeMap;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_credential_types::provider::ProvideCredentials;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use crate::engine::{Created, Kind, Provider, ProviderError, StepContext};
use crate::state::ResourceState;

/// Tag keys every resource carries, so that nothing the stack made is ever unfindable.
pub const TAG_STACK: &str = "ams-stack:stack";
pub const TAG_NAME: &str = "ams-stack:name";

/// The AWS clients of one stack.
pub struct Aws {
    pub region: String,
    pub ec2: aws_sdk_ec2::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub acm: aws_sdk_acm::Client,
    pub route53: aws_sdk_route53::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub iam: aws_sdk_iam::Client,
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
        macro_rules! client {
            ($sdk:ident) => {
                $sdk::Client::from_conf(
                    $sdk::config::Builder::from(&config)
                        .interceptor(calls.clone())
                        .build(),
                )
            };
        }
        Ok(Aws {
            region: region.to_string(),
            ec2: client!(aws_sdk_ec2),
            autoscaling: client!(aws_sdk_autoscaling),
            elbv2: client!(aws_sdk_elasticloadbalancingv2),
            acm: client!(aws_sdk_acm),
            route53: client!(aws_sdk_route53),
            ssm: client!(aws_sdk_ssm),
            iam: client!(aws_sdk_iam),
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

    /// Whether the clients talk to an emulator rather than AWS.
    pub fn is_emulator(&self) -> bool {
        self.config.endpoint_url().is_some()
    }

    /// Polls `check` until it returns a value, saying what it waits for; fails after the timeout.
    pub async fn wait_for<T, F, Fut>(
        &self,
        ctx: &StepContext,
        what: &str,
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
            if started.elapsed() > self.wait_timeout {
                return Err(ProviderError {
                    code: Some("WaitTimeout".into()),
                    message: format!(
                        "timed out after {}s waiting for {what}",
                        self.wait_timeout.as_secs()
                    ),
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

fn first_line(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text.lines().next().unwrap_or_default().to_string()
}

/// Turns an SDK error into a provider error naming the operation and AWS's error code.
pub fn aws_error<E>(operation: &str, error: aws_sdk_ec2::error::SdkError<E>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_ec2::error::SdkError;
    let code = error.code().map(String::from).or_else(|| {
        match &error {
            SdkError::TimeoutError(_) => Some("RequestTimeout"),
            SdkError::DispatchFailure(_) => Some("DispatchFailure"),
            SdkError::ResponseError(_) => Some("ResponseError"),
            SdkError::ServiceError(e) if e.raw().status().is_server_error() => Some("ServerError"),
            _ => None,
        }
        .map(String::from)
    });
    let message = match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{operation}: {code}: {message}"),
        (Some(code), None) => format!("{operation}: {code}"),
        _ => format!("{operation}: {}", first_line(&error)),
    };
    ProviderError { code, message }
}

/// The error code of an SDK error, if AWS sent one.
pub fn error_code<E: ProvideErrorMetadata>(
    error: &aws_sdk_ec2::error::SdkError<E>,
) -> Option<&str> {
    error.code()
}

/// Treats "already gone" as success when deleting.
pub(crate) fn gone<T, E>(
    result: Result<T, aws_sdk_ec2::error::SdkError<E>>,
    operation: &str,
    not_found: &[&str],
) -> Result<(), ProviderError>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(e) if error_code(&e).is_some_and(|c| not_found.contains(&c)) => Ok(()),
        Err(e) => Err(aws_error(operation, e)),
    }
}

/// The values of resolved inputs.
pub(crate) fn resolved(
    inputs: &[crate::engine::Input<String>],
) -> Result<Vec<String>, ProviderError> {
    Ok(inputs
        .iter()
        .map(|i| i.get().cloned())
        .collect::<Result<_, _>>()?)
}

pub(crate) fn missing(operation: &str, what: &str) -> ProviderError {
    ProviderError::new(format!("{operation}: the response has no {what}"))
}

/// A unique physical name for a resource that needs one: `STACK-NAME-xxxx`, at most `max` long.
pub(crate) fn physical_name(ctx: &StepContext, max: usize) -> String {
    format!("{}{:04x}", physical_prefix(ctx, max), rand::random::<u16>())
}

/// What every physical name of this resource starts with (`STACK-NAME-`), to find it again.
pub(crate) fn physical_prefix(ctx: &StepContext, max: usize) -> String {
    let mut base = format!("{}-{}", ctx.stack, ctx.name);
    base.retain(|c| c.is_ascii_alphanumeric() || c == '-');
    base.truncate(max.saturating_sub(5));
    format!("{}-", base.trim_end_matches('-'))
}

/// The tags of a resource: its stack, its logical name, and a readable Name.
pub(crate) fn tags(ctx: &StepContext) -> Vec<(String, String)> {
    vec![
        (TAG_STACK.to_string(), ctx.stack.clone()),
        (TAG_NAME.to_string(), ctx.name.clone()),
        ("Name".to_string(), format!("{}-{}", ctx.stack, ctx.name)),
    ]
}

/// A kind the AWS provider knows how to make.
#[async_trait::async_trait]
pub trait AwsKind: Kind + Send + Sync + 'static
where
    Self::Args: DeserializeOwned + Send + Sync,
{
    async fn create(
        aws: &Aws,
        ctx: &StepContext,
        args: &Self::Args,
    ) -> Result<Created, ProviderError>;

    /// Changes arguments not listed in `REPLACE_ON`; returns the new outputs.
    async fn update(
        aws: &Aws,
        ctx: &StepContext,
        current: &ResourceState,
        args: &Self::Args,
    ) -> Result<Json, ProviderError> {
        let _ = (aws, args);
        Err(ProviderError::new(format!(
            "{} cannot be updated in place: {}",
            ctx.type_name, current.id
        )))
    }

    async fn delete(
        aws: &Aws,
        ctx: &StepContext,
        current: &ResourceState,
    ) -> Result<(), ProviderError>;

    /// Finds what an interrupted create made (by tags, name or token) and finishes it.
    async fn find(
        aws: &Aws,
        ctx: &StepContext,
        args: &Self::Args,
    ) -> Result<Option<Created>, ProviderError>;

    /// The live arguments of many resources of this kind, in as few calls as the API allows;
    /// `None` for one that is gone. By default: only what can be compared is the stored value.
    async fn read(
        aws: &Aws,
        resources: &[ResourceState],
    ) -> Result<Vec<Option<Json>>, ProviderError> {
        let _ = aws;
        Ok(resources.iter().map(|r| Some(r.inputs.clone())).collect())
    }
}

/// Keeps the resources whose id is in `live`, with their stored arguments.
pub(crate) fn existing(
    resources: &[ResourceState],
    live: &std::collections::BTreeSet<String>,
) -> Vec<Option<Json>> {
    resources
        .iter()
        .map(|r| live.contains(&r.id).then(|| r.inputs.clone()))
        .collect()
}

#[async_trait::async_trait]
trait Handler: Send + Sync {
    async fn read(
        &self,
        aws: &Aws,
        resources: &[ResourceState],
    ) -> Result<Vec<Option<Json>>, ProviderError>;
    async fn find(
        &self,
        aws: &Aws,
        ctx: &StepContext,
        inputs: &Json,
    ) -> Result<Option<Created>, ProviderError>;
    async fn create(
        &self,
        aws: &Aws,
        ctx: &StepContext,
        inputs: &Json,
    ) -> Result<Created, ProviderError>;
    async fn update(
        &self,
        aws: &Aws,
        ctx: &StepContext,
        current: &ResourceState,
        inputs: &Json,
    ) -> Result<Json, ProviderError>;
    async fn delete(
        &self,
        aws: &Aws,
        ctx: &StepContext,
        current: &ResourceState,
    ) -> Result<(), ProviderError>;
}

struct For<K>(PhantomData<fn() -> K>);

fn args<K: Kind>(inputs: &Json) -> Result<K::Args, ProviderError>
where
    K::Args: DeserializeOwned,
{
    serde_json::from_value(inputs.clone()).map_err(|e| {
        ProviderError::new(format!("arguments of {} do not fit its kind: {e}", K::TYPE))
    })
}

#[async_trait::async_trait]
impl<K: AwsKind> Handler for For<K>
where
    K::Args: DeserializeOwned + Send + Sync,
{
    async fn read(
        &self,
        aws: &Aws,
        resources: &[ResourceState],
    ) -> Result<Vec<Option<Json>>, ProviderError> {
        K::read(aws, resources).await
    }

    async fn find(
        &self,
        aws: &Aws,
        ctx: &StepContext,
        inputs: &Json,
    ) -> Result<Option<Created>, ProviderError> {
        K::find(aws, ctx, &args::<K>(inputs)?).await
    }

    async fn create(
        &self,
        aws: &Aws,
        ctx: &StepContext,
        inputs: &Json,
    ) -> Result<Created, ProviderError> {
        K::create(aws, ctx, &args::<K>(inputs)?).await
    }

    async fn update(
        &self,
        aws: &Aws,
        ctx: &StepContext,
        current: &ResourceState,
        inputs: &Json,
    ) -> Result<Json, ProviderError> {
        K::update(aws, ctx, current, &args::<K>(inputs)?).await
    }

    async fn delete(
        &self,
        aws: &Aws,
        ctx: &StepContext,
        current: &ResourceState,
    ) -> Result<(), ProviderError> {
        K::delete(aws, ctx, current).await
    }
}

/// The provider the engine drives: every AWS kind, by type name.
pub struct AwsProvider {
    aws: Arc<Aws>,
    kinds: BTreeMap<&'static str, Box<dyn Handler>>,
}

impl AwsProvider {
    pub fn new(aws: Arc<Aws>) -> Self {
        let mut provider = AwsProvider {
            aws,
            kinds: BTreeMap::new(),
        };
        provider.register::<ec2::Vpc>();
        provider.register::<ec2::InternetGateway>();
        provider.register::<ec2::Subnet>();
        provider.register::<ec2::RouteTable>();
        provider.register::<ec2::SecurityGroup>();
        provider.register::<ec2::Instance>();
        provider.register::<ec2::LaunchTemplate>();
        provider.register::<autoscaling::Group>();
        provider.register::<autoscaling::CpuPolicy>();
        provider.register::<elbv2::TargetGroup>();
        provider.register::<elbv2::LoadBalancer>();
        provider.register::<elbv2::Listener>();
        provider.register::<acm::Certificate>();
        provider.register::<acm::CertificateValidation>();
        provider.register::<route53::Record>();
        provider.register::<ssm::SecureParameter>();
        provider.register::<iam::Role>();
        provider.register::<iam::InstanceProfile>();
        provider
    }

    fn register<K: AwsKind>(&mut self)
    where
        K::Args: DeserializeOwned + Send + Sync,
    {
        self.kinds.insert(K::TYPE, Box::new(For::<K>(PhantomData)));
    }

    fn kind(&self, type_name: &str) -> Result<&dyn Handler, ProviderError> {
        self.kinds
            .get(type_name)
            .map(|k| k.as_ref())
            .ok_or_else(|| ProviderError::new(format!("unknown resource type `{type_name}`")))
    }
}

#[async_trait::async_trait]
impl Provider for AwsProvider {
    async fn read(
        &self,
        type_name: &str,
        resources: &[ResourceState],
    ) -> Result<Vec<Option<Json>>, ProviderError> {
        self.kind(type_name)?.read(&self.aws, resources).await
    }

    async fn find(
        &self,
        ctx: &StepContext,
        inputs: &Json,
    ) -> Result<Option<Created>, ProviderError> {
        self.kind(&ctx.type_name)?
            .find(&self.aws, ctx, inputs)
            .await
    }

    /// Creates; after an error that may hide a success (a throttle, a 5xx, a lost answer, a name
    /// that exists, a dependency not visible yet) it looks for what the attempt made before it
    /// tries again, so that a retry never makes a second one.
    async fn create(&self, ctx: &StepContext, inputs: &Json) -> Result<Created, ProviderError> {
        let kind = self.kind(&ctx.type_name)?;
        let mut attempt = 0;
        loop {
            match kind.create(&self.aws, ctx, inputs).await {
                Ok(created) => return Ok(created),
                Err(e) if attempt < RETRIES && worth_retrying(&e) => {
                    attempt += 1;
                    ctx.waiting(format!(
                        "retrying after {}",
                        e.code.as_deref().unwrap_or("an error")
                    ));
                    tokio::time::sleep(backoff(attempt, &self.aws)).await;
                    match kind.find(&self.aws, ctx, inputs).await {
                        Ok(Some(found)) => return Ok(found),
                        Ok(None) => {}
                        Err(found_error) if transient(&found_error) => {}
                        Err(found_error) => return Err(found_error),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn update(
        &self,
        ctx: &StepContext,
        current: &ResourceState,
        inputs: &Json,
    ) -> Result<Json, ProviderError> {
        let kind = self.kind(&ctx.type_name)?;
        let mut attempt = 0;
        loop {
            match kind.update(&self.aws, ctx, current, inputs).await {
                Err(e) if attempt < RETRIES && (transient(&e) || eventual(&e)) => {
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt, &self.aws)).await;
                }
                other => return other,
            }
        }
    }

    async fn delete(
        &self,
        ctx: &StepContext,
        current: &ResourceState,
    ) -> Result<(), ProviderError> {
        let kind = self.kind(&ctx.type_name)?;
        let mut attempt = 0;
        loop {
            match kind.delete(&self.aws, ctx, current).await {
                // Dependencies may take a moment to let go (a load balancer's interfaces, ...).
                Err(e)
                    if attempt < RETRIES
                        && (transient(&e) || e.code.as_deref() == Some("DependencyViolation")) =>
                {
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt, &self.aws)).await;
                }
                other => return other,
            }
        }
    }
}

/// Attempts of a step beyond the SDK's own retries of each call.
const RETRIES: u32 = 6;

/// Exponential backoff with full jitter.
fn backoff(attempt: u32, aws: &Aws) -> Duration {
    let base = if aws.is_emulator() { 50 } else { 500 };
    let cap = (base * 2u64.pow(attempt.min(6))).min(20_000);
    Duration::from_millis(rand::random::<u64>() % cap.max(1) + base / 2)
}

/// Throttling, server errors, time-outs: the call may or may not have happened.
fn transient(error: &ProviderError) -> bool {
    matches!(
        error.code.as_deref(),
        Some(
            "Throttling"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "TooManyRequestsException"
                | "SlowDown"
                | "PriorRequestNotComplete"
                | "InternalError"
                | "InternalFailure"
                | "ServiceUnavailable"
                | "RequestTimeout"
                | "DispatchFailure"
                | "ResponseError"
                | "ServerError"
        )
    )
}

/// Something just made is not visible yet (AWS is eventually consistent).
fn eventual(error: &ProviderError) -> bool {
    let code = error.code.as_deref().unwrap_or_default();
    code.ends_with(".NotFound")
        && !code.starts_with("InvalidKeyPair")
        && !code.starts_with("InvalidAMIID")
        || code == "NoSuchEntity"
        || (code == "InvalidParameterValue" && error.message.contains("iamInstanceProfile"))
}

/// The create may already have happened: an earlier attempt (or a retry of the SDK) made it.
fn already_exists(error: &ProviderError) -> bool {
    matches!(
        error.code.as_deref(),
        Some(
            "InvalidGroup.Duplicate"
                | "DuplicateTargetGroupName"
                | "DuplicateLoadBalancerName"
                | "DuplicateListener"
                | "AlreadyExists"
                | "AlreadyExistsFault"
                | "InvalidLaunchTemplateName.AlreadyExistsException"
                | "EntityAlreadyExists"
                | "InvalidChangeBatch"
                | "InvalidSubnet.Conflict"
                | "Resource.AlreadyAssociated"
                | "InvalidPermission.Duplicate"
                | "RouteAlreadyExists"
                | "LimitExceeded"
        )
    )
}

fn worth_retrying(error: &ProviderError) -> bool {
    transient(error) || eventual(error) || already_exists(error)
}

/// Reads a string output of a resource in the state.
pub(crate) fn output_str<'a>(
    current: &'a ResourceState,
    key: &str,
) -> Result<&'a str, ProviderError> {
    current
        .outputs
        .get(key)
        .and_then(Json::as_str)
        .ok_or_else(|| {
            ProviderError::new(format!(
                "{} has no output `{key}` in the state",
                current.name
            ))
        })
}

/// Unresolved inputs reaching a provider are an engine bug; say so plainly.
impl From<crate::engine::Unresolved> for ProviderError {
    fn from(_: crate::engine::Unresolved) -> Self {
        ProviderError::new("internal error: an input reached AWS unresolved (please report this)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: &str, message: &str) -> ProviderError {
        ProviderError {
            code: Some(code.into()),
            message: message.into(),
        }
    }

    #[test]
    fn errors_that_may_hide_a_success_are_retried_after_a_look() {
        assert!(
            transient(&error("RequestLimitExceeded", ""))
                && transient(&error("ServiceUnavailable", ""))
        );
        assert!(
            eventual(&error("InvalidGroup.NotFound", ""))
                && eventual(&error("InvalidInstanceID.NotFound", ""))
        );
        assert!(eventual(&error(
            "InvalidParameterValue",
            "Value (x) for parameter iamInstanceProfile.name is invalid"
        )));
        assert!(
            already_exists(&error("InvalidGroup.Duplicate", ""))
                && already_exists(&error("EntityAlreadyExists", ""))
        );
        // A user's mistake is not retried.
        assert!(!worth_retrying(&error("InvalidKeyPair.NotFound", "")));
        assert!(!worth_retrying(&error("InvalidAMIID.NotFound", "")));
        assert!(!worth_retrying(&error("UnauthorizedOperation", "")));
    }
}
