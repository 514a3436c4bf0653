//! The plan: what apply will do to each resource, computed without any IO.
//!
//! Architecture invariant: planning is pure and deterministic. It reads the program and the
//! state and nothing else, so a preview is exactly what `up` then does.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value as Json;

use super::expr::{contains_unknown, resolve};
use super::graph::{dependency_order, GraphError};
use super::program::Program;
use crate::state::{ResourceState, State};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Same,
    Create,
    Update,
    Replace,
    Delete,
}

/// One property whose value changes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PropertyChange {
    pub key: String,
    /// `None`: the property is new.
    pub old: Option<Json>,
    /// `None`: the property goes away. May hold the unknown marker ("known after apply").
    pub new: Option<Json>,
    /// This change cannot be made in place.
    pub forces_replace: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub op: Op,
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    /// The cloud id of what exists now (update, replace, delete).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub changes: Vec<PropertyChange>,
    /// The declared arguments, unresolved; apply resolves them when the dependencies are done.
    #[serde(skip)]
    pub args: Json,
    #[serde(skip)]
    pub dependencies: BTreeSet<String>,
}

/// The steps, resources of the program first in dependency order, then deletions.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub stack: String,
    pub steps: Vec<Step>,
    /// Resources already pending deletion from an earlier run (replaced ones whose deletion
    /// did not complete); apply deletes them.
    pub pending_deletes: Vec<String>,
    #[serde(skip)]
    pub outputs: BTreeMap<String, Json>,
}

impl Plan {
    pub fn count(&self, op: Op) -> usize {
        self.steps.iter().filter(|s| s.op == op).count()
    }

    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(|s| s.op != Op::Same) || !self.pending_deletes.is_empty()
    }
}

/// Compares the program with the state.
pub fn plan(program: &Program, state: &State) -> Result<Plan, GraphError> {
    let nodes: BTreeMap<String, BTreeSet<String>> = program
        .resources()
        .iter()
        .map(|r| (r.name.clone(), r.dependencies.clone()))
        .collect();
    let order = dependency_order(&nodes)?;

    let mut ops: BTreeMap<&str, Op> = BTreeMap::new();
    let mut steps = Vec::new();
    for name in &order {
        let Some(declared) = program.get(name) else {
            continue;
        };
        let known = |resource: &str, output: &str| -> Option<Json> {
            match ops.get(resource) {
                Some(Op::Same | Op::Update) => state
                    .get(resource)
                    .and_then(|r| r.outputs.get(output))
                    .cloned(),
                _ => None,
            }
        };
        let resolved = resolve(&declared.args, &known);
        let step = match state.get(name) {
            None => Step {
                op: Op::Create,
                name: name.clone(),
                type_name: declared.type_name.clone(),
                id: None,
                changes: property_changes(&Json::Null, &resolved, &[]),
                args: declared.args.clone(),
                dependencies: declared.dependencies.clone(),
            },
            Some(current) => {
                let mut changes = property_changes(&current.inputs, &resolved, declared.replace_on);
                let type_changed = current.type_name != declared.type_name;
                let op = if type_changed || changes.iter().any(|c| c.forces_replace) {
                    Op::Replace
                } else if changes.is_empty() {
                    Op::Same
                } else {
                    Op::Update
                };
                if type_changed {
                    changes.insert(
                        0,
                        PropertyChange {
                            key: "(type)".into(),
                            old: Some(Json::String(current.type_name.clone())),
                            new: Some(Json::String(declared.type_name.clone())),
                            forces_replace: true,
                        },
                    );
                }
                Step {
                    op,
                    name: name.clone(),
                    type_name: declared.type_name.clone(),
                    id: Some(current.id.clone()),
                    changes,
                    args: declared.args.clone(),
                    dependencies: declared.dependencies.clone(),
                }
            }
        };
        ops.insert(name.as_str(), step.op);
        steps.push(step);
    }

    let removed: Vec<&ResourceState> = state
        .resources
        .iter()
        .filter(|r| program.get(&r.name).is_none())
        .collect();
    steps.extend(deletions(&removed)?);

    Ok(Plan {
        stack: state.stack.clone(),
        steps,
        pending_deletes: state
            .pending_deletes
            .iter()
            .map(|r| r.name.clone())
            .collect(),
        outputs: program.outputs().clone(),
    })
}

/// A plan that deletes everything the state holds.
pub fn destroy_plan(state: &State) -> Result<Plan, GraphError> {
    let all: Vec<&ResourceState> = state.resources.iter().collect();
    Ok(Plan {
        stack: state.stack.clone(),
        steps: deletions(&all)?,
        pending_deletes: state
            .pending_deletes
            .iter()
            .map(|r| r.name.clone())
            .collect(),
        outputs: BTreeMap::new(),
    })
}

