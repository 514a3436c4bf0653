//! Route 53: records in an existing hosted zone.

mod record;

pub use record::{Record, RecordOutputs};
