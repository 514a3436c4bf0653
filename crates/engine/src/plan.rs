//! The plan: what apply will do to each resource, computed without any IO.
//!
//! Architecture invariant: planning is pure and deterministic. It reads the program and the
//! state and nothing else, so a preview is exactly what `up` then does.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value as Json;

use super::expr::{contains_unknown, resolve};
use super::graph::{dependency_order, GraphError};
use super::program::{Declared, Program};
use crate::op::Op;
use crate::state::{ResourceState, State};

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
    /// Properties whose values are secret.
    #[serde(skip)]
    pub secret: Vec<String>,
    /// The declared arguments, unresolved; apply resolves them when the dependencies are done.
    #[serde(skip)]
    pub args: Json,
    #[serde(skip)]
    pub dependencies: BTreeSet<String>,
    /// The word that lets a run replace or delete this protected resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protected: Option<String>,
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

    /// The steps that would replace or delete a protected resource: what a run must refuse
    /// unless it names their word.
    pub fn losses(&self) -> Vec<&Step> {
        self.steps
            .iter()
            .filter(|s| s.protected.is_some() && matches!(s.op, Op::Replace | Op::Delete))
            .collect()
    }

    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(|s| s.op != Op::Same) || !self.pending_deletes.is_empty()
    }

    /// Keeps only the steps of `targets` and of what they depend on (and, with `dependents`,
    /// of what depends on them), like Terraform's `-target`.
    pub fn restrict(&mut self, targets: &[String], dependents: bool) -> Result<(), UnknownTarget> {
        let names: BTreeSet<&str> = self.steps.iter().map(|s| s.name.as_str()).collect();
        if let Some(missing) = targets.iter().find(|t| !names.contains(t.as_str())) {
            let nearest = names
                .iter()
                .min_by_key(|n| strsim::levenshtein(n, missing))
                .map(|n| n.to_string());
            return Err(UnknownTarget {
                name: missing.clone(),
                nearest,
            });
        }
        let mut keep: BTreeSet<String> = targets.iter().cloned().collect();
        let mut frontier: Vec<String> = keep.iter().cloned().collect();
        while let Some(name) = frontier.pop() {
            let Some(step) = self.steps.iter().find(|s| s.name == name) else {
                continue;
            };
            for dependency in &step.dependencies {
                if keep.insert(dependency.clone()) {
                    frontier.push(dependency.clone());
                }
            }
            if dependents {
                for other in self.steps.iter().filter(|s| s.dependencies.contains(&name)) {
                    if keep.insert(other.name.clone()) {
                        frontier.push(other.name.clone());
                    }
                }
            }
        }
        self.steps.retain(|s| keep.contains(&s.name));
        self.pending_deletes.retain(|n| keep.contains(n));
        Ok(())
    }
}

/// A `--target` that names no resource of the stack.
#[derive(Debug, thiserror::Error)]
#[error("no resource named `{name}` in this stack{}", .nearest.as_ref().map(|n| format!(" (did you mean `{n}`?)")).unwrap_or_default())]
pub struct UnknownTarget {
    pub name: String,
    pub nearest: Option<String>,
}

/// Compares the program with the state.
pub fn plan(program: &Program, state: &State) -> Result<Plan, GraphError> {
    let nodes: BTreeMap<String, BTreeSet<String>> = program
        .resources()
        .iter()
        .map(|r| (r.name.clone(), r.dependencies.clone()))
        .collect();
    let order = dependency_order(&nodes)?;
    // Each resource by name, looked up once per reference rather than searched for.
    let declared_by_name: BTreeMap<&str, &Declared> = program
        .resources()
        .iter()
        .map(|r| (r.name.as_str(), r))
        .collect();
    let stored_by_name: BTreeMap<&str, &ResourceState> = state
        .resources
        .iter()
        .map(|r| (r.name.as_str(), r))
        .collect();

    let mut ops: BTreeMap<&str, Op> = BTreeMap::new();
    let mut steps = Vec::new();
    for name in &order {
        let Some(declared) = declared_by_name.get(name.as_str()) else {
            continue;
        };
        let known = |resource: &str, output: &str| -> Option<Json> {
            let changed_by_update = || {
                declared_by_name
                    .get(resource)
                    .is_some_and(|r| r.updated_outputs.contains(&output))
            };
            match ops.get(resource) {
                Some(Op::Update) if changed_by_update() => None,
                Some(Op::Same | Op::Update) => stored_by_name
                    .get(resource)
                    .and_then(|r| r.outputs.get(output))
                    .cloned(),
                _ => None,
            }
        };
        let stored = stored_by_name.get(name.as_str());
        let args = kept(declared, stored.copied());
        let resolved = resolve(&args, &known);
        let step = match stored {
            None => Step {
                op: Op::Create,
                name: name.clone(),
                type_name: declared.type_name.clone(),
                id: None,
                changes: property_changes(&Json::Null, &resolved, &[]),
                secret: declared.secret.iter().map(|s| s.to_string()).collect(),
                args: declared.args.clone(),
                dependencies: declared.dependencies.clone(),
                protected: declared.protected.clone(),
            },
            Some(current) => {
                let mut changes =
                    property_changes(&current.inputs, &resolved, &declared.replace_on);
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
                    secret: declared.secret.iter().map(|s| s.to_string()).collect(),
                    args: args.clone(),
                    dependencies: declared.dependencies.clone(),
                    protected: declared
                        .protected
                        .clone()
                        .or_else(|| state.protected.get(name).cloned()),
                }
            }
        };
        ops.insert(name.as_str(), step.op);
        steps.push(step);
    }

    let removed: Vec<&ResourceState> = state
        .resources
        .iter()
        .filter(|r| !declared_by_name.contains_key(r.name.as_str()))
        .collect();
    steps.extend(deletions(&removed, state)?);

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

