//! Rolling a group onto a new launch template version, launch before terminate, and waiting
//! until a group really serves.
//!
//! AWS's instance refresh terminates first unless told otherwise, Terraform starts one and does
//! not wait, and the emulator has none; this is done from the tool, on both: raise the desired
//! capacity by a batch, wait until the new instances are InService and healthy in every target
//! group, then terminate as many old ones with a decrement. The group never has fewer healthy
//! instances than before. A new instance that does not become healthy in time stops the roll:
//! it is terminated, the group points back at the version that worked, and the old instances
//! keep serving; the error says why (the scaling activity's message, the target's reason).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_autoscaling::types::{AutoScalingGroup, Instance, LaunchTemplateSpecification};

use ams_engine::ProviderError;

use crate::call::OrError;
use crate::kind::{Ctx, Res};
use crate::Aws;

/// What a roll or a wait needs to know of the group.
pub(super) struct Fleet<'a> {
    pub name: &'a str,
    pub target_groups: &'a [String],
    /// How long a new instance may take to become InService and healthy.
    pub health_timeout: Duration,
}

/// In service, or on its way there (not leaving).
fn staying(instance: &Instance) -> bool {
    let state = instance
        .lifecycle_state()
        .map(|s| s.as_str())
        .unwrap_or_default();
    !(state.starts_with("Terminat") || state.starts_with("Detach") || state == "Standby")
}

/// The spec of version `version` of template `id`.
pub(super) fn template(id: &str, version: &str) -> LaunchTemplateSpecification {
    LaunchTemplateSpecification::builder()
        .launch_template_id(id)
        .version(version)
        .build()
}

