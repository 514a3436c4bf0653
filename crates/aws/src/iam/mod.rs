//! IAM: the instances' role, its one inline policy, and the instance profile that carries it.

mod instance_profile;
mod role;

pub use instance_profile::{InstanceProfile, InstanceProfileOutputs};
pub use role::{policy_document, Role, RoleOutputs, Statement};

use aws_sdk_iam::types::Tag;

use ams_engine::{ProviderError, StepContext};

use crate::names::{physical_prefix, tags};

/// The path of every role and profile ams-stack makes, so that listings see only ours.
const PATH: &str = "/ams-stack/";

/// The stack's tags, as IAM takes them.
fn iam_tags(ctx: &StepContext) -> Result<Vec<Tag>, ProviderError> {
    tags(ctx)
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| ProviderError::new(format!("iam tags: {e}")))
        })
        .collect()
}

/// This step's resource among the names of ours (a name made by `physical_name`, at most `max`
/// long, starts with the step's physical prefix).
fn ours(ctx: &StepContext, max: usize, names: Vec<String>) -> Option<String> {
    let prefix = physical_prefix(ctx, max);
    // Old and new of a replacement share the prefix: never the one being replaced.
    names
        .into_iter()
        .find(|name| name.starts_with(&prefix) && !ctx.is_replaced(name))
}
