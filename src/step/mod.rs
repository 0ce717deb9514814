//! Steps: the units the runner schedules.
//!
//! Every step declares the tables it reads and writes; the runner orders steps by those
//! tables, plans them all (cheaply, for `check` and `plan`) and then runs them. SQL job
//! files are one kind of step; the other kinds are Rust, listed in the [`registry`]:
//! declared in the job file as `[[steps]] type = "..."`, or built into every job (the
//! data quality checks). A new step kind is a module here plus one entry in
//! [`registry::Registry::builtin`]; the runner does not change.

pub mod dictionary;
pub mod outreach;
pub mod quality;
pub mod recommend;
pub mod registry;
pub mod rules;
pub mod segment;
pub mod sql;
pub mod tests;
pub mod value;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::NaiveDate;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::prelude::{DataFrame, SessionContext};
use futures::future::BoxFuture;

use crate::error::{Location, Result, SiyuError};
use crate::input::Input;
use crate::job::{Job, ParamValue};
use crate::manifest::{StepDetails, Warning};

pub use registry::{Registry, StepKind};

/// What a step sees while it plans or runs. Built once per job, by the runner.
pub struct StepContext {
    pub session: SessionContext,
    pub job: Arc<Job>,
    pub params: BTreeMap<String, ParamValue>,
    pub as_of: NaiveDate,
    /// The input tables as found on disk (files, rows), before any step ran.
    pub inputs: Arc<Vec<Input>>,
    /// Receives the step's output tables; attached when the job runs (never while only
    /// checking or planning).
    sink: Arc<OnceLock<Arc<dyn TableSink>>>,
    notes: Arc<Mutex<Notes>>,
    /// Where the SQL runs.
    pub engine: Arc<crate::engine::Engine>,
    /// On a distributed engine, an in-process session for tables the Rust steps computed
    /// here (Ballista cannot query a table held in the client's memory): they are sorted
    /// and written from this process.
    local: Option<SessionContext>,
}

/// What steps report for the run record.
#[derive(Default)]
struct Notes {
    details: BTreeMap<String, StepDetails>,
    warnings: Vec<Warning>,
}

impl StepContext {
    pub fn new(
        session: SessionContext,
        job: Arc<Job>,
        params: BTreeMap<String, ParamValue>,
        as_of: NaiveDate,
        inputs: Arc<Vec<Input>>,
    ) -> StepContext {
        StepContext {
            session,
            job,
            params,
            as_of,
            inputs,
            sink: Arc::default(),
            notes: Arc::default(),
            engine: Arc::default(),
            local: None,
        }
    }

    /// The same context with its SQL on `engine`.
    pub fn on_engine(self, engine: crate::engine::Engine) -> StepContext {
        let local = engine.is_distributed().then(|| {
            let partitions = std::thread::available_parallelism().map_or(2, |n| n.get());
            let mut config = datafusion::prelude::SessionConfig::new()
                .with_target_partitions(partitions)
                .with_information_schema(false);
            config
                .options_mut()
                .execution
                .parquet
                .schema_force_view_types = false;
            SessionContext::new_with_config(config)
        });
        StepContext {
            engine: Arc::new(engine),
            local,
            ..self
        }
    }

    /// The same context over another session (a step's own, see
    /// [`crate::session::step_session`]): same tables, sink and run record.
    pub fn with_session(&self, session: SessionContext) -> StepContext {
        StepContext {
            session,
            job: Arc::clone(&self.job),
            params: self.params.clone(),
            as_of: self.as_of,
            inputs: Arc::clone(&self.inputs),
            sink: Arc::clone(&self.sink),
            notes: Arc::clone(&self.notes),
            engine: Arc::clone(&self.engine),
            local: self.local.clone(),
        }
    }

    /// Attach the sink steps write to, once, before the first step runs.
    pub fn attach_sink(&self, sink: Arc<dyn TableSink>) -> Result<()> {
        self.sink
            .set(sink)
            .map_err(|_| SiyuError::runtime("the job's table sink is attached twice"))
    }

    /// A table written by an earlier step, or an input.
    pub async fn table(&self, name: &str) -> Result<DataFrame> {
        Ok(self.session.table(name).await?)
    }

    /// `as_of` as an Arrow Date32 value (days since 1970-01-01).
    pub fn as_of_date32(&self) -> i32 {
        crate::columns::date32(self.as_of)
    }

