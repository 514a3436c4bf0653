//! A certificate requested with DNS validation, for a domain and at most one other name (a
//! subject alternative name); its outputs are the validation record of each name (ACM gives one
//! per name: a wildcard and the name under it share theirs).

use aws_sdk_acm::types::{CertificateStatus, Tag, ValidationMethod};
use serde::{Deserialize, Serialize};

use ams_engine::{Kind, Outputs, ProviderError};

use crate::call::{required, OrError};
use crate::kind::{existing, AwsKind, Codes, Ctx, Current, Res};
use crate::names::{is_ours, tags};
use crate::Aws;

#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:acm:Certificate", outputs = CertificateOutputs, immutable)]
pub struct Certificate {
    pub domain: String,
    /// Another name the certificate covers (`ingest.DOMAIN` for RTMPS); left out of the stored
    /// arguments when there is none, so a certificate stored before it existed reads unchanged.
    pub alternative_name: Option<String>,
}

#[derive(Serialize, Deserialize, Outputs)]
pub struct CertificateOutputs {
    pub arn: String,
    /// The DNS record that proves the domain is ours (name, type, value).
    pub validation_record_name: String,
    pub validation_record_type: String,
    pub validation_record_value: String,
    /// The record that proves the alternative name is ours; empty without one (and in outputs
    /// stored before it existed).
    #[serde(default)]
    pub alternative_validation_record_name: String,
    #[serde(default)]
    pub alternative_validation_record_type: String,
    #[serde(default)]
    pub alternative_validation_record_value: String,
}

/// A DNS validation record: name, type, value.
type ValidationRecord = (String, String, String);

/// Requests a DNS-validated certificate, tagged; the same token returns the same certificate.
async fn request(aws: &Aws, ctx: &Ctx, args: &Certificate, token: Option<&str>) -> Res<String> {
    let acm_tags = tags(ctx)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ProviderError::new(format!("acm tags: {e}")))?;
    let out = aws
        .acm
        .request_certificate()
        .domain_name(&args.domain)
        .set_subject_alternative_names(alternative_names(args))
        .validation_method(ValidationMethod::Dns)
        .set_idempotency_token(token.map(String::from))
        .set_tags(Some(acm_tags))
        .send()
        .await
        .or_error()?;
    required(out.certificate_arn(), "the certificate's ARN")
}

/// What `RequestCertificate` takes as subject alternative names: none without another name
/// (ACM then covers the domain alone), else the domain and the other name (ACM wants the domain
/// among them).
fn alternative_names(args: &Certificate) -> Option<Vec<String>> {
    let other = args.alternative_name.as_ref()?;
    Some(vec![args.domain.clone(), other.clone()])
}

/// Status and the DNS validation record of each name (by the name, in ACM's order) as far as
/// ACM has made them.
pub(super) async fn describe(
    aws: &Aws,
    arn: &str,
) -> Result<(Option<CertificateStatus>, Vec<(String, ValidationRecord)>), ProviderError> {
    let out = aws
        .acm
        .describe_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .or_error()?;
    let certificate = out.certificate();
    let records = certificate
        .map(|c| c.domain_validation_options())
        .unwrap_or_default()
        .iter()
        .filter_map(|option| {
            let record = option.resource_record()?;
            Some((
                option.domain_name().to_ascii_lowercase(),
                (
                    record.name().to_string(),
                    record.r#type().as_str().to_string(),
                    record.value().to_string(),
                ),
            ))
        })
        .collect();
    Ok((certificate.and_then(|c| c.status()).cloned(), records))
}

/// The validation record of each name the certificate asks for (the domain's first), once ACM
/// has published all of them.
fn records_of(
    args: &Certificate,
    published: &[(String, ValidationRecord)],
) -> Option<Vec<ValidationRecord>> {
    std::iter::once(&args.domain)
        .chain(args.alternative_name.as_ref())
        .map(|name| {
            let name = name.to_ascii_lowercase();
            published
                .iter()
                .find(|(domain, _)| *domain == name)
                .map(|(_, record)| record.clone())
        })
        .collect()
}

/// The ARNs of every certificate of the account and region whose domain is `domain` (all of
/// them when `None`).
async fn list(aws: &Aws, domain: Option<&str>) -> Result<Vec<String>, ProviderError> {
    let all = aws
        .acm
        .list_certificates()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .or_error()?;
    Ok(all
        .iter()
        .filter(|c| domain.is_none_or(|d| c.domain_name() == Some(d)))
        .filter_map(|c| c.certificate_arn().map(String::from))
        .collect())
}

