//! `[turn]`: a coturn TURN relay of the stack's (`enabled = true`), for players and publishers
//! behind NATs and firewalls that WebRTC's direct UDP cannot cross: its group's size (one
//! Elastic IP per instance) and its machine.

use super::raw::RawTurn;
use super::{ConfigError, SourceFile};

/// The relay's instance type when the stack file names none: small, burstable (coturn relays
/// packets; it needs network more than CPU).
pub const DEFAULT_INSTANCE_TYPE: &str = "t3.small";
/// The largest group: AWS's default quota is 5 Elastic IPs a region, and the NAT gateway holds
/// one of them.
pub const MAX_SIZE: i32 = 4;

/// The TURN relay's group.
#[derive(Clone, Debug, PartialEq)]
pub struct Turn {
    /// How many relays run (the group's fixed size), each on an Elastic IP of its own.
    pub size: u32,
    pub instance_type: String,
    /// The key pair for SSH, as the other machines take one (none when `[security] ssh = false`).
    pub key_name: Option<String>,
    /// Size of the encrypted gp3 root volume.
    pub root_volume_gib: i32,
}

impl SourceFile<'_> {
    /// `[turn]`: `None` unless `enabled = true`; every key is checked either way.
    pub(super) fn turn(&self, raw: Option<&RawTurn>) -> Result<Option<Turn>, ConfigError> {
        let Some(raw) = raw else {
            return Ok(None);
        };
        let size = self
            .within("turn.size", &raw.size, (1, MAX_SIZE))?
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(1);
        let instance_type = match &raw.instance_type {
            None => DEFAULT_INSTANCE_TYPE.to_string(),
            Some(name) if is_instance_type(name.get_ref()) => name.get_ref().clone(),
            Some(name) => {
                return Err(self.error(
                    "turn.instance_type",
                    name,
                    format!(
                        "`{}` is not an EC2 instance type (like \"{DEFAULT_INSTANCE_TYPE}\")",
                        name.get_ref()
                    ),
                ))
            }
        };
        let root_volume_gib = self.volume("turn", raw.root_volume_gib.clone(), 8)?;
        if !raw.enabled.as_ref().is_some_and(|e| *e.get_ref()) {
            return Ok(None);
        }
        Ok(Some(Turn {
            size,
            instance_type,
            key_name: raw.key_name.as_ref().map(|k| k.get_ref().clone()),
            root_volume_gib,
        }))
    }
}

/// `family.size`, as EC2 names its types (`t3.small`, `c7gn.medium`, `m5d.2xlarge`).
fn is_instance_type(name: &str) -> bool {
    let Some((family, size)) = name.split_once('.') else {
        return false;
    };
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    plain(family) && plain(size) && family.starts_with(|c: char| c.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// The shipped local stack with `turn` appended.
    fn with(turn: &str) -> Result<Option<Turn>, String> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/local.toml");
        let text = std::fs::read_to_string(&path).expect("local stack");
        super::super::parse("t", Path::new("stacks/t.toml"), &format!("{text}\n{turn}"))
            .map(|c| c.turn)
            .map_err(|e| e.to_string())
    }

    /// The line `[turn]` is on in the stack `with` writes, plus `offset`.
    fn line(offset: usize) -> usize {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/local.toml");
        let text = std::fs::read_to_string(path).expect("local stack");
        text.lines().count() + 2 + offset
    }

    #[test]
    fn turn_is_off_unless_enabled_and_has_small_defaults() {
        assert_eq!(with(""), Ok(None));
        assert_eq!(with("[turn]\nenabled = false\n"), Ok(None));
        assert_eq!(
            with("[turn]\nenabled = true\n"),
            Ok(Some(Turn {
                size: 1,
                instance_type: "t3.small".into(),
                key_name: None,
                root_volume_gib: 8,
            }))
        );
        assert_eq!(
            with("[turn]\nenabled = true\nsize = 3\ninstance_type = \"c7gn.medium\"\nkey_name = \"ops\"\nroot_volume_gib = 12\n"),
            Ok(Some(Turn {
                size: 3,
                instance_type: "c7gn.medium".into(),
                key_name: Some("ops".into()),
                root_volume_gib: 12,
            }))
        );
    }

    #[test]
    fn bad_turn_values_name_the_file_line_and_key() {
        let size = with("[turn]\nenabled = true\nsize = 0\n").expect_err("size 0");
        assert_eq!(
            size,
            format!(
                "stacks/t.toml:{}:8: `turn.size`: 0 is out of range: 1 to 4",
                line(2)
            )
        );
        let size = with("[turn]\nenabled = true\nsize = 5\n").expect_err("size 5");
        assert!(
            size.contains("`turn.size`: 5 is out of range: 1 to 4"),
            "{size}"
        );
        let kind = with("[turn]\nenabled = true\ninstance_type = \"small\"\n").expect_err("type");
        assert_eq!(
            kind,
            format!(
                "stacks/t.toml:{}:17: `turn.instance_type`: `small` is not an EC2 instance type (like \"t3.small\")",
                line(2)
            )
        );
        let disk = with("[turn]\nenabled = true\nroot_volume_gib = 4\n").expect_err("disk");
        assert!(
            disk.contains("`turn.root_volume_gib`: a root volume is 8 to 16384 GiB"),
            "{disk}"
        );
        // Checked even while off: turning it on later never reveals an old mistake.
        assert!(with("[turn]\nsize = 9\n").is_err());
        let unknown = with("[turn]\nenabled = true\nsizes = 2\n").expect_err("unknown");
        assert!(
            unknown.contains("unknown field `sizes` in [turn]")
                && unknown.contains("did you mean `size`?"),
            "{unknown}"
        );
        let not_bool = with("[turn]\nenabled = \"yes\"\n").expect_err("not a bool");
        assert!(
            not_bool.contains(&format!("stacks/t.toml:{}:", line(1))),
            "{not_bool}"
        );
        assert!(not_bool.contains("turn.enabled"), "{not_bool}");
    }
}
