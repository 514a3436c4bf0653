//! Auto Scaling: node groups registered in target groups, their target-tracking CPU policies,
//! the termination hooks that let a leaving node drain and the launch hooks that let a new one
//! say when it is ready.

/// Deletes what belongs to a group (a policy, a hook) of kind `$kind` by `$call`, naming it by
/// `$name_setter`: done, or already gone, with its group or by itself.
macro_rules! delete_from_group {
    ($aws:expr, $kind:ty, $current:expr, $call:ident, $name_setter:ident($name:expr)) => {{
        let group = $current.args.group_name.get()?;
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
