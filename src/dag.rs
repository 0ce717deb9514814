//! Ordering steps by the tables they read and write.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Location, Problem, SiyuError};

/// What the scheduler needs to know of a step.
pub struct Node {
    pub name: String,
    /// Where the step is defined, for messages.
    pub source: Location,
    pub reads: Vec<String>,
    pub writes: Vec<String>,
    /// Tables the step replaces in place (see [`crate::step::Step::replaces`]): every
    /// other step that reads one of them runs after it.
    pub replaces: Vec<String>,
}

impl Node {
    fn source_text(&self) -> String {
        self.source.describe()
    }
}

/// Steps in execution order, grouped in levels: every step of a level depends only on
/// inputs and on steps of earlier levels, so the steps of one level may run at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Indices into the node list; within a level, sorted by step name.
    pub levels: Vec<Vec<usize>>,
    /// For each node, the nodes it waits for (sorted): a step may start as soon as
    /// these are done, whatever else of its level is still running.
    pub deps: Vec<Vec<usize>>,
}

impl Schedule {
    pub fn order(&self) -> impl Iterator<Item = usize> + '_ {
        self.levels.iter().flatten().copied()
    }
}

/// Order the nodes, or report every name clash, unknown table and cycle.
///
/// `aliases` maps a table name to the table whose producer it waits for: the previous
/// night's copy of a published table (`previous_member_tier`) is read after the step
/// that writes `member_tier` has been planned, because it takes that table's schema.
pub fn schedule(
    nodes: &[Node],
    inputs: &BTreeSet<String>,
    aliases: &BTreeMap<String, String>,
) -> Result<Schedule, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut producer: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for t in &n.writes {
            if inputs.contains(t) || aliases.contains_key(t) {
                problems.push(
                    SiyuError::config(format!(
                        "step {} writes table {t}, which is an input table or a previous run's table; rename it",
                        n.name
                    ))
                    .at(n.source.clone())
                    .in_table(t),
                );
            } else if let Some(&other) = producer.get(t.as_str()) {
                problems.push(
                    SiyuError::config(format!(
                        "table {t} is written twice: here and by {}; table names must be unique",
                        nodes[other].source_text()
                    ))
                    .at(n.source.clone())
                    .in_table(t),
                );
            } else {
                producer.insert(t, i);
            }
        }
    }
    let mut replacer: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for t in &n.replaces {
            if let Some(other) = replacer.insert(t, i) {
                problems.push(
                    SiyuError::config(format!(
                        "table {t} is replaced by two steps: {} and {}",
                        nodes[other].name, n.name
                    ))
                    .at(n.source.clone())
                    .in_table(t),
                );
            }
        }
    }
    let mut deps: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for t in &n.reads {
            let waits_for = aliases.get(t).unwrap_or(t);
            if let Some(&r) = replacer.get(t.as_str())
                && r != i
            {
                deps[i].insert(r);
            }
            match producer.get(waits_for.as_str()) {
                Some(&p) => {
                    deps[i].insert(p);
                }
                None if inputs.contains(t) => {}
                None => problems.push(
                    SiyuError::config(format!(
                        "reads unknown table {t}: it is neither an input nor written by any step"
                    ))
                    .at(n.source.clone())
                    .in_table(t),
                ),
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }

    let mut level_of: Vec<Option<usize>> = vec![None; nodes.len()];
    let mut levels: Vec<Vec<usize>> = Vec::new();
    let mut done = 0;
    while done < nodes.len() {
        let mut ready: Vec<usize> = (0..nodes.len())
            .filter(|&i| level_of[i].is_none() && deps[i].iter().all(|&d| level_of[d].is_some()))
            .collect();
        if ready.is_empty() {
            let stuck: Vec<usize> = (0..nodes.len())
                .filter(|&i| level_of[i].is_none())
                .collect();
            return Err(vec![cycle_problem(nodes, &deps, &stuck)]);
        }
        ready.sort_by(|&a, &b| nodes[a].name.cmp(&nodes[b].name));
        for &i in &ready {
            level_of[i] = Some(levels.len());
        }
        done += ready.len();
        levels.push(ready);
    }
    Ok(Schedule {
        levels,
        deps: deps.into_iter().map(|d| d.into_iter().collect()).collect(),
    })
}

