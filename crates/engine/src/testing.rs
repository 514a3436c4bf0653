//! An in-memory provider for testing the engine without a cloud.
//!
//! It knows two kinds, [`Bucket`] and [`Object`] (an object refers to its bucket), keeps what
//! it made in memory, counts calls, can be told to fail for a named resource, and can make every
//! call take a while so that tests see concurrency.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use super::expr::Input;
use super::provider::{Created, Provider, ProviderError, StepContext};
use crate::state::ResourceState;
use crate::{Kind, Outputs};

/// A bucket in a region; its output is its id.
#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "test:Bucket", outputs = MemoryOutputs)]
pub struct Bucket {
    #[kind(replace)]
    pub region: Input<String>,
}

impl Bucket {
    pub fn args(region: &str) -> Bucket {
        Bucket {
            region: region.into(),
        }
    }
}

/// An object in a bucket.
#[derive(Serialize, Deserialize, Kind)]
#[kind(type_name = "test:Object", outputs = MemoryOutputs)]
pub struct Object {
    #[kind(replace)]
    pub bucket: Input<String>,
    pub size: Input<u32>,
}

impl Object {
    pub fn args(bucket: Input<String>, size: u32) -> Object {
        Object {
            bucket,
            size: Input::Value(size),
        }
    }
}

/// What the memory provider says of everything it makes.
#[derive(Serialize, Deserialize, Outputs)]
pub struct MemoryOutputs {
    /// The id it gave the resource.
    pub id: String,
}

/// What lives in the in-memory cloud: id to (type, name, inputs).
pub type Live = BTreeMap<String, (String, String, Json)>;

/// Resources held in memory, keyed by id.
#[derive(Default)]
pub struct MemoryProvider {
    /// id -> (type, logical name, inputs).
    pub live: Mutex<Live>,
    /// Names whose next create takes effect and then reports a failure (a lost answer).
    pub lose_answer: Mutex<BTreeSet<String>>,
    pub calls: Mutex<Vec<String>>,
    pub fail_on: Mutex<BTreeSet<String>>,
    pub delay: Duration,
    in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    next_id: AtomicUsize,
}

impl MemoryProvider {
    pub fn with_delay(delay: Duration) -> Self {
        MemoryProvider {
            delay,
            ..Default::default()
        }
    }

    pub fn fail(&self, name: &str) {
        self.fail_on
            .lock()
            .map(|mut f| f.insert(name.to_string()))
            .ok();
    }

    /// The next create of `name` takes effect, but its answer is lost.
    pub fn lose_answer(&self, name: &str) {
        self.lose_answer
            .lock()
            .map(|mut f| f.insert(name.to_string()))
            .ok();
    }

    pub fn live_count(&self) -> usize {
        self.live.lock().map(|l| l.len()).unwrap_or(0)
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Records a call (`create web`, `read t:s:K`).
    fn record(&self, call: String) {
        self.calls.lock().map(|mut c| c.push(call)).ok();
    }

    /// What lives in the cloud: id to (type, name, inputs).
    fn live(&self) -> Result<std::sync::MutexGuard<'_, Live>, ProviderError> {
        self.live.lock().map_err(|_| ProviderError::new("poisoned"))
    }

    async fn call(&self, what: &str, ctx: &StepContext) -> Result<(), ProviderError> {
        self.record(format!("{what} {}", ctx.name));
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        if !self.delay.is_zero() {
            ctx.waiting("the test delay");
            tokio::time::sleep(self.delay).await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let failing = self
            .fail_on
            .lock()
            .map(|f| f.contains(&ctx.name))
            .unwrap_or(false);
        if failing {
            return Err(ProviderError {
                code: Some("InjectedFailure".into()),
                message: format!("{what} of {} failed on purpose", ctx.name),
            });
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Provider for MemoryProvider {
    async fn read(
        &self,
        type_name: &str,
        resources: &[ResourceState],
    ) -> Result<Vec<Option<Json>>, ProviderError> {
        self.record(format!("read {type_name}"));
        let live = self.live()?;
        Ok(resources
            .iter()
            .map(|r| live.get(&r.id).map(|(_, _, inputs)| inputs.clone()))
            .collect())
    }

    async fn create(&self, ctx: &StepContext, inputs: &Json) -> Result<Created, ProviderError> {
        self.call("create", ctx).await?;
        let n = self.next_id.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}-{n}", ctx.name);
        self.live()?.insert(
            id.clone(),
            (ctx.type_name.clone(), ctx.name.clone(), inputs.clone()),
        );
        let lost = self
            .lose_answer
            .lock()
            .map(|mut l| l.remove(&ctx.name))
            .unwrap_or(false);
        if lost {
            return Err(ProviderError {
                code: Some("ServiceUnavailable".into()),
                message: "the answer was lost".into(),
            });
        }
        Ok(Created {
            id: id.clone(),
            outputs: json!({ "id": id }),
        })
    }

    async fn update(
        &self,
        ctx: &StepContext,
        current: &ResourceState,
        inputs: &Json,
    ) -> Result<Json, ProviderError> {
        self.call("update", ctx).await?;
        let mut live = self.live()?;
        let entry = live
            .get_mut(&current.id)
            .ok_or_else(|| ProviderError::new(format!("{} not found", current.id)))?;
        entry.2 = inputs.clone();
        Ok(current.outputs.clone())
    }

    async fn delete(
        &self,
        ctx: &StepContext,
        current: &ResourceState,
    ) -> Result<(), ProviderError> {
        self.call("delete", ctx).await?;
        self.live()?.remove(&current.id);
        Ok(())
    }

    async fn describe(
        &self,
        ctx: &StepContext,
        id: &str,
        _inputs: &Json,
    ) -> Result<Json, ProviderError> {
        self.record(format!("describe {}", ctx.name));
        match self.live()?.get(id) {
            Some(_) => Ok(json!({ "id": id })),
            None => Err(ProviderError {
                code: Some("NotFound".into()),
                message: format!("{id} does not exist"),
            }),
        }
    }

    async fn find(
        &self,
        ctx: &StepContext,
        _inputs: &Json,
    ) -> Result<Option<Created>, ProviderError> {
        self.record(format!("find {}", ctx.name));
        let live = self.live()?;
        Ok(live
            .iter()
            .find(|(_, (type_name, name, _))| *name == ctx.name && *type_name == ctx.type_name)
            .map(|(id, _)| Created {
                id: id.clone(),
                outputs: json!({ "id": id }),
            }))
    }
}
