//! Data Lifecycle Manager: the EBS snapshot policy that keeps MongoDB's data volume backed up
//! (a snapshot every `interval_hours`, the last `retain_count` kept).

mod lifecycle_policy;

pub use lifecycle_policy::{LifecyclePolicy, LifecyclePolicyOutputs, BACKUP_TAG};
