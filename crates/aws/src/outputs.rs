//! The outputs of kinds known by one name alone: an id, an ARN or a name. What refers to such a
//! resource reads it through the typed accessor (`vpc.id()`, `listener.arn()`, `group.name()`).

use serde::{Deserialize, Serialize};

use ams_engine::Outputs;

/// A resource known by its id (`vpc-…`, `subnet-…`, `igw-…`, `nat-…`).
#[derive(Clone, Serialize, Deserialize, Outputs)]
pub struct IdOutputs {
    pub id: String,
}

impl IdOutputs {
    pub fn of(id: &str) -> Self {
        let id = id.to_string();
        IdOutputs { id }
    }
}

/// A resource known by its ARN (a listener, a listener rule).
#[derive(Clone, Serialize, Deserialize, Outputs)]
pub struct ArnOutputs {
    pub arn: String,
}

impl ArnOutputs {
    pub fn of(arn: &str) -> Self {
        let arn = arn.to_string();
        ArnOutputs { arn }
    }
}

/// A resource known by its physical name (an auto-scaling group, a lifecycle hook).
#[derive(Clone, Serialize, Deserialize, Outputs)]
pub struct NameOutputs {
    pub name: String,
}

impl NameOutputs {
    pub fn of(name: &str) -> Self {
        let name = name.to_string();
        NameOutputs { name }
    }
}
