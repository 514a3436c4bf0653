//! An EBS snapshot lifecycle policy (Data Lifecycle Manager): a snapshot of every volume that
//! carries one of the target tags, on one schedule, the last `retain_count` kept. DLM assumes
//! the execution role to take and delete the snapshots. The policy holds no data: deleting it
//! (or the stack) stops new snapshots and leaves the ones already taken.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dlm::operation::get_lifecycle_policy::builders::GetLifecyclePolicyFluentBuilder;
use aws_sdk_dlm::types::{
    CreateRule, IntervalUnitValues, PolicyDetails, PolicyTypeValues, ResourceTypeValues,
    RetainRule, Schedule, SettablePolicyStateValues, Tag,
};
use serde::{Deserialize, Serialize};

use ams_engine::{Input, Kind, Outputs, ProviderError};

use crate::call::{required, OrError};
use crate::kind::{AwsKind, Codes, Ctx, Current, Res};
use crate::names::{is_ours, tags};
use crate::Aws;

/// The tag DLM adds to every snapshot the policy takes; its value is the schedule's name.
pub const BACKUP_TAG: &str = "ams-stack:backup";

/// The intervals DLM takes, in hours.
const INTERVALS: [i32; 8] = [1, 2, 3, 4, 6, 8, 12, 24];
/// The retention counts DLM takes.
const RETAIN: std::ops::RangeInclusive<i32> = 1..=1000;
/// DLM's limits on a policy's description and its target tags.
const DESCRIPTION_MAX: usize = 500;
const TARGET_TAGS_MAX: usize = 50;

#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:dlm:LifecyclePolicy", outputs = LifecyclePolicyOutputs)]
pub struct LifecyclePolicy {
    /// Letters, digits, spaces, `-` and `_` only (DLM's rule), at most 500 of them.
    pub description: String,
    /// The role DLM assumes: its trust policy must name `dlm.amazonaws.com`.
    pub execution_role_arn: Input<String>,
    /// The EBS volumes to snapshot: those carrying any one of these tags.
    pub target_tags: BTreeMap<String, String>,
    /// Hours between snapshots: 1, 2, 3, 4, 6, 8, 12 or 24.
    pub interval_hours: i32,
    /// When the snapshots start, `HH:MM` in UTC (at most one); DLM picks a time when empty.
    pub times: Vec<String>,
    /// How many snapshots are kept (1 to 1000); DLM deletes the older ones.
    pub retain_count: i32,
    /// Whether the snapshots carry the volume's tags.
    pub copy_tags: bool,
}

#[derive(Clone, Serialize, Deserialize, Outputs)]
pub struct LifecyclePolicyOutputs {
    /// `policy-...`, which is also the resource's id.
    pub id: String,
    pub arn: String,
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

/// `HH:MM`, 00:00 to 23:59.
fn is_time(text: &str) -> bool {
    let field = |part: &str, below: u8| {
        part.len() == 2
            && part.bytes().all(|b| b.is_ascii_digit())
            && part.parse::<u8>().is_ok_and(|n| n < below)
    };
    matches!(text.split_once(':'), Some((h, m)) if field(h, 24) && field(m, 60))
}

impl LifecyclePolicy {
    /// The schedule's name (also the value of [`BACKUP_TAG`] on its snapshots).
    fn schedule_name(&self) -> String {
        match self.interval_hours {
            24 => "daily".to_string(),
            1 => "hourly".to_string(),
            hours => format!("every {hours} hours"),
        }
    }

    /// Refuses, with the reason, what DLM would refuse.
    fn check(&self) -> Result<(), ProviderError> {
        let refuse = |why: String| Err(ProviderError::new(format!("lifecycle policy: {why}")));
        let description = &self.description;
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_');
        if description.is_empty()
            || description.len() > DESCRIPTION_MAX
            || !description.chars().all(allowed)
        {
            return refuse(format!(
                "the description {description:?} must be 1 to {DESCRIPTION_MAX} letters, digits, spaces, `-` or `_`"
            ));
        }
        if !INTERVALS.contains(&self.interval_hours) {
            return refuse(format!(
                "interval_hours is {}; DLM takes {INTERVALS:?}",
                self.interval_hours
            ));
        }
        if self.times.len() > 1 || !self.times.iter().all(|t| is_time(t)) {
            return refuse(format!(
                "times {:?}: at most one start time, written HH:MM (UTC)",
                self.times
            ));
        }
        if !RETAIN.contains(&self.retain_count) {
            return refuse(format!(
                "retain_count is {}; DLM keeps 1 to 1000 snapshots",
                self.retain_count
            ));
        }
        if self.target_tags.is_empty() || self.target_tags.len() > TARGET_TAGS_MAX {
            return refuse(format!(
                "1 to {TARGET_TAGS_MAX} target tags name the volumes to snapshot; {} given",
                self.target_tags.len()
            ));
        }
        Ok(())
    }

