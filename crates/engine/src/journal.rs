//! The journal beside the dispatcher (what Pulumi calls its snapshot manager): every change an
//! apply makes to the state goes through it, and it is the one place that writes the state.
//!
//! A step that creates begins with its pending record, written before the cloud is asked, so
//! that a crash from there on leaves a trace for crash recovery; every step ends with its
//! result (the pending record cleared, the resource recorded or forgotten). Each change is one
//! [`Entry`] given to the backend, which appends it to its journal (or, keeping none, saves the
//! state whole); [`Journal::close`] has them folded into one snapshot at its end.

use serde_json::Value as Json;

use crate::event::{Event, EventSink};
use crate::op::Op;
use crate::state::{now_rfc3339, Entry, Move, PendingOperation, State, StateBackend, StateError};

pub struct Journal<'a> {
    backend: &'a dyn StateBackend,
    events: EventSink,
    /// Entries were written since the state was last saved whole.
    appended: bool,
}

/// What a create that begins is: the step, with the inputs it is about to send.
pub struct Begun<'s> {
    pub name: &'s str,
    pub type_name: &'s str,
    pub op: Op,
    pub inputs: &'s Json,
    pub dependencies: &'s [String],
}

impl<'a> Journal<'a> {
    pub fn new(backend: &'a dyn StateBackend, events: EventSink) -> Self {
        Journal {
            backend,
            events,
            appended: false,
        }
    }

    /// Begins a create: its pending record is written before the cloud is asked. Returns the
    /// idempotency token to send with it, which the record keeps for crash recovery.
    pub async fn begin(
        &mut self,
        state: &mut State,
        step: Begun<'_>,
    ) -> Result<String, StateError> {
        let token = format!("{:032x}", rand::random::<u128>());
        let pending = PendingOperation {
            name: step.name.to_string(),
            type_name: step.type_name.to_string(),
            operation: step.op,
            token: token.clone(),
            inputs: step.inputs.clone(),
            dependencies: step.dependencies.to_vec(),
            started: now_rfc3339(),
        };
        self.write(state, Move::Begin { pending }).await?;
        Ok(token)
    }

    /// Ends a step with what it did (`Made` or `Deleted`): its pending record is cleared and
    /// the resource recorded, or forgotten.
    pub async fn end(&mut self, state: &mut State, done: Move) -> Result<(), StateError> {
        self.write(state, done).await
    }

    /// Records the stack's outputs, when they changed.
    pub async fn outputs(
        &mut self,
        state: &mut State,
        outputs: std::collections::BTreeMap<String, Json>,
    ) -> Result<(), StateError> {
        if outputs == state.outputs {
            return Ok(());
        }
        self.write(state, Move::Outputs { outputs }).await
    }

    /// Makes `change` in `state`, then has the backend record it: the one write.
    async fn write(&mut self, state: &mut State, change: Move) -> Result<(), StateError> {
        let entry = Entry {
            serial: state.serial + 1,
            at: now_rfc3339(),
            change,
        };
        state.serial = entry.serial;
        state.updated = Some(entry.at.clone());
        state.make(entry.change.clone());
        self.backend.append(state, &entry).await?;
        self.appended = true;
        (self.events)(Event::Saved {
            serial: state.serial,
        });
        Ok(())
    }

    /// The run's end: what it appended is folded into one snapshot, so that the stored state
    /// reads whole without its journal.
    pub async fn close(&mut self, state: &State) -> Result<(), StateError> {
        if self.appended {
            self.backend.compact(state).await?;
            self.appended = false;
        }
        Ok(())
    }
}
