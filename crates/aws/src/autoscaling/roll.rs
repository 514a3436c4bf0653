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
//!
//! Auto Scaling's own machinery would fight a roll: on a quiet group the CPU policy's scale-in
//! alarm stays in ALARM, and CloudWatch invokes Auto Scaling actions every minute while it does
//! (CloudWatch user guide, "Alarm actions"), so once the warm-up after the roll's increase is
//! over the group scales back in and terminates an unprotected instance, new or old. As
//! CloudFormation's rolling update does, a roll suspends `AlarmNotification` and
//! `ScheduledActions` before its first batch and resumes them on every way out (done, backed
//! out, failed, dropped); processes a crash left suspended show at the next plan
//! ([`super::group::left_suspended`]) and the group's update resumes them. Changes of the
//! group that AWS refuses while a scaling activity is in progress (`ScalingActivityInProgress`,
//! `ResourceContention`: "not now", never "no") are sent again until it is over.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use aws_sdk_autoscaling::types::{AutoScalingGroup, Instance, LaunchTemplateSpecification};

use ams_engine::ProviderError;

use crate::call::OrError;
use crate::kind::{Ctx, Res};
use crate::Aws;

/// The processes a roll suspends: the CPU policy's alarms and scheduled actions, which would
/// change the desired capacity under it (Auto Scaling user guide, "Suspend and resume processes").
pub const ROLL_SUSPENDS: [&str; 2] = ["AlarmNotification", "ScheduledActions"];

/// Codes by which Auto Scaling refuses a change of a group for now: a scaling activity is in
/// progress, or another change of it is pending (the API references of UpdateAutoScalingGroup,
/// SetDesiredCapacity, TerminateInstanceInAutoScalingGroup and DeleteAutoScalingGroup).
pub const NOT_NOW: [&str; 2] = ["ScalingActivityInProgress", "ResourceContention"];

/// The launch template versions a roll goes between.
pub(super) struct Versions<'a> {
    pub template_id: &'a str,
    /// The version the group launches now, which the instances are rolled onto.
    pub new: &'a str,
    /// The version the instances ran, which a failed batch goes back to.
    pub previous: &'a str,
}

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

/// How long a change of a group may wait for the scaling activity in progress on AWS: a
/// termination's activity lasts through the deregistration delay (up to an hour) and the drain
/// (up to two hours).
const SETTLE_LIMIT: Duration = Duration::from_secs(3 * 60 * 60 + 10 * 60);

/// Sends a change of a group (`send` makes the call) again while AWS answers [`NOT_NOW`]
/// ("not now", never "no"), saying what it waits for; on AWS for as long as a termination's
/// activity may last, on an emulator for its wait timeout. At the end, AWS's last refusal.
pub(super) async fn when_settled<T, F, Fut>(aws: &Aws, ctx: &Ctx, what: &str, mut send: F) -> Res<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Res<T>>,
{
    let waited = format!("the scaling activity in progress to end before {what}");
    let limit = if aws.is_emulator() {
        aws.wait_timeout
    } else {
        SETTLE_LIMIT
    };
    let last = std::sync::Mutex::new(String::new());
    let settled = aws
        .wait_within(ctx, &waited, limit, || {
            let sent = send();
            let last = &last;
            async move {
                match sent.await {
                    Ok(answer) => Ok(Some(answer)),
                    Err(e) if e.code.as_deref().is_some_and(|c| NOT_NOW.contains(&c)) => {
                        if let Ok(mut last) = last.lock() {
                            *last = e.message;
                        }
                        Ok(None)
                    }
                    Err(e) => Err(e),
                }
            }
        })
        .await;
    settled.map_err(|mut e| {
        if let Ok(last) = last.lock() {
            if !last.is_empty() {
                e.message = format!("{} (AWS's last answer: {last})", e.message);
            }
        }
        e
    })
}

/// Resumes the processes a roll suspended when it is dropped unfinished (its step abandoned at
/// a second Ctrl-C): the resume is sent on the runtime, best effort; what it misses, the next
/// run's plan shows and resumes.
struct Suspension {
    client: aws_sdk_autoscaling::Client,
    group: String,
    armed: bool,
}

