//! `siyu test`: the job's data tests (`[tests]`, `crate::datatest`) on a night already
//! published — the newest complete one, or `--as-of` — without running anything else.
//! The night's tables are read from its parquet files, the night before it as
//! `previous_*` (with the night's schema, as a run registers them), with the params the
//! night ran with (its manifest; `--param` overrides). A test that reads an input table
//! reads the job's inputs as they are *now*, not cleaned by the data quality checks —
//! on a past night, a member may have changed consent since. Nothing is written: the
//! outcome is printed, and a test with status `error` exits 6 as it would fail a run.

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
    /// Whether a test read input tables (as they are now, not as the night read them).
    pub read_inputs: bool,
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
        // complete_nights is newest first.
        None => nights.into_iter().next().ok_or_else(|| {
            SiyuError::config(format!(
                "no published night under {} to test (run the job first)",
                job_dir.display()
            ))
        })?,
    };
    // The night's own params (its manifest), then --param: the tests see what the run saw.
    let mut overrides = night_params(&night, &job);
    overrides.extend(opts.params.iter().cloned());
    let params = job
        .resolve_params(&overrides, as_of)
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
    let tables = register_night(&session, &night).await?;
    // previous_<table> as a run registers it: the night before, read with this night's
    // schema (a column it lacked reads as null), or empty.
    let previous = crate::publish::previous_run(&job_dir, as_of);
    for table in &tables {
        let schema = std::sync::Arc::new(
            session
                .table(table.as_str())
                .await?
                .schema()
                .as_arrow()
                .clone(),
        );
        super::prepare::register_previous(
            &session,
            table,
            &schema,
            previous.as_ref().map(|(_, d)| d.as_path()),
        )?;
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
        read_inputs: inputs_needed,
    })
}

/// The params a published night ran with (its `_manifest.json`), as `--param` values,
/// for those the job still declares.
fn night_params(night: &Path, job: &Job) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(night.join("_manifest.json")) else {
        return Vec::new();
    };
    let Ok(manifest) = serde_json::from_str::<crate::manifest::Manifest>(&text) else {
        return Vec::new();
    };
    manifest
        .params
        .into_iter()
        .filter(|(k, _)| job.params.contains_key(k))
        .map(|(k, v)| {
            let text = match v {
                crate::manifest::ParamJson::Int(i) => i.to_string(),
                crate::manifest::ParamJson::Float(f) => format!("{f:?}"),
                crate::manifest::ParamJson::Bool(b) => b.to_string(),
                crate::manifest::ParamJson::Text(t) => t,
            };
            (k, text)
        })
        .collect()
}

/// Register every table of a published night under its name; the names, sorted.
async fn register_night(session: &SessionContext, dir: &Path) -> Result<Vec<String>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| SiyuError::config(format!("cannot read {}: {e}", dir.display())))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    let mut names = Vec::new();
    for f in files {
        let Some(stem) = f.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            continue;
        };
        session
            .register_parquet(
                stem.as_str(),
                f.to_string_lossy().as_ref(),
                ParquetReadOptions::default(),
            )
            .await?;
        names.push(stem);
    }
    Ok(names)
}
