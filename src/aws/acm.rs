//! ACM: the TLS certificate, DNS-validated, and the wait for it to be issued.

use aws_sdk_acm::types::{CertificateStatus, Tag, ValidationMethod};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{aws_error, gone, missing, tags, Aws, AwsKind};
use crate::engine::{Created, Input, Kind, Output, ProviderError, Ref, StepContext};
use crate::state::ResourceState;

/// Requests a DNS-validated certificate, tagged; the same token returns the same certificate.
async fn request(
    aws: &Aws,
    ctx: &StepContext,
    domain: &str,
    token: Option<&str>,
) -> Result<String, ProviderError> {
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
        .map_err(|e| aws_error("acm:RequestCertificate", e))?;
    out.certificate_arn()
        .map(String::from)
        .ok_or_else(|| missing("acm:RequestCertificate", "CertificateArn"))
}

/// A certificate's ARN and its DNS validation record, once ACM has published it.
async fn certificate_outputs(
    aws: &Aws,
    ctx: &StepContext,
    arn: &str,
) -> Result<Created, ProviderError> {
    // Real ACM adds the validation record a few seconds after the request.
    let (name, kind, value) = aws
        .wait_for(ctx, "ACM to publish the DNS validation record", || async {
            Ok(describe(aws, arn).await?.1)
        })
        .await?;
    Ok(Created {
        id: arn.to_string(),
        outputs: json!({
            "arn": arn,
            "validation_record_name": name,
            "validation_record_type": kind,
            "validation_record_value": value,
        }),
    })
}

/// A certificate requested with DNS validation; its outputs are the validation record.
pub struct Certificate;

#[derive(Serialize, Deserialize)]
pub struct CertificateArgs {
    pub domain: String,
}

impl Kind for Certificate {
    const TYPE: &'static str = "aws:acm:Certificate";
    type Args = CertificateArgs;
    const REPLACE_ON: &'static [&'static str] = &["domain"];
}

impl Ref<Certificate> {
    pub fn arn(&self) -> Output<String> {
        self.output("arn")
    }
    pub fn validation_record_name(&self) -> Output<String> {
        self.output("validation_record_name")
    }
    pub fn validation_record_type(&self) -> Output<String> {
        self.output("validation_record_type")
    }
    pub fn validation_record_value(&self) -> Output<String> {
        self.output("validation_record_value")
    }
}

