//! A parameter the user made (a self-hosted licence key), looked up before anything is created:
//! its type and key, never its value.

use aws_sdk_ssm::types::{ParameterStringFilter, ParameterType};

use ams_engine::ProviderError;

use crate::call::OrError;
use crate::Aws;

/// What a parameter is, as DescribeParameters says (no value).
#[derive(Clone, Debug, PartialEq)]
pub struct Described {
    pub kind: Option<ParameterType>,
    /// The KMS key a SecureString is encrypted with (`alias/aws/ssm`: AWS's own).
    pub key_id: Option<String>,
}

/// Parameter `name` as described, or `None` when there is none.
pub async fn describe_parameter(aws: &Aws, name: &str) -> Result<Option<Described>, ProviderError> {
    let filter = ParameterStringFilter::builder()
        .key("Name")
        .option("Equals")
        .values(name)
        .build()
        .map_err(|e| ProviderError::new(format!("a filter on parameter {name}: {e}")))?;
    let out = aws
        .ssm
        .describe_parameters()
        .parameter_filters(filter)
        .send()
        .await
        .or_error()?;
    Ok(out
        .parameters()
        .iter()
        .find(|p| p.name() == Some(name))
        .map(|p| Described {
            kind: p.r#type().cloned(),
            key_id: p.key_id().map(String::from),
        }))
}
