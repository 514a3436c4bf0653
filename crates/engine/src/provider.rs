//! The one door between the engine and a cloud.

use serde_json::Value as Json;

use super::event::{Event, EventSink};
use crate::state::ResourceState;

/// What a step knows about where it runs, and how it reports waits.
#[derive(Clone)]
pub struct StepContext {
    pub stack: String,
    /// The resource's logical name in the program.
    pub name: String,
    pub type_name: String,
    /// The idempotency token of a create, recorded in the state before the call.
    pub token: Option<String>,
    /// Looking only: `find` must not change anything (a preview).
    pub read_only: bool,
    /// For the create of a replacement: the id of the resource it replaces, which a look for
    /// what an earlier attempt made must never take for the replacement (it carries the same
    /// tags).
    pub replacing: Option<String>,
    events: EventSink,
}

impl StepContext {
    pub fn new(stack: &str, name: &str, type_name: &str, events: EventSink) -> Self {
        StepContext {
            stack: stack.to_string(),
            name: name.to_string(),
            type_name: type_name.to_string(),
            token: None,
            read_only: false,
            replacing: None,
            events,
        }
    }

    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }

    /// Whether `id`, found by a look for what a create made, is the resource this create
    /// replaces (and so not what it made).
    pub fn is_replaced(&self, id: &str) -> bool {
        self.replacing.as_deref() == Some(id)
    }

    /// Says what the step is waiting for; renderers show it next to the resource.
    pub fn waiting(&self, what: impl Into<String>) {
        (self.events)(Event::Waiting {
            name: self.name.clone(),
            what: what.into(),
        });
    }
}

/// A resource just created.
#[derive(Clone, Debug)]
pub struct Created {
    pub id: String,
    pub outputs: Json,
}

/// A failed provider call: the cloud's error code where there is one, and what failed.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub code: Option<String>,
    pub message: String,
}

impl ProviderError {
    pub fn new(message: impl Into<String>) -> Self {
        ProviderError {
            code: None,
            message: message.into(),
        }
    }
}

/// Creates, updates and deletes resources of the kinds it knows, given resolved inputs.
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// The live arguments of `resources` (all of kind `type_name`), in one batched read where
    /// the cloud allows: `None` for one that no longer exists. Properties the provider cannot
    /// read keep their stored values.
    async fn read(
        &self,
        type_name: &str,
        resources: &[ResourceState],
    ) -> Result<Vec<Option<Json>>, ProviderError>;

    /// Looks for a resource that an interrupted create may have made (by its tags, name or the
    /// token in `ctx`), and finishes making it as `inputs` ask; `None` if there is none.
    async fn find(
        &self,
        ctx: &StepContext,
        inputs: &Json,
    ) -> Result<Option<Created>, ProviderError>;

    async fn create(&self, ctx: &StepContext, inputs: &Json) -> Result<Created, ProviderError>;
    /// Applies `inputs` to an existing resource in place; returns its new outputs.
    async fn update(
        &self,
        ctx: &StepContext,
        current: &ResourceState,
        inputs: &Json,
    ) -> Result<Json, ProviderError>;
    async fn delete(&self, ctx: &StepContext, current: &ResourceState)
        -> Result<(), ProviderError>;

    /// The outputs of `id`, a resource that exists already (made outside the stack) and that
    /// `inputs` declare, as its create would have said them; nothing is changed. How a stack
    /// adopts what it did not make ([`crate::adopt`]).
    async fn describe(
        &self,
        ctx: &StepContext,
        id: &str,
        inputs: &Json,
    ) -> Result<Json, ProviderError> {
        let _ = (id, inputs);
        Err(ProviderError::new(format!(
            "{} cannot be adopted",
            ctx.type_name
        )))
    }
}

/// Unresolved inputs reaching a provider are an engine bug; say so plainly.
impl From<super::expr::Unresolved> for ProviderError {
    fn from(_: super::expr::Unresolved) -> Self {
        ProviderError::new(
            "internal error: an input reached the provider unresolved (please report this)",
        )
    }
}
