//! SSM Parameter Store: the MongoDB password, generated once and kept as a SecureString, and
//! its reveal for `outputs --show-secrets`; a parameter the user made, looked up.

mod existing;
mod secure_parameter;

pub use aws_sdk_ssm::types::ParameterType;
pub use existing::{describe_parameter, Described};
pub use secure_parameter::{reveal, SecureParameter, SecureParameterOutputs};
