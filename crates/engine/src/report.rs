//! What an apply did: the steps done, failed and not started, and the analytics the CLI shows
//! after it (the longest chain of dependent steps).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::plan::Plan;
use super::provider::ProviderError;
use crate::op::Op;

/// A step that failed, with the provider's error.
#[derive(Clone, Debug)]
pub struct StepFailure {
    pub name: String,
    pub type_name: String,
    pub op: Op,
    pub error: ProviderError,
}

/// What an apply did.
#[derive(Clone, Debug, Default)]
pub struct ApplyReport {
    pub done: Vec<(String, Op, Duration)>,
    pub failures: Vec<StepFailure>,
    /// Steps never started because of a failure or a cancellation.
    pub not_started: Vec<String>,
    pub cancelled: bool,
    pub elapsed: Duration,
}

impl ApplyReport {
    pub fn succeeded(&self) -> bool {
        self.failures.is_empty() && !self.cancelled && self.not_started.is_empty()
    }

    pub fn count(&self, op: Op) -> usize {
        self.done.iter().filter(|(_, o, _)| *o == op).count()
    }

    /// The longest chain of dependent steps that ran, by their summed durations.
    pub fn critical_chain(&self, plan: &Plan) -> Option<(Vec<String>, Duration)> {
        let depends: BTreeMap<&str, &BTreeSet<String>> = plan
            .steps
            .iter()
            .map(|s| (s.name.as_str(), &s.dependencies))
            .collect();
        // `done` is in completion order, so every predecessor is seen before its successor.
        let mut best: Vec<(Duration, Option<usize>)> = Vec::with_capacity(self.done.len());
        for (i, (name, op, took)) in self.done.iter().enumerate() {
            let deleting = op.deletes();
            let before = self.done[..i]
                .iter()
                .enumerate()
                .filter(
                    |(_, (other, other_op, _))| match (deleting, other_op.deletes()) {
                        (false, false) => depends
                            .get(name.as_str())
                            .is_some_and(|d| d.contains(other)),
                        (true, true) => depends
                            .get(other.as_str())
                            .is_some_and(|d| d.contains(name)),
                        _ => false,
                    },
                )
                .max_by_key(|(j, _)| best[*j].0)
                .map(|(j, _)| j);
            best.push((*took + before.map_or(Duration::ZERO, |j| best[j].0), before));
        }
        let (mut at, total) = best
            .iter()
            .enumerate()
            .max_by_key(|(_, b)| b.0)
            .map(|(i, b)| (Some(i), b.0))?;
        let mut chain = Vec::new();
        while let Some(i) = at {
            chain.push(self.done[i].0.clone());
            at = best[i].1;
        }
        chain.reverse();
        Some((chain, total))
    }
}
