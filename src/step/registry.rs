//! The step registry: every Rust step kind a job can use, in one list.
//!
//! A kind is a name and a function that builds a step from its `[[steps]]` entry,
//! checking every parameter (so `check` refuses bad settings before anything runs). An
//! *implicit* kind is built into every job once, with no entry: the data quality checks
//! are one. The runner asks the registry for a job's steps and knows no kind by name, so
//! a new kind — ours, or one a program embedding siyu registers with
//! [`Registry::register`] — needs no change to the runner.

use crate::error::{Location, Problem, SiyuError};
use crate::job::Job;

use super::{JobStep, Step};

/// Builds a step from the parameters of its `[[steps]]` entry (without `type`); `at`
/// locates the entry for messages. Implicit kinds get an empty table.
pub type Build = fn(params: &toml::Table, at: &Location) -> Result<Box<dyn Step>, Problem>;

/// One step kind.
#[derive(Clone, Copy)]
pub struct StepKind {
    /// The `type` a job file names it by.
    pub name: &'static str,
    /// Built into every job, never declared.
    pub implicit: bool,
    pub build: Build,
}

/// The step kinds a job may use.
#[derive(Clone)]
pub struct Registry {
    kinds: Vec<StepKind>,
}

impl StepKind {
    /// The entry of a kind job files declare.
    pub fn declared<S: super::DeclaredStep>() -> StepKind {
        StepKind {
            name: S::KIND,
            implicit: false,
            build: S::build,
        }
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::builtin()
    }
}

impl Registry {
    /// siyu's own kinds.
    pub fn builtin() -> Registry {
        Registry {
            kinds: vec![
                StepKind {
                    name: super::quality::KIND,
                    implicit: true,
                    build: super::quality::QualityStep::build,
                },
                StepKind::declared::<super::rules::RulesStep>(),
                StepKind::declared::<super::recommend::RecommendStep>(),
                StepKind::declared::<super::segment::SegmentStep>(),
                StepKind::declared::<super::outreach::OutreachStep>(),
                StepKind::declared::<super::value::ValueStep>(),
                StepKind {
                    name: super::dictionary::KIND,
                    implicit: false,
                    build: super::dictionary::DictionaryStep::build,
                },
            ],
        }
    }

    /// Add a kind, or replace the kind of the same name.
    pub fn register(mut self, kind: StepKind) -> Registry {
        self.kinds.retain(|k| k.name != kind.name);
        self.kinds.push(kind);
        self
    }

    /// Names of the kinds a job file may declare, in registration order.
    pub fn declarable(&self) -> Vec<&'static str> {
        self.kinds
            .iter()
            .filter(|k| !k.implicit)
            .map(|k| k.name)
            .collect()
    }

    /// The job's Rust steps: one of each implicit kind, then every `[[steps]]` entry in
    /// file order. Every problem is reported; a step with problems is left out.
    pub fn build(&self, job: &Job) -> (Vec<JobStep>, Vec<Problem>) {
        let mut steps = Vec::new();
        let mut problems = Vec::new();
        let mut add = |kind: &StepKind, table: &toml::Table, source: Location| match (kind.build)(
            table, &source,
        ) {
            Ok(step) => steps.push(JobStep {
                kind: kind.name,
                source,
                step,
            }),
            Err(p) => problems.push(p.at(source)),
        };
        for kind in self.kinds.iter().filter(|k| k.implicit) {
            let source = Location {
                step: Some(kind.name.to_string()),
                ..Location::default()
            };
            add(kind, &toml::Table::new(), source);
        }
        let mut unknown = Vec::new();
        for decl in &job.steps {
            let at = Location::steps_entry(&job.path, decl.index);
            match self.kinds.iter().find(|k| k.name == decl.kind) {
                Some(kind) if kind.implicit => unknown.push(SiyuError::config(format!(
                    "step type {:?} is built in: every job runs it once, so it cannot be declared",
                    decl.kind
                ))
                .at(at)),
                Some(kind) => add(kind, &decl.table, at),
                None => unknown.push(SiyuError::config(format!(
                    "unknown step type {:?} (known step types: {})",
                    decl.kind,
                    self.declarable().join(", ")
                ))
                .at(at)),
            }
        }
        problems.extend(unknown);
        (steps, problems)
    }
}
