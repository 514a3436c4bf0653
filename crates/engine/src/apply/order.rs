//! The order of apply's work: which steps each step waits for, and which go first.
//!
//! Forward steps wait for the forward steps they depend on; a deletion waits for the deletions
//! of everything that depends on it. Every function here is linear in the steps and their
//! dependencies, except the priority, which counts each step's transitive dependents.

use std::collections::{BTreeSet, HashMap};

use super::Work;

/// For each forward step, the forward steps it waits for: those it depends on.
pub(super) fn forward_waits(work: &[Work]) -> Vec<BTreeSet<usize>> {
    let index: HashMap<&str, usize> = work
        .iter()
        .enumerate()
        .map(|(i, w)| (w.name.as_str(), i))
        .collect();
    work.iter()
        .map(|w| {
            w.dependencies
                .iter()
                .filter_map(|d| index.get(d.as_str()).copied())
                .collect()
        })
        .collect()
}

/// For each deletion, the deletions it waits for: those of everything that depends on it.
pub(super) fn deletion_waits(work: &[Work]) -> Vec<BTreeSet<usize>> {
    // A name may stand twice (a replaced resource and the one gone from the program).
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, w) in work.iter().enumerate() {
        by_name.entry(w.name.as_str()).or_default().push(i);
    }
    let mut waits = vec![BTreeSet::new(); work.len()];
    for (j, dependent) in work.iter().enumerate() {
        for dependency in &dependent.dependencies {
            for &i in by_name.get(dependency.as_str()).into_iter().flatten() {
                if i != j {
                    waits[i].insert(j);
                }
            }
        }
    }
    waits
}

/// For each item, the items that wait for it.
pub(super) fn waited_by(waits: &[BTreeSet<usize>]) -> Vec<Vec<usize>> {
    let mut dependents = vec![Vec::new(); waits.len()];
    for (j, w) in waits.iter().enumerate() {
        for &i in w {
            dependents[i].push(j);
        }
    }
    dependents
}

/// Number of transitive dependents of each item: those with more work behind them go first.
pub(super) fn dependents_count(dependents: &[Vec<usize>]) -> Vec<usize> {
    (0..dependents.len())
        .map(|i| {
            let mut seen = BTreeSet::new();
            let mut frontier = vec![i];
            while let Some(node) = frontier.pop() {
                for &j in &dependents[node] {
                    if seen.insert(j) {
                        frontier.push(j);
                    }
                }
            }
            seen.len()
        })
        .collect()
}
