//! SSM Parameter Store: the MongoDB password, generated once and kept as a SecureString.
//!
//! The value is made here, from the operating system's secure random source, and sent only to
//! SSM: it is never an input, an output or a log line, so it never reaches the state or a screen.

use aws_sdk_ssm::types::ParameterType;
use rand::distributions::{Alphanumeric, DistString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{aws_error, error_code, gone, missing, Aws, AwsKind};
use crate::engine::{Created, Kind, Output, ProviderError, Ref, StepContext};
use crate::state::ResourceState;

/// A generated password in a SecureString parameter, encrypted with the account's `aws/ssm` key.
pub struct SecureParameter;

#[derive(Serialize, Deserialize)]
pub struct SecureParameterArgs {
    pub name: String,
    pub description: String,
    /// Length of the generated value (letters and digits, so that it needs no escaping in a URI).
    pub length: usize,
}

impl Kind for SecureParameter {
    const TYPE: &'static str = "aws:ssm:SecureParameter";
    type Args = SecureParameterArgs;
    const REPLACE_ON: &'static [&'static str] = &["name"];
}

impl Ref<SecureParameter> {
    pub fn arn(&self) -> Output<String> {
        self.output("arn")
    }
    pub fn name_output(&self) -> Output<String> {
        self.output("name")
    }
}

/// A password from the OS's secure random source.
fn generate(length: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rngs::OsRng, length.max(24))
}

#[async_trait::async_trait]
impl AwsKind for SecureParameter {
    async fn read(
        aws: &Aws,
        resources: &[ResourceState],
    ) -> Result<Vec<Option<serde_json::Value>>, ProviderError> {
        let mut live = std::collections::BTreeSet::new();
        for chunk in resources.chunks(10) {
            let out = aws
                .ssm
                .get_parameters()
                .set_names(Some(chunk.iter().map(|r| r.id.clone()).collect()))
                .with_decryption(false)
                .send()
                .await
                .map_err(|e| aws_error("ssm:GetParameters", e))?;
            live.extend(
                out.parameters()
                    .iter()
                    .filter_map(|p| p.name().map(String::from)),
            );
        }
        Ok(super::existing(resources, &live))
    }

    async fn find(
        aws: &Aws,
        _ctx: &StepContext,
        args: &SecureParameterArgs,
    ) -> Result<Option<Created>, ProviderError> {
        match aws
            .ssm
            .get_parameter()
            .name(&args.name)
            .with_decryption(false)
            .send()
            .await
        {
            Ok(out) => {
                let arn = out
                    .parameter()
                    .and_then(|p| p.arn())
                    .ok_or_else(|| missing("ssm:GetParameter", "ARN"))?;
                Ok(Some(Created {
                    id: args.name.clone(),
                    outputs: json!({ "name": args.name, "arn": arn }),
                }))
            }
            Err(e) if error_code(&e) == Some("ParameterNotFound") => Ok(None),
            Err(e) => Err(aws_error("ssm:GetParameter", e)),
        }
    }

    async fn create(
        aws: &Aws,
        _ctx: &StepContext,
        args: &SecureParameterArgs,
    ) -> Result<Created, ProviderError> {
        let put = aws
            .ssm
            .put_parameter()
            .name(&args.name)
            .description(&args.description)
            .r#type(ParameterType::SecureString)
            .value(generate(args.length))
            .overwrite(false)
            .send()
            .await;
        match put {
            Ok(_) => {}
            // Made by a run that died before recording it: keep its value, never change a
            // password under a running cluster.
            Err(e) if error_code(&e) == Some("ParameterAlreadyExists") => {}
            Err(e) => return Err(aws_error("ssm:PutParameter", e)),
        }
        let described = aws
            .ssm
            .get_parameter()
            .name(&args.name)
            .with_decryption(false)
            .send()
            .await
            .map_err(|e| aws_error("ssm:GetParameter", e))?;
        let arn = described
            .parameter()
            .and_then(|p| p.arn())
            .ok_or_else(|| missing("ssm:GetParameter", "ARN"))?;
        Ok(Created {
            id: args.name.clone(),
            outputs: json!({ "name": args.name, "arn": arn }),
        })
    }

    async fn update(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
        args: &SecureParameterArgs,
    ) -> Result<serde_json::Value, ProviderError> {
        // Only the description can change; the value stays.
        let _ = (aws, args);
        Ok(current.outputs.clone())
    }

    async fn delete(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
    ) -> Result<(), ProviderError> {
        gone(
            aws.ssm.delete_parameter().name(&current.id).send().await,
            "ssm:DeleteParameter",
            &["ParameterNotFound"],
        )
    }
}

/// The decrypted value of a SecureString parameter, for `outputs --show-secrets`.
pub async fn reveal(aws: &Aws, name: &str) -> Result<String, ProviderError> {
    let out = aws
        .ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| aws_error("ssm:GetParameter", e))?;
    out.parameter()
        .and_then(|p| p.value())
        .map(String::from)
        .ok_or_else(|| missing("ssm:GetParameter", "Value"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_passwords_are_long_alphanumeric_and_differ() {
        let (a, b) = (super::generate(32), super::generate(8));
        assert_eq!(a.len(), 32);
        assert_eq!(b.len(), 24, "never shorter than 24");
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(super::generate(32), a);
    }
}
