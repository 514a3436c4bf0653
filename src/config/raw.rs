//! The stack file as written: serde structs that refuse unknown keys and keep positions.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// Sections of the stack file: each refuses a key it does not know (a misspelt setting is an
/// error naming its line, never silently ignored). A section that starts with `machine,` also
/// takes the keys of the machine its tier runs on (`nodes::Instance`), declared here once.
///
/// A macro because serde cannot flatten a struct into one that refuses unknown keys
/// (`deny_unknown_fields` and `flatten` do not mix): the machine's keys are pasted into each
/// tier's section instead, so each section still names a misspelt key with its line.
macro_rules! sections {
    () => {};
    (struct $name:ident { machine, $($fields:tt)* } $($rest:tt)*) => {
        sections! {
            struct $name {
                pub instance_type: String,
                pub ami: Option<String>,
                pub key_name: Option<String>,
                pub root_volume_gib: Option<Spanned<i32>>,
                $($fields)*
            }
            $($rest)*
        }
    };
    (struct $name:ident { $($fields:tt)* } $($rest:tt)*) => {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(super) struct $name { $($fields)* }
        sections! { $($rest)* }
    };
}

sections! {
    struct RawStack {
        pub region: Spanned<String>,
        pub endpoint: Option<Spanned<String>>,
        pub network: RawNetwork,
        pub dns: RawDns,
        pub mongodb: RawMongodb,
        pub origin: RawNodes,
        pub edge: RawNodes,
        pub state: Option<RawState>,
        pub security: Option<RawSecurity>,
        pub ingest: Option<RawIngest>,
        pub recording: Option<RawRecording>,
        pub turn: Option<RawTurn>,
        pub load_balancer: Option<RawLoadBalancer>,
        pub server: Option<RawServer>,
        pub app: Option<BTreeMap<Spanned<String>, RawApp>>,
        pub license: Option<RawLicense>,
    }

    struct RawServer {
        pub properties: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
        pub plugins: Option<Vec<Spanned<RawPlugin>>>,
    }

    struct RawPlugin {
        pub url: Spanned<String>,
        pub sha256: Spanned<String>,
    }

    struct RawApp {
        pub settings: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
    }

    struct RawLicense {
        pub key_parameter: Spanned<String>,
    }

    struct RawLoadBalancer {
        pub plain_http: Option<Spanned<String>>,
        pub tls_policy: Option<Spanned<String>>,
        pub deletion_protection: Option<Spanned<bool>>,
        pub access_log_days: Option<Spanned<i32>>,
    }

    struct RawRecording {
        pub s3: Option<bool>,
        pub expire_days: Option<Spanned<i32>>,
        pub storage_class: Option<Spanned<String>>,
    }

    struct RawTurn {
        pub enabled: Option<Spanned<bool>>,
        pub size: Option<Spanned<i32>>,
        pub instance_type: Option<Spanned<String>>,
        pub key_name: Option<Spanned<String>>,
        pub root_volume_gib: Option<Spanned<i32>>,
    }

    struct RawIngest {
        pub rtmp: Option<bool>,
        pub rtmp_plain: Option<Spanned<bool>>,
        pub srt: Option<bool>,
    }

    struct RawState {
        pub backend: Option<Spanned<String>>,
        pub bucket: Option<Spanned<String>>,
        pub prefix: Option<String>,
        pub region: Option<String>,
        /// How many history entries to keep (all, when absent).
        pub history_keep: Option<Spanned<i32>>,
    }

    struct RawSecurity {
        #[serde(default)]
        pub accept: Vec<Spanned<String>>,
        pub imds_hop_limit: Option<Spanned<i32>>,
        pub ssh: Option<bool>,
        pub session_manager: Option<bool>,
    }

    struct RawNetwork {
        pub vpc_cidr: Option<Spanned<String>>,
        pub availability_zones: Spanned<Vec<String>>,
        pub admin_cidr: Spanned<String>,
        pub vpc_id: Option<Spanned<String>>,
        pub subnet_ids: Option<Spanned<Vec<String>>>,
        pub private_database: Option<Spanned<bool>>,
    }

    struct RawDns {
        pub domain: Spanned<String>,
        pub hosted_zone: Spanned<String>,
        pub certificate_domain: Option<Spanned<String>>,
    }

    struct RawMongodb {
        machine,
        pub data_volume_gib: Option<Spanned<i32>>,
        pub data_volume_iops: Option<Spanned<i32>>,
        pub data_volume_throughput: Option<Spanned<i32>>,
        pub backup_keep: Option<Spanned<i32>>,
        pub adopted: Option<Spanned<bool>>,
        pub auth: Option<Spanned<bool>>,
    }

    struct RawNodes {
        machine,
        pub min_size: Spanned<u32>,
        pub max_size: Spanned<u32>,
        pub cpu_target: Option<Spanned<f64>>,
        pub max_batch: Option<Spanned<u32>>,
        pub health_timeout: Option<Spanned<String>>,
        pub drain_timeout: Option<Spanned<String>>,
    }
}
