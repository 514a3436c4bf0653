//! Refresh: what the cloud holds now, compared with the state. Reads are batched by kind, so
//! the number of calls grows with the kinds in the stack, not with its resources.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value as Json;

use super::plan::PropertyChange;
use super::provider::{Provider, ProviderError};
use crate::state::State;

/// What changed outside ams-stack.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Drift {
    /// Resources whose properties were changed, each with its changes (old: stored, new: live).
    pub changed: Vec<(String, String, Vec<PropertyChange>)>,
    /// Resources deleted outside ams-stack.
    pub deleted: Vec<(String, String)>,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.deleted.is_empty()
    }
}

/// Reads every resource of `state` (one batched read per kind) and brings `state` up to date:
/// live properties replace the stored ones, deleted resources leave it.
pub async fn refresh(state: &mut State, provider: &dyn Provider) -> Result<Drift, ProviderError> {
    let mut by_kind: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (index, resource) in state.resources.iter().enumerate() {
        by_kind
            .entry(resource.type_name.clone())
            .or_default()
            .push(index);
    }
    let mut drift = Drift::default();
    let mut gone = Vec::new();
    for (type_name, indices) in by_kind {
        let resources: Vec<_> = indices
            .iter()
            .map(|&i| state.resources[i].clone())
            .collect();
        let live = provider.read(&type_name, &resources).await?;
        for (&index, live) in indices.iter().zip(live) {
            let resource = &mut state.resources[index];
            match live {
                None => {
                    drift
                        .deleted
                        .push((resource.name.clone(), resource.type_name.clone()));
                    gone.push(index);
                }
                Some(inputs) => {
                    let changes = differences(&resource.inputs, &inputs);
                    if !changes.is_empty() {
                        drift.changed.push((
                            resource.name.clone(),
                            resource.type_name.clone(),
                            changes,
                        ));
                        resource.inputs = inputs;
                    }
                }
            }
        }
    }
    gone.sort_unstable();
    for index in gone.into_iter().rev() {
        state.resources.remove(index);
    }
    Ok(drift)
}

fn differences(stored: &Json, live: &Json) -> Vec<PropertyChange> {
    let empty = serde_json::Map::new();
    let (stored, live) = (
        stored.as_object().unwrap_or(&empty),
        live.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<&String> = stored.keys().chain(live.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| stored.get(*k) != live.get(*k))
        .map(|k| PropertyChange {
            key: k.clone(),
            old: stored.get(k).cloned(),
            new: live.get(k).cloned(),
            forces_replace: false,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::state::LocalBackend;
    use crate::testing::{Bucket, MemoryProvider, Object};
    use crate::{apply, plan, ApplyOptions, EventSink, Input, Op, Program};

    #[tokio::test]
    async fn deleted_and_changed_resources_show_as_drift_and_plan_to_repair() {
        let dir = tempfile::tempdir().expect("dir");
        let backend = LocalBackend::new(dir.path(), "test");
        let provider = Arc::new(MemoryProvider::default());
        let mut program = Program::new();
        let bucket = program.add("bucket", Bucket::args("eu")).expect("bucket");
        program
            .add("object", Object::args(Input::from(bucket.id()), 1))
            .expect("object");
        let mut state = State::empty("test");
        let sink: EventSink = Arc::new(|_| {});
        let first = plan(&program, &state).expect("plan");
        apply(
            &first,
            &mut state,
            provider.clone(),
            &backend,
            sink,
            &ApplyOptions::default(),
        )
        .await
        .expect("apply");

        // By hand: the object is resized, the bucket... stays; then the object is deleted.
        let object_id = state.get("object").expect("object").id.clone();
        provider
            .live
            .lock()
            .expect("live")
            .get_mut(&object_id)
            .expect("object")
            .2["size"] = serde_json::json!(9);
        let drift = refresh(&mut state, provider.as_ref())
            .await
            .expect("refresh");
        assert_eq!(drift.changed.len(), 1);
        assert_eq!(drift.changed[0].2[0].key, "size");
        assert_eq!(
            plan(&program, &state).expect("plan").count(Op::Update),
            1,
            "the plan puts the size back"
        );

        provider.live.lock().expect("live").remove(&object_id);
        let drift = refresh(&mut state, provider.as_ref())
            .await
            .expect("refresh");
        assert_eq!(
            drift.deleted,
            vec![("object".to_string(), "test:Object".to_string())]
        );
        assert_eq!(
            plan(&program, &state).expect("plan").count(Op::Create),
            1,
            "the plan makes it again"
        );
        assert!(
            provider
                .calls()
                .iter()
                .filter(|c| c.starts_with("read"))
                .count()
                <= 4,
            "one read per kind and refresh"
        );
    }
}
