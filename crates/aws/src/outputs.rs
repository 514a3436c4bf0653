//! The outputs of kinds known by one name alone: an id, an ARN or a name. What refers to such a
//! resource reads it through the typed accessor (`vpc.id()`, `listener.arn()`, `group.name()`).

use serde::{Deserialize, Serialize};

use ams_engine::Outputs;

/// Declares each outputs struct of one `String` field, with `of(value)` to make it.
macro_rules! one_name {
    ($($(#[$doc:meta])* $outputs:ident { $field:ident })+) => {$(
        $(#[$doc])*
        #[derive(Clone, Serialize, Deserialize, Outputs)]
        pub struct $outputs {
            pub $field: String,
        }

        impl $outputs {
            pub fn of($field: &str) -> Self {
                Self { $field: $field.to_string() }
            }
        }
    )+};
}

one_name! {
    /// A resource known by its id (`vpc-…`, `subnet-…`, `igw-…`, `nat-…`).
    IdOutputs { id }
    /// A resource known by its ARN (a listener, a listener rule).
    ArnOutputs { arn }
    /// A resource known by its physical name (an auto-scaling group, a lifecycle hook).
    NameOutputs { name }
}
