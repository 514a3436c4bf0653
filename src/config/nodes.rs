//! `[origin]` and `[edge]`: a node group's instances, sizes, scaling, and how it rolls and
//! drains.

use toml::Spanned;

use super::raw::RawNodes;
use super::{ConfigError, SourceFile};

/// What a machine of a tier runs on (`[origin]`, `[edge]`, `[mongodb]`).
#[derive(Clone, Debug)]
pub struct Instance {
    pub instance_type: String,
    pub ami: Option<String>,
    pub key_name: Option<String>,
    /// Size of the encrypted gp3 root volume.
    pub root_volume_gib: i32,
}

#[derive(Clone, Debug)]
pub struct NodeGroup {
    pub instance: Instance,
    pub min_size: u32,
    pub max_size: u32,
    pub cpu_target: f64,
    /// How many instances a roll replaces at a time (`None`: one).
    pub max_batch: Option<u32>,
    /// How long a new instance may take to serve, in seconds (`None`: 15 minutes).
    pub health_timeout_seconds: Option<u64>,
    /// How long a leaving node may drain its streams, in seconds (`drain_timeout`): its
    /// termination hook's heartbeat timeout, and how long its drain agent waits.
    pub drain_seconds: u64,
}

/// `drain_timeout` when the stack file does not say: 15 minutes.
pub const DRAIN_SECONDS: u64 = 15 * 60;

impl SourceFile<'_> {
    /// `emulator`: the stack has an `endpoint`, where a node serves as soon as it is registered,
    /// so `health_timeout` may be seconds (tests wait on the emulator's clock, not on AWS's).
    pub(super) fn nodes(
        &self,
        section: &str,
        raw: RawNodes,
        emulator: bool,
    ) -> Result<NodeGroup, ConfigError> {
        let (min, max) = (*raw.min_size.get_ref(), *raw.max_size.get_ref());
        if min > max {
            return Err(self.error(
                &format!("{section}.min_size"),
                &raw.min_size,
                format!("min_size ({min}) is larger than max_size ({max})"),
            ));
        }
        let cpu_target = raw.cpu_target.as_ref().map_or(60.0, |c| *c.get_ref());
        if let Some(cpu) = &raw.cpu_target {
            if !(1.0..=100.0).contains(cpu.get_ref()) {
                return Err(self.error(
                    &format!("{section}.cpu_target"),
                    cpu,
                    "cpu_target is a percentage between 1 and 100",
                ));
            }
        }
        Ok(NodeGroup {
            instance: Instance {
                instance_type: raw.instance_type,
                ami: raw.ami,
                key_name: raw.key_name,
                root_volume_gib: self.volume(section, raw.root_volume_gib, 30)?,
            },
            min_size: min,
            max_size: max,
            cpu_target,
            max_batch: self.max_batch(section, raw.max_batch.as_ref(), max)?,
            health_timeout_seconds: self.duration(
                section,
                "health_timeout",
                raw.health_timeout.as_ref(),
                if emulator { 1 } else { 60 },
            )?,
            drain_seconds: self
                .duration(section, "drain_timeout", raw.drain_timeout.as_ref(), 60)?
                .unwrap_or(DRAIN_SECONDS),
        })
    }

    /// `max_batch`: 1 up to `max_size`.
    fn max_batch(
        &self,
        section: &str,
        raw: Option<&Spanned<u32>>,
        max: u32,
    ) -> Result<Option<u32>, ConfigError> {
        match raw {
            Some(batch) if *batch.get_ref() == 0 || *batch.get_ref() > max.max(1) => Err(self
                .error(
                    &format!("{section}.max_batch"),
                    batch,
                    format!("max_batch is 1 to max_size ({max})"),
                )),
            other => Ok(other.map(|b| *b.get_ref())),
        }
    }

    /// `section.key`: a duration such as "10m", `min_seconds` to two hours; in seconds.
    fn duration(
        &self,
        section: &str,
        key: &str,
        raw: Option<&Spanned<String>>,
        min_seconds: u64,
    ) -> Result<Option<u64>, ConfigError> {
        let Some(text) = raw else {
            return Ok(None);
        };
        let path = format!("{section}.{key}");
        let seconds = humantime::parse_duration(text.get_ref())
            .map_err(|e| {
                self.error(
                    &path,
                    text,
                    format!("`{}` is not a duration like \"10m\": {e}", text.get_ref()),
                )
            })?
            .as_secs();
        if !(min_seconds..=7200).contains(&seconds) {
            let min = humantime::format_duration(std::time::Duration::from_secs(min_seconds));
            let emulator = if min_seconds < 60 {
                " on an emulator stack"
            } else {
                ""
            };
            return Err(self.error(&path, text, format!("{key} is {min} to 2h{emulator}")));
        }
        Ok(Some(seconds))
    }
}
