//! A role that an AWS service assumes (EC2 instances by default; Data Lifecycle Manager for
//! the snapshot policy), with one inline least-privilege policy and, where asked, AWS managed
//! policies attached (Session Manager's `AmazonSSMManagedInstanceCore`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use ams_engine::{Input, Kind, Outputs, ProviderError};

use super::{iam_tags, ours, PATH};
use crate::call::{required, OrError};
use crate::kind::{existing, AwsKind, Codes, Ctx, Current, Res};
use crate::names::physical_name;
use crate::Aws;

/// The longest role name IAM takes.
const NAME_MAX: usize = 64;

/// The name of the role's one inline policy.
const POLICY_NAME: &str = "least-privilege";

/// The service that assumes a role unless it says otherwise: EC2 instances.
const EC2: &str = "ec2.amazonaws.com";

#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:iam:Role", outputs = RoleOutputs)]
pub struct Role {
    pub description: String,
    pub statements: Vec<Statement>,
    /// The service the trust policy lets assume the role: `ec2.amazonaws.com` (the default,
    /// left out of the JSON so that stored roles show no change) or e.g. `dlm.amazonaws.com`.
    /// A change is made in place (`UpdateAssumeRolePolicy`).
    #[serde(default = "ec2", skip_serializing_if = "is_ec2")]
    pub service: String,
    /// ARNs of managed policies attached to the role (in place: attached and detached).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_policy_arns: Vec<String>,
}

fn ec2() -> String {
    EC2.to_string()
}

fn is_ec2(service: &str) -> bool {
    service == EC2
}

/// One statement of the role's inline policy.
#[serde_with::skip_serializing_none]
#[derive(Clone, Serialize, Deserialize)]
pub struct Statement {
    pub actions: Vec<String>,
    pub resource: Input<String>,
    /// An IAM condition block, as AWS writes it.
    pub condition: Option<Json>,
}

impl Statement {
    /// Allows `actions` on `resource`.
    pub fn allow(actions: &[&str], resource: impl Into<Input<String>>) -> Self {
        Statement {
            actions: actions.iter().map(|a| a.to_string()).collect(),
            resource: resource.into(),
            condition: None,
        }
    }

    /// Only when the IAM condition block `condition` holds.
    pub fn when(self, condition: Json) -> Self {
        Statement {
            condition: Some(condition),
            ..self
        }
    }
}

#[derive(Clone, Serialize, Deserialize, Outputs)]
pub struct RoleOutputs {
    /// The role's name (physical, `STACK-NAME-xxxx`), which is also its id.
    pub name: String,
    pub arn: String,
}

/// The trust policy: `service` (`ec2.amazonaws.com`, ...) may assume the role.
pub fn trust_policy(service: &str) -> Result<String, ProviderError> {
    let valid = service.strip_suffix(".amazonaws.com").is_some_and(|name| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    });
    if !valid {
        return Err(ProviderError::new(format!(
            "role: {service:?} is not an AWS service principal (NAME.amazonaws.com)"
        )));
    }
    let statement = json!({
        "Effect": "Allow",
        "Principal": { "Service": service },
        "Action": "sts:AssumeRole",
    });
    Ok(json!({ "Version": "2012-10-17", "Statement": [statement] }).to_string())
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
    let roles = aws
        .iam
        .list_roles()
        .path_prefix(PATH)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .or_error()?;
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

/// The ARNs of the managed policies attached to `role`.
async fn attached(aws: &Aws, role: &str) -> Result<Vec<String>, ProviderError> {
    let policies = aws
        .iam
        .list_attached_role_policies()
        .role_name(role)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .or_error()?;
    Ok(policies
        .iter()
        .filter_map(|p| p.policy_arn().map(String::from))
        .collect())
}

/// Attaches the managed policies `wanted` to `role` and detaches the others.
async fn set_managed(aws: &Aws, role: &str, wanted: &[String]) -> Result<(), ProviderError> {
    let now = attached(aws, role).await?;
    for arn in wanted.iter().filter(|a| !now.contains(a)) {
        let call = aws.iam.attach_role_policy().role_name(role).policy_arn(arn);
        call.send().await.or_error()?;
    }
    for arn in now.iter().filter(|a| !wanted.contains(a)) {
        let call = aws.iam.detach_role_policy().role_name(role).policy_arn(arn);
        call.send().await.done_or_gone::<Role>()?;
    }
    Ok(())
}

impl AwsKind for Role {
    const NOT_FOUND: Codes = &["NoSuchEntity"];
    const ALREADY_EXISTS: Codes = &["EntityAlreadyExists"];

    async fn create(&self, aws: &Aws, ctx: &Ctx) -> Res<String> {
        let name = physical_name(ctx, NAME_MAX);
        let create = aws
            .iam
            .create_role()
            .role_name(&name)
            .description(&self.description)
            .assume_role_policy_document(trust_policy(&self.service)?)
            // Under ams-stack's path, where `find` and `read` list, with the stack's tags.
            .path(PATH)
            .set_tags(Some(iam_tags(ctx)?));
        create.send().await.or_error()?;
        Ok(name)
    }

