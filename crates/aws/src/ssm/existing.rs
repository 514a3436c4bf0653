//! A parameter the user made (a self-hosted licence key), looked up before anything is created:
//! its type, never its value.

use aws_sdk_ssm::types::ParameterType;

use ams_engine::ProviderError;

use crate::call::OrError;
use crate::Aws;

/// The type of parameter `name` (`SecureString`, `String`, ...), or `None` when there is none.
pub async fn parameter_type(aws: &Aws, name: &str) -> Result<Option<ParameterType>, ProviderError> {
    let found = aws
        .ssm
        .get_parameter()
        .name(name)
        .with_decryption(false)
        .send()
        .await;
    match found {
        Ok(out) => Ok(out.parameter().and_then(|p| p.r#type()).cloned()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_parameter_not_found()) =>
        {
            Ok(None)
        }
        Err(e) => Err(e).or_error(),
    }
}
