//! The certificate tier: an ACM certificate for the domain (and, with RTMPS, `ingest.DOMAIN`
//! where the certificate's name does not already cover it), validated through a DNS record per
//! name in the hosted zone, and the wait until it is issued.

use ams_aws::acm::{Certificate, CertificateValidation};
use ams_aws::route53::Record;
use ams_engine::{Program, ProgramError, Ref};

use crate::config::StackConfig;

/// The validation record of the certificate's other name (`ingest.DOMAIN`).
const ALTERNATIVE_RECORD: &str = "certificate-validation-record-ingest";

pub fn declare(
    p: &mut Program,
    config: &StackConfig,
    hosted_zone_id: &str,
) -> Result<Ref<CertificateValidation>, ProgramError> {
    let ingest = super::ingest_domain(&config.dns.domain);
    // RTMPS terminates TLS on the ingest load balancer with this certificate: it must name
    // ingest.DOMAIN too. Adding a name replaces the certificate (a new one is made and issued
    // before the listeners move to it; the old one is deleted after).
    let alternative_name =
        (config.ingest.rtmp && !covers(&config.dns.certificate_domain, &ingest)).then_some(ingest);
    let has_alternative = alternative_name.is_some();
    let certificate = p.add(
        "certificate",
        Certificate {
            domain: config.dns.certificate_domain.clone(),
            alternative_name,
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
    // ACM gives one record per name; `ingest.DOMAIN`'s is in the same hosted zone (the domain
    // is inside it) and under its own name, so it is a record of its own.
    let mut after = Vec::new();
    if has_alternative {
        p.add(
            ALTERNATIVE_RECORD,
            Record {
                zone_id: hosted_zone_id.to_string(),
                name: certificate.alternative_validation_record_name().into(),
                record_type: certificate.alternative_validation_record_type().into(),
                ttl: 300,
                value: certificate.alternative_validation_record_value().into(),
                upsert: true,
            },
        )?;
        after.push(ALTERNATIVE_RECORD);
    }
    p.add_after(
        "certificate-validation",
        CertificateValidation {
            certificate_arn: certificate.arn().into(),
            record_fqdn: validation_record.fqdn().into(),
        },
        &after,
    )
}

/// Whether a certificate for `name` (a host name, or a wildcard `*.PARENT`) covers `host`: the
/// same name, or one label directly under the wildcard's parent.
pub fn covers(name: &str, host: &str) -> bool {
    let (name, host) = (name.to_ascii_lowercase(), host.to_ascii_lowercase());
    if name == host {
        return true;
    }
    name.strip_prefix("*.").is_some_and(|parent| {
        host.strip_suffix(parent)
            .and_then(|label| label.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && !label.contains('.'))
    })
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn a_wildcard_covers_one_label_under_its_parent_only() {
        assert!(covers("stream.example.com", "STREAM.example.com"));
        assert!(covers("*.example.com", "ingest.example.com"));
        assert!(!covers("*.example.com", "ingest.stream.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("stream.example.com", "ingest.stream.example.com"));
    }
}