/// Describe one cycle among the steps that could not be ordered.
fn cycle_problem(nodes: &[Node], deps: &[BTreeSet<usize>], stuck: &[usize]) -> Problem {
    let stuck_set: BTreeSet<usize> = stuck.iter().copied().collect();
    // Walk dependencies inside the stuck set until a step repeats: that is a cycle.
    let mut path = vec![stuck[0]];
    loop {
        let last = *path.last().expect("non-empty");
        let next = deps[last]
            .iter()
            .copied()
            .find(|d| stuck_set.contains(d))
            .expect("a stuck step depends on another stuck step");
        if let Some(pos) = path.iter().position(|&p| p == next) {
            let mut cycle: Vec<String> = path[pos..]
                .iter()
                .map(|&i| nodes[i].source_text())
                .collect();
            cycle.push(nodes[next].source_text());
            return SiyuError::config(format!("dependency cycle: {}", cycle.join(" reads ")))
                .at(nodes[next].source.clone());
        }
        path.push(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, reads: &[&str]) -> Node {
        Node {
            name: name.into(),
            source: Location::file(format!("sql/{name}.sql")),
            reads: reads.iter().map(|s| s.to_string()).collect(),
            writes: vec![name.into()],
            replaces: vec![],
        }
    }

    fn inputs() -> BTreeSet<String> {
        ["orders".to_string(), "members".to_string()].into()
    }

    #[test]
    fn independent_steps_share_a_level_and_dependents_follow() {
        let nodes = [
            node("c", &["a", "b"]),
            node("b", &["orders"]),
            node("a", &["members"]),
        ];
        let s = schedule(&nodes, &inputs(), &BTreeMap::new()).unwrap();
        assert_eq!(s.levels, vec![vec![2, 1], vec![0]]);
    }

    #[test]
    fn cycle_names_the_files() {
        let nodes = [node("a", &["b"]), node("b", &["c"]), node("c", &["a"])];
        let err = schedule(&nodes, &inputs(), &BTreeMap::new()).unwrap_err();
        let msg = &err[0].message;
        assert!(msg.starts_with("dependency cycle"), "{msg}");
        for f in ["sql/a.sql", "sql/b.sql", "sql/c.sql"] {
            assert!(msg.contains(f), "{msg}");
        }
    }

    #[test]
    fn a_previous_run_table_orders_after_the_step_that_writes_the_table() {
        let nodes = [
            node("change", &["tier", "previous_tier"]),
            node("tier", &["orders"]),
        ];
        let aliases = BTreeMap::from([("previous_tier".to_string(), "tier".to_string())]);
        let s = schedule(&nodes, &inputs(), &aliases).unwrap();
        assert_eq!(s.levels, vec![vec![1], vec![0]]);
        // Reading the previous copy of your own table is a cycle.
        let nodes = [node("tier", &["previous_tier"])];
        assert!(schedule(&nodes, &inputs(), &aliases).is_err());
    }

    #[test]
    fn readers_of_a_replaced_table_run_after_the_step_that_replaces_it() {
        let mut clean = node("clean", &["orders"]);
        clean.replaces = vec!["orders".into()];
        let nodes = [node("a", &["orders"]), clean, node("b", &["members"])];
        let s = schedule(&nodes, &inputs(), &BTreeMap::new()).unwrap();
        assert_eq!(s.levels, vec![vec![2, 1], vec![0]]);
        let mut twice = node("again", &[]);
        twice.replaces = vec!["orders".into()];
        let mut clean = node("clean", &["orders"]);
        clean.replaces = vec!["orders".into()];
        let err = schedule(&[clean, twice], &inputs(), &BTreeMap::new()).unwrap_err();
        assert!(
            err[0].message.contains("replaced by two steps"),
            "{}",
            err[0]
        );
    }

    #[test]
    fn unknown_table_and_clashes_are_reported() {
        let nodes = [node("a", &["nope"]), node("orders", &[])];
        let err = schedule(&nodes, &inputs(), &BTreeMap::new()).unwrap_err();
        assert_eq!(err.len(), 2);
        assert!(err.iter().any(|p| p.message.contains("unknown table nope")));
        assert!(err.iter().any(|p| p.message.contains("input table")));
        let nodes = [node("a", &[]), node("a", &[])];
        let err = schedule(&nodes, &inputs(), &BTreeMap::new()).unwrap_err();
        assert!(err[0].message.contains("written twice"));
    }
}
