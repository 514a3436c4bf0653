//! Route 53: records in an existing hosted zone.

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use super::{aws_error, Aws, AwsKind};
use crate::engine::{Created, Input, Kind, Output, ProviderError, Ref, StepContext};
use crate::state::ResourceState;

/// One record set. `upsert` lets it take over a record that already exists (as ACM validation
/// records for the same name do); otherwise an existing record is an error, never overwritten.
pub struct Record;

#[derive(Clone, Serialize, Deserialize)]
pub struct RecordArgs {
    pub zone_id: String,
    pub name: Input<String>,
    #[serde(rename = "type")]
    pub record_type: Input<String>,
    pub ttl: i64,
    pub value: Input<String>,
    pub upsert: bool,
}

impl Kind for Record {
    const TYPE: &'static str = "aws:route53:Record";
    type Args = RecordArgs;
    const REPLACE_ON: &'static [&'static str] = &["zone_id", "name", "type"];
}

impl Ref<Record> {
    pub fn fqdn(&self) -> Output<String> {
        self.output("fqdn")
    }
}

fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

async fn change(aws: &Aws, action: ChangeAction, args: &RecordArgs) -> Result<(), ProviderError> {
    let build =
        |e: aws_sdk_route53::error::BuildError| ProviderError::new(format!("route53 record: {e}"));
    let record_set = ResourceRecordSet::builder()
        .name(fqdn(args.name.get()?))
        .r#type(RrType::from(args.record_type.get()?.as_str()))
        .ttl(args.ttl)
        .resource_records(
            ResourceRecord::builder()
                .value(args.value.get()?)
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
        .hosted_zone_id(&args.zone_id)
        .change_batch(batch)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                &format!("route53:ChangeResourceRecordSets({})", action.as_str()),
                e,
            )
        })?;
    Ok(())
}

#[async_trait::async_trait]
impl AwsKind for Record {
    /// One listing per hosted zone; a record whose zone is gone is gone.
    async fn read(
        aws: &Aws,
        resources: &[ResourceState],
    ) -> Result<Vec<Option<Json>>, ProviderError> {
        let mut zones: std::collections::BTreeMap<String, Option<Vec<(String, String, String)>>> =
            Default::default();
        for resource in resources {
            let zone = resource
                .inputs
                .get("zone_id")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string();
            if zones.contains_key(&zone) {
                continue;
            }
            let mut records = Vec::new();
            let mut zone_exists = true;
            let mut next: Option<(String, RrType)> = None;
            loop {
                let mut request = aws
                    .route53
                    .list_resource_record_sets()
                    .hosted_zone_id(&zone);
                if let Some((name, kind)) = next.take() {
                    request = request.start_record_name(name).start_record_type(kind);
                }
                let page = match request.send().await {
                    Ok(page) => page,
                    Err(e) if super::error_code(&e) == Some("NoSuchHostedZone") => {
                        zone_exists = false;
                        break;
                    }
                    Err(e) => return Err(aws_error("route53:ListResourceRecordSets", e)),
                };
                records.extend(page.resource_record_sets().iter().map(|r| {
                    let value = r
                        .resource_records()
                        .first()
                        .map(|v| v.value().to_string())
                        .unwrap_or_default();
                    (r.name().to_string(), r.r#type().as_str().to_string(), value)
                }));
                match (
                    page.is_truncated(),
                    page.next_record_name(),
                    page.next_record_type(),
                ) {
                    (true, Some(name), Some(kind)) => next = Some((name.to_string(), kind.clone())),
                    _ => break,
                }
            }
            zones.insert(zone, zone_exists.then_some(records));
        }
        Ok(resources
            .iter()
            .map(|r| {
                let zone = r
                    .inputs
                    .get("zone_id")
                    .and_then(Json::as_str)
                    .unwrap_or_default();
                let name = fqdn(
                    r.inputs
                        .get("name")
                        .and_then(Json::as_str)
                        .unwrap_or_default(),
                );
                let kind = r
                    .inputs
                    .get("type")
                    .and_then(Json::as_str)
                    .unwrap_or_default();
                let records = zones.get(zone).cloned().flatten()?;
                let (_, _, value) = records
                    .into_iter()
                    .find(|(n, t, _)| *n == name && t == kind)?;
                let mut inputs = r.inputs.clone();
                inputs["value"] = json!(value);
                Some(inputs)
            })
            .collect())
    }

    async fn find(
        aws: &Aws,
        ctx: &StepContext,
        args: &RecordArgs,
    ) -> Result<Option<Created>, ProviderError> {
        let name = fqdn(args.name.get()?);
        let out = aws
            .route53
            .list_resource_record_sets()
            .hosted_zone_id(&args.zone_id)
            .start_record_name(&name)
            .start_record_type(RrType::from(args.record_type.get()?.as_str()))
            .max_items(1)
            .send()
            .await
            .map_err(|e| aws_error("route53:ListResourceRecordSets", e))?;
        let exists = out.resource_record_sets().first().is_some_and(|r| {
            r.name() == name
                && r.r#type().as_str()
                    == args
                        .record_type
                        .get()
                        .map(String::as_str)
                        .unwrap_or_default()
        });
        if !exists {
            return Ok(None);
        }
        // Make it what the program asks, whatever it held.
        if !ctx.read_only {
            change(aws, ChangeAction::Upsert, args).await?;
        }
        let id = format!("{}/{}/{}", args.zone_id, name, args.record_type.get()?);
        Ok(Some(Created {
            id,
            outputs: json!({ "fqdn": name }),
        }))
    }

    async fn create(
        aws: &Aws,
        _ctx: &StepContext,
        args: &RecordArgs,
    ) -> Result<Created, ProviderError> {
        let action = if args.upsert {
            ChangeAction::Upsert
        } else {
            ChangeAction::Create
        };
        change(aws, action, args).await?;
        let name = fqdn(args.name.get()?);
        let id = format!("{}/{}/{}", args.zone_id, name, args.record_type.get()?);
        Ok(Created {
            id,
            outputs: json!({ "fqdn": name }),
        })
    }

    async fn update(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
        args: &RecordArgs,
    ) -> Result<Json, ProviderError> {
        change(aws, ChangeAction::Upsert, args).await?;
        Ok(current.outputs.clone())
    }

    async fn delete(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
    ) -> Result<(), ProviderError> {
        let args: RecordArgs = serde_json::from_value(current.inputs.clone()).map_err(|e| {
            ProviderError::new(format!("stored record {} is unreadable: {e}", current.id))
        })?;
        match change(aws, ChangeAction::Delete, &args).await {
            Ok(()) => Ok(()),
            // Already gone (AWS says InvalidChangeBatch "not found"; moto says InvalidInput), or
            // its whole zone is.
            Err(e)
                if e.message.contains("not found")
                    || matches!(e.code.as_deref(), Some("InvalidInput" | "NoSuchHostedZone")) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
