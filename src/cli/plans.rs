//! Saved plans: `preview --out PLAN` writes the plan and what it was computed from;
//! `up --plan PLAN` applies exactly that plan or refuses before any change, naming what moved.
//!
//! Plans are deterministic (the program and the state, nothing else), so `up --plan` does not
//! replay the file: it plans again the normal way and compares. What it checks, in order: the
//! file is a plan of this format and this stack, made by this version of ams-stack, from this
//! stack file (SHA-256 of its text), from this state (its serial); under the lock, with
//! `--refresh`, that the cloud still reads as the plan read it (a digest of each resource); then
//! that the images and the steps, change by change, are the plan's. The file holds no secret:
//! the steps are `render::plan_json`'s (secret properties as `[secret]`), never the stack file's
//! text or the outputs. Its format is in docs/JSON.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use super::images::Images;
use crate::render;
use ams_engine::state::State;
use ams_engine::Plan;

/// What the `format` field of a plan file says.
pub const FORMAT: &str = "ams-stack-plan";
/// The version of the plan file's format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The version of ams-stack; a plan is applied only by the version that made it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A plan file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SavedPlan {
    pub format: String,
    pub format_version: u32,
    pub stack: String,
    pub ams_stack_version: String,
    /// When the plan was made (RFC 3339, UTC).
    pub created: String,
    pub computed_from: ComputedFrom,
    /// The images the plan uses, by the state's lookup key (`image.origin`, ...).
    pub images: BTreeMap<String, Json>,
    /// The plan as `preview --json` shows it: counts, steps with their changes, pending deletes.
    pub plan: Json,
    /// The security findings.
    pub findings: Json,
    /// The cost estimate, one line each.
    pub cost: Vec<String>,
}

/// What a plan was computed from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ComputedFrom {
    /// The state's serial, as read (before any `--refresh`, which a preview does not save).
    pub state_serial: u64,
    /// Where that state is (a file, or `s3://...`).
    pub state_location: String,
    /// The stack file, and the SHA-256 of its text.
    pub stack_file: String,
    pub stack_file_sha256: String,
    /// The options the plan was made with; `up --plan` plans with the same.
    pub refresh: bool,
    pub update_images: bool,
    pub targets: Vec<String>,
    /// A SHA-256 of each resource as the plan read it (after `--refresh`, if given), by name:
    /// what `up --plan --refresh` compares the cloud with.
    pub resources: BTreeMap<String, String>,
}

/// The SHA-256 of `bytes`, in hex.
pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A digest of each resource of `state` (its id, inputs and outputs), by name.
pub fn resource_digests(state: &State) -> BTreeMap<String, String> {
    let mut digests: BTreeMap<String, String> = state
        .resources
        .iter()
        .map(|r| {
            let text = serde_json::json!([r.type_name, r.id, r.inputs, r.outputs]).to_string();
            (r.name.clone(), sha256(text.as_bytes()))
        })
        .collect();
    for r in &state.pending_deletes {
        let text = serde_json::json!(["pending delete", r.type_name, r.id]).to_string();
        digests.insert(format!("{} ({})", r.name, r.id), sha256(text.as_bytes()));
    }
    digests
}

/// What `preview --out` knows when it writes a plan.
pub struct Made<'a> {
    pub plan: &'a Plan,
    pub serial: u64,
    pub state_location: String,
    pub state: &'a State,
    pub stack_file: &'a Path,
    pub stack_text: &'a str,
    pub images: &'a Images,
    pub findings: Json,
    pub cost: String,
    pub refresh: bool,
    pub update_images: bool,
    pub targets: &'a [String],
}

impl SavedPlan {
    pub fn new(made: Made<'_>) -> Self {
        SavedPlan {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            stack: made.plan.stack.clone(),
            ams_stack_version: VERSION.into(),
            created: ams_engine::state::now_rfc3339(),
            computed_from: ComputedFrom {
                state_serial: made.serial,
                state_location: made.state_location,
                stack_file: made.stack_file.display().to_string(),
                stack_file_sha256: sha256(made.stack_text.as_bytes()),
                refresh: made.refresh,
                update_images: made.update_images,
                targets: made.targets.to_vec(),
                resources: resource_digests(made.state),
            },
            images: made.images.lookups().into_iter().collect(),
            plan: comparable(made.plan),
            findings: made.findings,
            cost: made.cost.lines().map(String::from).collect(),
        }
    }