    /// What the policy does, as DLM takes it: snapshots of the tagged volumes on one schedule.
    fn details(&self) -> PolicyDetails {
        let name = self.schedule_name();
        let times = (!self.times.is_empty()).then(|| self.times.clone());
        let create = CreateRule::builder()
            .interval(self.interval_hours)
            .interval_unit(IntervalUnitValues::Hours)
            .set_times(times)
            .build();
        let schedule = Schedule::builder()
            .name(&name)
            .copy_tags(self.copy_tags)
            .tags_to_add(tag(BACKUP_TAG, &name))
            .create_rule(create)
            .retain_rule(RetainRule::builder().count(self.retain_count).build())
            .build();
        let targets = self.target_tags.iter().map(|(k, v)| tag(k, v)).collect();
        PolicyDetails::builder()
            .policy_type(PolicyTypeValues::EbsSnapshotManagement)
            .resource_types(ResourceTypeValues::Volume)
            .set_target_tags(Some(targets))
            .schedules(schedule)
            .build()
    }
}

/// The stored arguments with what the policy holds now, so that a retention count, a time, a
/// role or target tags changed outside ams-stack show as drift. Times are compared only when
/// some were asked for (DLM picks one otherwise).
fn live_args(
    mut args: LifecyclePolicy,
    policy: &aws_sdk_dlm::types::LifecyclePolicy,
) -> LifecyclePolicy {
    if let Some(description) = policy.description() {
        args.description = description.to_string();
    }
    if let Some(role) = policy.execution_role_arn() {
        args.execution_role_arn = role.into();
    }
    let Some(details) = policy.policy_details() else {
        return args;
    };
    args.target_tags = details
        .target_tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect();
    if let Some(schedule) = details.schedules().first() {
        if let Some(rule) = schedule.create_rule() {
            if let Some(interval) = rule.interval() {
                args.interval_hours = interval;
            }
            if !args.times.is_empty() {
                args.times = rule.times().to_vec();
            }
        }
        if let Some(count) = schedule.retain_rule().and_then(|r| r.count()) {
            args.retain_count = count;
        }
        args.copy_tags = schedule.copy_tags().unwrap_or(false);
    }
    args
}

/// Reads the policy `id`, with its schedule.
fn get(aws: &Aws, id: &str) -> GetLifecyclePolicyFluentBuilder {
    aws.dlm.get_lifecycle_policy().policy_id(id)
}

impl AwsKind for LifecyclePolicy {
    const NOT_FOUND: Codes = &["ResourceNotFoundException"];
    /// A role made a moment ago may not be assumable by DLM yet (Terraform retries this too).
    const NOT_YET_VISIBLE: Codes = &["InvalidRequestException:role"];

    /// Made exactly once (the call takes no idempotency token): a lost answer is looked for by
    /// the policy's tags before anything is made again.
    async fn create(&self, aws: &Aws, ctx: &Ctx) -> Res<String> {
        self.check()?;
        let policy_tags: HashMap<String, String> = tags(ctx).into_iter().collect();
        let out = aws
            .once
            .dlm
            .create_lifecycle_policy()
            .execution_role_arn(self.execution_role_arn.get()?)
            .description(&self.description)
            .state(SettablePolicyStateValues::Enabled)
            .policy_details(self.details())
            .set_tags(Some(policy_tags))
            .send()
            .await
            .or_error()?;
        required(out.policy_id(), "the lifecycle policy's id")
    }

