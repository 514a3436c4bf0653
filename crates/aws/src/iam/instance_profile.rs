//! An instance profile holding one role, for the instances to run with.

use serde::{Deserialize, Serialize};

use ams_engine::{Input, Kind, Outputs, ProviderError};

use super::{iam_tags, ours, PATH};
use crate::call::{missing, OrError};
use crate::kind::{existing, AwsKind, Codes, Ctx, Current, Res};
use crate::names::physical_name;
use crate::Aws;

/// The longest instance profile name IAM takes.
const NAME_MAX: usize = 128;

#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:iam:InstanceProfile", outputs = InstanceProfileOutputs, immutable)]
pub struct InstanceProfile {
    pub role_name: Input<String>,
}

#[derive(Serialize, Deserialize, Outputs)]
pub struct InstanceProfileOutputs {
    /// The profile's name (physical, `STACK-NAME-xxxx`), which is also its id.
    pub name: String,
    pub arn: String,
}

/// The name of every instance profile under ams-stack's path (following pagination).
async fn our_profiles(aws: &Aws) -> Result<Vec<String>, ProviderError> {
    let profiles = aws
        .iam
        .list_instance_profiles()
        .path_prefix(PATH)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .or_error()?;
    Ok(profiles
        .iter()
        .map(|p| p.instance_profile_name().to_string())
        .collect())
}

impl AwsKind for InstanceProfile {
    const NOT_FOUND: Codes = &["NoSuchEntity"];
    /// A profile holds one role: adding it again (a retried call whose first attempt did it)
    /// says the quota is reached.
    const ALREADY_EXISTS: Codes = &[
        "EntityAlreadyExists",
        "LimitExceeded:InstanceSessionsPerInstanceProfile",
    ];
    /// A role made a moment ago may not be visible to IAM yet.
    const NOT_YET_VISIBLE: Codes = &["NoSuchEntity"];

    async fn create(&self, aws: &Aws, ctx: &Ctx) -> Res<String> {
        let name = physical_name(ctx, NAME_MAX);
        // Under ams-stack's path, where `find` and `read` list, with the stack's tags.
        let create = aws
            .iam
            .create_instance_profile()
            .instance_profile_name(&name);
        let create = create.path(PATH).set_tags(Some(iam_tags(ctx)?));
        create.send().await.or_error()?;
        Ok(name)
    }

    async fn find(&self, aws: &Aws, ctx: &Ctx) -> Res<Option<String>> {
        Ok(ours(ctx, NAME_MAX, our_profiles(aws).await?))
    }

    /// Puts the role in the profile unless it holds one already.
    async fn finish(&self, aws: &Aws, ctx: &Ctx, name: &str) -> Res<Self::Outputs> {
        let out = aws
            .iam
            .get_instance_profile()
            .instance_profile_name(name)
            .send()
            .await
            .or_error()?;
        let profile = out
            .instance_profile()
            .ok_or_else(|| missing("the instance profile"))?;
        if profile.roles().is_empty() && !ctx.read_only {
            let role = self.role_name.get()?;
            let added = aws
                .iam
                .add_role_to_instance_profile()
                .instance_profile_name(name)
                .role_name(role)
                .send()
                .await
                .or_error();
            match added {
                // A retry of an add whose answer was lost: the profile holds its one role.
                Err(e) if e.code.as_deref() == Some("LimitExceeded") => {
                    let again = aws.iam.get_instance_profile().instance_profile_name(name);
                    let out = again.send().await.or_error()?;
                    let holds = out
                        .instance_profile()
                        .is_some_and(|p| p.roles().iter().any(|r| r.role_name() == role));
                    if !holds {
                        return Err(e);
                    }
                }
                other => {
                    other?;
                }
            }
        }
        Ok(InstanceProfileOutputs {
            name: name.to_string(),
            arn: profile.arn().to_string(),
        })
    }

    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        if let Ok(role) = current.args.role_name.get() {
            let removal = aws.iam.remove_role_from_instance_profile().role_name(role);
            removal
                .instance_profile_name(&current.id)
                .send()
                .await
                .done_or_gone::<Self>()?;
        }
        let deletion = aws.iam.delete_instance_profile();
        deletion
            .instance_profile_name(&current.id)
            .send()
            .await
            .done_or_gone::<Self>()
    }

    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        Ok(existing(resources, our_profiles(aws).await?))
    }
}