    async fn find(&self, aws: &Aws, ctx: &Ctx) -> Res<Option<String>> {
        Ok(ours(ctx, NAME_MAX, our_roles(aws).await?))
    }

    async fn finish(&self, aws: &Aws, ctx: &Ctx, name: &str) -> Res<Self::Outputs> {
        if !ctx.read_only {
            put_policy(aws, name, &self.statements).await?;
            set_managed(aws, name, &self.managed_policy_arns).await?;
        }
        let out = aws.iam.get_role().role_name(name).send().await.or_error()?;
        Ok(RoleOutputs {
            name: name.to_string(),
            arn: required(out.role().map(|r| r.arn()), "the role")?,
        })
    }

    /// The inline policy, and the trust policy when the service changed.
    async fn update(&self, aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<Self::Outputs> {
        if current.args.service != self.service {
            aws.iam
                .update_assume_role_policy()
                .role_name(&current.id)
                .policy_document(trust_policy(&self.service)?)
                .send()
                .await
                .or_error()?;
        }
        if current.args.description != self.description {
            aws.iam
                .update_role()
                .role_name(&current.id)
                .description(&self.description)
                .send()
                .await
                .or_error()?;
        }
        put_policy(aws, &current.id, &self.statements).await?;
        set_managed(aws, &current.id, &self.managed_policy_arns).await?;
        Ok(current.outputs.clone())
    }

    /// IAM deletes no role with policies: the managed ones are detached, the inline one
    /// deleted, first.
    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        match set_managed(aws, &current.id, &[]).await {
            Err(e) if e.code.as_deref() == Some("NoSuchEntity") => return Ok(()),
            done => done?,
        }
        let policy = aws.iam.delete_role_policy().policy_name(POLICY_NAME);
        policy
            .role_name(&current.id)
            .send()
            .await
            .done_or_gone::<Self>()?;
        aws.iam
            .delete_role()
            .role_name(&current.id)
            .send()
            .await
            .done_or_gone::<Self>()
    }

    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        Ok(existing(resources, our_roles(aws).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_the_name_and_arn() {
        let args = Role {
            description: String::new(),
            statements: Vec::new(),
            service: ec2(),
            managed_policy_arns: Vec::new(),
        };
        let role = ams_engine::Program::new()
            .add("instance-role", args)
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

    #[test]
    fn an_instance_role_keeps_its_stored_json_and_its_trust() {
        let stored = json!({ "description": "d", "statements": [] });
        let role: Role = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(role.service, "ec2.amazonaws.com");
        assert_eq!(serde_json::to_value(&role).unwrap(), stored);
        // Byte for byte the trust policy every instance role was made with.
        assert_eq!(
            trust_policy(&role.service).unwrap(),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#
        );
        assert!(
            Role::replace_on().is_empty(),
            "the service changes in place"
        );
    }

    #[test]
    fn a_dlm_role_trusts_dlm_and_says_so_in_its_json() {
        let role = Role {
            description: "snapshots".into(),
            statements: Vec::new(),
            service: "dlm.amazonaws.com".into(),
            managed_policy_arns: Vec::new(),
        };
        let json = serde_json::to_value(&role).unwrap();
        assert_eq!(json["service"], "dlm.amazonaws.com");
        let stored: Role = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(stored.service, "dlm.amazonaws.com");
        let trust: Json = serde_json::from_str(&trust_policy(&role.service).unwrap()).unwrap();
        assert_eq!(
            trust["Statement"][0]["Principal"]["Service"],
            "dlm.amazonaws.com"
        );
        assert!(trust_policy("dlm").is_err());
        assert!(trust_policy("evil\"}.amazonaws.com").is_err());
    }

    #[test]
    fn a_snapshot_role_can_be_least_privilege() {
        let statements = [
            Statement {
                actions: vec![
                    "ec2:CreateSnapshot".into(),
                    "ec2:CreateSnapshots".into(),
                    "ec2:DeleteSnapshot".into(),
                    "ec2:DescribeInstances".into(),
                    "ec2:DescribeVolumes".into(),
                    "ec2:DescribeSnapshots".into(),
                ],
                resource: "*".into(),
                condition: None,
            },
            Statement {
                actions: vec!["ec2:CreateTags".into()],
                resource: "arn:aws:ec2:*::snapshot/*".into(),
                condition: None,
            },
        ];
        let document: Json = serde_json::from_str(&policy_document(&statements).unwrap()).unwrap();
        assert_eq!(
            document["Statement"][1]["Action"],
            json!(["ec2:CreateTags"])
        );
        assert_eq!(
            document["Statement"][1]["Resource"],
            "arn:aws:ec2:*::snapshot/*"
        );
    }
}
