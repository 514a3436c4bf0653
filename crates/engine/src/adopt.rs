//! Adoption: resources that exist already, made outside the stack, brought into a new state as
//! if the stack had made them, so that the first plan compares the program with what runs.
//!
//! Nothing is changed: each resource's outputs come from the provider's `describe` (its
//! `finish`, only looking) and its stored arguments from the provider's live `read`. A
//! reference to what is not adopted (made by the first `up`) reads as [`MADE_BY_UP`] until the
//! live read says otherwise; the plan then shows that argument changing.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use super::event::EventSink;
use super::expr::resolve;
use super::graph::{dependency_order, GraphError};
use super::program::Program;
use super::provider::{Provider, ProviderError, StepContext};
use crate::state::{ResourceState, State};

/// What an argument that refers to a resource not adopted holds in the adopted state.
pub const MADE_BY_UP: &str = "(made by the first up)";

/// Why a resource could not be adopted.
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error("cannot adopt {name} ({type_name}) {id}: {error}")]
    Resource {
        name: String,
        type_name: String,
        id: String,
        error: ProviderError,
    },
    #[error("{name} ({type_name}) {id} was not found in the cloud")]
    Gone {
        name: String,
        type_name: String,
        id: String,
    },
    #[error("no resource named `{0}` in the program")]
    Undeclared(String),
}

/// A resource taken into the state that the program does not declare: the first plan deletes it,
/// after every other step (a security group the cluster no longer uses once its nodes moved).
#[derive(Clone, Debug)]
pub struct Retired {
    pub name: String,
    pub type_name: String,
    pub id: String,
    /// Its arguments as far as known; the live read completes them.
    pub inputs: Json,
}

/// A new state for `stack` holding the resources of `program` named in `ids` (name -> the
/// cloud's id), each described and read from the cloud, in dependency order; then the `retired`
/// ones, which the program does not declare.
pub async fn adopt(
    program: &Program,
    stack: &str,
    ids: &BTreeMap<String, String>,
    retired: &[Retired],
    provider: &dyn Provider,
    events: EventSink,
) -> Result<State, AdoptError> {
    if let Some(name) = ids.keys().find(|name| program.get(name).is_none()) {
        return Err(AdoptError::Undeclared(name.clone()));
    }
    let nodes: BTreeMap<String, BTreeSet<String>> = program
        .resources()
        .iter()
        .map(|r| (r.name.clone(), r.dependencies.clone()))
        .collect();
    let mut state = State::empty(stack);
    for name in dependency_order(&nodes)? {
        let (Some(declared), Some(id)) = (program.get(&name), ids.get(&name)) else {
            continue;
        };
        let inputs = resolve(&declared.args, &|resource, output| {
            Some(
                state
                    .get(resource)
                    .and_then(|r| r.outputs.get(output))
                    .cloned()
                    .unwrap_or_else(|| Json::String(MADE_BY_UP.into())),
            )
        });
        let found = ResourceState {
            name: name.clone(),
            type_name: declared.type_name.clone(),
            id: id.clone(),
            inputs,
            outputs: Json::Null,
            dependencies: declared.dependencies.iter().cloned().collect(),
        };
        state
            .resources
            .push(described(found, stack, provider, &events).await?);
    }
    for gone in retired {
        let found = ResourceState {
            name: gone.name.clone(),
            type_name: gone.type_name.clone(),
            id: gone.id.clone(),
            inputs: gone.inputs.clone(),
            outputs: Json::Null,
            dependencies: Vec::new(),
        };
        state
            .resources
            .push(described(found, stack, provider, &events).await?);
    }
    state.protected = program
        .protected()
        .into_iter()
        .filter(|(name, _)| ids.contains_key(name))
        .collect();
    Ok(state)
}

