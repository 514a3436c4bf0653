//! Stack files: `stacks/NAME.toml`, parsed into raw structs, then validated into [`StackConfig`].
//!
//! Every error names the file, the line and column, and the key; nothing here talks to AWS.

mod ams_names;
mod load_balancer;
mod located;
mod mongodb;
mod network;
mod node_settings;
mod nodes;
mod raw;
mod turn;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use toml::Spanned;

use raw::{RawDns, RawIngest, RawSecurity, RawStack, RawState};

/// A validated stack.
#[derive(Clone, Debug)]
pub struct StackConfig {
    pub name: String,
    pub path: PathBuf,
    pub region: String,
    /// An AWS emulator's address; all services are sent there.
    pub endpoint: Option<String>,
    pub network: Network,
    pub dns: Dns,
    pub mongodb: Mongodb,
    pub origin: NodeGroup,
    pub edge: NodeGroup,
    pub state: StateConfig,
    /// `[state] history_keep`: how many history entries are kept; all when `None`.
    pub history_keep: Option<u32>,
    pub security: Security,
    pub ingest: Ingest,
    /// `[recording]`: AMS's recordings in a bucket of the stack's (None: not in S3).
    pub recording: Option<Recording>,
    /// `[turn]`: a coturn relay of the stack's (None: no TURN).
    pub turn: Option<Turn>,
    pub load_balancer: LoadBalancerConfig,
    /// What every AMS node is set to: `[server]`, `[app.NAME]`, `[license]`.
    pub node_settings: NodeSettings,
    /// Where each key was written, for messages that point at the stack file.
    pub lines: BTreeMap<String, Location>,
}

/// Where the stack's state is kept.
#[derive(Clone, Debug, PartialEq)]
pub enum StateConfig {
    /// `state/STACK.json` beside the stack files.
    Local,
    /// `s3://bucket/prefix/STACK.json`, shared by a team.
    S3 {
        bucket: String,
        prefix: String,
        region: String,
    },
}

/// AMS's recordings in a bucket of the stack's, written by the nodes through their role.
#[derive(Clone, Debug, PartialEq)]
pub struct Recording {
    /// Recordings expire this many days after they are written (0: never).
    pub expire_days: i32,
    /// The S3 storage class AMS writes them in (`STANDARD` by default).
    pub storage_class: String,
}

/// Storage classes a recording may be written in: read back at once (AMS reads its recordings
/// for VoD and converts HLS to MP4), so not the archive ones, which need a restore first.
pub const STORAGE_CLASSES: [&str; 5] = [
    "STANDARD",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER_IR",
];

/// Ingest for encoders that speak neither WebRTC nor HTTP (OBS, hardware encoders), through a
/// Network Load Balancer in front of the origin group.
#[derive(Clone, Debug, PartialEq)]
pub struct Ingest {
    /// RTMP publishing (default on): RTMPS, TLS on 443 with the stack's certificate, always.
    pub rtmp: bool,
    /// Plain RTMP on TCP 1935 beside RTMPS, only where the stack file asks (`rtmp_plain =
    /// true`: stream keys and media in clear, finding AMS.4 accepted by that line). Only with
    /// `rtmp`.
    pub rtmp_plain: bool,
    /// SRT on UDP 4200 (default off).
    pub srt: bool,
}

impl Ingest {
    pub fn any(&self) -> bool {
        self.rtmp || self.srt
    }
}

#[derive(Clone, Debug)]
pub struct Security {
    /// Security Hub control ids whose high-severity findings `up` accepts.
    pub accept: Vec<String>,
    /// Instance metadata (IMDSv2) response hop limit.
    pub imds_hop_limit: i32,
    /// SSH: port 22 from `admin_cidr` and the key pairs named (default on); off, neither.
    pub ssh: bool,
    /// AWS Systems Manager Session Manager: the instance role gets
    /// `AmazonSSMManagedInstanceCore` (default off).
    pub session_manager: bool,
}

#[derive(Clone, Debug)]
pub struct Dns {
    pub domain: String,
    pub hosted_zone: String,
    /// The name the certificate is for: the domain, or a wildcard that covers it (`*.ZONE`, as
    /// an adopted cluster's certificate may be).
    pub certificate_domain: String,
}

pub use load_balancer::{LoadBalancerConfig, PlainHttp};
pub use mongodb::{DataVolume, Mongodb};
pub use network::{Network, Vpc};
pub use node_settings::{NodeSettings, Plugin};
pub use nodes::{Instance, NodeGroup, DRAIN_SECONDS};
pub use turn::Turn;

/// A stack file that cannot be used, and where.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("stack file {path} not found{}", list_hint(.available))]
    Missing {
        path: String,
        available: Vec<String>,
    },
    #[error("cannot read stack file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{location}: {message}")]
    Invalid { location: Location, message: String },
}

