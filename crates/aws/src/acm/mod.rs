//! ACM: the TLS certificate, DNS-validated, and the wait for it to be issued.

mod certificate;
mod certificate_validation;

pub use certificate::{Certificate, CertificateOutputs};
pub use certificate_validation::{CertificateValidation, CertificateValidationOutputs};