    fn notes(&self) -> std::sync::MutexGuard<'_, Notes> {
        self.notes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record details of a step's run for the manifest (under the step's entry).
    pub fn detail(&self, step: &str, details: StepDetails) {
        self.notes().details.insert(step.to_string(), details);
    }

    /// The details `step` recorded, if any.
    pub fn details_of(&self, step: &str) -> Option<StepDetails> {
        self.notes().details.get(step).cloned()
    }

    /// Log a warning and keep it for the manifest and the report.
    pub fn warn(&self, warning: Warning) {
        tracing::warn!(
            step = warning.step.as_deref(),
            table = warning.table.as_deref(),
            "{}",
            warning.message
        );
        self.notes().warnings.push(warning);
    }

    /// Every warning so far, in order.
    pub fn warnings(&self) -> Vec<Warning> {
        self.notes().warnings.clone()
    }

    /// Hand a computed table to the sink (which writes it and makes it readable by
    /// later steps). Returns the number of rows written.
    pub async fn write(&self, name: &str, df: DataFrame) -> Result<u64> {
        let sink = self
            .sink
            .get()
            .ok_or_else(|| SiyuError::runtime(format!("{name}: no sink while planning")))?;
        sink.write(name, df).await
    }

    /// A table a step computed in this process as a frame the sink can write: over the
    /// job's session when it runs here (its memory counted in the step's pool), over an
    /// in-process one when the SQL runs on a cluster.
    pub fn batch_frame(
        &self,
        batch: datafusion::arrow::record_batch::RecordBatch,
    ) -> Result<DataFrame> {
        Ok(self
            .local
            .as_ref()
            .unwrap_or(&self.session)
            .read_batch(batch)?)
    }

    /// [`StepContext::write`] a table computed in this process.
    pub async fn write_batch(
        &self,
        name: &str,
        batch: datafusion::arrow::record_batch::RecordBatch,
    ) -> Result<u64> {
        self.write(name, self.batch_frame(batch)?).await
    }
}

/// Where steps put their output: the runner's staging area.
pub trait TableSink: Send + Sync {
    fn write<'a>(&'a self, name: &'a str, df: DataFrame) -> BoxFuture<'a, Result<u64>>;
}

/// A step of a job: the step, its kind, and where it is defined.
pub struct JobStep {
    /// `sql`, the `type` of a `[[steps]]` entry, or a built-in kind.
    pub kind: &'static str,
    /// A SQL file, the job file's `[[steps]]` entry, or (for a built-in step) only its
    /// name. Errors of the step are located here unless they know better.
    pub source: Location,
    pub step: Box<dyn Step>,
}

impl std::ops::Deref for JobStep {
    type Target = dyn Step;
    fn deref(&self) -> &(dyn Step + 'static) {
        self.step.as_ref()
    }
}

/// A unit of work in a job.
pub trait Step: Send + Sync {
    /// Unique within the job; for a SQL file, the table it writes.
    fn name(&self) -> &str;
    fn reads(&self) -> Vec<String>;
    fn writes(&self) -> Vec<String>;
    /// Tables this step replaces in place: the data quality step replaces every input
    /// with its cleaned rows. Every other step that reads one of them runs after it, so
    /// it reads the replacement.
    fn replaces(&self) -> Vec<String> {
        Vec::new()
    }
    /// The schema of every table it writes, without running anything heavy. The
    /// tables it reads are registered (possibly empty) in `ctx.session`.
    fn plan<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Vec<(String, SchemaRef)>>>;
    /// Compute and write every table in `writes()` through `ctx.write`.
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<()>>;
    /// The SQL job file behind the step (for `siyu explain`); only SQL steps have one.
    fn sql(&self) -> Option<&sql::SqlStep> {
        None
    }
}

/// The `[[steps]]` parameters of a step kind: deserialised from the entry (unknown keys
/// refused, every key not given takes [`Default`]'s value) and checked once by
/// [`StepParams::validate`] before the step is built — so `check` and `run` refuse the
/// same settings, before any work starts.
pub trait StepParams: serde::de::DeserializeOwned + Default {
    /// Every rule the parameters must follow; the message says what is wrong.
    fn validate(&self) -> std::result::Result<(), String>;

    /// Parse and check the parameters of a `[[steps]]` entry of kind `kind` at `at`.
    fn parse(
        kind: &str,
        table: &toml::Table,
        at: &Location,
    ) -> std::result::Result<Self, SiyuError> {
        let fail = |m: String| config_error(kind, m).at(at.clone());
        let params = Self::deserialize(toml::Value::Table(table.clone()))
            .map_err(|e| fail(e.message().to_string()))?;
        params.validate().map_err(fail)?;
        Ok(params)
    }
}

/// A step kind job files declare under `[[steps]]`: the step is its checked
/// [`StepParams`]. [`StepKind::declared`] makes its registry entry.
pub trait DeclaredStep: Step + StepParams + 'static {
    /// The `type` job files name the kind by.
    const KIND: &'static str;

    /// Parse and check the entry's parameters: that is the step.
    fn build(table: &toml::Table, at: &Location) -> std::result::Result<Box<dyn Step>, SiyuError> {
        Ok(Box::new(Self::parse(Self::KIND, table, at)?))
    }
}

/// A configuration error of a `kind` step (the runner locates it at the step's entry).
pub fn config_error(kind: &str, message: impl std::fmt::Display) -> SiyuError {
    SiyuError::config(format!("{kind} step: {message}"))
}

/// A problem with a table a `kind` step reads (as `columns::require_columns` reports
/// it), as a configuration error of the step.
pub fn table_error(kind: &str, e: SiyuError) -> SiyuError {
    config_error(kind, &e.message).at(*e.location)
}

/// Check that every name is usable as a table or column name.
pub fn check_identifiers<'a>(
    names: impl IntoIterator<Item = &'a String>,
) -> std::result::Result<(), String> {
    for name in names {
        if !crate::job::is_identifier(name) {
            return Err(format!("{name:?} must be lowercase letters, digits and _"));
        }
    }
    Ok(())
}
