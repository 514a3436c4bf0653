//! ams-stack: infrastructure as code for a scalable Ant Media Server cluster on AWS.
//!
//! Code map (see `docs/ARCHITECTURE.md`):
//! - `ams_engine` (crates/engine): program, dependency graph, plan, apply, refresh, the state
//!   model and its local backend; it cannot see AWS (no aws-* dependency).
//! - `ams_aws` (crates/aws): the AWS kinds, one file each, grouped by service; lookups; the S3
//!   state backend.
//! - [`cluster`]: the Ant Media cluster, declared as a plain Rust program, and its security checks.
//! - [`cost`]: the monthly cost estimate of a stack and of a change.
//! - [`config`]: stack files, parsed then validated.
//! - [`render`]: what users read: plans, progress, outputs, JSON.
//! - [`adopt`]: a cluster made by hand found from its domain, written down as a stack.
//! - [`cli`]: the commands; thin.

pub mod adopt;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod cost;
pub mod render;
