//! How the stack names and tags what it makes, so that nothing it made is ever unfindable; and
//! the ARN partition of a region, which every ARN the program writes starts with.

use ams_engine::{ProviderError, StepContext};

/// Tag keys every resource carries.
pub const TAG_STACK: &str = "ams-stack:stack";
pub const TAG_NAME: &str = "ams-stack:name";

/// The partitions other than `aws`, by the start of their regions' names, the more specific
/// first (`us-isob-` before `us-iso-`). Source: the partition table the AWS SDKs resolve
/// endpoints with (`partitions.json`, version 1.1): each partition's `regionRegex`.
const PARTITIONS: [(&str, &str); 7] = [
    ("us-gov-", "aws-us-gov"),
    ("cn-", "aws-cn"),
    ("us-isob-", "aws-iso-b"),
    ("us-isof-", "aws-iso-f"),
    ("us-iso-", "aws-iso"),
    ("eu-isoe-", "aws-iso-e"),
    ("eusc-", "aws-eusc"),
];

/// The ARN partition of a region: `aws`, `aws-us-gov` (GovCloud), `aws-cn` (China), ... Every
/// ARN the program builds (`arn:PARTITION:...`) takes it from here; an ARN in the wrong
/// partition names nothing, and IAM grants on it allow nothing.
pub fn partition(region: &str) -> &'static str {
    PARTITIONS
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("aws", |(_, partition)| *partition)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_region_is_in_its_partition() {
        for (region, expected) in [
            ("us-east-1", "aws"),
            ("ap-south-1", "aws"),
            ("il-central-1", "aws"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-gov-east-1", "aws-us-gov"),
            ("cn-north-1", "aws-cn"),
            ("cn-northwest-1", "aws-cn"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
            ("us-isof-south-1", "aws-iso-f"),
            ("eu-isoe-west-1", "aws-iso-e"),
            ("eusc-de-east-1", "aws-eusc"),
        ] {
            assert_eq!(partition(region), expected, "{region}");
        }
    }
}
