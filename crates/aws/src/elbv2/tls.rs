//! The TLS security policies an HTTPS listener of an Application Load Balancer may name, with
//! what each one is: the oldest TLS version it accepts, whether it offers hybrid post-quantum
//! key exchange (ML-KEM with ECDHE: `PQ` in the name) and whether it uses FIPS-validated
//! cryptography only (`FIPS`).
//!
//! Source: AWS, Elastic Load Balancing, Application Load Balancers, "Security policies for your
//! Application Load Balancer" (`aws elbv2 describe-ssl-policies`), as of the 2025-09
//! post-quantum policies: the TLS 1.3 (2021-06), FIPS (2023-04), RFC 9151 (CNSA 1.0, 2023-07),
//! post-quantum and FIPS post-quantum (2025-09), forward secrecy and older TLS policies.
//! `ELBSecurityPolicy-2015-05` (in the Network Load Balancer's table only) and
//! `ELBSecurityPolicy-TLS-1-0-2015-04` (in neither) are not ALB policies: a stack file naming
//! one is refused with the policy to use instead (`src/config/load_balancer.rs`).

/// The default: hybrid post-quantum key exchange (X25519MLKEM768, SecP256r1MLKEM768,
/// SecP384r1MLKEM1024, and classical ECDHE for clients without ML-KEM), FIPS-validated
/// cryptography, TLS 1.3 and 1.2 with AES-GCM. AWS recommends it (with `Res-PQ`) for
/// backward compatibility: browsers and OBS (WHIP over HTTPS) negotiate TLS 1.3 or 1.2 with
/// ECDHE and AES-GCM.
pub const DEFAULT_TLS_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09";

/// What a policy is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsPolicy {
    pub name: &'static str,
    /// The oldest TLS version it accepts: `"1.0"` to `"1.3"`.
    pub min_tls: &'static str,
}

impl TlsPolicy {
    /// Hybrid post-quantum key exchange.
    pub fn post_quantum(&self) -> bool {
        self.name.split('-').any(|part| part == "PQ")
    }

    /// FIPS-validated cryptography only.
    pub fn fips(&self) -> bool {
        self.name.split('-').any(|part| part == "FIPS")
    }

    /// What it lacks of the default's protections, in words; empty when nothing.
    pub fn weaknesses(&self) -> Vec<&'static str> {
        let mut weak = Vec::new();
        if self.min_tls < "1.2" {
            weak.push("accepts TLS older than 1.2");
        }
        if !self.post_quantum() {
            weak.push("no post-quantum key exchange");
        }
        if !self.fips() {
            weak.push("not FIPS");
        }
        weak
    }
}

const fn policy(name: &'static str, min_tls: &'static str) -> TlsPolicy {
    TlsPolicy { name, min_tls }
}

