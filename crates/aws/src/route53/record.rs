//! One record set in an existing hosted zone: a plain value (a CNAME), several (an A record of
//! addresses) or an alias to an AWS resource (an A record at the zone apex, where a CNAME is not
//! allowed). `upsert` lets it take
//! over a record that already exists (as ACM validation records for the same name do);
//! otherwise it adopts an existing record only when it holds the wanted value already, and
//! refuses any other record at its name (see [`super::conflict`]): never overwritten.

use std::collections::BTreeMap;

use aws_sdk_route53::error::BuildError;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use serde::{Deserialize, Serialize};

use ams_engine::{Input, Kind, Output, Outputs, ProviderError};

use super::conflict::Claim;
use super::listed::{fqdn, records_at, zone_records, Held, Listed};
use crate::call::OrError;
use crate::kind::{AwsKind, Codes, Ctx, Current, Res};
use crate::Aws;

#[derive(Clone, Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:route53:Record", outputs = RecordOutputs)]
pub struct Record {
    #[kind(replace)]
    pub zone_id: String,
    #[kind(replace)]
    pub name: Input<String>,
    #[serde(rename = "type")]
    #[kind(replace)]
    pub record_type: Input<String>,
    /// Seconds; not sent for an alias (Route 53 uses the target's).
    pub ttl: i64,
    pub value: Target,
    pub upsert: bool,
}

/// What a record points to. A plain value keeps the JSON form records always had (a string or
/// a reference); an alias is `{"alias": {"dns_name": .., "zone_id": ..}}`; several values (an A
/// record's addresses) are `{"values": [..]}`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Target {
    Value(Input<String>),
    Alias { alias: Alias },
    Values { values: Vec<Input<String>> },
}

/// An alias target: an AWS resource's DNS name and the canonical hosted zone of that name (a
/// load balancer's `zone_id` output). Its health is not evaluated.
#[derive(Clone, Serialize, Deserialize)]
pub struct Alias {
    pub dns_name: Input<String>,
    pub zone_id: Input<String>,
}

impl Target {
    /// An alias to `dns_name` in hosted zone `zone_id`.
    pub fn alias(dns_name: impl Into<Input<String>>, zone_id: impl Into<Input<String>>) -> Self {
        Target::Alias {
            alias: Alias {
                dns_name: dns_name.into(),
                zone_id: zone_id.into(),
            },
        }
    }

    /// Several plain values: an A record's addresses, in this order.
    pub fn values<I: Into<Input<String>>>(values: impl IntoIterator<Item = I>) -> Self {
        Target::Values {
            values: values.into_iter().map(Into::into).collect(),
        }
    }

    /// What the record holds, once resolved.
    fn held(&self) -> Result<Held, ProviderError> {
        Ok(match self {
            Target::Value(value) => Held::Values(vec![value.get()?.clone()]),
            Target::Values { values } => Held::Values(
                values
                    .iter()
                    .map(|v| v.get().cloned())
                    .collect::<Result<_, _>>()?,
            ),
            Target::Alias { alias } => Held::Alias {
                dns_name: alias.dns_name.get()?.clone(),
                zone_id: alias.zone_id.get()?.clone(),
            },
        })
    }

    /// What a live record holds, as a target: one value as a value, several as values.
    fn of(held: &Held) -> Self {
        match held {
            Held::Values(values) if values.len() > 1 => Target::values(values.clone()),
            Held::Values(values) => {
                Target::Value(values.first().cloned().unwrap_or_default().into())
            }
            Held::Alias { dns_name, zone_id } => Target::alias(dns_name.clone(), zone_id.clone()),
        }
    }
}

impl From<Input<String>> for Target {
    fn from(value: Input<String>) -> Self {
        Target::Value(value)
    }
}

impl From<Output<String>> for Target {
    fn from(value: Output<String>) -> Self {
        Target::Value(value.into())
    }
}

impl From<&str> for Target {
    fn from(value: &str) -> Self {
        Target::Value(value.into())
    }
}

#[derive(Clone, Serialize, Deserialize, Outputs)]
pub struct RecordOutputs {
    /// The record's name, fully qualified (with its final dot).
    pub fqdn: String,
}

/// What the zone holds at a record's name, for the record.
enum Existing {
    Nothing,
    /// A record of its name and type that holds what it wants already.
    Ours,
    /// A record it would overwrite or clash with, which it did not make.
    Foreign(super::conflict::Conflict),
}

impl Record {
    /// `ZONE/FQDN/TYPE`.
    fn id(&self) -> Result<String, ProviderError> {
        Ok(format!(
            "{}/{}/{}",
            self.zone_id,
            fqdn(self.name.get()?),
            self.record_type.get()?
        ))
    }

