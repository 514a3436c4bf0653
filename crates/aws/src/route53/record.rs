//! One record set in an existing hosted zone. `upsert` lets it take over a record that already
//! exists (as ACM validation records for the same name do); otherwise an existing record is an
//! error, never overwritten.

use std::collections::BTreeMap;

use aws_sdk_route53::error::{BuildError, ProvideErrorMetadata};
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use ams_engine::state::ResourceState;
use ams_engine::{Input, Kind, Outputs, ProviderError, StepContext};

use crate::call::{aws_error, OrError};
use crate::kind::{AwsKind, Ctx, Current, Res};
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
    pub ttl: i64,
    pub value: Input<String>,
    pub upsert: bool,
}

#[derive(Clone, Serialize, Deserialize, Outputs)]
pub struct RecordOutputs {
    /// The record's name, fully qualified (with its final dot).
    pub fqdn: String,
}

/// `name` with exactly one final dot, as Route 53 writes names.
fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
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

    /// Creates, upserts or deletes this record set (one value).
    async fn change(&self, aws: &Aws, action: ChangeAction) -> Result<(), ProviderError> {
        let build = |e: BuildError| ProviderError::new(format!("route53 record: {e}"));
        let name = fqdn(self.name.get()?);
        let kind = self.record_type.get()?;
        let record_set = ResourceRecordSet::builder()
            .name(&name)
            .r#type(RrType::from(kind.as_str()))
            .ttl(self.ttl)
            .resource_records(
                ResourceRecord::builder()
                    .value(self.value.get()?)
                    .build()
                    .map_err(build)?,
            )
            .build()
            .map_err(build)?;
        let batch = ChangeBatch::builder()
            .changes(
                Change::builder()
                    .action(action.clone())
                    .resource_record_set(record_set)
                    .build()
                    .map_err(build)?,
            )
            .build()
            .map_err(build)?;
        aws.route53
            .change_resource_record_sets()
            .hosted_zone_id(&self.zone_id)
            .change_batch(batch)
            .send()
            .await
            .or_error()
            .map_err(|e| ProviderError {
                message: format!("{} ({} {name} {kind})", e.message, action.as_str()),
                ..e
            })?;
        Ok(())
    }

    /// Whether the zone holds a record set of this name and type.
    async fn exists(&self, aws: &Aws) -> Result<bool, ProviderError> {
        let name = fqdn(self.name.get()?);
        let kind = self.record_type.get()?;
        let out = aws
            .route53
            .list_resource_record_sets()
            .hosted_zone_id(&self.zone_id)
            .start_record_name(&name)
            .start_record_type(RrType::from(kind.as_str()))
            .max_items(1)
            .send()
            .await
            .or_error()?;
        Ok(out
            .resource_record_sets()
            .first()
            .is_some_and(|r| r.name() == name && r.r#type().as_str() == kind))
    }
}

/// A record set as listed: name, type and first value.
struct Listed {
    name: String,
    kind: String,
    value: String,
}

/// Every record set of a zone (following pagination); `None` when the zone is gone.
async fn zone_records(aws: &Aws, zone: &str) -> Result<Option<Vec<Listed>>, ProviderError> {
    let mut records = Vec::new();
    let mut next: Option<(String, RrType)> = None;
    loop {
        let mut request = aws.route53.list_resource_record_sets().hosted_zone_id(zone);
        if let Some((name, kind)) = next.take() {
            request = request.start_record_name(name).start_record_type(kind);
        }
        let page = match request.send().await {
            Ok(page) => page,
            Err(e) if e.code() == Some("NoSuchHostedZone") => return Ok(None),
            Err(e) => return Err(aws_error(e)),
        };
        records.extend(page.resource_record_sets().iter().map(|r| {
            Listed {
                name: r.name().to_string(),
                kind: r.r#type().as_str().to_string(),
                value: r
                    .resource_records()
                    .first()
                    .map(|v| v.value().to_string())
                    .unwrap_or_default(),
            }
        }));
        match (
            page.is_truncated(),
            page.next_record_name(),
            page.next_record_type(),
        ) {
            (true, Some(name), Some(kind)) => next = Some((name.to_string(), kind.clone())),
            _ => return Ok(Some(records)),
        }
    }
}

/// A stored argument of a record, as text ("" when missing).
fn stored<'a>(inputs: &'a Json, key: &str) -> &'a str {
    inputs.get(key).and_then(Json::as_str).unwrap_or_default()
}

/// The stored arguments of `resource` with the value its zone holds now; `None` when the
/// record or its whole zone is gone.
fn live(resource: &ResourceState, zones: &BTreeMap<String, Option<Vec<Listed>>>) -> Option<Json> {
    let inputs = &resource.inputs;
    let name = fqdn(stored(inputs, "name"));
    let kind = stored(inputs, "type");
    let records = zones.get(stored(inputs, "zone_id"))?.as_ref()?;
    let record = records.iter().find(|r| r.name == name && r.kind == kind)?;
    let mut inputs = inputs.clone();
    inputs["value"] = json!(record.value);
    Some(inputs)
}

#[async_trait::async_trait]
impl AwsKind for Record {
    /// Gone already (moto says `InvalidInput`), or its whole zone is.
    const NOT_FOUND: &'static [&'static str] = &["InvalidInput", "NoSuchHostedZone"];

    async fn create(&self, aws: &Aws, _ctx: &StepContext) -> Result<String, ProviderError> {
        let action = if self.upsert {
            ChangeAction::Upsert
        } else {
            ChangeAction::Create
        };
        self.change(aws, action).await?;
        self.id()
    }

    /// A record of this name and type is made what the program asks, whatever it held.
    async fn find(&self, aws: &Aws, ctx: &StepContext) -> Result<Option<String>, ProviderError> {
        if !self.exists(aws).await? {
            return Ok(None);
        }
        if !ctx.read_only {
            self.change(aws, ChangeAction::Upsert).await?;
        }
        Ok(Some(self.id()?))
    }

    async fn finish(&self, _aws: &Aws, _ctx: &Ctx, _id: &str) -> Res<RecordOutputs> {
        Ok(RecordOutputs {
            fqdn: fqdn(self.name.get()?),
        })
    }

    async fn update(&self, aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<RecordOutputs> {
        self.change(aws, ChangeAction::Upsert).await?;
        Ok(current.outputs.clone())
    }

    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        let record: Record = serde_json::from_value(current.inputs.clone()).map_err(|e| {
            ProviderError::new(format!("stored record {} is unreadable: {e}", current.id))
        })?;
        match record.change(aws, ChangeAction::Delete).await {
            // Already gone: AWS says InvalidChangeBatch "... not found".
            Err(e) if e.message.contains("not found") => Ok(()),
            other => other,
        }
    }

    /// One listing per hosted zone; a record whose zone is gone is gone.
    async fn read(aws: &Aws, resources: &[ResourceState]) -> Res<Vec<Option<Json>>> {
        let mut zones = BTreeMap::new();
        for resource in resources {
            let zone = stored(&resource.inputs, "zone_id");
            if !zones.contains_key(zone) {
                zones.insert(zone.to_string(), zone_records(aws, zone).await?);
            }
        }
        Ok(resources.iter().map(|r| live(r, &zones)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_fully_qualified_once() {
        assert_eq!(fqdn("stream.example.com"), "stream.example.com.");
        assert_eq!(fqdn("stream.example.com."), "stream.example.com.");
    }

    #[test]
    fn a_new_zone_name_or_type_replaces_the_record() {
        assert_eq!(Record::replace_on(), ["zone_id", "name", "type"]);
    }
}
