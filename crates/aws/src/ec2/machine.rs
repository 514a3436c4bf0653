//! What a standalone instance and a launch template share: the machine they describe.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use ams_engine::{Fields, Input, ProviderError};

use crate::names::resolved;

/// Settings shared by a standalone instance and a launch template (flattened into both).
#[derive(Clone, Serialize, Deserialize, Fields)]
pub struct Machine {
    pub image_id: Input<String>,
    pub instance_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    pub security_group_ids: Vec<Input<String>>,
    /// The boot script, as text; base64 is the provider's business.
    pub user_data: Input<String>,
    pub root_volume_gib: i32,
    /// The root device name of the image (`/dev/sda1` on Ubuntu and the AMS images).
    pub root_device: String,
    /// Whether the root volume is encrypted (the cluster always asks for it; checks verify it).
    pub encrypted: bool,
    /// Instance metadata: `required` (IMDSv2 only) or `optional`.
    pub http_tokens: String,
    pub hop_limit: i32,
    /// The instance profile the machine runs with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_profile_arn: Option<Input<String>>,
}

impl Machine {
    /// The ids of the machine's security groups.
    pub(super) fn security_groups(&self) -> Result<Vec<String>, ProviderError> {
        resolved(&self.security_group_ids)
    }

    /// The boot script, base64-encoded as EC2 takes it.
    pub(super) fn user_data_base64(&self) -> Result<String, ProviderError> {
        Ok(base64::engine::general_purpose::STANDARD.encode(self.user_data.get()?))
    }

    /// The ARN of the instance profile, if the machine has one.
    pub(super) fn profile(&self) -> Result<Option<String>, ProviderError> {
        Ok(match &self.instance_profile_arn {
            Some(arn) => Some(arn.get()?.clone()),
            None => None,
        })
    }
}