    /// Its fully qualified name, type and what it holds, once resolved.
    pub(crate) fn holds(&self) -> Option<(String, String, Held)> {
        Some((
            fqdn(self.name.get().ok()?),
            self.record_type.get().ok()?.clone(),
            self.value.held().ok()?,
        ))
    }

    /// This record set as Route 53 takes it: values with a TTL, or an alias target.
    fn record_set(&self) -> Result<ResourceRecordSet, ProviderError> {
        let build = |e: BuildError| ProviderError::new(format!("route53 record: {e}"));
        let set = ResourceRecordSet::builder()
            .name(fqdn(self.name.get()?))
            .r#type(RrType::from(self.record_type.get()?.as_str()));
        let set = match &self.value {
            Target::Value(value) => set.ttl(self.ttl).resource_records(
                ResourceRecord::builder()
                    .value(value.get()?)
                    .build()
                    .map_err(build)?,
            ),
            Target::Values { values } => {
                let mut set = set.ttl(self.ttl);
                for value in values {
                    set = set.resource_records(
                        ResourceRecord::builder()
                            .value(value.get()?)
                            .build()
                            .map_err(build)?,
                    );
                }
                set
            }
            Target::Alias { alias } => set.alias_target(
                AliasTarget::builder()
                    .dns_name(alias.dns_name.get()?)
                    .hosted_zone_id(alias.zone_id.get()?)
                    .evaluate_target_health(false)
                    .build()
                    .map_err(build)?,
            ),
        };
        set.build().map_err(build)
    }

    /// The one-change batch that does `action` to this record set.
    fn batch(&self, action: ChangeAction) -> Result<ChangeBatch, ProviderError> {
        let build = |e: BuildError| ProviderError::new(format!("route53 record: {e}"));
        ChangeBatch::builder()
            .changes(
                Change::builder()
                    .action(action)
                    .resource_record_set(self.record_set()?)
                    .build()
                    .map_err(build)?,
            )
            .build()
            .map_err(build)
    }

    /// Creates, upserts or deletes this record set.
    async fn change(&self, aws: &Aws, action: ChangeAction) -> Result<(), ProviderError> {
        let (name, kind) = (fqdn(self.name.get()?), self.record_type.get()?);
        aws.route53
            .change_resource_record_sets()
            .hosted_zone_id(&self.zone_id)
            .change_batch(self.batch(action.clone())?)
            .send()
            .await
            .or_error()
            .map_err(|e| ProviderError {
                message: format!("{} ({} {name} {kind})", e.message, action.as_str()),
                ..e
            })?;
        Ok(())
    }

    /// What the zone holds at this record's name, judged against what it wants.
    async fn existing(&self, aws: &Aws) -> Result<Existing, ProviderError> {
        let (name, kind, held) = (
            fqdn(self.name.get()?),
            self.record_type.get()?.clone(),
            self.value.held()?,
        );
        let listed = records_at(aws, &self.zone_id, &name).await?;
        let claim = Claim {
            zone_id: self.zone_id.clone(),
            name,
            record_type: kind.clone(),
            ours: vec![(kind.clone(), held)],
        };
        if let Some(conflict) = claim.clashes(&listed).into_iter().next() {
            return Ok(Existing::Foreign(conflict));
        }
        Ok(if listed.iter().any(|r| r.kind == kind) {
            Existing::Ours
        } else {
            Existing::Nothing
        })
    }
}

/// The stored arguments `stored` with what its zone holds now (the stored value where the zone
/// holds the same, however Route 53 spells it); `None` when the record or its whole zone is
/// gone.
fn live(mut stored: Record, zones: &BTreeMap<String, Option<Vec<Listed>>>) -> Res<Option<Record>> {
    let name = fqdn(stored.name.get()?);
    let kind = stored.record_type.get()?;
    let Some(Some(records)) = zones.get(&stored.zone_id) else {
        return Ok(None);
    };
    let Some(record) = records.iter().find(|r| r.is_at(&name) && r.kind == *kind) else {
        return Ok(None);
    };
    let wanted = stored.value.held().ok();
    if !wanted.is_some_and(|w| w.same(&record.held)) {
        stored.value = Target::of(&record.held);
    }
    Ok(Some(stored))
}

impl AwsKind for Record {
    /// Gone already (moto says `InvalidInput`), or its whole zone is.
    const NOT_FOUND: Codes = &["InvalidInput", "NoSuchHostedZone"];
    /// A CREATE that an earlier attempt made already: `find` judges what is there.
    const ALREADY_EXISTS: Codes = &["InvalidChangeBatch:already exists"];

