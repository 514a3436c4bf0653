//! Elastic Load Balancing v2: the load balancer (Application for HTTP(S), Network for TCP and
//! UDP), its target groups, its listeners and their rules, and the TLS policies.

mod listener;
mod listener_rule;
mod load_balancer;
mod target_group;
mod tls;

pub use listener::Listener;
pub use listener_rule::{ListenerRule, QueryPair};
pub use load_balancer::{AccessLogs, LoadBalancer, LoadBalancerOutputs};
pub use target_group::{HealthTiming, TargetGroup, TargetGroupOutputs};
pub use tls::{tls_policy, TlsPolicy, DEFAULT_TLS_POLICY, TLS_POLICIES};

use aws_sdk_elasticloadbalancingv2::types::Tag;

use ams_engine::{ProviderError, StepContext};

use crate::call::{required, OrError};
use crate::names::{is_ours, physical_prefix, tags};
use crate::Aws;

/// The longest name ELBv2 accepts for a load balancer or a target group.
const NAME_MAX: usize = 32;

/// How many ARNs one `DescribeTags` call takes.
const TAGS_PER_CALL: usize = 20;

/// This step's tags, as ELBv2 takes them.
fn elb_tags(ctx: &StepContext) -> Option<Vec<Tag>> {
    Some(
        tags(ctx)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect(),
    )
}

/// The ARN of the one `what` (listener, load balancer, target group) a create answers with.
fn first_arn<T>(
    made: &[T],
    arn: impl Fn(&T) -> Option<&str>,
    what: &str,
) -> Result<String, ProviderError> {
    required(made.first().and_then(arn), &format!("the {what}'s ARN"))
}

/// The name and ARN of every load balancer, or every target group, of the account and region.
type Named = Vec<(String, String)>;

/// The ARN of this step's resource among `named`: the one whose name starts with the step's
/// physical prefix and which carries its tags.
async fn ours(aws: &Aws, ctx: &StepContext, named: Named) -> Result<Option<String>, ProviderError> {
    let prefix = physical_prefix(ctx, NAME_MAX);
    let arns: Vec<String> = named
        .into_iter()
        .filter(|(name, _)| name.starts_with(&prefix))
        .map(|(_, arn)| arn)
        // Old and new of a replacement share the prefix: never the one being replaced.
        .filter(|arn| !ctx.is_replaced(arn))
        .collect();
    first_tagged(aws, ctx, &arns).await
}

/// The first of `arns` that carries this step's tags.
async fn first_tagged(
    aws: &Aws,
    ctx: &StepContext,
    arns: &[String],
) -> Result<Option<String>, ProviderError> {
    for chunk in arns.chunks(TAGS_PER_CALL) {
        let out = aws
            .elbv2
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .or_error()?;
        for description in out.tag_descriptions() {
            let pairs = description
                .tags()
                .iter()
                .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()));
            if is_ours(ctx, pairs) {
                return Ok(description.resource_arn().map(String::from));
            }
        }
    }
    Ok(None)
}
