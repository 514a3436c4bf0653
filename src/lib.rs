//! ams-stack: infrastructure as code for a scalable Ant Media Server cluster on AWS.
//!
//! Code map (see `docs/ARCHITECTURE.md`):
//! - [`engine`]: program, dependency graph, plan, apply and refresh; knows nothing of AWS.
//! - [`state`]: the stored state and its backends (local file, S3 with conditional writes).
//! - [`aws`]: the AWS provider, one module per service.
//! - [`cluster`]: the Ant Media cluster, declared as a plain Rust program, and its security checks.
//! - [`cost`]: the monthly cost estimate of a stack and of a change.
//! - [`config`]: stack files, parsed then validated.
//! - [`render`]: what users read: plans, progress, outputs, JSON.
//! - [`cli`]: the commands; thin.

pub mod aws;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod cost;
pub mod engine;
pub mod render;
pub mod state;
