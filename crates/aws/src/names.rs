//! How the stack names and tags what it makes, so that nothing it made is ever unfindable.

use ams_engine::{ProviderError, StepContext};

/// Tag keys every resource carries.
pub const TAG_STACK: &str = "ams-stack:stack";
pub const TAG_NAME: &str = "ams-stack:name";

/// A unique physical name for a resource that needs one: `STACK-NAME-xxxx`, at most `max` long.
pub fn physical_name(ctx: &StepContext, max: usize) -> String {
    format!("{}{:04x}", physical_prefix(ctx, max), rand::random::<u16>())
}

/// What every physical name of this resource starts with (`STACK-NAME-`), to find it again.
pub fn physical_prefix(ctx: &StepContext, max: usize) -> String {
    let mut base = format!("{}-{}", ctx.stack, ctx.name);
    base.retain(|c| c.is_ascii_alphanumeric() || c == '-');
    base.truncate(max.saturating_sub(5));
    format!("{}-", base.trim_end_matches('-'))
}

/// A physical name unique across every AWS account (an S3 bucket's): `stack-name-` in lower case
/// and 16 random hex digits, at most `max` long.
pub fn globally_unique_name(ctx: &StepContext, max: usize) -> String {
    format!("{}{:016x}", global_prefix(ctx, max), rand::random::<u64>())
}

/// What every [`globally_unique_name`] of this resource starts with, to find it again.
pub fn global_prefix(ctx: &StepContext, max: usize) -> String {
    let mut base = format!("{}-{}", ctx.stack, ctx.name).to_ascii_lowercase();
    base.retain(|c| c.is_ascii_alphanumeric() || c == '-');
    base.truncate(max.saturating_sub(17));
    format!("{}-", base.trim_matches('-'))
}

/// The tags of a resource: its stack, its logical name, and a readable Name.
pub fn tags(ctx: &StepContext) -> Vec<(String, String)> {
    vec![
        (TAG_STACK.to_string(), ctx.stack.clone()),
        (TAG_NAME.to_string(), ctx.name.clone()),
        ("Name".to_string(), format!("{}-{}", ctx.stack, ctx.name)),
    ]
}

/// Whether a resource's tags (as key/value pairs) say it is this step's resource.
pub fn is_ours<'a>(ctx: &StepContext, tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
    let (mut stack, mut name) = (false, false);
    for (key, value) in tags {
        stack |= key == TAG_STACK && value == ctx.stack;
        name |= key == TAG_NAME && value == ctx.name;
    }
    stack && name
}

/// The values of resolved inputs.
pub fn resolved(inputs: &[ams_engine::Input<String>]) -> Result<Vec<String>, ProviderError> {
    Ok(inputs
        .iter()
        .map(|i| i.get().cloned())
        .collect::<Result<_, _>>()?)
}
