//! Route 53: records in an existing hosted zone, and the records a stack must not overwrite.

mod conflict;
mod listed;
mod record;

pub use conflict::{claims, conflicts, Claim, Conflict, RECORD_EXISTS};
pub use listed::Held;
pub use record::{Alias, Record, RecordOutputs, Target};
