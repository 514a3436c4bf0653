//! The AWS provider of ams-stack: every kind it makes, one file each, grouped by service
//! (`ec2/vpc.rs`, `elbv2/listener.rs`, ...), over the engine's `Kind`.
//!
//! - [`client`]: the clients of one stack (`aws.ec2`, and `aws.once.ec2` for calls made exactly
//!   once), the call log, the waits.
//! - [`call`]: the one way to call AWS: `.send().await.or_error()?` names the operation and
//!   AWS's error code.
//! - [`retry`]: the one retry policy (transient, not yet visible, already exists, busy).
//! - [`kind`]: the [`AwsKind`] trait a kind implements, and [`AwsProvider`], which the engine
//!   drives.
//! - [`names`]: tags and physical names, so that nothing made is ever unfindable.
//! - [`lookup`]: the read-only lookups made before planning (zone, images).
//! - [`S3Backend`]: the team state backend on S3.

pub mod acm;
pub mod autoscaling;
pub mod call;
pub mod client;
pub mod dlm;
pub mod ec2;
pub mod elbv2;
pub mod iam;
pub mod kind;
pub mod lookup;
pub mod names;
pub mod outputs;
pub mod retry;
pub mod route53;
pub mod s3;
mod s3_history;
mod s3_state;
pub mod ssm;
pub mod tagging;

pub use call::OrError;
pub use client::{Aws, CallLog, Clients, CredentialsError};
pub use kind::{AwsKind, AwsProvider, Current};
pub use names::{partition, TAG_NAME, TAG_STACK};
pub use s3_history::S3History;
pub use s3_state::S3Backend;

/// Every kind the provider makes. A new kind is one line here (and its own file).
fn register_kinds(provider: &mut AwsProvider) {
    provider.register::<ec2::Vpc>();
    provider.register::<ec2::InternetGateway>();
    provider.register::<ec2::Subnet>();
    provider.register::<ec2::RouteTable>();
    provider.register::<ec2::ElasticIp>();
    provider.register::<ec2::NatGateway>();
    provider.register::<ec2::DefaultSecurityGroupRules>();
    provider.register::<ec2::SecurityGroup>();
    provider.register::<ec2::Instance>();
    provider.register::<ec2::Volume>();
    provider.register::<ec2::VolumeAttachment>();
    provider.register::<ec2::LaunchTemplate>();
    provider.register::<autoscaling::Group>();
    provider.register::<autoscaling::CpuPolicy>();
    provider.register::<autoscaling::LifecycleHook>();
    provider.register::<elbv2::TargetGroup>();
    provider.register::<elbv2::LoadBalancer>();
    provider.register::<elbv2::Listener>();
    provider.register::<elbv2::ListenerRule>();
    provider.register::<s3::Bucket>();
    provider.register::<tagging::StackTags>();
    provider.register::<acm::Certificate>();
    provider.register::<acm::CertificateValidation>();
    provider.register::<route53::Record>();
    provider.register::<ssm::SecureParameter>();
    provider.register::<iam::Role>();
    provider.register::<iam::InstanceProfile>();
    provider.register::<dlm::LifecyclePolicy>();
}
