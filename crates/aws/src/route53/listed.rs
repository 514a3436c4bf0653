//! What a hosted zone holds: record sets as listed, and what each points to ([`Held`]), compared
//! as Route 53 spells names.

use std::fmt;

use aws_sdk_route53::error::ProvideErrorMetadata;
use aws_sdk_route53::types::{ResourceRecordSet, RrType};

use ams_engine::ProviderError;

use crate::call::{aws_error, OrError};
use crate::Aws;

/// What a record set points to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Held {
    /// Plain values: a CNAME's target, an A record's addresses, a TXT record's texts.
    Values(Vec<String>),
    /// An alias to an AWS resource's DNS name, in that resource's canonical hosted zone.
    Alias { dns_name: String, zone_id: String },
}

/// A DNS name as Route 53 compares it: without case, final dot or the `dualstack.` prefix it
/// may put before a load balancer's name.
fn canonical(name: &str) -> String {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    match name.strip_prefix("dualstack.") {
        Some(rest) => rest.to_string(),
        None => name,
    }
}

impl Held {
    /// Whether both point to the same place, whatever the spelling.
    pub fn same(&self, other: &Held) -> bool {
        match (self, other) {
            (Held::Values(a), Held::Values(b)) => {
                let set = |values: &[String]| {
                    let mut values: Vec<String> = values.iter().map(|v| canonical(v)).collect();
                    values.sort();
                    values
                };
                set(a) == set(b)
            }
            (
                Held::Alias { dns_name, zone_id },
                Held::Alias {
                    dns_name: other_name,
                    zone_id: other_zone,
                },
            ) => canonical(dns_name) == canonical(other_name) && zone_id == other_zone,
            _ => false,
        }
    }
}

impl fmt::Display for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Held::Values(values) if values.is_empty() => write!(f, "(no value)"),
            Held::Values(values) => write!(f, "{}", values.join(", ")),
            Held::Alias { dns_name, zone_id } => {
                write!(f, "alias {dns_name} (hosted zone {zone_id})")
            }
        }
    }
}

/// A record set as listed: its name (fully qualified), type and what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub kind: String,
    pub held: Held,
}

impl Listed {
    fn of(record: &ResourceRecordSet) -> Listed {
        let held = match record.alias_target() {
            Some(alias) => Held::Alias {
                dns_name: alias.dns_name().to_string(),
                zone_id: alias.hosted_zone_id().to_string(),
            },
            None => Held::Values(
                record
                    .resource_records()
                    .iter()
                    .map(|v| v.value().to_string())
                    .collect(),
            ),
        };
        Listed {
            name: record.name().to_string(),
            kind: record.r#type().as_str().to_string(),
            held,
        }
    }

    /// Whether this record set is at `name` (any spelling).
    pub fn is_at(&self, name: &str) -> bool {
        same_name(&self.name, name)
    }
}

/// Whether two DNS names are the same name.
pub fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// `name` with exactly one final dot, as Route 53 writes names.
pub fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

/// The page size of a listing at one name: every type a name can have fits in one page.
const AT_NAME_PAGE: i32 = 100;

/// Every record set at `name` in zone `zone` (listed from that name on, until the names change).
pub async fn records_at(aws: &Aws, zone: &str, name: &str) -> Result<Vec<Listed>, ProviderError> {
    let mut records = Vec::new();
    let mut next: Option<(String, RrType)> = None;
    loop {
        let mut request = aws
            .route53
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .max_items(AT_NAME_PAGE);
        request = match next.take() {
            Some((name, kind)) => request.start_record_name(name).start_record_type(kind),
            None => request.start_record_name(fqdn(name)),
        };
        let page = request.send().await.or_error()?;
        let listed: Vec<Listed> = page.resource_record_sets().iter().map(Listed::of).collect();
        let past = listed.iter().any(|r| !r.is_at(name));
        records.extend(listed.into_iter().filter(|r| r.is_at(name)));
        match (
            page.is_truncated(),
            page.next_record_name(),
            page.next_record_type(),
        ) {
            (true, Some(next_name), Some(kind)) if !past && same_name(next_name, name) => {
                next = Some((next_name.to_string(), kind.clone()));
            }
            _ => return Ok(records),
        }
    }
}

/// Every record set of a zone (following pagination); `None` when the zone is gone.
pub async fn zone_records(aws: &Aws, zone: &str) -> Result<Option<Vec<Listed>>, ProviderError> {
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
        records.extend(page.resource_record_sets().iter().map(Listed::of));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn values(values: &[&str]) -> Held {
        Held::Values(values.iter().map(|v| v.to_string()).collect())
    }

    #[test]
    fn names_are_fully_qualified_once() {
        assert_eq!(fqdn("stream.example.com"), "stream.example.com.");
        assert_eq!(fqdn("stream.example.com."), "stream.example.com.");
        assert!(same_name("Stream.Example.com", "stream.example.com."));
        assert!(!same_name("ingest.example.com.", "example.com."));
    }

    #[test]
    fn values_compare_as_route53_spells_names() {
        assert!(values(&["lb-1.elb.amazonaws.com"]).same(&values(&["LB-1.elb.amazonaws.com."])));
        assert!(values(&["10.0.0.1", "10.0.0.2"]).same(&values(&["10.0.0.2", "10.0.0.1"])));
        assert!(!values(&["lb-1.elb.amazonaws.com"]).same(&values(&["old.example.net"])));
        let alias = |name: &str, zone: &str| Held::Alias {
            dns_name: name.into(),
            zone_id: zone.into(),
        };
        assert!(alias("lb-1.elb.amazonaws.com", "Z1")
            .same(&alias("dualstack.lb-1.elb.amazonaws.com.", "Z1")));
        assert!(!alias("lb-1.elb.amazonaws.com", "Z1").same(&alias("lb-1.elb.amazonaws.com", "Z2")));
        assert!(!alias("lb-1.elb.amazonaws.com", "Z1").same(&values(&["lb-1.elb.amazonaws.com"])));
    }

    #[test]
    fn what_a_record_holds_reads_plainly() {
        assert_eq!(
            values(&["old.example.net."]).to_string(),
            "old.example.net."
        );
        assert_eq!(
            values(&["10.0.0.1", "10.0.0.2"]).to_string(),
            "10.0.0.1, 10.0.0.2"
        );
        let alias = Held::Alias {
            dns_name: "lb-1.elb.amazonaws.com.".into(),
            zone_id: "Z1".into(),
        };
        assert_eq!(
            alias.to_string(),
            "alias lb-1.elb.amazonaws.com. (hosted zone Z1)"
        );
    }
}
