//! What a step does to one resource: the one name that the plan, the apply's events, the
//! pending records of the state and the JSON output all use.

use serde::{Deserialize, Serialize};

/// What is done to one resource. A plan's step is `Same`, `Create`, `Update`, `Replace` or
/// `Delete`; apply carries a `Replace` out as two steps: the replacement's create (`Replace`,
/// as its events and its pending record say) and, later, the old one's `DeleteReplaced`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    Same,
    Create,
    Update,
    /// Replaced: created anew, the old one deleted afterwards. A state written before the one
    /// name said `create-replacement` in its pending records; it still reads.
    #[serde(alias = "create-replacement")]
    Replace,
    /// Deletes a resource that was replaced.
    DeleteReplaced,
    Delete,
}

impl Op {
    /// What the step is doing, as a progress line says it.
    pub fn verb(self) -> &'static str {
        match self {
            Op::Same => "keeping",
            Op::Create => "creating",
            Op::Update => "updating",
            Op::Replace => "creating replacement",
            Op::DeleteReplaced => "deleting replaced",
            Op::Delete => "deleting",
        }
    }

    /// Whether the step makes a resource (and is recorded as pending before the cloud is asked).
    pub fn creates(self) -> bool {
        matches!(self, Op::Create | Op::Replace)
    }

    /// Whether the step deletes a resource.
    pub fn deletes(self) -> bool {
        matches!(self, Op::Delete | Op::DeleteReplaced)
    }
}
