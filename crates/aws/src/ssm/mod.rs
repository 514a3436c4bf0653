//! SSM Parameter Store: the MongoDB password, generated once and kept as a SecureString, and
//! its reveal for `outputs --show-secrets`.

mod secure_parameter;

pub use secure_parameter::{reveal, SecureParameter, SecureParameterOutputs};
