//! Waits until a certificate is issued; depends on its validation record so that the record
//! exists first. Its output is the certificate ARN, for listeners that must not use the
//! certificate before it is issued. Deleting it deletes nothing.

use aws_sdk_acm::types::CertificateStatus;
use serde::{Deserialize, Serialize};

use ams_engine::{Input, Kind, Outputs, ProviderError};

use super::certificate::describe;
use crate::kind::{AwsKind, Ctx, Current, Res};
use crate::Aws;

#[derive(Serialize, Deserialize, Kind)]
#[kind(
    type_name = "aws:acm:CertificateValidation",
    outputs = CertificateValidationOutputs
)]
pub struct CertificateValidation {
    #[kind(replace)]
    pub certificate_arn: Input<String>,
    /// The FQDN of the validation record (which makes the record a dependency).
    pub record_fqdn: Input<String>,
}

#[derive(Serialize, Deserialize, Outputs)]
pub struct CertificateValidationOutputs {
    /// The certificate's ARN, once it is issued.
    pub certificate_arn: String,
}

impl AwsKind for CertificateValidation {
    async fn create(&self, _aws: &Aws, _ctx: &Ctx) -> Res<String> {
        Ok(self.certificate_arn.get()?.clone())
    }

    async fn find(&self, _aws: &Aws, _ctx: &Ctx) -> Res<Option<String>> {
        // Nothing to find: creating it again only waits again.
        Ok(None)
    }

    async fn finish(&self, aws: &Aws, ctx: &Ctx, arn: &str) -> Res<Self::Outputs> {
        aws.wait_for(
            ctx,
            "the certificate to be issued (DNS validation)",
            || async {
                match describe(aws, arn).await?.0 {
                    Some(CertificateStatus::Issued) => Ok(Some(())),
                    Some(
                        status @ (CertificateStatus::Failed
                        | CertificateStatus::ValidationTimedOut
                        | CertificateStatus::Revoked),
                    ) => Err(ProviderError {
                        code: Some(format!("Certificate{}", status.as_str())),
                        message: format!(
                        "certificate {arn} is {}: check the validation record in the hosted zone",
                        status.as_str()
                    ),
                    }),
                    _ => Ok(None),
                }
            },
        )
        .await?;
        Ok(CertificateValidationOutputs {
            certificate_arn: arn.to_string(),
        })
    }

    async fn delete(_aws: &Aws, _ctx: &Ctx, _current: &Current<Self>) -> Res<()> {
        Ok(())
    }
}
