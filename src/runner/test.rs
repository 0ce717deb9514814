//! `siyu test`: the job's data tests (`[tests]`, `crate::datatest`) on a night already
//! published — the newest complete one, or `--as-of` — without running anything else.
//! The night's tables are read from its parquet files, the night before it as
//! `previous_*`; a test that reads an input table reads the job's inputs as they are
//! now. Nothing is written: the outcome is printed, and a test with status `error`
//! exits 6 as it would fail a run.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use super::Options;
use crate::datatest;
use crate::error::{Result, SiyuError};
use crate::input::Sources;
use crate::job::Job;
use crate::manifest::DataTestRecord;

/// What `siyu test` found.
pub struct TestReport {
    pub as_of: NaiveDate,
    pub night: PathBuf,
    pub records: Vec<DataTestRecord>,
}

/// Run the data tests of `job_path` on a published night under `opts.out`.
pub async fn test(job_path: &Path, opts: &Options) -> Result<TestReport> {
    let job = Job::load(job_path)?;
    let job_file = job.path.display().to_string();
    if job.tests.checks.is_empty() && job.test_dirs.is_empty() {
        return Err(SiyuError::config(
            "the job has no data tests: add [tests] dirs or [[tests.checks]] (README, \"Adding a test\")",
        )
        .in_file(&job_file));
    }
    let job_dir = opts.out.join(&job.name);
    let nights = crate::publish::complete_nights(&job_dir);
    let (as_of, night) = match opts.as_of {
        Some(d) => nights.into_iter().find(|(n, _)| *n == d).ok_or_else(|| {
            SiyuError::config(format!(
                "no complete night as_of={d} under {}",
                job_dir.display()
            ))
        })?,
        None => nights.into_iter().next_back().ok_or_else(|| {
            SiyuError::config(format!(
                "no published night under {} to test (run the job first)",
                job_dir.display()
            ))
        })?,
    };
    let params = job
        .resolve_params(&opts.params, as_of)
        .map_err(|e| e.in_file(&job_file))?;
    let tests =
        datatest::build(&job.tests, &job.path, &job.test_dirs, &params).map_err(SiyuError::many)?;

    let session = crate::session::new_session(
        opts.memory_limit,
        None,
        &crate::engine::Engine::default(),
        None,
    )
    .await?;
    register_night(&session, &night, "").await?;
    let previous = crate::publish::previous_run(&job_dir, as_of);
    if let Some((_, dir)) = &previous {
        register_night(&session, dir, "previous_").await?;
    }
    let inputs_needed = tests
        .iter()
        .flat_map(|t| t.reads())
        .any(|t| crate::contract::table(&t).is_some());
    if inputs_needed {
        let sources = Sources::merge(&job.inputs, opts.input_dir.as_deref(), &opts.inputs)?;
        let inputs = crate::input::discover(&sources).map_err(SiyuError::many)?;
        crate::input::register(&session, &inputs, job.timezone.name())?;
    }
    for t in &tests {
        for table in t.reads() {
            if session.table_exist(table.as_str())? {
                continue;
            }
            // A night before the first has no previous tables: they read as empty.
            if let Some(base) = table.strip_prefix("previous_")
                && session.table_exist(base)?
            {
                let schema = session.table(base).await?.schema().as_arrow().clone();
                session.register_table(
                    table.as_str(),
                    std::sync::Arc::new(datafusion::catalog::empty::EmptyTable::new(
                        std::sync::Arc::new(schema),
                    )),
                )?;
                continue;
            }
            return Err(SiyuError::config(format!(
                "data test {} reads {table}, which night as_of={as_of} did not publish (siyu test sees published tables and inputs only)",
                t.name
            ))
            .in_file(&t.source)
            .in_table(&table));
        }
    }
    let previous_has = |table: &str| {
        previous
            .as_ref()
            .is_some_and(|(_, d)| d.join(format!("{table}.parquet")).is_file())
    };
    let records = datatest::run_all(&session, &tests, &previous_has).await?;
    Ok(TestReport {
        as_of,
        night,
        records,
    })
}

/// Register every table of a published night as `<prefix><table>`.
async fn register_night(session: &SessionContext, dir: &Path, prefix: &str) -> Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| SiyuError::config(format!("cannot read {}: {e}", dir.display())))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    for f in files {
        let Some(stem) = f.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            continue;
        };
        session
            .register_parquet(
                format!("{prefix}{stem}").as_str(),
                f.to_string_lossy().as_ref(),
                ParquetReadOptions::default(),
            )
            .await?;
    }
    Ok(())
}
