//! The events an apply emits, one stream that every renderer consumes.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What one unit of apply work does to one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepOp {
    Create,
    Update,
    /// Creates the replacement of a resource; the old one is deleted later.
    CreateReplacement,
    /// Deletes a resource that was replaced.
    DeleteReplaced,
    Delete,
}

impl StepOp {
    pub fn verb(self) -> &'static str {
        match self {
            StepOp::Create => "creating",
            StepOp::Update => "updating",
            StepOp::CreateReplacement => "creating replacement",
            StepOp::DeleteReplaced => "deleting replaced",
            StepOp::Delete => "deleting",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    Started {
        name: String,
        type_name: String,
        op: StepOp,
    },
    /// A step waits for the cloud (an instance to run, a certificate to be issued, ...).
    Waiting { name: String, what: String },
    Done {
        name: String,
        type_name: String,
        op: StepOp,
        id: String,
        elapsed_ms: u64,
    },
    Failed {
        name: String,
        type_name: String,
        op: StepOp,
        error: String,
    },
    /// The state was written.
    Saved { serial: u64 },
    /// No new work starts: a step failed or the user interrupted.
    Stopping { reason: String },
}

impl Event {
    pub(crate) fn elapsed(duration: Duration) -> u64 {
        u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
    }
}

/// Receives every event, in order, from the apply's dispatcher.
pub type EventSink = Arc<dyn Fn(Event) + Send + Sync>;
