//! The stack's outputs: what the program declares, resolved from what the state holds.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::expr::resolve;
use super::plan::Plan;
use crate::state::State;

/// The stack outputs the plan declares, resolved from what `state` holds.
pub fn outputs(plan: &Plan, state: &State) -> BTreeMap<String, Json> {
    plan.outputs
        .iter()
        .map(|(key, value)| {
            (
                key.clone(),
                resolve(value, &|r, k| live_output(state, r, k)),
            )
        })
        .collect()
}

/// Output `key` of `resource` as `state` records it.
pub(crate) fn live_output(state: &State, resource: &str, key: &str) -> Option<Json> {
    state
        .get(resource)
        .and_then(|r| r.outputs.get(key))
        .cloned()
}
