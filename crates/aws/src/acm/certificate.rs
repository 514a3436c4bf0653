//! A certificate requested with DNS validation; its outputs are the validation record.

use aws_sdk_acm::types::{CertificateStatus, Tag, ValidationMethod};
use serde::{Deserialize, Serialize};

use ams_engine::{Kind, Outputs, ProviderError};

use crate::call::{required, OrError};
use crate::kind::{existing, AwsKind, Codes, Ctx, Current, Res};
use crate::names::{is_ours, tags};
use crate::Aws;

#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "aws:acm:Certificate", outputs = CertificateOutputs, immutable)]
pub struct Certificate {
    pub domain: String,
}

#[derive(Serialize, Deserialize, Outputs)]
pub struct CertificateOutputs {
    pub arn: String,
    /// The DNS record that proves the domain is ours (name, type, value).
    pub validation_record_name: String,
    pub validation_record_type: String,
    pub validation_record_value: String,
}

/// Requests a DNS-validated certificate, tagged; the same token returns the same certificate.
async fn request(aws: &Aws, ctx: &Ctx, domain: &str, token: Option<&str>) -> Res<String> {
    let acm_tags = tags(ctx)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ProviderError::new(format!("acm tags: {e}")))?;
    let out = aws
        .acm
        .request_certificate()
        .domain_name(domain)
        .validation_method(ValidationMethod::Dns)
        .set_idempotency_token(token.map(String::from))
        .set_tags(Some(acm_tags))
        .send()
        .await
        .or_error()?;
    required(out.certificate_arn(), "the certificate's ARN")
}

/// Status and the DNS validation record (name, type, value) once ACM has made it.
pub(super) async fn describe(
    aws: &Aws,
    arn: &str,
) -> Result<(Option<CertificateStatus>, Option<(String, String, String)>), ProviderError> {
    let out = aws
        .acm
        .describe_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .or_error()?;
    let certificate = out.certificate();
    let record = certificate
        .and_then(|c| c.domain_validation_options().first())
        .and_then(|o| o.resource_record())
        .map(|r| {
            (
                r.name().to_string(),
                r.r#type().as_str().to_string(),
                r.value().to_string(),
            )
        });
    Ok((certificate.and_then(|c| c.status()).cloned(), record))
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
        request(aws, ctx, &self.domain, ctx.token.as_deref()).await
    }

    async fn find(&self, aws: &Aws, ctx: &Ctx) -> Res<Option<String>> {
        for arn in list(aws, Some(&self.domain)).await? {
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
            (Some(token), false) => Ok(Some(request(aws, ctx, &self.domain, Some(token)).await?)),
            _ => Ok(None),
        }
    }

    async fn finish(&self, aws: &Aws, ctx: &Ctx, arn: &str) -> Res<Self::Outputs> {
        // Real ACM adds the validation record a few seconds after the request.
        let (name, kind, value) = aws
            .wait_for(ctx, "ACM to publish the DNS validation record", || async {
                Ok(describe(aws, arn).await?.1)
            })
            .await?;
        Ok(CertificateOutputs {
            arn: arn.to_string(),
            validation_record_name: name,
            validation_record_type: kind,
            validation_record_value: value,
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