fn list_hint(available: &[String]) -> String {
    if available.is_empty() {
        String::new()
    } else {
        format!(" (stacks here: {})", available.join(", "))
    }
}

/// `file:line:column`, and the key when one is known.
#[derive(Clone, Debug)]
pub struct Location {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub key: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path, self.line, self.column)?;
        if let Some(key) = &self.key {
            write!(f, ": `{key}`")?;
        }
        Ok(())
    }
}

/// The stack names (`stacks/*.toml`) in `dir`, sorted.
pub fn list_stacks(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            (path.extension()? == "toml").then(|| path.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    names.sort();
    names
}

/// Reads and validates `DIR/NAME.toml`.
pub fn load(dir: &Path, name: &str) -> Result<StackConfig, ConfigError> {
    let path = dir.join(format!("{name}.toml"));
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::Missing {
                path: path.display().to_string(),
                available: list_stacks(dir),
            })
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.display().to_string(),
                source,
            })
        }
    };
    parse(name, &path, &text)
}

/// Validates the text of a stack file.
pub fn parse(name: &str, path: &Path, text: &str) -> Result<StackConfig, ConfigError> {
    let file = SourceFile {
        path: path.display().to_string(),
        text,
    };
    let raw: RawStack = toml::from_str(text).map_err(|e| file.serde_error(&e))?;
    file.validate(name, raw)
}

/// For "unknown field `x`, expected one of `a`, `b`": the same with the section the key was
/// written in, and the nearest known name; `None` for other messages.
fn unknown_field(message: &str, section: Option<&str>) -> Option<String> {
    let (unknown, expected) = message.strip_prefix("unknown field `")?.split_once('`')?;
    let mut text = format!("unknown field `{unknown}`");
    // An unknown table is found at its own position: its section is the one around it.
    let section = section.and_then(|s| match s.strip_suffix(unknown) {
        Some("") => None,
        Some(parent) if parent.ends_with('.') => Some(parent.trim_end_matches('.')),
        _ => Some(s),
    });
    if let Some(section) = section {
        text.push_str(&format!(" in [{section}]"));
    }
    text.push_str(expected);
    let known = expected.split('`').skip(1).step_by(2);
    if let Some(near) = known
        .min_by_key(|k| strsim::levenshtein(k, unknown))
        .filter(|near| strsim::levenshtein(near, unknown) <= 3)
    {
        text.push_str(&format!(" (did you mean `{near}`?)"));
    }
    Some(text)
}

/// The AWS regions a stack may name.
pub const REGIONS: [&str; 33] = [
    "af-south-1",
    "ap-east-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "us-gov-west-1",
];

struct SourceFile<'a> {
    path: String,
    text: &'a str,
}

