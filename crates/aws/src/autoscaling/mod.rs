//! Auto Scaling: node groups registered in target groups, their target-tracking CPU policies
//! and the termination hooks that let a leaving node drain.

mod cpu_policy;
mod group;
mod lifecycle_hook;
mod roll;

pub use cpu_policy::{CpuPolicy, CpuPolicyOutputs};
pub use group::{Group, GroupOutputs};
pub use lifecycle_hook::{LifecycleHook, LifecycleHookOutputs, TERMINATING};
