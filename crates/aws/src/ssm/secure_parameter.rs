//! A generated password in a SecureString parameter, encrypted with the account's `aws/ssm` key.
//!
//! The value is made here, from the operating system's secure random source, and sent only to
//! SSM: it is never an input, an output or a log line, so it never reaches the state or a screen.

use aws_sdk_ssm::operation::get_parameter::builders::GetParameterFluentBuilder;
use aws_sdk_ssm::types::ParameterType;
use rand::distributions::{Alphanumeric, DistString};
use serde::{Deserialize, Serialize};

use ams_engine::{Kind, Outputs, ProviderError};

use crate::call::{required, OrError};
use crate::kind::{existing, AwsKind, Codes, Ctx, Current, Res};
use crate::Aws;

#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:ssm:SecureParameter", outputs = SecureParameterOutputs)]
pub struct SecureParameter {
    #[kind(replace)]
    pub name: String,
    pub description: String,
    /// Length of the generated value (letters and digits, so that it needs no escaping in a URI).
    pub length: usize,
}

/// The parameter's name and ARN; never its value.
#[derive(Clone, Serialize, Deserialize, Outputs)]
pub struct SecureParameterOutputs {
    pub name: String,
    pub arn: String,
}

/// A password from the OS's secure random source.
fn generate(length: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rngs::OsRng, length.max(24))
}

/// Reads the parameter `name`; its value decrypted only when `decrypt`.
fn get(aws: &Aws, name: &str, decrypt: bool) -> GetParameterFluentBuilder {
    aws.ssm.get_parameter().name(name).with_decryption(decrypt)
}

impl AwsKind for SecureParameter {
    const NOT_FOUND: Codes = &["ParameterNotFound"];
    /// Made by a run that died before recording it: it is found and kept with its value, so
    /// that a password never changes under a running cluster.
    const ALREADY_EXISTS: Codes = &["ParameterAlreadyExists"];

    async fn create(&self, aws: &Aws, _ctx: &Ctx) -> Res<String> {
        aws.ssm
            .put_parameter()
            .name(&self.name)
            .description(&self.description)
            .r#type(ParameterType::SecureString)
            .value(generate(self.length))
            .overwrite(false)
            .send()
            .await
            .or_error()?;
        Ok(self.name.clone())
    }

    async fn find(&self, aws: &Aws, _ctx: &Ctx) -> Res<Option<String>> {
        let found = get(aws, &self.name, false).send().await.or_gone::<Self>()?;
        Ok(found.map(|_| self.name.clone()))
    }

    async fn finish(&self, aws: &Aws, _ctx: &Ctx, name: &str) -> Res<Self::Outputs> {
        let out = get(aws, name, false).send().await.or_error()?;
        let arn = out.parameter().and_then(|p| p.arn());
        Ok(SecureParameterOutputs {
            name: name.to_string(),
            arn: required(arn, "the parameter's ARN")?,
        })
    }

    /// Only the description can change, and the parameter keeps the one it was made with: its
    /// value stays.
    async fn update(&self, _aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<Self::Outputs> {
        Ok(current.outputs.clone())
    }

    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        aws.ssm
            .delete_parameter()
            .name(&current.id)
            .send()
            .await
            .done_or_gone::<Self>()
    }

    /// Ten names a call, as `GetParameters` allows.
    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        let mut live = std::collections::BTreeSet::new();
        for chunk in resources.chunks(10) {
            let out = aws
                .ssm
                .get_parameters()
                .set_names(Some(chunk.iter().map(|r| r.id.clone()).collect()))
                .with_decryption(false)
                .send()
                .await
                .or_error()?;
            live.extend(
                out.parameters()
                    .iter()
                    .filter_map(|p| p.name().map(String::from)),
            );
        }
        Ok(existing(resources, &live))
    }
}

/// The decrypted value of a SecureString parameter, for `outputs --show-secrets`.
pub async fn reveal(aws: &Aws, name: &str) -> Result<String, ProviderError> {
    let out = get(aws, name, true).send().await.or_error()?;
    let value = out.parameter().and_then(|p| p.value());
    required(value, &format!("the value of parameter {name}"))
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

    #[test]
    fn outputs_name_the_parameter_never_its_value() {
        let mut program = ams_engine::Program::new();
        let password = program
            .add(
                "mongodb-password",
                super::SecureParameter {
                    name: "/ams-stack/demo/mongodb-password".into(),
                    description: String::new(),
                    length: 32,
                },
            )
            .unwrap();
        assert_eq!(format!("{:?}", password.name()), "mongodb-password.name");
        let declared = &program.resources()[0];
        assert_eq!(declared.replace_on, ["name"]);
        assert!(declared.args.get("value").is_none());
    }
}
