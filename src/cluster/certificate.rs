//! The certificate tier: an ACM certificate for the domain, validated through a DNS record in
//! the hosted zone, and the wait until it is issued.

use ams_aws::acm::{Certificate, CertificateValidation};
use ams_aws::route53::Record;
use ams_engine::{Program, ProgramError, Ref};

use crate::config::StackConfig;

pub fn declare(
    p: &mut Program,
    config: &StackConfig,
    hosted_zone_id: &str,
) -> Result<Ref<CertificateValidation>, ProgramError> {
    let certificate = p.add(
        "certificate",
        Certificate {
            domain: config.dns.certificate_domain.clone(),
        },
    )?;
    let validation_record = p.add(
        "certificate-validation-record",
        Record {
            zone_id: hosted_zone_id.to_string(),
            name: certificate.validation_record_name().into(),
            record_type: certificate.validation_record_type().into(),
            ttl: 300,
            value: certificate.validation_record_value().into(),
            upsert: true,
        },
    )?;
    p.add(
        "certificate-validation",
        CertificateValidation {
            certificate_arn: certificate.arn().into(),
            record_fqdn: validation_record.fqdn().into(),
        },
    )
}