    /// An upsert record takes its name over; any other creates, after it looked: a record that
    /// holds its value already is adopted, any other record at its name refused.
    async fn create(&self, aws: &Aws, _ctx: &Ctx) -> Res<String> {
        if self.upsert {
            self.change(aws, ChangeAction::Upsert).await?;
            return self.id();
        }
        match self.existing(aws).await? {
            Existing::Foreign(conflict) => return Err(conflict.error()),
            Existing::Ours => {}
            Existing::Nothing => self.change(aws, ChangeAction::Create).await?,
        }
        self.id()
    }

    /// An upsert record: one of its name and type is made what the program asks, whatever it
    /// held. Any other: adopted only when it holds the wanted value, refused otherwise.
    async fn find(&self, aws: &Aws, ctx: &Ctx) -> Res<Option<String>> {
        if !self.upsert {
            return match self.existing(aws).await? {
                Existing::Foreign(conflict) => Err(conflict.error()),
                Existing::Ours => Ok(Some(self.id()?)),
                Existing::Nothing => Ok(None),
            };
        }
        let name = fqdn(self.name.get()?);
        let kind = self.record_type.get()?;
        let listed = records_at(aws, &self.zone_id, &name).await?;
        if !listed.iter().any(|r| r.kind == *kind) {
            return Ok(None);
        }
        if !ctx.read_only {
            self.change(aws, ChangeAction::Upsert).await?;
        }
        Ok(Some(self.id()?))
    }

    async fn finish(&self, _aws: &Aws, _ctx: &Ctx, _id: &str) -> Res<Self::Outputs> {
        Ok(RecordOutputs {
            fqdn: fqdn(self.name.get()?),
        })
    }

    async fn update(&self, aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<Self::Outputs> {
        self.change(aws, ChangeAction::Upsert).await?;
        Ok(current.outputs.clone())
    }

    /// Deletes with the values (or alias target) it was made with, as Route 53 requires.
    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        match current.args.change(aws, ChangeAction::Delete).await {
            // Already gone: AWS says InvalidChangeBatch "... not found".
            Err(e) if e.message.contains("not found") => Ok(()),
            other => other,
        }
    }

