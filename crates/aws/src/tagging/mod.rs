//! Tags on what the stack did not make: the stack's own tags on the resources it adopted.

mod stack_tags;

pub use stack_tags::{StackTags, Tagged};
