//! The job runner: `check`, `plan` and `run` over one job file.
//!
//! All three share one preparation ([`prepare`]): load the job file, resolve params,
//! find and check the inputs, load the SQL job files and build the Rust steps from the
//! step registry, order the steps, and plan every step against the schemas of what it
//! reads. `check` ([`check`]) reports every problem found on the way; `plan` ([`plan`])
//! lists the order; `explain` ([`explain`]) shows what DataFusion makes of one SQL
//! step; `run` ([`run`]) executes the steps into a staging directory
//! ([`sink`]), writes the run record ([`record`]) and publishes it atomically (see
//! [`crate::publish`]).

pub mod backfill;
pub mod check;
pub mod explain;
pub mod plan;
pub mod prepare;
pub mod record;
pub mod run;
pub mod sink;
pub mod test;

use std::path::PathBuf;

use chrono::NaiveDate;

pub use check::{check, check_with, personal_column};
pub use explain::explain;
pub use plan::plan;
pub use prepare::{Prepared, prepare};
pub use run::{RunSummary, run, run_with};

/// Everything the command line can change about a job.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub as_of: Option<NaiveDate>,
    pub inputs: Vec<(String, String)>,
    pub params: Vec<(String, String)>,
    pub input_dir: Option<PathBuf>,
    pub out: PathBuf,
    pub memory_limit: Option<usize>,
    /// Steps run at once (`--concurrent-steps`); one by default.
    pub concurrent_steps: Option<usize>,
    /// `--engine`; else the job file's `[engine]`, else local.
    pub engine: Option<crate::engine::EngineKind>,
    /// `--scheduler df://HOST:PORT`.
    pub scheduler: Option<String>,
    /// `--shared-dir`: the directories every executor mounts at the same path.
    pub shared_dirs: Vec<PathBuf>,
    /// `--partitions`: partitions per query.
    pub partitions: Option<usize>,
    /// `--keep-nights`: complete nights kept after publishing; else the job's
    /// `[publish] keep_nights`, else all.
    pub keep_nights: Option<usize>,
}

/// The engine of a run of `job` with `opts`: the flags win over the job file.
pub fn engine_for(
    job: &crate::job::Job,
    opts: &Options,
) -> crate::error::Result<crate::engine::Engine> {
    crate::engine::Engine::resolve(
        &job.engine,
        opts.engine,
        opts.scheduler.as_deref(),
        &opts.shared_dirs,
    )
    .map_err(|e| e.in_file(job.path.display()))
}
