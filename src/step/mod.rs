//! Steps: the units the runner schedules.
//!
//! Every step declares the tables it reads and writes; the runner orders steps by those
//! tables, plans them all (cheaply, for `check` and `plan`) and then runs them. SQL job
//! files are one kind of step; Rust step kinds (segmentation, rule mining, outreach)
//! are declared in the job file as `[[steps]] type = "..."` and built by [`build`]. A new
//! step kind is a new module here plus one arm in [`build`]; the runner does not change.

pub mod outreach;
pub mod recommend;
pub mod rules;
pub mod segment;
pub mod sql;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::prelude::{DataFrame, SessionContext};
use futures::future::BoxFuture;

use crate::error::{ErrorClass, Problem, Result, SiyuError};
use crate::job::{Job, ParamValue, StepDecl};

/// What a step sees while it plans or runs.
pub struct StepContext {
    pub session: SessionContext,
    pub job: Arc<Job>,
    pub params: BTreeMap<String, ParamValue>,
    pub as_of: NaiveDate,
    /// Receives the step's output tables. Absent while only planning.
    pub sink: Option<Arc<dyn TableSink>>,
    /// What steps report for the manifest (step name → details).
    pub details: Arc<std::sync::Mutex<BTreeMap<String, serde_json::Value>>>,
}

impl StepContext {
    /// A table written by an earlier step, or an input.
    pub async fn table(&self, name: &str) -> Result<DataFrame> {
        Ok(self.session.table(name).await?)
    }

    /// `as_of` as an Arrow Date32 value (days since 1970-01-01).
    pub fn as_of_date32(&self) -> i32 {
        (self.as_of - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
    }

    /// Record details of a step's run in the manifest (under the step's entry).
    pub fn detail(&self, step: &str, value: serde_json::Value) {
        self.details
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(step.to_string(), value);
    }

    /// Hand a computed table to the sink (which writes it and makes it readable by
    /// later steps). Returns the number of rows written.
    pub async fn write(&self, name: &str, df: DataFrame) -> Result<u64> {
        let sink = self
            .sink
            .as_ref()
            .ok_or_else(|| SiyuError::runtime(format!("{name}: no sink while planning")))?;
        sink.write(name, df).await
    }
}

/// Where steps put their output: the runner's staging area.
pub trait TableSink: Send + Sync {
    fn write<'a>(&'a self, name: &'a str, df: DataFrame) -> BoxFuture<'a, Result<u64>>;
}

/// A unit of work in a job.
pub trait Step: Send + Sync {
    /// Unique within the job; for a SQL file, the table it writes.
    fn name(&self) -> &str;
    /// `sql`, or the `type` of a `[[steps]]` entry.
    fn kind(&self) -> &'static str;
    /// Where it is defined: a SQL file, or the job file's `[[steps]]` entry.
    fn source(&self) -> String;
    fn reads(&self) -> Vec<String>;
    fn writes(&self) -> Vec<String>;
    /// The schema of every table it writes, without running anything heavy. The
    /// tables it reads are registered (possibly empty) in `ctx.session`.
    fn plan<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Vec<(String, SchemaRef)>>>;
    /// Compute and write every table in `writes()` through `ctx.write`.
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<()>>;
}

/// The step kinds a job file may declare under `[[steps]]`.
pub const STEP_KINDS: &[&str] = &["rules", "recommend", "segment", "outreach"];

/// Build a `[[steps]]` entry into a runnable step, checking its parameters.
pub fn build(decl: &StepDecl, job_path: &Path) -> std::result::Result<Box<dyn Step>, Problem> {
    let at = format!("{} [[steps]] #{}", job_path.display(), decl.index + 1);
    match decl.kind.as_str() {
        "rules" => Ok(Box::new(rules::RulesStep::build(&decl.table, &at)?)),
        "recommend" => Ok(Box::new(recommend::RecommendStep::build(&decl.table, &at)?)),
        "segment" => Ok(Box::new(segment::SegmentStep::build(&decl.table, &at)?)),
        "outreach" => Ok(Box::new(outreach::OutreachStep::build(&decl.table, &at)?)),
        other => Err(Problem::new(
            ErrorClass::Config,
            at,
            format!(
                "unknown step type {other:?} (known step types: {})",
                STEP_KINDS.join(", ")
            ),
        )),
    }
}
