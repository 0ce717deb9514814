//! `siyu plan`: the steps in execution order, as the run record describes them.

use super::Prepared;
use crate::manifest::{MANIFEST_VERSION, Plan, PlannedStep};

/// The prepared job's steps, level by level, each with what it reads, writes and
/// publishes.
pub fn plan(p: &Prepared) -> Plan {
    let mut steps = Vec::new();
    for (level, ids) in p.schedule.levels.iter().enumerate() {
        for &i in ids {
            steps.push(planned_step(p, i, level, steps.len()));
        }
    }
    Plan {
        manifest_version: MANIFEST_VERSION,
        job: p.job().name.clone(),
        as_of: p.ctx.as_of,
        steps,
    }
}

/// Step `i` of the prepared job, at `level` (0-based) and `position` (0-based) in the
/// execution order.
pub fn planned_step(p: &Prepared, i: usize, level: usize, position: usize) -> PlannedStep {
    let s = &p.steps[i];
    let writes = s.writes();
    PlannedStep {
        order: position + 1,
        level: level + 1,
        name: s.name().to_string(),
        kind: s.kind.to_string(),
        source: s.source.describe(),
        reads: s.reads(),
        published: writes
            .iter()
            .filter(|w| p.job().publish.contains(w))
            .cloned()
            .collect(),
        writes,
    }
}