impl Fleet<'_> {
    async fn group(&self, aws: &Aws) -> Res<AutoScalingGroup> {
        let out = aws
            .autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(self.name)
            .send()
            .await
            .or_error()?;
        out.auto_scaling_groups
            .and_then(|g| g.into_iter().next())
            .ok_or_else(|| ProviderError::new(format!("group {} is gone", self.name)))
    }

    /// The instances among `ids` not yet healthy in every target group, each with why.
    async fn unhealthy(&self, aws: &Aws, ids: &[String]) -> Res<BTreeMap<String, String>> {
        let mut healthy: BTreeMap<&str, usize> = ids.iter().map(|id| (id.as_str(), 0)).collect();
        let mut why: BTreeMap<&str, String> = ids
            .iter()
            .map(|id| {
                (
                    id.as_str(),
                    "not registered in its target groups yet".to_string(),
                )
            })
            .collect();
        for arn in self.target_groups {
            let out = aws
                .elbv2
                .describe_target_health()
                .target_group_arn(arn)
                .send()
                .await
                .or_error()?;
            for description in out.target_health_descriptions() {
                let target = description.target().and_then(|t| t.id());
                let Some(id) = ids.iter().find(|i| Some(i.as_str()) == target) else {
                    continue;
                };
                let health = description.target_health();
                let state = health
                    .and_then(|h| h.state())
                    .map_or("unknown", |s| s.as_str());
                if state == "healthy" {
                    *healthy.entry(id.as_str()).or_default() += 1;
                } else {
                    let reason = health
                        .and_then(|h| h.description().or(h.reason().map(|r| r.as_str())))
                        .unwrap_or_default();
                    why.insert(id.as_str(), format!("{state} in {arn}: {reason}"));
                }
            }
        }
        Ok(ids
            .iter()
            .filter(|id| healthy.get(id.as_str()).copied().unwrap_or(0) < self.target_groups.len())
            .map(|id| {
                (
                    id.clone(),
                    why.get(id.as_str()).cloned().unwrap_or_default(),
                )
            })
            .collect())
    }

    /// Waits until `count` instances (not among `old`) are InService and healthy in every
    /// target group; their ids. `WaitTimeout` after the health timeout, naming what was still
    /// missing and why.
    pub async fn serving(
        &self,
        aws: &Aws,
        ctx: &Ctx,
        old: &BTreeSet<String>,
        count: usize,
    ) -> Res<Vec<String>> {
        let what = format!(
            "{count} instance(s) of group {} to be InService and healthy in its target groups",
            self.name
        );
        let last_reason = std::sync::Mutex::new(String::new());
        let waited = aws
            .wait_within(ctx, &what, self.health_timeout, || async {
                let group = self.group(aws).await?;
                let candidates: Vec<String> = group
                    .instances()
                    .iter()
                    .filter(|i| {
                        i.lifecycle_state()
                            .is_some_and(|s| s.as_str() == "InService")
                    })
                    .filter_map(|i| i.instance_id().map(String::from))
                    .filter(|id| !old.contains(id))
                    .collect();
                let unhealthy = self.unhealthy(aws, &candidates).await?;
                let ready: Vec<String> = candidates
                    .into_iter()
                    .filter(|id| !unhealthy.contains_key(id))
                    .collect();
                if ready.len() >= count {
                    return Ok(Some(ready));
                }
                if let Ok(mut reason) = last_reason.lock() {
                    *reason = unhealthy
                        .iter()
                        .map(|(id, why)| format!("{id}: {why}"))
                        .collect::<Vec<_>>()
                        .join("; ");
                }
                Ok(None)
            })
            .await;
        match waited {
            Ok(ready) => Ok(ready),
            Err(mut e) => {
                let reason = last_reason.lock().map(|r| r.clone()).unwrap_or_default();
                let activity = self.last_failed_activity(aws).await.unwrap_or_default();
                e.message = [e.message, reason, activity]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("; ");
                Err(e)
            }
        }
    }

    /// Waits until the group's desired count is InService and healthy (any version).
    pub async fn serving_desired(&self, aws: &Aws, ctx: &Ctx) -> Res<()> {
        let desired = self.group(aws).await?.desired_capacity().unwrap_or(0);
        self.serving(
            aws,
            ctx,
            &BTreeSet::new(),
            usize::try_from(desired).unwrap_or(0),
        )
        .await
        .map(|_| ())
    }

    /// The newest scaling activity that did not succeed, as AWS words it.
    async fn last_failed_activity(&self, aws: &Aws) -> Res<String> {
        let out = aws
            .autoscaling
            .describe_scaling_activities()
            .auto_scaling_group_name(self.name)
            .max_records(10)
            .send()
            .await
            .or_error()?;
        Ok(out
            .activities()
            .iter()
            .find(|a| {
                a.status_code()
                    .is_some_and(|s| s.as_str() != "Successful" && s.as_str() != "InProgress")
            })
            .map(|a| {
                format!(
                    "scaling activity {}: {}",
                    a.status_code().map(|s| s.as_str()).unwrap_or("?"),
                    a.status_message().or(a.description()).unwrap_or("")
                )
            })
            .unwrap_or_default())
    }

    /// Rolls every instance the group has now onto `version` of template `template_id` (the
    /// group already launches that version), `batch` at a time, launch before terminate;
    /// `previous` is the version to go back to if a batch fails. The instances to replace are
    /// those there at the start: a clock-free, emulator-proof notion of "old".
    pub async fn roll(
        &self,
        aws: &Aws,
        ctx: &Ctx,
        (template_id, version, previous): (&str, &str, &str),
        batch: usize,
    ) -> Res<()> {
        let old: BTreeSet<String> = self
            .group(aws)
            .await?
            .instances()
            .iter()
            .filter(|i| staying(i))
            .filter_map(|i| i.instance_id().map(String::from))
            .collect();
        loop {
            let group = self.group(aws).await?;
            let outdated: Vec<String> = group
                .instances()
                .iter()
                .filter(|i| staying(i))
                .filter_map(|i| i.instance_id().map(String::from))
                .filter(|id| old.contains(id))
                .collect();
            if outdated.is_empty() {
                return Ok(());
            }
            let batch = batch.clamp(1, outdated.len());
            let desired = group.desired_capacity().unwrap_or(0);
            let max = group.max_size().unwrap_or(0);
            let up = desired + i32::try_from(batch).unwrap_or(1);
            let replaced = group
                .instances()
                .iter()
                .filter(|i| staying(i))
                .filter_map(|i| i.instance_id())
                .filter(|id| !old.contains(*id))
                .count();
            ctx.waiting(format!(
                "rolling {}: launching {batch} instance(s) of version {version} before terminating as many old ones ({} left)",
                self.name,
                outdated.len()
            ));
            // What is there before this batch (old instances, and the new ones of the batches
            // that already serve): a failed batch takes away only what it launched.
            let before_batch: BTreeSet<String> = group
                .instances()
                .iter()
                .filter(|i| staying(i))
                .filter_map(|i| i.instance_id().map(String::from))
                .collect();
            self.resize(aws, up, max.max(up)).await?;
            if let Err(e) = self.serving(aws, ctx, &old, replaced + batch).await {
                let reason = e.message.clone();
                self.back_out(aws, ctx, (template_id, previous), &before_batch, (desired, max))
                    .await
                    .map_err(|b| ProviderError {
                        code: b.code.clone(),
                        message: format!(
                            "the roll of {} onto version {version} stopped ({reason}), and going back failed: {}; the group may still launch version {version}",
                            self.name, b.message
                        ),
                    })?;
                return Err(ProviderError {
                    code: Some("RollStopped".into()),
                    message: format!(
                        "the roll of {} onto launch template version {version} stopped: a new instance did not become healthy in {}s ({}); it was terminated, the group points at version {previous} again and the old instances keep serving",
                        self.name,
                        self.health_timeout.as_secs(),
                        e.message
                    ),
                });
            }
            let leaving: Vec<String> = outdated.iter().take(batch).cloned().collect();
            for instance in &leaving {
                ctx.waiting(format!("rolling {}: terminating {instance}", self.name));
                aws.autoscaling
                    .terminate_instance_in_auto_scaling_group()
                    .instance_id(instance)
                    .should_decrement_desired_capacity(true)
                    .send()
                    .await
                    .or_error()?;
            }
            let what = format!("{} to leave {}", leaving.join(", "), self.name);
            aws.wait_for(ctx, &what, || async {
                let group = self.group(aws).await?;
                let still = group.instances().iter().any(|i| {
                    i.instance_id()
                        .is_some_and(|id| leaving.iter().any(|l| l == id))
                        && staying(i)
                });
                Ok((!still).then_some(()))
            })
            .await?;
            if max < up {
                self.resize(aws, desired, max).await?;
            }
        }
    }

    async fn resize(&self, aws: &Aws, desired: i32, max: i32) -> Res<()> {
        aws.autoscaling
            .update_auto_scaling_group()
            .auto_scaling_group_name(self.name)
            .max_size(max)
            .desired_capacity(desired)
            .send()
            .await
            .or_error()?;
        Ok(())
    }

    /// After a failed batch: the group points at `previous` again, the batch's instances (not
    /// among `kept`: what was there before the batch) go with a decrement, and the sizes are
    /// as they were before the batch.
    async fn back_out(
        &self,
        aws: &Aws,
        ctx: &Ctx,
        (template_id, previous): (&str, &str),
        kept: &BTreeSet<String>,
        (desired, max): (i32, i32),
    ) -> Res<()> {
        ctx.waiting(format!(
            "rolling {} back onto version {previous}",
            self.name
        ));
        aws.autoscaling
            .update_auto_scaling_group()
            .auto_scaling_group_name(self.name)
            .launch_template(template(template_id, previous))
            .send()
            .await
            .or_error()?;
        let group = self.group(aws).await?;
        let new_ones = group
            .instances()
            .iter()
            .filter(|i| staying(i))
            .filter_map(|i| i.instance_id())
            .filter(|id| !kept.contains(*id));
        for new in new_ones {
            aws.autoscaling
                .terminate_instance_in_auto_scaling_group()
                .instance_id(new)
                .should_decrement_desired_capacity(true)
                .send()
                .await
                .or_error()?;
        }
        self.resize(aws, desired, max).await
    }
}