/// Delete steps in reverse dependency order.
fn deletions(resources: &[&ResourceState]) -> Result<Vec<Step>, GraphError> {
    let nodes: BTreeMap<String, BTreeSet<String>> = resources
        .iter()
        .map(|r| (r.name.clone(), r.dependencies.iter().cloned().collect()))
        .collect();
    let mut order = dependency_order(&nodes)?;
    order.reverse();
    Ok(order
        .iter()
        .filter_map(|name| resources.iter().find(|r| &r.name == name))
        .map(|r| Step {
            op: Op::Delete,
            name: r.name.clone(),
            type_name: r.type_name.clone(),
            id: Some(r.id.clone()),
            changes: Vec::new(),
            args: Json::Null,
            dependencies: r.dependencies.iter().cloned().collect(),
        })
        .collect())
}

/// Per top-level property: what differs between the stored inputs and the new ones.
fn property_changes(old: &Json, new: &Json, replace_on: &[&str]) -> Vec<PropertyChange> {
    let empty = serde_json::Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let new = new.as_object().unwrap_or(&empty);
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let (before, after) = (old.get(key), new.get(key));
            let unknown = after.is_some_and(contains_unknown);
            let absent_or_null = |v: Option<&Json>| v.is_none_or(Json::is_null);
            if !unknown && (before == after || (absent_or_null(before) && absent_or_null(after))) {
                return None;
            }
            Some(PropertyChange {
                key: key.clone(),
                old: before.cloned(),
                new: after.cloned(),
                forces_replace: replace_on.contains(&key.as_str()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testing::{Bucket, Object};
    use crate::engine::Input;
    use serde_json::json;

    fn program(size: u32, region: &str) -> Program {
        let mut program = Program::new();
        let bucket = program
            .add::<Bucket>("bucket", Bucket::args(region))
            .expect("declared");
        program
            .add::<Object>(
                "object",
                Object::args(Input::from(bucket.output::<String>("id")), size),
            )
            .expect("declared");
        program
    }

    fn applied(program: &Program) -> State {
        let mut state = State::empty("test");
        for r in program.resources() {
            let resolve_from_state = |res: &str, _: &str| Some(json!(format!("{res}-id")));
            state.resources.push(ResourceState {
                name: r.name.clone(),
                type_name: r.type_name.clone(),
                id: format!("{}-id", r.name),
                inputs: resolve(&r.args, &resolve_from_state),
                outputs: json!({ "id": format!("{}-id", r.name) }),
                dependencies: r.dependencies.iter().cloned().collect(),
            });
        }
        state
    }

    fn ops(plan: &Plan) -> Vec<(String, Op)> {
        plan.steps.iter().map(|s| (s.name.clone(), s.op)).collect()
    }

    #[test]
    fn first_deploy_creates_in_dependency_order_with_unknowns() {
        let plan = plan(&program(1, "eu"), &State::empty("test")).expect("plan");
        assert_eq!(
            ops(&plan),
            [("bucket".into(), Op::Create), ("object".into(), Op::Create)]
        );
        let bucket_ref = plan.steps[1]
            .changes
            .iter()
            .find(|c| c.key == "bucket")
            .expect("bucket");
        assert!(bucket_ref.new.as_ref().is_some_and(contains_unknown));
    }

    #[test]
    fn nothing_changed_is_all_same() {
        let p = program(1, "eu");
        let plan = plan(&p, &applied(&p)).expect("plan");
        assert_eq!(
            ops(&plan),
            [("bucket".into(), Op::Same), ("object".into(), Op::Same)]
        );
        assert!(!plan.has_changes());
    }

    #[test]
    fn changed_property_is_an_update_listing_old_and_new() {
        let plan = plan(&program(2, "eu"), &applied(&program(1, "eu"))).expect("plan");
        assert_eq!(
            ops(&plan),
            [("bucket".into(), Op::Same), ("object".into(), Op::Update)]
        );
        assert_eq!(
            plan.steps[1].changes,
            [PropertyChange {
                key: "size".into(),
                old: Some(json!(1)),
                new: Some(json!(2)),
                forces_replace: false
            }]
        );
    }

    #[test]
    fn replacement_propagates_to_dependents_through_unknown_references() {
        let plan = plan(&program(1, "us"), &applied(&program(1, "eu"))).expect("plan");
        assert_eq!(
            ops(&plan),
            [
                ("bucket".into(), Op::Replace),
                ("object".into(), Op::Replace)
            ]
        );
        assert!(plan.steps[0].changes[0].forces_replace);
        assert_eq!(plan.steps[1].changes[0].key, "bucket");
    }

    #[test]
    fn resources_gone_from_the_program_are_deleted_dependents_first() {
        let state = applied(&program(1, "eu"));
        let plan = plan(&Program::new(), &state).expect("plan");
        assert_eq!(
            ops(&plan),
            [("object".into(), Op::Delete), ("bucket".into(), Op::Delete)]
        );
    }
}
