//! Auto Scaling: node groups registered in target groups, their target-tracking CPU policies,
//! the termination hooks that let a leaving node drain and the launch hooks that let a new one
//! say when it is ready.

/// Deletes what belongs to a group (a policy, a hook) of kind `$kind` by `$call`, naming it by
/// `$name_setter`: done, or already gone, with its group or by itself.
macro_rules! delete_from_group {
    ($aws:expr, $kind:ty, $current:expr, $call:ident, $name_setter:ident($name:expr)) => {{
        let group = $crate::autoscaling::stored_group(&$current.inputs);
        let call = $aws.autoscaling.$call().auto_scaling_group_name(group);
        $crate::call::gone!($kind, call.$name_setter($name))
    }};
}

mod cpu_policy;
mod group;
mod lifecycle_hook;
mod roll;

pub use cpu_policy::{CpuPolicy, CpuPolicyOutputs};
pub use group::{left_suspended, Group, LaunchHook};
pub use lifecycle_hook::{LifecycleHook, LAUNCHING, TERMINATING};

/// The group a stored policy or hook belongs to (its `group_name` input).
fn stored_group(inputs: &serde_json::Value) -> &str {
    inputs
        .get("group_name")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
}
