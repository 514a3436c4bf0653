//! The dependency graph (petgraph): ordering, cycle detection and Graphviz output.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GraphError {
    #[error("dependency cycle between {}", .0.join(" -> "))]
    Cycle(Vec<String>),
}

/// A graph whose edges run from a dependency to what depends on it.
struct Graph {
    graph: DiGraph<String, ()>,
}

impl Graph {
    /// `nodes` maps each name to the names it depends on; dependencies outside `nodes` are ignored
    /// (they are already in place and ordered by an earlier run).
    fn new(nodes: &BTreeMap<String, BTreeSet<String>>) -> Self {
        let mut graph = DiGraph::new();
        let index: BTreeMap<&str, NodeIndex> = nodes
            .keys()
            .map(|name| (name.as_str(), graph.add_node(name.clone())))
            .collect();
        for (name, dependencies) in nodes {
            for dependency in dependencies {
                if let Some(&from) = index.get(dependency.as_str()) {
                    graph.add_edge(from, index[name.as_str()], ());
                }
            }
        }
        Graph { graph }
    }
}

/// Names in an order where every dependency comes before what depends on it; ties are broken
/// by name so that the order is stable.
pub fn dependency_order(
    nodes: &BTreeMap<String, BTreeSet<String>>,
) -> Result<Vec<String>, GraphError> {
    let Graph { graph } = Graph::new(nodes);
    if toposort(&graph, None).is_err() {
        let mut cycle = tarjan_scc(&graph)
            .into_iter()
            .find(|component| {
                component.len() > 1 || graph.contains_edge(component[0], component[0])
            })
            .map(|component| {
                component
                    .iter()
                    .map(|&i| graph[i].clone())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        cycle.sort();
        return Err(GraphError::Cycle(cycle));
    }
    // Kahn's algorithm over a sorted ready set keeps the order independent of insertion.
    let mut remaining: BTreeMap<&str, usize> = nodes
        .iter()
        .map(|(name, deps)| {
            (
                name.as_str(),
                deps.iter().filter(|d| nodes.contains_key(*d)).count(),
            )
        })
        .collect();
    let mut ready: BTreeSet<&str> = remaining
        .iter()
        .filter(|(_, &n)| n == 0)
        .map(|(&name, _)| name)
        .collect();
    // Who depends on each node, once: the loop below visits each edge once.
    let mut dependents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (dependent, deps) in nodes {
        for dependency in deps {
            dependents
                .entry(dependency.as_str())
                .or_default()
                .push(dependent.as_str());
        }
    }
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(name) = ready.pop_first() {
        order.push(name.to_string());
        remaining.remove(name);
        for dependent in dependents.get(name).into_iter().flatten() {
            if let Some(count) = remaining.get_mut(dependent) {
                *count -= 1;
                if *count == 0 {
                    ready.insert(dependent);
                }
            }
        }
    }
    Ok(order)
}

/// Graphviz DOT of the graph, with nodes grouped into clusters by `group` (e.g. a tier name).
pub fn to_dot(
    nodes: &BTreeMap<String, BTreeSet<String>>,
    label: &dyn Fn(&str) -> String,
    group: &dyn Fn(&str) -> String,
) -> String {
    let mut groups: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for name in nodes.keys() {
        groups.entry(group(name)).or_default().push(name);
    }
    let mut dot = String::from(
        "digraph stack {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
    );
    for (index, (group_name, members)) in groups.iter().enumerate() {
        dot.push_str(&format!(
            "  subgraph cluster_{index} {{\n    label=\"{group_name}\";\n"
        ));
        for member in members {
            dot.push_str(&format!(
                "    \"{member}\" [label=\"{}\"];\n",
                label(member)
            ));
        }
        dot.push_str("  }\n");
    }
    for (name, dependencies) in nodes {
        for dependency in dependencies.iter().filter(|d| nodes.contains_key(*d)) {
            dot.push_str(&format!("  \"{dependency}\" -> \"{name}\";\n"));
        }
    }
    dot.push_str("}\n");
    dot
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        edges
            .iter()
            .map(|(n, deps)| (n.to_string(), deps.iter().map(|d| d.to_string()).collect()))
            .collect()
    }

    #[test]
    fn orders_dependencies_first() {
        let g = graph(&[
            ("subnet", &["vpc"]),
            ("vpc", &[]),
            ("instance", &["subnet", "sg"]),
            ("sg", &["vpc"]),
        ]);
        assert_eq!(
            dependency_order(&g).expect("no cycle"),
            ["vpc", "sg", "subnet", "instance"]
        );
    }

    #[test]
    fn names_the_resources_in_a_cycle() {
        let g = graph(&[("a", &["c"]), ("b", &["a"]), ("c", &["b"]), ("d", &[])]);
        assert_eq!(
            dependency_order(&g),
            Err(GraphError::Cycle(vec!["a".into(), "b".into(), "c".into()]))
        );
    }

    #[test]
    fn dot_clusters_nodes_by_group() {
        let g = graph(&[("vpc", &[]), ("mongodb", &["vpc"])]);
        let dot = to_dot(&g, &|n| n.to_string(), &|n| {
            if n == "vpc" {
                "network".into()
            } else {
                "data".into()
            }
        });
        assert!(dot.contains("label=\"network\""));
        assert!(dot.contains("\"vpc\" -> \"mongodb\""));
    }
}
