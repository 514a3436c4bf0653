//! Auto Scaling: node groups registered in target groups, their target-tracking CPU policies
//! and the termination hooks that let a leaving node drain.

mod cpu_policy;
mod group;
mod lifecycle_hook;
mod roll;

pub use cpu_policy::{CpuPolicy, CpuPolicyOutputs};
pub use group::{Group, GroupOutputs};
pub use lifecycle_hook::{LifecycleHook, LifecycleHookOutputs, TERMINATING};

/// The group a stored policy or hook belongs to (its `group_name` input).
fn stored_group(inputs: &serde_json::Value) -> &str {
    inputs
        .get("group_name")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
}
