//! Recording (`[recording] s3 = true`): AMS's recordings in a bucket of the stack's, made as the
//! stack's log bucket is (encrypted, public access blocked, owner enforced, a lifecycle), which
//! the nodes' role may write, read and delete only under `recordings/`. No IAM user, no key: the
//! nodes use their instance role. The bucket is data: a delete refuses it while it holds
//! anything (`destroy --delete-recordings`).

use ams_aws::s3::Bucket;
use ams_engine::{Input, Program, ProgramError, Ref};

use crate::config::StackConfig;

/// The prefix recordings go under: the only place the nodes may touch.
pub const PREFIX: &str = "recordings";

pub fn declare(p: &mut Program, config: &StackConfig) -> Result<Option<Ref<Bucket>>, ProgramError> {
    let Some(recording) = &config.recording else {
        return Ok(None);
    };
    let bucket = p.add(
        "recordings",
        Bucket {
            elb_log_prefix: None,
            nlb_log_prefix: None,
            expire_days: recording.expire_days,
            keeps_data: true,
        },
    )?;
    Ok(Some(bucket))
}

/// The ARN of everything under the recordings prefix of `bucket`.
pub fn objects(bucket: &Ref<Bucket>) -> Input<String> {
    Input::concat([bucket.arn().into(), format!("/{PREFIX}/*").into()])
}