    /// The policy whose own tags name this stack and resource.
    async fn find(&self, aws: &Aws, ctx: &Ctx) -> Res<Option<String>> {
        let listed = aws
            .dlm
            .get_lifecycle_policies()
            .resource_types(ResourceTypeValues::Volume)
            .send()
            .await
            .or_gone::<Self>()?;
        let Some(listed) = listed else {
            return Ok(None);
        };
        let ours = listed.policies().iter().find(|policy| {
            policy.tags().is_some_and(|tags| {
                is_ours(ctx, tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            })
        });
        Ok(ours.and_then(|p| p.policy_id()).map(String::from))
    }

    async fn finish(&self, aws: &Aws, _ctx: &Ctx, id: &str) -> Res<Self::Outputs> {
        let out = get(aws, id).send().await.or_error()?;
        let arn = out.policy().and_then(|p| p.policy_arn());
        Ok(LifecyclePolicyOutputs {
            id: id.to_string(),
            arn: required(arn, "the lifecycle policy's ARN")?,
        })
    }

    /// Everything changes in place: the role, the description and the whole schedule (the
    /// policy is also enabled again if someone disabled it).
    async fn update(&self, aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<Self::Outputs> {
        self.check()?;
        aws.dlm
            .update_lifecycle_policy()
            .policy_id(&current.id)
            .execution_role_arn(self.execution_role_arn.get()?)
            .state(SettablePolicyStateValues::Enabled)
            .description(&self.description)
            .policy_details(self.details())
            .send()
            .await
            .or_error()?;
        Ok(current.outputs.clone())
    }

    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        aws.dlm
            .delete_lifecycle_policy()
            .policy_id(&current.id)
            .send()
            .await
            .done_or_gone::<Self>()
    }

    /// One call per policy (DLM lists summaries only): the live schedule, retention and role.
    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        let mut live = Vec::with_capacity(resources.len());
        for resource in resources {
            let out = get(aws, &resource.id).send().await.or_gone::<Self>()?;
            live.push(out.map(|out| match out.policy() {
                Some(policy) => live_args(resource.args, policy),
                None => resource.args,
            }));
        }
        Ok(live)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn backup() -> LifecyclePolicy {
        LifecyclePolicy {
            description: "MongoDB data volume daily snapshots".into(),
            execution_role_arn: "arn:aws:iam::123456789012:role/ams-stack/dlm".into(),
            target_tags: BTreeMap::from([("ams-stack:backup-of".into(), "demo-mongodb".into())]),
            interval_hours: 24,
            times: vec!["03:00".into()],
            retain_count: 7,
            copy_tags: true,
        }
    }

    #[test]
    fn the_details_snapshot_the_tagged_volumes_on_one_schedule() {
        let details = backup().details();
        assert_eq!(
            details.policy_type(),
            Some(&PolicyTypeValues::EbsSnapshotManagement)
        );
        assert_eq!(details.resource_types(), [ResourceTypeValues::Volume]);
        assert_eq!(
            details.target_tags(),
            [tag("ams-stack:backup-of", "demo-mongodb")]
        );
        let [schedule] = details.schedules() else {
            panic!("one schedule: {:?}", details.schedules());
        };
        assert_eq!(schedule.name(), Some("daily"));
        assert_eq!(schedule.copy_tags(), Some(true));
        assert_eq!(schedule.tags_to_add(), [tag(BACKUP_TAG, "daily")]);
        let rule = schedule.create_rule().unwrap();
        assert_eq!(rule.interval(), Some(24));
        assert_eq!(rule.interval_unit(), Some(&IntervalUnitValues::Hours));
        assert_eq!(rule.times(), ["03:00"]);
        assert_eq!(schedule.retain_rule().unwrap().count(), Some(7));
    }

    #[test]
    fn a_schedule_is_named_by_its_interval_and_without_times_dlm_picks_one() {
        let mut policy = backup();
        policy.interval_hours = 12;
        policy.times.clear();
        let details = policy.details();
        let schedule = &details.schedules()[0];
        assert_eq!(schedule.name(), Some("every 12 hours"));
        assert!(schedule.create_rule().unwrap().times().is_empty());
        assert!(policy.check().is_ok());
    }

    #[test]
    fn what_dlm_refuses_is_refused_before_asking() {
        assert!(backup().check().is_ok());
        let refused = |change: fn(&mut LifecyclePolicy)| {
            let mut policy = backup();
            change(&mut policy);
            policy.check().unwrap_err().message
        };
        assert!(refused(|p| p.description = "MongoDB (daily)".into()).contains("description"));
        assert!(refused(|p| p.description.clear()).contains("description"));
        assert!(refused(|p| p.interval_hours = 5).contains("interval_hours"));
        assert!(refused(|p| p.times = vec!["3:00".into()]).contains("HH:MM"));
        assert!(refused(|p| p.times = vec!["24:00".into()]).contains("HH:MM"));
        assert!(refused(|p| p.times = vec!["+1:00".into()]).contains("HH:MM"));
        assert!(refused(|p| p.times = vec!["01:00".into(), "13:00".into()]).contains("HH:MM"));
        assert!(refused(|p| p.retain_count = 0).contains("retain_count"));
        assert!(refused(|p| p.retain_count = 1001).contains("retain_count"));
        assert!(refused(|p| p.target_tags.clear()).contains("target tags"));
        assert!(is_time("23:59") && is_time("00:00") && !is_time("12:60"));
    }

    #[test]
    fn the_arguments_are_plain_json_and_nothing_forces_a_replacement() {
        let json = serde_json::to_value(backup()).unwrap();
        assert_eq!(json["retain_count"], 7);
        assert_eq!(json["times"], json!(["03:00"]));
        assert_eq!(
            json["target_tags"],
            json!({ "ams-stack:backup-of": "demo-mongodb" })
        );
        assert!(LifecyclePolicy::replace_on().is_empty());

        let mut program = ams_engine::Program::new();
        let policy = program.add("mongodb-backup", backup()).unwrap();
        assert_eq!(format!("{:?}", policy.id()), "mongodb-backup.id");
        assert_eq!(format!("{:?}", policy.arn()), "mongodb-backup.arn");
    }

    #[test]
    fn live_values_replace_the_stored_ones_for_drift() {
        let mut changed = backup();
        changed.retain_count = 3;
        changed.times = vec!["05:30".into()];
        let live = aws_sdk_dlm::types::LifecyclePolicy::builder()
            .description(&changed.description)
            .execution_role_arn("arn:aws:iam::123456789012:role/ams-stack/dlm")
            .policy_details(changed.details())
            .build();
        let args = live_args(backup(), &live);
        assert_eq!(args.retain_count, 3);
        assert_eq!(args.times, ["05:30"]);
        assert_eq!(
            serde_json::to_value(&args).unwrap(),
            serde_json::to_value(&changed).unwrap(),
            "nothing else differs"
        );

        // No time asked for: the one DLM picked is no drift.
        let mut untimed = backup();
        untimed.times.clear();
        assert!(live_args(untimed, &live).times.is_empty());
    }
}
