//! Auto Scaling: node groups registered in target groups, their target-tracking CPU policies,
//! the termination hooks that let a leaving node drain and the launch hooks that let a new one
//! say when it is ready.

mod cpu_policy;
mod group;
mod lifecycle_hook;
mod roll;

pub use cpu_policy::{CpuPolicy, CpuPolicyOutputs};
pub use group::{left_suspended, Group, LaunchHook};
pub use lifecycle_hook::{LifecycleHook, LAUNCHING, TERMINATING};
