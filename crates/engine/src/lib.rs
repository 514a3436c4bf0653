//! The engine: resources, the dependency graph, the plan and its execution.
//!
//! Architecture invariant: nothing under `engine` knows about AWS. Resource kinds, their
//! properties and the calls that make them live in providers (the AWS module), which the engine
//! reaches only through the [`Provider`] trait.

// So that `#[derive(Kind)]`'s `::ams_engine::...` paths also work inside this crate.
extern crate self as ams_engine;

mod adopt;
mod apply;
mod event;
mod expr;
mod graph;
mod journal;
mod op;
mod outputs;
mod plan;
mod program;
mod provider;
mod recover;
mod refresh;
mod report;
pub mod state;
pub mod testing;

pub use adopt::{adopt, AdoptError, Retired, MADE_BY_UP};
pub use ams_engine_derive::{Fields, Kind, Outputs};
pub use apply::{apply, ApplyError, ApplyOptions};
pub use event::{Event, EventSink};
pub use expr::{resolve as resolve_with, Input, Output, Piece, Unresolved, UNKNOWN_MARKER};
pub use graph::{dependency_order, to_dot, GraphError};
pub use op::Op;
pub use outputs::outputs;
pub use plan::{destroy_plan, plan, Plan, PropertyChange, Step, UnknownTarget};
pub use program::{view, Declared, Fields, Kind, NoOutputs, Outputs, Program, ProgramError, Ref};
pub use provider::{Created, Provider, ProviderError, StepContext};
pub use recover::{resolve_pending, Resolution};
pub use refresh::{refresh, Drift};
pub use report::{ApplyReport, StepFailure};
