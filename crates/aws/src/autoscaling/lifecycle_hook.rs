//! A lifecycle hook that holds a group's leaving instances in `Terminating:Wait` (or its new
//! ones in `Pending:Wait`) until they complete the action themselves (the nodes' drain agent,
//! their boot script) or the heartbeat timeout passes.

use serde::{Deserialize, Serialize};

use ams_engine::{Input, Kind};

use crate::call::OrError;
use crate::kind::{AwsKind, Codes, Ctx, Current, Res};
use crate::outputs::NameOutputs;
use crate::Aws;

/// The transition a termination hook holds.
pub const TERMINATING: &str = "autoscaling:EC2_INSTANCE_TERMINATING";
/// The transition a launch hook holds.
pub const LAUNCHING: &str = "autoscaling:EC2_INSTANCE_LAUNCHING";

#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:autoscaling:LifecycleHook", outputs = NameOutputs)]
pub struct LifecycleHook {
    #[kind(replace)]
    pub group_name: Input<String>,
    /// Unique within its group; the instances name it when they complete the action.
    #[kind(replace)]
    pub name: String,
    /// `autoscaling:EC2_INSTANCE_TERMINATING` or `..._LAUNCHING`.
    pub transition: String,
    /// How long an instance waits without a heartbeat before the default result applies.
    pub heartbeat_seconds: i32,
    /// `CONTINUE` or `ABANDON`, when the heartbeat timeout passes.
    pub default_result: String,
}

impl LifecycleHook {
    /// Makes or changes the hook (the same call does both).
    pub(super) async fn put(&self, aws: &Aws) -> Res<()> {
        aws.autoscaling
            .put_lifecycle_hook()
            .auto_scaling_group_name(self.group_name.get()?)
            .lifecycle_hook_name(&self.name)
            .lifecycle_transition(&self.transition)
            .heartbeat_timeout(self.heartbeat_seconds)
            .default_result(&self.default_result)
            .send()
            .await
            .or_error()?;
        Ok(())
    }
}

impl AwsKind for LifecycleHook {
    /// Deleting a hook whose group is gone (and the hook with it) is a ValidationError.
    const NOT_FOUND: Codes = &["ValidationError"];
    /// The group was just made.
    const NOT_YET_VISIBLE: Codes = &["ValidationError:not found"];

    async fn create(&self, aws: &Aws, _ctx: &Ctx) -> Res<String> {
        self.put(aws).await?;
        Ok(self.name.clone())
    }

    /// The group's hook of this name: hook names are the group's, so the name finds it.
    async fn find(&self, aws: &Aws, _ctx: &Ctx) -> Res<Option<String>> {
        let hooks = aws.autoscaling.describe_lifecycle_hooks();
        let ours = hooks.auto_scaling_group_name(self.group_name.get()?);
        let out = ours
            .lifecycle_hook_names(&self.name)
            .send()
            .await
            .or_gone::<Self>()?;
        Ok(out.and_then(|o| {
            o.lifecycle_hooks()
                .iter()
                .find_map(|h| h.lifecycle_hook_name().filter(|n| *n == self.name))
                .map(String::from)
        }))
    }

    async fn finish(&self, _aws: &Aws, _ctx: &Ctx, name: &str) -> Res<Self::Outputs> {
        Ok(NameOutputs::of(name))
    }

    async fn update(&self, aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<Self::Outputs> {
        self.put(aws).await?;
        Ok(current.outputs.clone())
    }

    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        let name = &current.id;
        let group = current.args.group_name.get()?;
        let call = aws
            .autoscaling
            .delete_lifecycle_hook()
            .auto_scaling_group_name(group);
        let call = call.lifecycle_hook_name(name);
        // Gone already, with its group or by itself: nothing to do.
        call.send().await.done_or_gone::<Self>()
    }
}
