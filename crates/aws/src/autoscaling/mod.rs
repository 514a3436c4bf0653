//! Auto Scaling: node groups registered in target groups, and their target-tracking CPU
//! policies.

mod cpu_policy;
mod group;
mod roll;

pub use cpu_policy::{CpuPolicy, CpuPolicyOutputs};
pub use group::{Group, GroupOutputs};
