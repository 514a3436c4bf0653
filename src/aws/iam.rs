//! IAM: the instances' role, its one inline policy, and the instance profile that carries it.

use aws_sdk_iam::types::Tag;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use super::{
    aws_error, error_code, gone, missing, physical_name, physical_prefix, tags, Aws, AwsKind,
};
use crate::engine::{Created, Input, Kind, Output, ProviderError, Ref, StepContext};
use crate::state::ResourceState;

const PATH: &str = "/ams-stack/";
const POLICY_NAME: &str = "least-privilege";

/// One statement of the role's inline policy.
#[derive(Clone, Serialize, Deserialize)]
pub struct Statement {
    pub actions: Vec<String>,
    pub resource: Input<String>,
    /// An IAM condition block, as AWS writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Json>,
}

/// Every role under ams-stack's path (following pagination).
async fn our_roles(aws: &Aws) -> Result<Vec<aws_sdk_iam::types::Role>, ProviderError> {
    let mut all = Vec::new();
    let mut pages = aws
        .iam
        .list_roles()
        .path_prefix(PATH)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        all.extend(
            page.map_err(|e| aws_error("iam:ListRoles", e))?
                .roles()
                .iter()
                .cloned(),
        );
    }
    Ok(all)
}

/// Every instance profile under ams-stack's path (following pagination).
async fn our_profiles(
    aws: &Aws,
) -> Result<Vec<aws_sdk_iam::types::InstanceProfile>, ProviderError> {
    let mut all = Vec::new();
    let mut pages = aws
        .iam
        .list_instance_profiles()
        .path_prefix(PATH)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        all.extend(
            page.map_err(|e| aws_error("iam:ListInstanceProfiles", e))?
                .instance_profiles()
                .iter()
                .cloned(),
        );
    }
    Ok(all)
}

/// A role that EC2 instances assume, with one inline policy.
pub struct Role;

#[derive(Serialize, Deserialize)]
pub struct RoleArgs {
    pub description: String,
    pub statements: Vec<Statement>,
}

impl Kind for Role {
    const TYPE: &'static str = "aws:iam:Role";
    type Args = RoleArgs;
    const REPLACE_ON: &'static [&'static str] = &[];
}

impl Ref<Role> {
    pub fn name_output(&self) -> Output<String> {
        self.output("name")
    }
}

/// The policy document of `statements`.
pub fn policy_document(statements: &[Statement]) -> Result<String, ProviderError> {
    let statements = statements
        .iter()
        .map(|s| {
            let mut statement =
                json!({ "Effect": "Allow", "Action": s.actions, "Resource": s.resource.get()? });
            if let Some(condition) = &s.condition {
                statement["Condition"] = condition.clone();
            }
            Ok(statement)
        })
        .collect::<Result<Vec<_>, ProviderError>>()?;
    Ok(json!({ "Version": "2012-10-17", "Statement": statements }).to_string())
}

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

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

async fn put_policy(aws: &Aws, role: &str, args: &RoleArgs) -> Result<(), ProviderError> {
    aws.iam
        .put_role_policy()
        .role_name(role)
        .policy_name(POLICY_NAME)
        .policy_document(policy_document(&args.statements)?)
        .send()
        .await
        .map_err(|e| aws_error("iam:PutRolePolicy", e))?;
    Ok(())
}

#[async_trait::async_trait]
impl AwsKind for Role {
    async fn read(
        aws: &Aws,
        resources: &[ResourceState],
    ) -> Result<Vec<Option<Json>>, ProviderError> {
        let live = our_roles(aws)
            .await?
            .iter()
            .map(|r| r.role_name().to_string())
            .collect();
        Ok(super::existing(resources, &live))
    }

    async fn find(
        aws: &Aws,
        ctx: &StepContext,
        args: &RoleArgs,
    ) -> Result<Option<Created>, ProviderError> {
        let prefix = physical_prefix(ctx, 64);
        let roles = our_roles(aws).await?;
        let Some(role) = roles.iter().find(|r| r.role_name().starts_with(&prefix)) else {
            return Ok(None);
        };
        if !ctx.read_only {
            put_policy(aws, role.role_name(), args).await?;
        }
        Ok(Some(Created {
            id: role.role_name().to_string(),
            outputs: json!({ "name": role.role_name(), "arn": role.arn() }),
        }))
    }

    async fn create(
        aws: &Aws,
        ctx: &StepContext,
        args: &RoleArgs,
    ) -> Result<Created, ProviderError> {
        let name = physical_name(ctx, 64);
        let out = aws
            .iam
            .create_role()
            .role_name(&name)
            .path(PATH)
            .description(&args.description)
            .assume_role_policy_document(TRUST)
            .set_tags(Some(iam_tags(ctx)?))
            .send()
            .await
            .map_err(|e| aws_error("iam:CreateRole", e))?;
        let arn = out
            .role()
            .map(|r| r.arn().to_string())
            .ok_or_else(|| missing("iam:CreateRole", "Role"))?;
        put_policy(aws, &name, args).await?;
        Ok(Created {
            id: name.clone(),
            outputs: json!({ "name": name, "arn": arn }),
        })
    }