/// The declared arguments, with those the program keeps ([`Program::keep`]) taken from the
/// stored ones of a resource the state holds.
fn kept(declared: &Declared, stored: Option<&ResourceState>) -> Json {
    let mut args = declared.args.clone();
    let (Some(stored), Some(map)) = (stored, args.as_object_mut()) else {
        return args;
    };
    for key in &declared.keep {
        match stored.inputs.get(key) {
            Some(value) => {
                map.insert(key.clone(), value.clone());
            }
            None => {
                map.shift_remove(key);
            }
        }
    }
    args
}

/// A plan that deletes everything the state holds.
pub fn destroy_plan(state: &State) -> Result<Plan, GraphError> {
    let all: Vec<&ResourceState> = state.resources.iter().collect();
    Ok(Plan {
        stack: state.stack.clone(),
        steps: deletions(&all, state)?,
        pending_deletes: state
            .pending_deletes
            .iter()
            .map(|r| r.name.clone())
            .collect(),
        outputs: BTreeMap::new(),
    })
}

/// Delete steps in reverse dependency order.
fn deletions(resources: &[&ResourceState], state: &State) -> Result<Vec<Step>, GraphError> {
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
            secret: Vec::new(),
            args: Json::Null,
            dependencies: r.dependencies.iter().cloned().collect(),
            protected: state.protected.get(&r.name).cloned(),
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
    use crate::testing::{Bucket, Object};
    use crate::Input;
    use serde_json::json;

    fn program(size: u32, region: &str) -> Program {
        let mut program = Program::new();
        let bucket = program
            .add("bucket", Bucket::args(region))
            .expect("declared");
        program
            .add("object", Object::args(Input::from(bucket.id()), size))
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
    fn target_keeps_dependencies_and_for_destroy_dependents() {
        let mut p = plan(&program(1, "eu"), &State::empty("test")).expect("plan");
        p.restrict(&["object".into()], false).expect("known");
        assert_eq!(p.steps.len(), 2, "the object and the bucket it needs");
        let mut p = plan(&program(1, "eu"), &State::empty("test")).expect("plan");
        p.restrict(&["bucket".into()], false).expect("known");
        assert_eq!(ops(&p), [("bucket".into(), Op::Create)]);
        let mut d = destroy_plan(&applied(&program(1, "eu"))).expect("plan");
        d.restrict(&["bucket".into()], true).expect("known");
        assert_eq!(
            d.steps.len(),
            2,
            "destroying the bucket destroys the object in it"
        );
        let err = p.restrict(&["buckett".into()], false).expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "no resource named `buckett` in this stack (did you mean `bucket`?)"
        );
    }

    #[test]
    fn a_kept_argument_is_taken_from_the_state_neither_replacing_nor_updating() {
        let kept_region = |size| {
            let mut p = Program::new();
            let bucket = p.add("bucket", Bucket::args("us")).expect("declared");
            p.add("object", Object::args(Input::from(bucket.id()), size))
                .expect("declared");
            p.keep(&bucket, &["region"]);
            p
        };
        // Stored in "eu", declared in "us": kept, so the bucket stays and is not replaced.
        let state = applied(&program(1, "eu"));
        let same = plan(&kept_region(1), &state).expect("plan");
        assert_eq!(
            ops(&same),
            [("bucket".into(), Op::Same), ("object".into(), Op::Same)]
        );
        // What is not kept still changes, and the step applies the stored value of what is.
        let updated = plan(&kept_region(2), &state).expect("plan");
        assert_eq!(
            ops(&updated),
            [("bucket".into(), Op::Same), ("object".into(), Op::Update)]
        );
        assert_eq!(updated.steps[0].args["region"], json!("eu"));
        // A resource the state does not hold yet is made as declared.
        let created = plan(&kept_region(1), &State::empty("test")).expect("plan");
        assert_eq!(created.steps[0].args["region"], json!("us"));
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

    #[test]
    fn replacing_or_deleting_a_protected_resource_is_a_loss_an_update_is_not() {
        let protect = |size, region| {
            let mut p = Program::new();
            let bucket = p.add("bucket", Bucket::args(region)).expect("declared");
            p.add("object", Object::args(Input::from(bucket.id()), size))
                .expect("declared");
            p.protect(&bucket, "data");
            p
        };
        let mut state = applied(&protect(1, "eu"));
        let updated = plan(&protect(2, "eu"), &state).expect("plan");
        assert!(
            updated.losses().is_empty(),
            "an update in place loses nothing"
        );
        let replaced = plan(&protect(1, "us"), &state).expect("plan");
        let losses: Vec<(&str, Op)> = replaced
            .losses()
            .iter()
            .map(|s| (s.name.as_str(), s.op))
            .collect();
        assert_eq!(losses, [("bucket", Op::Replace)]);
        assert_eq!(replaced.steps[0].protected.as_deref(), Some("data"));
        // Gone from the program: the state remembers the protection.
        state.protected = protect(1, "eu").protected();
        let removed = plan(&Program::new(), &state).expect("plan");
        let losses: Vec<&str> = removed.losses().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(losses, ["bucket"]);
        assert_eq!(destroy_plan(&state).expect("plan").losses().len(), 1);
    }
}