/// Status and the DNS validation record (name, type, value) once ACM has made it.
async fn describe(
    aws: &Aws,
    arn: &str,
) -> Result<(Option<CertificateStatus>, Option<(String, String, String)>), ProviderError> {
    let out = aws
        .acm
        .describe_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .map_err(|e| aws_error("acm:DescribeCertificate", e))?;
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

#[async_trait::async_trait]
impl AwsKind for Certificate {
    async fn read(
        aws: &Aws,
        resources: &[ResourceState],
    ) -> Result<Vec<Option<serde_json::Value>>, ProviderError> {
        let mut live = std::collections::BTreeSet::new();
        let mut pages = aws.acm.list_certificates().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("acm:ListCertificates", e))?;
            live.extend(
                page.certificate_summary_list()
                    .iter()
                    .filter_map(|c| c.certificate_arn().map(String::from)),
            );
        }
        Ok(super::existing(resources, &live))
    }

    async fn find(
        aws: &Aws,
        ctx: &StepContext,
        args: &CertificateArgs,
    ) -> Result<Option<Created>, ProviderError> {
        let mut pages = aws.acm.list_certificates().into_paginator().send();
        let mut candidates = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("acm:ListCertificates", e))?;
            candidates.extend(
                page.certificate_summary_list()
                    .iter()
                    .filter(|c| c.domain_name() == Some(args.domain.as_str()))
                    .filter_map(|c| c.certificate_arn().map(String::from)),
            );
        }
        for arn in candidates {
            let tags = aws
                .acm
                .list_tags_for_certificate()
                .certificate_arn(&arn)
                .send()
                .await
                .map_err(|e| aws_error("acm:ListTagsForCertificate", e))?;
            let has = |key: &str, value: &str| {
                tags.tags()
                    .iter()
                    .any(|t| t.key() == key && t.value() == Some(value))
            };
            if has(super::TAG_STACK, &ctx.stack) && has(super::TAG_NAME, &ctx.name) {
                return Ok(Some(certificate_outputs(aws, ctx, &arn).await?));
            }
        }
        // A request still in flight when the run died is invisible to the listing; the token
        // makes repeating it return that same certificate rather than a second one.
        match (&ctx.token, ctx.read_only) {
            (Some(token), false) => {
                let arn = request(aws, ctx, &args.domain, Some(token)).await?;
                Ok(Some(certificate_outputs(aws, ctx, &arn).await?))
            }
            _ => Ok(None),
        }
    }

    async fn create(
        aws: &Aws,
        ctx: &StepContext,
        args: &CertificateArgs,
    ) -> Result<Created, ProviderError> {
        let arn = request(aws, ctx, &args.domain, ctx.token.as_deref()).await?;
        certificate_outputs(aws, ctx, &arn).await
    }

    async fn delete(
        aws: &Aws,
        _ctx: &StepContext,
        current: &ResourceState,
    ) -> Result<(), ProviderError> {
        gone(
            aws.acm
                .delete_certificate()
                .certificate_arn(&current.id)
                .send()
                .await,
            "acm:DeleteCertificate",
            &["ResourceNotFoundException"],
        )
    }
}

/// Waits until a certificate is issued; depends on its validation record so that the record
/// exists first. Its output is the certificate ARN, for listeners that must not use the
/// certificate before it is issued. Deleting it deletes nothing.
pub struct CertificateValidation;

#[derive(Serialize, Deserialize)]
pub struct CertificateValidationArgs {
    pub certificate_arn: Input<String>,
    /// The FQDN of the validation record (which makes the record a dependency).
    pub record_fqdn: Input<String>,
}

impl Kind for CertificateValidation {
    const TYPE: &'static str = "aws:acm:CertificateValidation";
    type Args = CertificateValidationArgs;
    const REPLACE_ON: &'static [&'static str] = &["certificate_arn"];
}

impl Ref<CertificateValidation> {
    pub fn certificate_arn(&self) -> Output<String> {
        self.output("certificate_arn")
    }
}

#[async_trait::async_trait]
impl AwsKind for CertificateValidation {
    async fn find(
        _aws: &Aws,
        _ctx: &StepContext,
        _args: &CertificateValidationArgs,
    ) -> Result<Option<Created>, ProviderError> {
        // Nothing to find: creating it again only waits again.
        Ok(None)
    }

    async fn create(
        aws: &Aws,
        ctx: &StepContext,
        args: &CertificateValidationArgs,
    ) -> Result<Created, ProviderError> {
        let arn = args.certificate_arn.get()?;
        aws.wait_for(ctx, "the certificate to be issued (DNS validation)", || async {
            match describe(aws, arn).await?.0 {
                Some(CertificateStatus::Issued) => Ok(Some(())),
                Some(status @ (CertificateStatus::Failed | CertificateStatus::ValidationTimedOut | CertificateStatus::Revoked)) => {
                    Err(ProviderError {
                        code: Some(format!("Certificate{}", status.as_str())),
                        message: format!("certificate {arn} is {}: check the validation record in the hosted zone", status.as_str()),
                    })
                }
                _ => Ok(None),
            }
        })
        .await?;
        Ok(Created {
            id: arn.clone(),
            outputs: json!({ "certificate_arn": arn }),
        })
    }

    async fn delete(
        _aws: &Aws,
        _ctx: &StepContext,
        _current: &ResourceState,
    ) -> Result<(), ProviderError> {
        Ok(())
    }
}
