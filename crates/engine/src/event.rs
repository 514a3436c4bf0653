//! The events an apply emits, one stream that every renderer consumes.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::op::Op;

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    Started {
        name: String,
        type_name: String,
        op: Op,
    },
    /// A step waits for the cloud (an instance to run, a certificate to be issued, ...).
    Waiting { name: String, what: String },
    Done {
        name: String,
        type_name: String,
        op: Op,
        id: String,
        elapsed_ms: u64,
    },
    Failed {
        name: String,
        type_name: String,
        op: Op,
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