    /// One listing per hosted zone; a record whose zone is gone is gone.
    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        let mut zones = BTreeMap::new();
        for resource in &resources {
            let zone = &resource.args.zone_id;
            if !zones.contains_key(zone) {
                zones.insert(zone.clone(), zone_records(aws, zone).await?);
            }
        }
        resources
            .into_iter()
            .map(|resource| live(resource.args, &zones))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value as Json};

    use super::*;

    fn cname(value: &str) -> Record {
        Record {
            zone_id: "Z1".into(),
            name: "stream.example.com".into(),
            record_type: "CNAME".into(),
            ttl: 300,
            value: value.into(),
            upsert: false,
        }
    }

    fn apex() -> Record {
        Record {
            zone_id: "Z1".into(),
            name: "example.com".into(),
            record_type: "A".into(),
            ttl: 300,
            value: Target::alias("lb-1.elb.amazonaws.com", "ZP97RAFLXTNZK"),
            upsert: false,
        }
    }

    #[test]
    fn a_new_zone_name_or_type_replaces_the_record() {
        assert_eq!(Record::replace_on(), ["zone_id", "name", "type"]);
    }

    #[test]
    fn a_value_record_keeps_its_json_and_an_alias_says_so() {
        let stored = json!({"zone_id": "Z1", "name": "stream.example.com", "type": "CNAME",
                            "ttl": 300, "value": "lb-1.elb.amazonaws.com", "upsert": false});
        assert_eq!(
            serde_json::to_value(cname("lb-1.elb.amazonaws.com")).ok(),
            Some(stored.clone())
        );
        let back: Record = serde_json::from_value(stored).expect("reads");
        assert!(matches!(back.value, Target::Value(_)));
        let alias = serde_json::to_value(apex()).expect("writes");
        assert_eq!(
            alias["value"],
            json!({"alias": {"dns_name": "lb-1.elb.amazonaws.com", "zone_id": "ZP97RAFLXTNZK"}})
        );
        let back: Record = serde_json::from_value(alias).expect("reads");
        assert!(matches!(back.value, Target::Alias { .. }));
    }

    #[test]
    fn a_value_batch_sends_the_ttl_and_the_value() {
        let batch = cname("lb-1.elb.amazonaws.com")
            .batch(ChangeAction::Create)
            .expect("builds");
        let change = &batch.changes()[0];
        assert_eq!(change.action(), &ChangeAction::Create);
        let set = change.resource_record_set().expect("set");
        assert_eq!(set.name(), "stream.example.com.");
        assert_eq!(set.r#type(), &RrType::Cname);
        assert_eq!(set.ttl(), Some(300));
        assert_eq!(set.resource_records()[0].value(), "lb-1.elb.amazonaws.com");
        assert!(set.alias_target().is_none());
    }

    #[test]
    fn an_alias_batch_sends_the_same_target_to_create_and_delete() {
        for action in [ChangeAction::Create, ChangeAction::Delete] {
            let batch = apex().batch(action.clone()).expect("builds");
            let change = &batch.changes()[0];
            assert_eq!(change.action(), &action);
            let set = change.resource_record_set().expect("set");
            assert_eq!(set.name(), "example.com.");
            assert_eq!(set.r#type(), &RrType::A);
            assert_eq!(set.ttl(), None, "an alias has no TTL");
            assert!(set.resource_records().is_empty());
            let target = set.alias_target().expect("alias");
            assert_eq!(target.dns_name(), "lb-1.elb.amazonaws.com");
            assert_eq!(target.hosted_zone_id(), "ZP97RAFLXTNZK");
            assert!(!target.evaluate_target_health());
        }
    }

    /// An A record of two addresses (the TURN relays').
    fn addresses() -> Record {
        Record {
            zone_id: "Z1".into(),
            name: "turn.stream.example.com".into(),
            record_type: "A".into(),
            ttl: 300,
            value: Target::values(["198.51.100.7", "198.51.100.8"]),
            upsert: false,
        }
    }

    #[test]
    fn several_values_are_one_record_set_that_reads_back_as_written() {
        let stored = serde_json::to_value(addresses()).expect("writes");
        assert_eq!(
            stored["value"],
            json!({"values": ["198.51.100.7", "198.51.100.8"]})
        );
        let back: Record = serde_json::from_value(stored.clone()).expect("reads");
        assert!(matches!(back.value, Target::Values { .. }));
        let batch = addresses().batch(ChangeAction::Create).expect("builds");
        let set = batch.changes()[0].resource_record_set().expect("set");
        assert_eq!(set.r#type(), &RrType::A);
        assert_eq!(set.ttl(), Some(300));
        let values: Vec<&str> = set.resource_records().iter().map(|r| r.value()).collect();
        assert_eq!(values, ["198.51.100.7", "198.51.100.8"]);
        // Live in another order: no drift; one address changed: the live ones.
        let name = "turn.stream.example.com.".to_string();
        let zone = |values: &[&str]| {
            BTreeMap::from([(
                "Z1".to_string(),
                Some(vec![Listed {
                    name: name.clone(),
                    kind: "A".into(),
                    held: Held::Values(values.iter().map(|v| v.to_string()).collect()),
                }]),
            )])
        };
        let read = live(addresses(), &zone(&["198.51.100.8", "198.51.100.7"])).expect("read");
        assert_eq!(read.map(|r| stored_json(&r)), Some(stored));
        let read = live(addresses(), &zone(&["198.51.100.7", "192.0.2.1"]))
            .expect("read")
            .expect("there");
        assert_eq!(
            stored_json(&read)["value"],
            json!({"values": ["198.51.100.7", "192.0.2.1"]})
        );
    }

    fn stored_json(record: &Record) -> Json {
        serde_json::to_value(record).expect("json")
    }

    fn zones(held: Held, kind: &str) -> BTreeMap<String, Option<Vec<Listed>>> {
        let name = "example.com.".to_string();
        BTreeMap::from([(
            "Z1".to_string(),
            Some(vec![Listed {
                name,
                kind: kind.into(),
                held,
            }]),
        )])
    }

    /// A record's arguments as the state stores them.
    fn stored(record: &Record) -> Json {
        serde_json::to_value(record).expect("json")
    }

    #[test]
    fn an_alias_reads_back_without_drift_and_a_changed_one_shows() {
        let live = |zones| live(apex(), &zones).expect("read").as_ref().map(stored);
        let same = Held::Alias {
            dns_name: "dualstack.LB-1.elb.amazonaws.com.".into(),
            zone_id: "ZP97RAFLXTNZK".into(),
        };
        assert_eq!(live(zones(same, "A")), Some(stored(&apex())));
        let moved = Held::Alias {
            dns_name: "lb-2.elb.amazonaws.com.".into(),
            zone_id: "ZP97RAFLXTNZK".into(),
        };
        let read = live(zones(moved, "A")).expect("there");
        assert_eq!(
            read["value"]["alias"]["dns_name"],
            "lb-2.elb.amazonaws.com."
        );
        let gone = live(zones(Held::Values(vec!["x".into()]), "CNAME"));
        assert_eq!(gone, None, "a record of another type is not this one");
    }
}