/// Every predefined ALB security policy.
pub const TLS_POLICIES: [TlsPolicy; 44] = [
    policy("ELBSecurityPolicy-TLS13-1-3-FIPS-PQ-2025-09", "1.3"),
    policy("ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09", "1.2"),
    policy("ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09", "1.2"),
    policy("ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-PQ-2025-09", "1.2"),
    policy("ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-PQ-2025-09", "1.2"),
    policy("ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-PQ-2025-09", "1.2"),
    policy("ELBSecurityPolicy-TLS13-1-0-FIPS-PQ-2025-09", "1.0"),
    policy("ELBSecurityPolicy-TLS13-1-3-PQ-2025-09", "1.3"),
    policy("ELBSecurityPolicy-TLS13-1-2-PQ-2025-09", "1.2"),
    policy("ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09", "1.2"),
    policy("ELBSecurityPolicy-TLS13-1-2-Ext1-PQ-2025-09", "1.2"),
    policy("ELBSecurityPolicy-TLS13-1-2-Ext2-PQ-2025-09", "1.2"),
    policy("ELBSecurityPolicy-TLS13-1-0-PQ-2025-09", "1.0"),
    policy("ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04", "1.3"),
    policy("ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04", "1.2"),
    policy("ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04", "1.2"),
    policy("ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-2023-04", "1.2"),
    policy("ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-2023-04", "1.2"),
    policy("ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-2023-04", "1.2"),
    policy("ELBSecurityPolicy-TLS13-1-1-FIPS-2023-04", "1.1"),
    policy("ELBSecurityPolicy-TLS13-1-0-FIPS-2023-04", "1.0"),
    policy("ELBSecurityPolicy-TLS13-1-3-RFC9151-FIPS-2023-07", "1.3"),
    policy("ELBSecurityPolicy-TLS13-1-2-RFC9151-FIPS-2023-07", "1.2"),
    policy(
        "ELBSecurityPolicy-TLS13-1-2-Ext0-RFC9151-FIPS-2023-07",
        "1.2",
    ),
    policy(
        "ELBSecurityPolicy-TLS13-1-2-RFC9151-INTEROP1-FIPS-2023-07",
        "1.2",
    ),
    policy(
        "ELBSecurityPolicy-TLS13-1-2-RFC9151-INTEROP2-FIPS-2023-07",
        "1.2",
    ),
    policy(
        "ELBSecurityPolicy-TLS13-1-2-RFC9151-INTEROP3-FIPS-2023-07",
        "1.2",
    ),
    policy(
        "ELBSecurityPolicy-TLS13-1-2-RFC9151-INTEROP4-FIPS-2023-07",
        "1.2",
    ),
    policy("ELBSecurityPolicy-TLS13-1-3-2021-06", "1.3"),
    policy("ELBSecurityPolicy-TLS13-1-2-2021-06", "1.2"),
    policy("ELBSecurityPolicy-TLS13-1-2-Res-2021-06", "1.2"),
    policy("ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06", "1.2"),
    policy("ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06", "1.2"),
    policy("ELBSecurityPolicy-TLS13-1-1-2021-06", "1.1"),
    policy("ELBSecurityPolicy-TLS13-1-0-2021-06", "1.0"),
    policy("ELBSecurityPolicy-FS-1-2-Res-2020-10", "1.2"),
    policy("ELBSecurityPolicy-FS-1-2-Res-2019-08", "1.2"),
    policy("ELBSecurityPolicy-FS-1-2-2019-08", "1.2"),
    policy("ELBSecurityPolicy-FS-1-1-2019-08", "1.1"),
    policy("ELBSecurityPolicy-FS-2018-06", "1.0"),
    policy("ELBSecurityPolicy-TLS-1-2-Ext-2018-06", "1.2"),
    policy("ELBSecurityPolicy-TLS-1-2-2017-01", "1.2"),
    policy("ELBSecurityPolicy-TLS-1-1-2017-01", "1.1"),
    policy("ELBSecurityPolicy-2016-08", "1.0"),
];

/// The policy named `name`, if ELB has one by that name.
pub fn tls_policy(name: &str) -> Option<TlsPolicy> {
    TLS_POLICIES.iter().find(|p| p.name == name).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_post_quantum_fips_and_tls_1_2_or_newer() {
        let default = tls_policy(DEFAULT_TLS_POLICY).expect("listed");
        assert!(default.post_quantum() && default.fips());
        assert!(default.weaknesses().is_empty());
    }

    #[test]
    fn weaker_policies_say_what_they_lack() {
        let pq = tls_policy("ELBSecurityPolicy-TLS13-1-2-PQ-2025-09").expect("listed");
        assert_eq!(pq.weaknesses(), ["not FIPS"]);
        let old = tls_policy("ELBSecurityPolicy-2016-08").expect("listed");
        assert_eq!(
            old.weaknesses(),
            [
                "accepts TLS older than 1.2",
                "no post-quantum key exchange",
                "not FIPS"
            ]
        );
        assert!(tls_policy("ELBSecurityPolicy-Made-Up").is_none());
    }

    #[test]
    fn the_fips_post_quantum_policies_are_listed_down_to_tls_1_0() {
        let fips_pq: Vec<_> = TLS_POLICIES
            .iter()
            .filter(|p| p.fips() && p.post_quantum())
            .map(|p| (p.name, p.min_tls))
            .collect();
        assert_eq!(
            fips_pq,
            [
                ("ELBSecurityPolicy-TLS13-1-3-FIPS-PQ-2025-09", "1.3"),
                ("ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09", "1.2"),
                ("ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09", "1.2"),
                ("ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-PQ-2025-09", "1.2"),
                ("ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-PQ-2025-09", "1.2"),
                ("ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-PQ-2025-09", "1.2"),
                ("ELBSecurityPolicy-TLS13-1-0-FIPS-PQ-2025-09", "1.0"),
            ]
        );
        let oldest = tls_policy("ELBSecurityPolicy-TLS13-1-0-FIPS-PQ-2025-09").expect("listed");
        assert_eq!(oldest.weaknesses(), ["accepts TLS older than 1.2"]);
        let cnsa = tls_policy("ELBSecurityPolicy-TLS13-1-2-RFC9151-FIPS-2023-07").expect("listed");
        assert_eq!(cnsa.weaknesses(), ["no post-quantum key exchange"]);
    }

    #[test]
    fn every_name_is_listed_once() {
        let mut names: Vec<_> = TLS_POLICIES.iter().map(|p| p.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), TLS_POLICIES.len());
    }
}