impl SourceFile<'_> {
    fn line_column(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    /// A serde error, at its position, naming the key written there: unknown keys name their
    /// section in the message (`unknown field `x` in [edge]`) and get the nearest known name.
    fn serde_error(&self, error: &toml::de::Error) -> ConfigError {
        let start = error.span().map(|s| s.start);
        let (line, column) = start.map_or((1, 1), |s| self.line_column(s));
        let key = start.and_then(|s| located::key_at(self.text, s));
        let message = error.message().trim();
        let (key, message) = match unknown_field(message, key.as_deref()) {
            Some(message) => (None, message),
            None => (key, located::describe(message)),
        };
        ConfigError::Invalid {
            location: Location {
                path: self.path.clone(),
                line,
                column,
                key,
            },
            message,
        }
    }

    fn error<T>(&self, key: &str, value: &Spanned<T>, message: impl Into<String>) -> ConfigError {
        let (line, column) = self.line_column(value.span().start);
        ConfigError::Invalid {
            location: Location {
                path: self.path.clone(),
                line,
                column,
                key: Some(key.to_string()),
            },
            message: message.into(),
        }
    }

    fn cidr(&self, key: &str, value: &Spanned<String>) -> Result<Ipv4Net, ConfigError> {
        value.get_ref().parse::<Ipv4Net>().map_err(|_| {
            self.error(
                key,
                value,
                format!(
                    "`{}` is not an IPv4 CIDR block (like 10.0.0.0/16)",
                    value.get_ref()
                ),
            )
        })
    }

    fn validate(&self, name: &str, raw: RawStack) -> Result<StackConfig, ConfigError> {
        let region = raw.region.get_ref();
        if !REGIONS.contains(&region.as_str()) {
            let near = REGIONS
                .iter()
                .min_by_key(|r| strsim::levenshtein(r, region))
                .copied()
                .unwrap_or("us-east-1");
            return Err(self.error(
                "region",
                &raw.region,
                format!("`{region}` is not an AWS region (did you mean `{near}`?)"),
            ));
        }
        let (vpc, zones, private_database) = self.network(&raw.network)?;
        let admin_cidr = self.cidr("network.admin_cidr", &raw.network.admin_cidr)?;
        if let Some(endpoint) = &raw.endpoint {
            if !(endpoint.get_ref().starts_with("http://")
                || endpoint.get_ref().starts_with("https://"))
            {
                return Err(self.error(
                    "endpoint",
                    endpoint,
                    "an endpoint is a URL like http://127.0.0.1:4566",
                ));
            }
        }
        let emulator = raw.endpoint.is_some();
        let dns = self.dns(&raw.dns)?;
        let state = self.state(raw.state.as_ref(), region)?;
        let history_keep = match &raw.state {
            Some(state) => self
                .within("state.history_keep", &state.history_keep, (1, i32::MAX))?
                .and_then(|n| u32::try_from(n).ok()),
            None => None,
        };
        let mut lines = BTreeMap::new();
        lines.insert(
            "network.admin_cidr".to_string(),
            self.location("network.admin_cidr", &raw.network.admin_cidr),
        );
        if let Some(private) = &raw.network.private_database {
            lines.insert(
                "network.private_database".to_string(),
                self.location("network.private_database", private),
            );
        }
        if let Some(auth) = &raw.mongodb.auth {
            lines.insert(
                "mongodb.auth".to_string(),
                self.location("mongodb.auth", auth),
            );
        }
        let security = self.security(raw.security.as_ref(), &mut lines)?;
        let load_balancer = self.load_balancer(raw.load_balancer.as_ref(), &mut lines)?;
        let ingest = self.ingest(raw.ingest.as_ref(), &mut lines)?;
        let recording = match &raw.recording {
            Some(recording) if recording.s3 == Some(true) => Some(Recording {
                expire_days: self
                    .within("recording.expire_days", &recording.expire_days, (0, 36_500))?
                    .unwrap_or(0),
                storage_class: match &recording.storage_class {
                    Some(class) if !STORAGE_CLASSES.contains(&class.get_ref().as_str()) => {
                        return Err(self.error(
                            "recording.storage_class",
                            class,
                            format!(
                                "`{}` is not a storage class AMS can read its recordings back from: one of {}",
                                class.get_ref(),
                                STORAGE_CLASSES.join(", ")
                            ),
                        ))
                    }
                    Some(class) => class.get_ref().clone(),
                    None => "STANDARD".into(),
                },
            }),
            _ => None,
        };
        let turn = self.turn(raw.turn.as_ref())?;
        if let Some(license) = &raw.license {
            lines.insert(
                "license.key_parameter".to_string(),
                self.location("license.key_parameter", &license.key_parameter),
            );
        }
        Ok(StackConfig {
            name: name.to_string(),
            path: PathBuf::from(&self.path),
            region: raw.region.get_ref().clone(),
            endpoint: raw.endpoint.map(Spanned::into_inner),
            network: Network {
                vpc,
                availability_zones: zones,
                admin_cidr,
                private_database,
            },
            dns,
            mongodb: self.mongodb(raw.mongodb)?,
            origin: self.nodes("origin", raw.origin, emulator)?,
            edge: self.nodes("edge", raw.edge, emulator)?,
            state,
            history_keep,
            security,
            ingest,
            recording,
            turn,
            load_balancer,
            node_settings: self.node_settings(
                raw.server.as_ref(),
                raw.app.as_ref(),
                raw.license.as_ref(),
            )?,
            lines,
        })
    }

    /// `[ingest]`: RTMP (RTMPS, and plain RTMP where the stack file asks) and SRT.
    fn ingest(
        &self,
        raw: Option<&RawIngest>,
        lines: &mut BTreeMap<String, Location>,
    ) -> Result<Ingest, ConfigError> {
        let rtmp = raw.and_then(|i| i.rtmp).unwrap_or(true);
        let plain = raw.and_then(|i| i.rtmp_plain.as_ref());
        if let Some(plain) = plain {
            if *plain.get_ref() && !rtmp {
                return Err(self.error(
                    "ingest.rtmp_plain",
                    plain,
                    "plain RTMP needs `rtmp = true` (RTMPS on 443 comes with it)",
                ));
            }
            lines.insert(
                "ingest.rtmp_plain".to_string(),
                self.location("ingest.rtmp_plain", plain),
            );
        }
        Ok(Ingest {
            rtmp,
            rtmp_plain: rtmp && plain.is_some_and(|p| *p.get_ref()),
            srt: raw.and_then(|i| i.srt).unwrap_or(false),
        })
    }

    /// `[dns]`: the domain, inside the hosted zone.
    fn dns(&self, raw: &RawDns) -> Result<Dns, ConfigError> {
        let domain = raw.domain.get_ref().trim_end_matches('.').to_string();
        let zone = raw.hosted_zone.get_ref().trim_end_matches('.').to_string();
        if domain != zone && !domain.ends_with(&format!(".{zone}")) {
            return Err(self.error(
                "dns.domain",
                &raw.domain,
                format!("`{domain}` is not inside the hosted zone `{zone}`"),
            ));
        }
        let certificate_domain = match &raw.certificate_domain {
            None => domain.clone(),
            Some(name) => {
                let name_text = name.get_ref().trim_end_matches('.').to_ascii_lowercase();
                let covers = name_text == domain.to_ascii_lowercase()
                    || name_text.strip_prefix("*.").is_some_and(|parent| {
                        domain
                            .to_ascii_lowercase()
                            .strip_suffix(parent)
                            .and_then(|label| label.strip_suffix('.'))
                            .is_some_and(|label| !label.is_empty() && !label.contains('.'))
                    });
                if !covers {
                    return Err(self.error(
                        "dns.certificate_domain",
                        name,
                        format!("a certificate for `{name_text}` does not cover `{domain}`: give the domain, or a wildcard one level above it"),
                    ));
                }
                name_text
            }
        };
        Ok(Dns {
            domain,
            hosted_zone: zone,
            certificate_domain,
        })
    }

    /// `[state]`: local, or S3 with a bucket.
    fn state(&self, raw: Option<&RawState>, region: &str) -> Result<StateConfig, ConfigError> {
        let state = match raw {
            None => StateConfig::Local,
            Some(RawState { backend: None, .. }) => StateConfig::Local,
            Some(
                state @ RawState {
                    backend: Some(backend),
                    ..
                },
            ) => match (backend.get_ref().as_str(), &state.bucket) {
                ("local", _) => StateConfig::Local,
                ("s3", Some(bucket)) => StateConfig::S3 {
                    bucket: bucket.get_ref().clone(),
                    prefix: state
                        .prefix
                        .clone()
                        .unwrap_or_else(|| "ams-stack".into())
                        .trim_matches('/')
                        .to_string(),
                    region: state.region.clone().unwrap_or_else(|| region.to_string()),
                },
                ("s3", None) => {
                    return Err(self.error(
                        "state.backend",
                        backend,
                        "the s3 backend needs `bucket`",
                    ))
                }
                (other, _) => {
                    return Err(self.error(
                        "state.backend",
                        backend,
                        format!("unknown backend `{other}` (use `local` or `s3`)"),
                    ))
                }
            },
        };
        Ok(state)
    }

    /// `[security]`: accepted findings, the metadata hop limit, SSH and Session Manager.
    fn security(
        &self,
        raw: Option<&RawSecurity>,
        lines: &mut BTreeMap<String, Location>,
    ) -> Result<Security, ConfigError> {
        let security = match raw {
            None => Security {
                accept: Vec::new(),
                imds_hop_limit: 1,
                ssh: true,
                session_manager: false,
            },
            Some(security) => {
                for control in &security.accept {
                    lines.insert(
                        format!("security.accept.{}", control.get_ref()),
                        self.location("security.accept", control),
                    );
                }
                let hop_limit = match &security.imds_hop_limit {
                    Some(limit) if !(1..=64).contains(limit.get_ref()) => {
                        return Err(self.error(
                            "security.imds_hop_limit",
                            limit,
                            "the hop limit is between 1 and 64",
                        ))
                    }
                    Some(limit) => {
                        lines.insert(
                            "security.imds_hop_limit".into(),
                            self.location("security.imds_hop_limit", limit),
                        );
                        *limit.get_ref()
                    }
                    None => 1,
                };
                Security {
                    accept: security
                        .accept
                        .iter()
                        .map(|c| c.get_ref().clone())
                        .collect(),
                    imds_hop_limit: hop_limit,
                    ssh: security.ssh.unwrap_or(true),
                    session_manager: security.session_manager.unwrap_or(false),
                }
            }
        };
        Ok(security)
    }

    fn location<T>(&self, key: &str, value: &Spanned<T>) -> Location {
        let (line, column) = self.line_column(value.span().start);
        Location {
            path: self.path.clone(),
            line,
            column,
            key: Some(key.to_string()),
        }
    }

    fn volume(
        &self,
        section: &str,
        size: Option<Spanned<i32>>,
        default_gib: i32,
    ) -> Result<i32, ConfigError> {
        match size {
            None => Ok(default_gib),
            Some(size) if (8..=16384).contains(size.get_ref()) => Ok(*size.get_ref()),
            Some(size) => Err(self.error(
                &format!("{section}.root_volume_gib"),
                &size,
                "a root volume is 8 to 16384 GiB",
            )),
        }
    }
}

#[cfg(test)]
mod tests;