    /// Writes the plan to `path` whole (a temp file renamed into place).
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .with_context(|| format!("cannot write the plan {} as JSON", path.display()))?;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut temp = tempfile::NamedTempFile::new_in(&dir)
            .with_context(|| format!("cannot write the plan {}", path.display()))?;
        std::io::Write::write_all(&mut temp, format!("{text}\n").as_bytes())
            .with_context(|| format!("cannot write the plan {}", path.display()))?;
        temp.persist(path)
            .with_context(|| format!("cannot write the plan {}", path.display()))?;
        Ok(())
    }

    /// Reads a plan file for `stack`: anything that is not one, or is another stack's, is an
    /// error naming the file.
    pub fn read(path: &Path, stack: &str) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the plan file {}", path.display()))?;
        Self::parse(&text, &path.display().to_string(), stack)
    }

    /// Parses a plan file's text (`file` names it in errors).
    pub fn parse(text: &str, file: &str, stack: &str) -> Result<Self> {
        let not_a_plan = |why: String| {
            anyhow::anyhow!("{file} is not an ams-stack plan ({why}); nothing was changed; make one with `ams-stack preview {stack} --out {file}`")
        };
        let raw: Json = serde_json::from_str(text).map_err(|e| {
            not_a_plan(if e.is_eof() {
                format!(
                    "it ends too early, at line {} column {}: truncated?",
                    e.line(),
                    e.column()
                )
            } else {
                format!("not JSON: {e}")
            })
        })?;
        if raw.get("format").and_then(Json::as_str) != Some(FORMAT) {
            return Err(not_a_plan(format!("no `\"format\": \"{FORMAT}\"`")));
        }
        let version = raw.get("format_version").and_then(Json::as_u64);
        if version != Some(u64::from(FORMAT_VERSION)) {
            bail!(
                "{file} is a plan of format version {}, this build reads version {FORMAT_VERSION}; nothing was changed",
                version.map_or("(none)".to_string(), |v| v.to_string())
            );
        }
        let saved: SavedPlan =
            serde_json::from_value(raw).map_err(|e| not_a_plan(e.to_string()))?;
        if saved.stack != stack {
            bail!(
                "{file} is a plan for stack `{}`, not `{stack}`; nothing was changed",
                saved.stack
            );
        }
        Ok(saved)
    }

    fn refuse(&self, file: &Path, what: String) -> anyhow::Error {
        anyhow::anyhow!(
            "refusing to apply the plan {} to stack `{}`: {what}; nothing was changed (run `ams-stack preview {} --out {}` again and review it)",
            file.display(),
            self.stack,
            self.stack,
            file.display()
        )
    }

    /// What can be checked before the lock: the version, the stack file, the state's serial.
    pub fn check_inputs(&self, file: &Path, stack_text: &str, state: &State) -> Result<()> {
        if self.ams_stack_version != VERSION {
            return Err(self.refuse(
                file,
                format!(
                    "it was made by ams-stack {}, this is {VERSION}",
                    self.ams_stack_version
                ),
            ));
        }
        if sha256(stack_text.as_bytes()) != self.computed_from.stack_file_sha256 {
            return Err(self.refuse(
                file,
                format!(
                    "the stack file {} changed since the plan was made",
                    self.computed_from.stack_file
                ),
            ));
        }
        self.check_serial(file, state)
    }

    /// The state is the one the plan was made from.
    pub fn check_serial(&self, file: &Path, state: &State) -> Result<()> {
        if state.serial != self.computed_from.state_serial {
            return Err(self.refuse(
                file,
                format!(
                    "the state changed since the plan was made (serial {} then, {} now: another `up`, `refresh --yes`, `restore` or `state import` wrote it)",
                    self.computed_from.state_serial, state.serial
                ),
            ));
        }
        Ok(())
    }

    /// After `--refresh`: the cloud still reads as the plan read it.
    pub fn check_cloud(&self, file: &Path, state: &State) -> Result<()> {
        let now = resource_digests(state);
        let then = &self.computed_from.resources;
        let moved: Vec<String> = then
            .keys()
            .chain(now.keys())
            .filter(|name| then.get(*name) != now.get(*name))
            .map(|name| match (then.get(name), now.get(name)) {
                (Some(_), None) => format!("{name} (gone)"),
                (None, Some(_)) => format!("{name} (new)"),
                _ => format!("{name} (changed)"),
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !moved.is_empty() {
            return Err(self.refuse(
                file,
                format!(
                    "the cloud no longer matches what the plan read: {}",
                    moved.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// The images and the steps planned now are the plan's.
    pub fn check_plan(&self, file: &Path, plan: &Plan, images: &Images) -> Result<()> {
        let now: BTreeMap<String, Json> = images.lookups().into_iter().collect();
        let id = |v: Option<&Json>| {
            v.and_then(|v| v.get("id"))
                .and_then(Json::as_str)
                .unwrap_or("(none)")
                .to_string()
        };
        let moved: Vec<String> = self
            .images
            .keys()
            .chain(now.keys())
            .filter(|key| id(self.images.get(*key)) != id(now.get(*key)))
            .map(|key| {
                format!(
                    "{key}: {} in the plan, {} now",
                    id(self.images.get(key)),
                    id(now.get(key))
                )
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !moved.is_empty() {
            return Err(self.refuse(
                file,
                format!("a pinned image changed ({})", moved.join("; ")),
            ));
        }
        let differing = differences(&self.plan, &comparable(plan));
        if !differing.is_empty() {
            return Err(self.refuse(
                file,
                format!(
                    "the plan made now differs from it in {}",
                    differing.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

/// `up --plan FILE`, before the lock: reads the plan, checks what can be checked without it
/// (version, stack file, state serial), and makes the run plan with the plan's own options.
pub async fn prepare_up(
    (name, config, _, backend): &super::apply::Opened,
    file: &Path,
    options: &mut super::apply::Converge,
) -> Result<()> {
    let saved = SavedPlan::read(file, name)?;
    let stack_text = std::fs::read_to_string(&config.path)
        .with_context(|| format!("cannot read {}", config.path.display()))?;
    let state = backend.load().await?;
    saved.check_inputs(file, &stack_text, &state)?;
    let from = &saved.computed_from;
    if !options.args.targets.is_empty() && options.args.targets != from.targets {
        return Err(saved.refuse(
            file,
            format!(
                "it was made for --target {}, this run names --target {}",
                from.targets.join(","),
                options.args.targets.join(",")
            ),
        ));
    }
    options.args.targets = from.targets.clone();
    options.args.refresh |= from.refresh;
    options.change.update_images = from.update_images;
    options.saved = Some((file.to_path_buf(), saved));
    Ok(())
}

/// A plan as saved and compared: `render::plan_json`, secrets masked.
pub fn comparable(plan: &Plan) -> Json {
    render::plan_json(plan)
}

/// The steps (by name, with what differs) in which two plans differ; empty when they are the
/// same plan.
pub fn differences(saved: &Json, now: &Json) -> Vec<String> {
    let steps = |plan: &Json| -> BTreeMap<String, Json> {
        plan.get("steps")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .map(|s| {
                let name = s.get("name").and_then(Json::as_str).unwrap_or("?");
                (name.to_string(), s.clone())
            })
            .collect()
    };
    let (then, now_steps) = (steps(saved), steps(now));
    let op = |s: &Json| {
        s.get("op")
            .and_then(Json::as_str)
            .unwrap_or("?")
            .to_string()
    };
    let mut differing: Vec<String> = Vec::new();
    for name in then
        .keys()
        .chain(now_steps.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        match (then.get(name), now_steps.get(name)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) if op(a) != op(b) => {
                differing.push(format!("{name} ({} in the plan, {} now)", op(a), op(b)))
            }
            (Some(_), Some(_)) => differing.push(format!("{name} (its changes)")),
            (Some(a), None) => {
                differing.push(format!("{name} ({} in the plan, absent now)", op(a)))
            }
            (None, Some(b)) => {
                differing.push(format!("{name} (absent in the plan, {} now)", op(b)))
            }
            (None, None) => {}
        }
    }
    if saved.get("pending_deletes") != now.get("pending_deletes") {
        differing.push("the pending deletes".into());
    }
    differing
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn saved() -> SavedPlan {
        SavedPlan {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            stack: "local".into(),
            ams_stack_version: VERSION.into(),
            created: "2026-12-07T00:00:00Z".into(),
            computed_from: ComputedFrom {
                state_serial: 4,
                state_location: "state/local.json".into(),
                stack_file: "stacks/local.toml".into(),
                stack_file_sha256: sha256(b"[stack]\n"),
                refresh: false,
                update_images: false,
                targets: vec![],
                resources: BTreeMap::new(),
            },
            images: BTreeMap::new(),
            plan: json!({"steps": [], "pending_deletes": []}),
            findings: json!([]),
            cost: vec![],
        }
    }

    #[test]
    fn a_plan_file_round_trips_and_anything_else_is_refused_naming_the_file() {
        let text = serde_json::to_string_pretty(&saved()).expect("json");
        assert_eq!(
            SavedPlan::parse(&text, "p.json", "local").expect("parses"),
            saved()
        );
        let error = |text: &str, stack: &str| {
            SavedPlan::parse(text, "p.json", stack)
                .expect_err("refused")
                .to_string()
        };
        let truncated = error(&text[..text.len() / 2], "local");
        assert!(
            truncated.contains("p.json is not an ams-stack plan"),
            "{truncated}"
        );
        assert!(truncated.contains("truncated"), "{truncated}");
        let other = error("{\"steps\": []}", "local");
        assert!(other.contains("p.json is not an ams-stack plan"), "{other}");
        assert!(error("not json", "local").contains("not JSON"));
        let prod = error(&text, "prod");
        assert!(
            prod.contains("p.json is a plan for stack `local`, not `prod`"),
            "{prod}"
        );
        let newer = text.replace("\"format_version\": 1", "\"format_version\": 9");
        assert!(error(&newer, "local").contains("format version 9"));
    }

    #[test]
    fn the_inputs_that_moved_are_named() {
        let plan = saved();
        let file = Path::new("p.json");
        let mut state = State::empty("local");
        state.serial = 4;
        plan.check_inputs(file, "[stack]\n", &state)
            .expect("same inputs");
        let edited = plan
            .check_inputs(file, "[stack]\nx = 1\n", &state)
            .expect_err("stack file changed")
            .to_string();
        assert!(
            edited.contains("the stack file stacks/local.toml changed"),
            "{edited}"
        );
        assert!(edited.contains("nothing was changed"), "{edited}");
        state.serial = 6;
        let moved = plan
            .check_inputs(file, "[stack]\n", &state)
            .expect_err("state moved")
            .to_string();
        assert!(moved.contains("serial 4 then, 6 now"), "{moved}");
        let mut older = saved();
        older.ams_stack_version = "0.0.1".into();
        state.serial = 4;
        let version = older
            .check_inputs(file, "[stack]\n", &state)
            .expect_err("another version")
            .to_string();
        assert!(version.contains("made by ams-stack 0.0.1"), "{version}");
    }

    #[test]
    fn the_cloud_moving_under_a_plan_names_the_resources() {
        let mut state = State::empty("local");
        state.resources.push(ams_engine::state::ResourceState {
            name: "vpc".into(),
            type_name: "aws:ec2:Vpc".into(),
            id: "vpc-1".into(),
            inputs: json!({"cidr": "10.0.0.0/16"}),
            outputs: json!({}),
            dependencies: vec![],
        });
        let mut plan = saved();
        plan.computed_from.resources = resource_digests(&state);
        plan.check_cloud(Path::new("p.json"), &state)
            .expect("same cloud");
        state.resources[0].inputs = json!({"cidr": "10.1.0.0/16"});
        let drifted = plan
            .check_cloud(Path::new("p.json"), &state)
            .expect_err("drifted")
            .to_string();
        assert!(
            drifted.contains("the cloud no longer matches what the plan read: vpc (changed)"),
            "{drifted}"
        );
    }

    #[test]
    fn differing_steps_are_named_with_how_they_differ() {
        let step = |name: &str, op: &str, new: &str| {
            json!({"op": op, "name": name, "type": "t", "id": null,
                   "changes": [{"property": "p", "old": null, "new": new, "forces_replace": false}]})
        };
        let saved = json!({"steps": [step("a", "same", "1"), step("b", "update", "2"), step("c", "create", "3")], "pending_deletes": []});
        assert!(differences(&saved, &saved).is_empty());
        let now = json!({"steps": [step("a", "same", "1"), step("b", "update", "9"), step("d", "create", "3")], "pending_deletes": ["x"]});
        assert_eq!(
            differences(&saved, &now),
            vec![
                "b (its changes)".to_string(),
                "c (create in the plan, absent now)".into(),
                "d (absent in the plan, create now)".into(),
                "the pending deletes".into(),
            ]
        );
    }
}
