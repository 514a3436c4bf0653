//! Crash recovery: the creates an interrupted run started and did not see finish are looked up
//! in the cloud, and adopted or confirmed absent, before anything is planned.

use std::time::Duration;

use super::event::EventSink;
use super::provider::{Provider, StepContext};
use super::report::StepFailure;
use crate::op::Op;
use crate::state::{Move, ResourceState, State};

/// What became of a create that an earlier run started and did not see finish.
#[derive(Clone, Debug)]
pub struct Resolution {
    pub name: String,
    pub type_name: String,
    /// The resource found and adopted, or `None`: it does not exist and will be created.
    pub adopted: Option<String>,
}

/// Resolves the pending creates of an interrupted run: each resource is looked up and adopted
/// into `state` (finished as its inputs asked), or confirmed absent, by the moves a step's own
/// end makes ([`State::make`]). The caller saves (a preview does not).
pub async fn resolve_pending(
    state: &mut State,
    provider: &dyn Provider,
    events: EventSink,
    read_only: bool,
    settle: Duration,
) -> Result<Vec<Resolution>, StepFailure> {
    // A request sent just before the crash may still be at work in the cloud: let it land.
    let newest = state
        .pending
        .iter()
        .filter_map(|p| humantime::parse_rfc3339(&p.started).ok())
        .max();
    if let Some(waited) = newest.and_then(|t| std::time::SystemTime::now().duration_since(t).ok()) {
        if waited < settle {
            tokio::time::sleep(settle - waited).await;
        }
    }
    let mut resolutions = Vec::new();
    // What is not resolved when a look-up fails stays pending for the next run.
    for pending in state.pending.clone() {
        let mut ctx = StepContext::new(
            &state.stack,
            &pending.name,
            &pending.type_name,
            events.clone(),
        )
        .with_token(&pending.token);
        ctx.read_only = read_only;
        if pending.operation == Op::Replace {
            ctx.replacing = state.get(&pending.name).map(|r| r.id.clone());
        }
        let found = provider
            .find(&ctx, &pending.inputs)
            .await
            .map_err(|error| StepFailure {
                name: pending.name.clone(),
                type_name: pending.type_name.clone(),
                op: pending.operation,
                error,
            })?;
        // The same moves as the step's own end would have made.
        let adopted = match found {
            Some(created) => {
                state.make(Move::Made {
                    op: pending.operation,
                    resource: ResourceState {
                        name: pending.name.clone(),
                        type_name: pending.type_name.clone(),
                        id: created.id.clone(),
                        inputs: pending.inputs,
                        outputs: created.outputs,
                        dependencies: pending.dependencies,
                    },
                });
                Some(created.id)
            }
            None => {
                state.make(Move::Absent {
                    name: pending.name.clone(),
                });
                None
            }
        };
        resolutions.push(Resolution {
            name: pending.name,
            type_name: pending.type_name,
            adopted,
        });
    }
    Ok(resolutions)
}
