//! S3: the stack's own buckets (the load balancer's access logs). The team state backend is
//! `s3_state.rs`, which uses a bucket the team made.

mod bucket;
mod log_delivery;

pub use bucket::{delete_everything_in, object_count, Bucket, BucketOutputs};
pub use log_delivery::{elb_account, log_delivery_statement, nlb_log_delivery_statements};