impl AwsKind for Certificate {
    const NOT_FOUND: Codes = &["ResourceNotFoundException"];

    async fn create(&self, aws: &Aws, ctx: &Ctx) -> Res<String> {
        request(aws, ctx, self, ctx.token.as_deref()).await
    }

    async fn find(&self, aws: &Aws, ctx: &Ctx) -> Res<Option<String>> {
        for arn in list(aws, Some(&self.domain)).await? {
            // The certificate this one replaces has the same domain and the same tags.
            if ctx.is_replaced(&arn) {
                continue;
            }
            let tags = aws
                .acm
                .list_tags_for_certificate()
                .certificate_arn(&arn)
                .send()
                .await
                .or_error()?;
            let pairs = tags
                .tags()
                .iter()
                .map(|t| (t.key(), t.value().unwrap_or_default()));
            if is_ours(ctx, pairs) {
                return Ok(Some(arn));
            }
        }
        // A request still in flight when the run died is invisible to the listing; the token
        // makes repeating it return that same certificate rather than a second one.
        match (&ctx.token, ctx.read_only) {
            (Some(token), false) => Ok(Some(request(aws, ctx, self, Some(token)).await?)),
            _ => Ok(None),
        }
    }

    async fn finish(&self, aws: &Aws, ctx: &Ctx, arn: &str) -> Res<Self::Outputs> {
        // Real ACM adds the validation records a few seconds after the request.
        let records = aws
            .wait_for(ctx, "ACM to publish the DNS validation records", || async {
                Ok(records_of(self, &describe(aws, arn).await?.1))
            })
            .await?;
        let mut records = records.into_iter();
        let (name, kind, value) = records.next().ok_or_else(|| {
            ProviderError::new(format!(
                "ACM gave certificate {arn} no validation record for its domain"
            ))
        })?;
        let (other_name, other_kind, other_value) = records.next().unwrap_or_default();
        Ok(CertificateOutputs {
            arn: arn.to_string(),
            validation_record_name: name,
            validation_record_type: kind,
            validation_record_value: value,
            alternative_validation_record_name: other_name,
            alternative_validation_record_type: other_kind,
            alternative_validation_record_value: other_value,
        })
    }

    async fn delete(aws: &Aws, _ctx: &Ctx, current: &Current<Self>) -> Res<()> {
        aws.acm
            .delete_certificate()
            .certificate_arn(&current.id)
            .send()
            .await
            .done_or_gone::<Self>()
    }

    async fn read(aws: &Aws, resources: Vec<Current<Self>>) -> Res<Vec<Option<Self>>> {
        Ok(existing(resources, list(aws, None).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(name: &str) -> (String, ValidationRecord) {
        let made = (
            format!("_x.{name}."),
            "CNAME".into(),
            "_y.acm-validations.aws.".into(),
        );
        (name.to_string(), made)
    }

    #[test]
    fn a_certificate_stored_before_alternative_names_reads_unchanged() {
        let stored = json!({"domain": "stream.example.com"});
        let parsed: Certificate = serde_json::from_value(stored.clone()).expect("parses");
        assert_eq!(parsed.alternative_name, None);
        assert_eq!(alternative_names(&parsed), None);
        assert_eq!(serde_json::to_value(&parsed).expect("serializes"), stored);
    }

    #[test]
    fn another_name_is_asked_beside_the_domain_and_waits_for_its_own_record() {
        let args = Certificate {
            domain: "stream.example.com".into(),
            alternative_name: Some("ingest.stream.example.com".into()),
        };
        assert_eq!(
            alternative_names(&args),
            Some(vec![
                "stream.example.com".to_string(),
                "ingest.stream.example.com".to_string()
            ])
        );
        // ACM publishes the records one by one: the outputs wait for both.
        assert_eq!(records_of(&args, &[record("stream.example.com")]), None);
        let both = [
            record("ingest.stream.example.com"),
            record("stream.example.com"),
        ];
        let found = records_of(&args, &both).expect("both published");
        assert_eq!(found[0].0, "_x.stream.example.com.");
        assert_eq!(found[1].0, "_x.ingest.stream.example.com.");
    }
}