/// `found` (its id, and its arguments as far as known) with its outputs from the provider's
/// `describe` and its arguments from its live `read`.
async fn described(
    mut found: ResourceState,
    stack: &str,
    provider: &dyn Provider,
    events: &EventSink,
) -> Result<ResourceState, AdoptError> {
    let failed = |error: ProviderError| AdoptError::Resource {
        name: found.name.clone(),
        type_name: found.type_name.clone(),
        id: found.id.clone(),
        error,
    };
    let ctx = StepContext::new(stack, &found.name, &found.type_name, events.clone());
    let outputs = provider
        .describe(&ctx, &found.id, &found.inputs)
        .await
        .map_err(failed)?;
    let live = provider
        .read(
            &found.type_name,
            std::slice::from_ref(&ResourceState {
                outputs: outputs.clone(),
                ..found.clone()
            }),
        )
        .await
        .map_err(failed)?;
    let Some(inputs) = live.into_iter().next().flatten() else {
        return Err(AdoptError::Gone {
            name: found.name,
            type_name: found.type_name,
            id: found.id,
        });
    };
    found.inputs = inputs;
    found.outputs = outputs;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::testing::{Bucket, MemoryProvider, Object};
    use crate::{plan, Input, Op};

    /// A bucket made by hand (in "eu"), and a program that declares it (in "us") with an object.
    fn made_by_hand() -> (MemoryProvider, Program) {
        let cloud = MemoryProvider::default();
        cloud.live.lock().expect("live").insert(
            "b-by-hand".into(),
            (
                "test:Bucket".into(),
                "anything".into(),
                json!({"region": "eu"}),
            ),
        );
        let mut program = Program::new();
        let bucket = program.add("bucket", Bucket::args("us")).expect("declared");
        program
            .add("object", Object::args(Input::from(bucket.id()), 1))
            .expect("declared");
        program.protect(&bucket, "data");
        (cloud, program)
    }

    fn ids(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(n, i)| (n.to_string(), i.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn an_adopted_resource_holds_its_id_its_outputs_and_its_live_arguments() {
        let (cloud, program) = made_by_hand();
        let state = adopt(
            &program,
            "s",
            &ids(&[("bucket", "b-by-hand")]),
            &[],
            &cloud,
            Arc::new(|_| {}),
        )
        .await
        .expect("adopted");
        let bucket = state.get("bucket").expect("in the state");
        assert_eq!(bucket.id, "b-by-hand");
        assert_eq!(bucket.outputs, json!({"id": "b-by-hand"}));
        assert_eq!(
            bucket.inputs,
            json!({"region": "eu"}),
            "as it lives, not as declared"
        );
        assert_eq!(
            state.protected.get("bucket").map(String::as_str),
            Some("data")
        );
        assert!(
            state.get("object").is_none(),
            "not adopted: made by the first up"
        );
        assert!(
            cloud
                .calls()
                .iter()
                .all(|c| c.starts_with("describe") || c.starts_with("read")),
            "adopting only looks: {:?}",
            cloud.calls()
        );
        // The first plan compares what is declared with what lives.
        let first = plan(&program, &state).expect("plan");
        let ops: Vec<(&str, Op)> = first
            .steps
            .iter()
            .map(|s| (s.name.as_str(), s.op))
            .collect();
        assert_eq!(ops, [("bucket", Op::Replace), ("object", Op::Create)]);
        assert_eq!(
            first.losses().len(),
            1,
            "a protected resource replaced is a loss"
        );
    }

    #[tokio::test]
    async fn what_does_not_exist_or_is_not_declared_is_refused() {
        let (cloud, program) = made_by_hand();
        let gone = adopt(
            &program,
            "s",
            &ids(&[("bucket", "b-gone")]),
            &[],
            &cloud,
            Arc::new(|_| {}),
        )
        .await
        .expect_err("refused");
        assert!(gone.to_string().contains("bucket"), "{gone}");
        assert!(gone.to_string().contains("b-gone"), "{gone}");
        let undeclared = adopt(
            &program,
            "s",
            &ids(&[("bukket", "b-by-hand")]),
            &[],
            &cloud,
            Arc::new(|_| {}),
        )
        .await
        .expect_err("refused");
        assert!(undeclared.to_string().contains("bukket"), "{undeclared}");
    }

    #[tokio::test]
    async fn a_retired_resource_is_adopted_for_the_first_plan_to_delete() {
        let (cloud, program) = made_by_hand();
        cloud.live.lock().expect("live").insert(
            "b-old".into(),
            ("test:Bucket".into(), "old".into(), json!({"region": "eu"})),
        );
        let retired = [Retired {
            name: "old-bucket".into(),
            type_name: "test:Bucket".into(),
            id: "b-old".into(),
            inputs: json!({"region": "?"}),
        }];
        let state = adopt(
            &program,
            "s",
            &ids(&[("bucket", "b-by-hand")]),
            &retired,
            &cloud,
            Arc::new(|_| {}),
        )
        .await
        .expect("adopted");
        assert_eq!(
            state.get("old-bucket").map(|r| r.inputs.clone()),
            Some(json!({"region": "eu"}))
        );
        let first = plan(&program, &state).expect("plan");
        let last = first.steps.last().expect("steps");
        assert_eq!((last.name.as_str(), last.op), ("old-bucket", Op::Delete));
    }
}
