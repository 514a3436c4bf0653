//! A role that EC2 instances assume, with one inline least-privilege policy.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use ams_engine::state::ResourceState;
use ams_engine::{Input, Kind, Outputs, ProviderError, StepContext};

use super::{iam_tags, ours, PATH};
use crate::call::{gone, missing, OrError};
use crate::kind::{existing, AwsKind, Ctx, Current, Res};
use crate::names::physical_name;
use crate::Aws;

/// The longest role name IAM takes.
const NAME_MAX: usize = 64;

/// The name of the role's one inline policy.
const POLICY_NAME: &str = "least-privilege";

/// Who may assume the role: EC2 instances.
const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:iam:Role", outputs = RoleOutputs)]
pub struct Role {
    pub description: String,
    pub statements: Vec<Statement>,
}

/// One statement of the role's inline policy.
#[derive(Clone, Serialize, Deserialize)]
pub struct Statement {
    pub actions: Vec<String>,
    pub resource: Input<String>,
    /// An IAM condition block, as AWS writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Json>,
}

#[derive(Clone, Serialize, Deserialize, Outputs)]
pub struct RoleOutputs {
    /// The role's name (physical, `STACK-NAME-xxxx`), which is also its id.
    pub name: String,
    pub arn: String,
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

/// The name of every role under ams-stack's path (following pagination).
async fn our_roles(aws: &Aws) -> Result<Vec<String>, ProviderError> {
    let list = aws.iam.list_roles().path_prefix(PATH).into_paginator();
    let roles = list.items().send().try_collect().await.or_error()?;
    Ok(roles.iter().map(|r| r.role_name().to_string()).collect())
}

/// Sets the role's inline policy to what `statements` allow.
async fn put_policy(aws: &Aws, role: &str, statements: &[Statement]) -> Result<(), ProviderError> {
    aws.iam
        .put_role_policy()
        .role_name(role)
        .policy_name(POLICY_NAME)
        .policy_document(policy_document(statements)?)
        .send()
        .await
        .or_error()?;
    Ok(())
}

#[async_trait::async_trait]
impl AwsKind for Role {
    const NOT_FOUND: &'static [&'static str] = &["NoSuchEntity"];
    const ALREADY_EXISTS: &'static [&'static str] = &["EntityAlreadyExists"];

    async fn create(&self, aws: &Aws, ctx: &StepContext) -> Result<String, ProviderError> {
        let name = physical_name(ctx, NAME_MAX);
        aws.iam
            .create_role()
            .role_name(&name)
            .path(PATH)
            .description(&self.description)
            .assume_role_policy_document(TRUST)
            .set_tags(Some(iam_tags(ctx)?))
            .send()
            .await
            .or_error()?;
        Ok(name)
    }

    async fn find(&self, aws: &Aws, ctx: &StepContext) -> Result<Option<String>, ProviderError> {
        Ok(ours(ctx, NAME_MAX, our_roles(aws).await?))
    }

    async fn finish(&self, aws: &Aws, ctx: &Ctx, name: &str) -> Res<RoleOutputs> {
        if !ctx.read_only {
            put_policy(aws, name, &self.statements).await?;
        }
        let out = aws.iam.get_role().role_name(name).send().await.or_error()?;
        let arn = out
            .role()
            .map(|r| r.arn())
            .ok_or_else(|| missing("the role"))?;
        Ok(RoleOutputs {
            name: name.to_string(),
            arn: arn.to_string(),
        })
    }

    async fn update(&self, aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<RoleOutputs> {
        put_policy(aws, &current.id, &self.statements).await?;
        Ok(current.outputs.clone())
    }

    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        let policy = aws.iam.delete_role_policy().policy_name(POLICY_NAME);
        gone!(Self, policy.role_name(&current.id))?;
        gone!(Self, aws.iam.delete_role().role_name(&current.id))?;
        Ok(())
    }

    async fn read(aws: &Aws, resources: &[ResourceState]) -> Res<Vec<Option<Json>>> {
        Ok(existing(resources, our_roles(aws).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_the_name_and_arn() {
        let mut program = ams_engine::Program::new();
        let role = program
            .add(
                "instance-role",
                Role {
                    description: String::new(),
                    statements: Vec::new(),
                },
            )
            .unwrap();
        assert_eq!(role.logical_name(), "instance-role");
        assert_eq!(format!("{:?}", role.name()), "instance-role.name");
        assert_eq!(format!("{:?}", role.arn()), "instance-role.arn");
    }

    #[test]
    fn the_policy_allows_each_statement() {
        let statements = [Statement {
            actions: vec!["ssm:GetParameter".into()],
            resource: "arn:aws:ssm:eu-west-1:1:parameter/p".into(),
            condition: Some(json!({ "Bool": { "aws:SecureTransport": "true" } })),
        }];
        let document: Json = serde_json::from_str(&policy_document(&statements).unwrap()).unwrap();
        assert_eq!(
            document["Statement"][0],
            json!({
                "Effect": "Allow",
                "Action": ["ssm:GetParameter"],
                "Resource": "arn:aws:ssm:eu-west-1:1:parameter/p",
                "Condition": { "Bool": { "aws:SecureTransport": "true" } },
            })
        );
    }
}
