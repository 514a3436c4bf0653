//! The DNS end of the traffic: the record at the domain, and what it points at.

use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_route53::types::ResourceRecordSet;

use ams_aws::Aws;

/// The record at `domain`, in the public hosted zone with the longest name it ends with.
pub(super) async fn record_at(
    aws: &Aws,
    domain: &str,
) -> Result<(String, String, ResourceRecordSet)> {
    let zones = aws
        .route53
        .list_hosted_zones()
        .send()
        .await
        .context("route53:ListHostedZones")?;
    let zone = zones
        .hosted_zones()
        .iter()
        .filter(|z| !z.config().is_some_and(|c| c.private_zone()))
        .filter(|z| {
            let name = z.name().trim_end_matches('.').to_ascii_lowercase();
            domain == name || domain.ends_with(&format!(".{name}"))
        })
        .max_by_key(|z| z.name().len())
        .ok_or_else(|| {
            anyhow!("no public hosted zone holds {domain}: nothing to follow from it")
        })?;
    let zone_id = zone.id().trim_start_matches("/hostedzone/").to_string();
    let wanted = format!("{domain}.");
    let listed = aws
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .start_record_name(&wanted)
        .send()
        .await
        .context("route53:ListResourceRecordSets")?;
    let at_domain: Vec<&ResourceRecordSet> = listed
        .resource_record_sets()
        .iter()
        .filter(|r| r.name().eq_ignore_ascii_case(&wanted))
        .filter(|r| matches!(r.r#type().as_str(), "CNAME" | "A" | "AAAA"))
        .filter(|r| r.r#type().as_str() == "CNAME" || r.alias_target().is_some())
        .collect();
    match at_domain.as_slice() {
        [] => bail!(
            "no record at {domain} in hosted zone {} ({zone_id}) points at a load balancer: nothing to adopt (is the domain right?)",
            zone.name()
        ),
        [record] => Ok((zone_id, zone.name().to_string(), (*record).clone())),
        several => {
            // An alias A and its AAAA twin name the same load balancer: take the A.
            let a = several.iter().find(|r| r.r#type().as_str() == "A");
            let cname = several.iter().find(|r| r.r#type().as_str() == "CNAME");
            Ok((
                zone_id,
                zone.name().to_string(),
                (*cname.or(a).unwrap_or(&several[0])).clone(),
            ))
        }
    }
}

/// Whether the zone holds a record `name` of type `kind`.
pub(super) async fn record_exists(
    aws: &Aws,
    zone_id: &str,
    name: &str,
    kind: &str,
) -> Result<bool> {
    let wanted = format!("{name}.");
    let listed = aws
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(zone_id)
        .start_record_name(&wanted)
        .send()
        .await
        .context("route53:ListResourceRecordSets")?;
    Ok(listed
        .resource_record_sets()
        .iter()
        .any(|r| r.name().eq_ignore_ascii_case(&wanted) && r.r#type().as_str() == kind))
}

/// The DNS name a record points at: a CNAME's value, or an alias's target.
pub(super) fn record_target(record: &ResourceRecordSet) -> Option<String> {
    let name = match record.alias_target() {
        Some(alias) => alias.dns_name().to_string(),
        None => record.resource_records().first()?.value().to_string(),
    };
    Some(name.trim_end_matches('.').to_ascii_lowercase())
}
