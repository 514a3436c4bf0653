//! The one integration-test binary (each extra binary would link the AWS SDK again).

mod support;

mod adopt;
mod cli_errors;
mod crash;
mod day2;
mod dns;
mod drift;
mod e2e;
mod faults;
mod guide_builder;
mod load_balancer;
mod plans;
mod recording;
mod rolling;
mod security;
mod settings;
mod strict;
mod team;
mod tidy;
mod turn;