    async fn update(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
        args: &RoleArgs,
    ) -> Result<Json, ProviderError> {
        put_policy(aws, &current.id, args).await?;
        Ok(current.outputs.clone())
    }

    async fn delete(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
    ) -> Result<(), ProviderError> {
        gone(
            aws.iam
                .delete_role_policy()
                .role_name(&current.id)
                .policy_name(POLICY_NAME)
                .send()
                .await,
            "iam:DeleteRolePolicy",
            &["NoSuchEntity"],
        )?;
        gone(
            aws.iam.delete_role().role_name(&current.id).send().await,
            "iam:DeleteRole",
            &["NoSuchEntity"],
        )
    }
}

/// Puts the role in the profile. A profile holds one role: `LimitExceeded` after a retried call
/// means the first attempt did it.
async fn attach_role(aws: &Aws, profile: &str, role: &str) -> Result<(), ProviderError> {
    match aws
        .iam
        .add_role_to_instance_profile()
        .instance_profile_name(profile)
        .role_name(role)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if error_code(&e) == Some("LimitExceeded") => Ok(()),
        Err(e) => Err(aws_error("iam:AddRoleToInstanceProfile", e)),
    }
}

/// An instance profile holding one role.
pub struct InstanceProfile;

#[derive(Serialize, Deserialize)]
pub struct InstanceProfileArgs {
    pub role_name: Input<String>,
}

impl Kind for InstanceProfile {
    const TYPE: &'static str = "aws:iam:InstanceProfile";
    type Args = InstanceProfileArgs;
    const REPLACE_ON: &'static [&'static str] = &["role_name"];
}

impl Ref<InstanceProfile> {
    pub fn arn(&self) -> Output<String> {
        self.output("arn")
    }
}

#[async_trait::async_trait]
impl AwsKind for InstanceProfile {
    async fn read(
        aws: &Aws,
        resources: &[ResourceState],
    ) -> Result<Vec<Option<Json>>, ProviderError> {
        let live = our_profiles(aws)
            .await?
            .iter()
            .map(|p| p.instance_profile_name().to_string())
            .collect();
        Ok(super::existing(resources, &live))
    }

    async fn find(
        aws: &Aws,
        ctx: &StepContext,
        args: &InstanceProfileArgs,
    ) -> Result<Option<Created>, ProviderError> {
        let prefix = physical_prefix(ctx, 128);
        let profiles = our_profiles(aws).await?;
        let Some(profile) = profiles
            .iter()
            .find(|p| p.instance_profile_name().starts_with(&prefix))
        else {
            return Ok(None);
        };
        let name = profile.instance_profile_name().to_string();
        if profile.roles().is_empty() && !ctx.read_only {
            attach_role(aws, &name, args.role_name.get()?).await?;
        }
        Ok(Some(Created {
            id: name.clone(),
            outputs: json!({ "name": name, "arn": profile.arn() }),
        }))
    }

    async fn create(
        aws: &Aws,
        ctx: &StepContext,
        args: &InstanceProfileArgs,
    ) -> Result<Created, ProviderError> {
        let name = physical_name(ctx, 128);
        let out = aws
            .iam
            .create_instance_profile()
            .instance_profile_name(&name)
            .path(PATH)
            .set_tags(Some(iam_tags(ctx)?))
            .send()
            .await
            .map_err(|e| aws_error("iam:CreateInstanceProfile", e))?;
        let arn = out
            .instance_profile()
            .map(|p| p.arn().to_string())
            .ok_or_else(|| missing("iam:CreateInstanceProfile", "InstanceProfile"))?;
        attach_role(aws, &name, args.role_name.get()?).await?;
        Ok(Created {
            id: name.clone(),
            outputs: json!({ "name": name, "arn": arn }),
        })
    }

    async fn delete(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
    ) -> Result<(), ProviderError> {
        if let Some(role) = current.inputs.get("role_name").and_then(Json::as_str) {
            match aws
                .iam
                .remove_role_from_instance_profile()
                .instance_profile_name(&current.id)
                .role_name(role)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if error_code(&e) == Some("NoSuchEntity") => {}
                Err(e) => return Err(aws_error("iam:RemoveRoleFromInstanceProfile", e)),
            }
        }
        gone(
            aws.iam
                .delete_instance_profile()
                .instance_profile_name(&current.id)
                .send()
                .await,
            "iam:DeleteInstanceProfile",
            &["NoSuchEntity"],
        )
    }
}
