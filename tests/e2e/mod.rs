//! The whole cluster against a real AWS API emulator (moto) behind the strict cloud (the fault
//! proxy enforcing AWS's rules and clocks, not only moto's leniency).
//!
//! One cluster is deployed per test binary ([`deployed`]) and read by the checks of what it
//! holds, one file per thing proven: [`network`], [`security_groups`], [`mongodb`], [`nodes`]
//! (launch templates, target groups, auto-scaling groups), [`load_balancer`], [`ingest`],
//! [`certificate_and_dns`], [`state`] (the stored state and the outputs). What changes a
//! cluster (a no-op up, one property change, destroy) runs on a cluster of its own
//! ([`lifecycle`]); so do a failure mid-apply ([`failures`]) and what ams-stack refuses before
//! it creates anything ([`refusals`]).

mod certificate_and_dns;
mod deployed;
mod failures;
mod ingest;
mod lifecycle;
mod load_balancer;
mod mongodb;
mod network;
mod nodes;
mod refusals;
mod security_groups;
mod state;

fn filter(name: &str, value: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name(name)
        .values(value)
        .build()
}

fn tagged(name: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name("tag:ams-stack:name")
        .values(name)
        .build()
}

/// The id of the subnet named `name` in the stack.
async fn subnet_id(ec2: &aws_sdk_ec2::Client, name: &str) -> String {
    ec2.describe_subnets()
        .filters(tagged(name))
        .send()
        .await
        .expect("subnet")
        .subnets()[0]
        .subnet_id()
        .map(String::from)
        .expect("subnet id")
}

/// The security group named `name` in the stack.
async fn security_group(
    ec2: &aws_sdk_ec2::Client,
    name: &str,
) -> aws_sdk_ec2::types::SecurityGroup {
    ec2.describe_security_groups()
        .filters(tagged(name))
        .send()
        .await
        .expect("sg")
        .security_groups()[0]
        .clone()
}