impl Drop for Suspension {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let resume = self
            .client
            .resume_processes()
            .auto_scaling_group_name(&self.group)
            .set_scaling_processes(Some(ROLL_SUSPENDS.map(String::from).to_vec()));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = resume.send().await;
            });
        }
    }
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
                // New instances still on their way (Pending, or Pending:Wait until their
                // node says it is ready), named with their state if the wait runs out.
                let on_the_way: Vec<String> = group
                    .instances()
                    .iter()
                    .filter(|i| {
                        staying(i)
                            && i.lifecycle_state()
                                .is_some_and(|s| s.as_str() != "InService")
                    })
                    .filter(|i| i.instance_id().is_some_and(|id| !old.contains(id)))
                    .map(|i| {
                        format!(
                            "{}: {}",
                            i.instance_id().unwrap_or_default(),
                            i.lifecycle_state().map_or("unknown", |s| s.as_str())
                        )
                    })
                    .collect();
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
                    *reason =
                        unhealthy
                            .iter()
                            .map(|(id, why)| format!("{id}: {why}"))
                            .chain(on_the_way.iter().map(|state| {
                                format!("{state} (its node has not said it is ready)")
                            }))
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
            // Failed or Cancelled (an abandoned launch); not the steps on the way
            // (WaitingForELBConnectionDraining, MidLifecycleAction, ...).
            .find(|a| {
                a.status_code()
                    .is_some_and(|s| matches!(s.as_str(), "Failed" | "Cancelled"))
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

    /// Rolls every instance the group has now onto the new version (the group already
    /// launches it), `batch` at a time, launch before terminate; a failed batch goes back to
    /// the previous version. The group's alarm and scheduled actions are suspended from before
    /// the first batch until the roll is over, whichever way it ends.
    pub async fn roll(
        &self,
        aws: &Aws,
        ctx: &Ctx,
        versions: &Versions<'_>,
        batch: usize,
    ) -> Res<()> {
        ctx.waiting(format!(
            "rolling {}: suspending its {} until the roll is over (the CPU policy would scale it back in under the roll)",
            self.name,
            ROLL_SUSPENDS.join(" and ")
        ));
        self.suspend(aws, ctx).await?;
        // Only for a roll dropped before it ends (its step abandoned): resumes then.
        let mut dropped = Suspension {
            client: aws.autoscaling.clone(),
            group: self.name.to_string(),
            armed: true,
        };
        let rolled = self.batches(aws, ctx, versions, batch).await;
        let resumed = self.resume(aws, ctx).await;
        dropped.armed = false;
        if let Err(r) = &resumed {
            // The roll's outcome stands; the processes left suspended the next plan shows,
            // and `up` resumes them.
            ctx.waiting(format!(
                "rolling {}: resuming its {} failed ({}): the next plan shows them and `up` resumes them",
                self.name,
                ROLL_SUSPENDS.join(" and "),
                r.message
            ));
        }
        // A roll is never tried again from the start by the step's retries: it would take the
        // instances it has just launched for old ones. What stopped it keeps AWS's code in its
        // message; the next `up` rolls what is left.
        rolled.map_err(|e| match e.code.as_deref() {
            Some("RollStopped") => e,
            code => ProviderError {
                code: Some("RollInterrupted".into()),
                message: format!(
                    "the roll of {} stopped: {}{}; run `up` again to finish it",
                    self.name,
                    code.map(|c| format!("{c}: ")).unwrap_or_default(),
                    e.message
                ),
            },
        })
    }

    /// Suspends the processes a roll suspends.
    async fn suspend(&self, aws: &Aws, ctx: &Ctx) -> Res<()> {
        let processes = ROLL_SUSPENDS.map(String::from).to_vec();
        let what = format!("suspending processes of {}", self.name);
        when_settled(aws, ctx, &what, || async {
            aws.autoscaling
                .suspend_processes()
                .auto_scaling_group_name(self.name)
                .set_scaling_processes(Some(processes.clone()))
                .send()
                .await
                .or_error()
        })
        .await?;
        Ok(())
    }

    /// Resumes the processes a roll suspends.
    async fn resume(&self, aws: &Aws, ctx: &Ctx) -> Res<()> {
        let processes = ROLL_SUSPENDS.map(String::from).to_vec();
        let what = format!("resuming processes of {}", self.name);
        when_settled(aws, ctx, &what, || async {
            aws.autoscaling
                .resume_processes()
                .auto_scaling_group_name(self.name)
                .set_scaling_processes(Some(processes.clone()))
                .send()
                .await
                .or_error()
        })
        .await?;
        Ok(())
    }

    /// The roll's batches: the instances to replace are those there at the start, a
    /// clock-free, emulator-proof notion of "old".
    async fn batches(
        &self,
        aws: &Aws,
        ctx: &Ctx,
        versions: &Versions<'_>,
        batch: usize,
    ) -> Res<()> {
        let Versions {
            template_id,
            new: version,
            previous,
        } = *versions;
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
            self.resize(aws, ctx, up, max.max(up)).await?;
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
                self.terminate(aws, ctx, instance).await?;
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
                self.resize(aws, ctx, desired, max).await?;
            }
        }
    }

    async fn resize(&self, aws: &Aws, ctx: &Ctx, desired: i32, max: i32) -> Res<()> {
        let what = format!("resizing {} to {desired} (at most {max})", self.name);
        when_settled(aws, ctx, &what, || async {
            aws.autoscaling
                .update_auto_scaling_group()
                .auto_scaling_group_name(self.name)
                .max_size(max)
                .desired_capacity(desired)
                .send()
                .await
                .or_error()
        })
        .await?;
        Ok(())
    }

    /// Terminates `instance` and lowers the desired capacity by one (the group launches no
    /// replacement).
    async fn terminate(&self, aws: &Aws, ctx: &Ctx, instance: &str) -> Res<()> {
        let what = format!("terminating {instance}");
        when_settled(aws, ctx, &what, || async {
            aws.autoscaling
                .terminate_instance_in_auto_scaling_group()
                .instance_id(instance)
                .should_decrement_desired_capacity(true)
                .send()
                .await
                .or_error()
        })
        .await?;
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
        let what = format!("pointing {} back at version {previous}", self.name);
        when_settled(aws, ctx, &what, || async {
            aws.autoscaling
                .update_auto_scaling_group()
                .auto_scaling_group_name(self.name)
                .launch_template(template(template_id, previous))
                .send()
                .await
                .or_error()
        })
        .await?;
        let group = self.group(aws).await?;
        let new_ones = group
            .instances()
            .iter()
            .filter(|i| staying(i))
            .filter_map(|i| i.instance_id())
            .filter(|id| !kept.contains(*id));
        for new in new_ones {
            self.terminate(aws, ctx, new).await?;
        }
        self.resize(aws, ctx, desired, max).await
    }
}
