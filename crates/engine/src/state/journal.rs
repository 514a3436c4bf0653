//! The journal's entries: each change an apply makes to the state, as one move, so that a step
//! costs a write of what it changed rather than of the whole state.
//!
//! A backend that keeps a journal appends entries after its snapshot and replays them on load
//! ([`State::replay`]); [`State::make`] is the one place every move is made: by apply as it
//! goes, by crash recovery, and by the replay.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::{PendingOperation, ResourceState, State, StateError};
use crate::op::Op;

/// One change of the state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "move", rename_all = "kebab-case")]
pub enum Move {
    /// A create is about to be asked of the cloud: it is pending until it ends.
    Begin { pending: PendingOperation },
    /// A create, update or replacement ended with `resource` as it is now: its pending record
    /// is cleared, and a replaced resource moves to the pending deletes.
    Made { op: Op, resource: ResourceState },
    /// The resource `name` with `id` was deleted.
    Deleted { name: String, id: String },
    /// A pending create was found not to exist (crash recovery): it is forgotten, and the next
    /// plan creates the resource.
    Absent { name: String },
    /// The stack's outputs.
    Outputs { outputs: BTreeMap<String, Json> },
}

/// A move as a backend stores it: the serial it gives the state, and when it was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub serial: u64,
    /// RFC 3339, UTC.
    pub at: String,
    #[serde(flatten)]
    pub change: Move,
}

impl State {
    /// Makes `change` in this state.
    pub fn make(&mut self, change: Move) {
        match change {
            Move::Begin { pending } => {
                self.pending.retain(|p| p.name != pending.name);
                self.pending.push(pending);
            }
            Move::Made { op, resource } => {
                if op == Op::Replace {
                    if let Some(old) = self.remove(&resource.name) {
                        self.pending_deletes.push(old);
                    }
                }
                self.pending.retain(|p| p.name != resource.name);
                self.upsert(resource);
            }
            Move::Deleted { name, id } => {
                self.pending_deletes
                    .retain(|r| !(r.name == name && r.id == id));
                self.resources.retain(|r| !(r.name == name && r.id == id));
            }
            Move::Absent { name } => self.pending.retain(|p| p.name != name),
            Move::Outputs { outputs } => self.outputs = outputs,
        }
    }

    /// Replays a stored entry: made if it is the next change of this state, skipped if the
    /// state has it already (a snapshot written after it), refused if changes are missing
    /// between the two. Returns whether it was made.
    pub fn replay(&mut self, entry: Entry, location: &str) -> Result<bool, StateError> {
        if entry.serial <= self.serial {
            return Ok(false);
        }
        if entry.serial != self.serial + 1 {
            return Err(StateError::Gap {
                location: location.to_string(),
                have: self.serial,
                next: entry.serial,
            });
        }
        self.serial = entry.serial;
        self.updated = Some(entry.at);
        self.make(entry.change);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn resource(name: &str, id: &str) -> ResourceState {
        ResourceState {
            name: name.into(),
            type_name: "test:Bucket".into(),
            id: id.into(),
            inputs: json!({}),
            outputs: json!({ "id": id }),
            dependencies: Vec::new(),
        }
    }

    #[test]
    fn a_replacement_moves_the_old_resource_to_the_pending_deletes_and_clears_its_pending_record() {
        let mut state = State::empty("dev");
        state.make(Move::Made {
            op: Op::Create,
            resource: resource("b", "b-1"),
        });
        state.make(Move::Begin {
            pending: PendingOperation {
                name: "b".into(),
                type_name: "test:Bucket".into(),
                operation: Op::Replace,
                token: "t".into(),
                inputs: json!({}),
                dependencies: Vec::new(),
                started: "2026-12-07T00:00:00Z".into(),
            },
        });
        assert_eq!(state.pending.len(), 1);
        state.make(Move::Made {
            op: Op::Replace,
            resource: resource("b", "b-2"),
        });
        assert!(state.pending.is_empty());
        assert_eq!(state.get("b").map(|r| r.id.as_str()), Some("b-2"));
        assert_eq!(state.pending_deletes, [resource("b", "b-1")]);
        state.make(Move::Deleted {
            name: "b".into(),
            id: "b-1".into(),
        });
        assert!(state.pending_deletes.is_empty());
        assert_eq!(state.resources.len(), 1);
    }

    #[test]
    fn replay_skips_what_the_snapshot_has_and_refuses_a_gap() {
        let mut state = State::empty("dev");
        state.serial = 4;
        let entry = |serial| Entry {
            serial,
            at: "2026-12-07T00:00:00Z".into(),
            change: Move::Made {
                op: Op::Create,
                resource: resource("b", &format!("b-{serial}")),
            },
        };
        assert!(!state.replay(entry(4), "j").expect("old"));
        assert!(state.resources.is_empty());
        assert!(state.replay(entry(5), "j").expect("next"));
        assert_eq!(state.serial, 5);
        let err = state.replay(entry(7), "j").expect_err("a gap");
        assert!(err.to_string().contains("serial 5"), "{err}");
        let text = serde_json::to_string(&entry(8)).expect("json");
        assert!(text.starts_with(r#"{"serial":8,"at":"#), "{text}");
        assert!(text.contains(r#""move":"made","op":"create""#), "{text}");
        assert_eq!(
            serde_json::from_str::<Entry>(&text).expect("back"),
            entry(8)
        );
    }
}
