//! `siyu run`: prepare, execute every step into staging, write the run record, publish.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use tracing::{info, warn};

use super::record::{self, RunFacts, StepTiming};
use super::sink::{StagingSink, WrittenTable};
use super::{Options, prepare};
use crate::error::{Result, SiyuError};
use crate::job::Job;
use crate::logging::{LogFormat, Progress};
use crate::manifest::Warning;
use crate::publish::{self, JobLock, Staging};
use crate::step::Registry;

/// What a successful run did.
pub struct RunSummary {
    pub published: PathBuf,
    pub tables: Vec<WrittenTable>,
}

/// `siyu run` with siyu's own step kinds.
pub async fn run(job_path: &Path, opts: &Options, log_format: LogFormat) -> Result<RunSummary> {
    run_with(&Registry::builtin(), job_path, opts, log_format).await
}

/// `siyu run` with the step kinds of `registry`.
pub async fn run_with(
    registry: &Registry,
    job_path: &Path,
    opts: &Options,
    log_format: LogFormat,
) -> Result<RunSummary> {
    let started = Instant::now();
    let started_at = Utc::now();
    let run_id = format!(
        "{}-{}",
        started_at.format("%Y%m%dT%H%M%SZ"),
        std::process::id()
    );

    let job = Job::load(job_path)?;
    let as_of = super::prepare::as_of_for(&job, opts);
    let job_dir = opts.out.join(&job.name);
    // Everything is written under --out: a symlinked job directory or run directory
    // could send outputs anywhere, so it is refused.
    for path in [job_dir.clone(), job_dir.join(format!("as_of={as_of}"))] {
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(SiyuError::publish(
                "is a symbolic link; siyu writes only real directories under --out",
            )
            .in_file(path.display()));
        }
    }
    let _lock = JobLock::acquire(&job_dir)?;
    for left in publish::remove_leftovers(&job_dir)? {
        warn!(path = %left.display(), "removed the staging directory of an earlier run that did not finish");
    }
    let staging = Staging::create(&job_dir, as_of, &run_id)?;

    let session =
        crate::session::new_session(opts.memory_limit, Some(&staging.work.join("spill")))?;
    let p = prepare(job, opts, session, registry)
        .await
        .map_err(SiyuError::many)?;
    let ctx = &p.ctx;
    info!(job = %ctx.job.name, as_of = %ctx.as_of, run_id = %run_id, steps = p.steps.len(), "run started");
    for input in ctx.inputs.iter() {
        let table = Some(input.spec.name.to_string());
        if input.is_absent() {
            ctx.warn(Warning {
                table,
                ..Warning::new("optional input table is absent; it reads as empty")
            });
        } else if !input.missing_columns.is_empty() {
            ctx.warn(Warning {
                table,
                ..Warning::new(format!(
                    "optional columns are absent; they read as null: {}",
                    input.missing_columns.join(", ")
                ))
            });
        }
    }

    let (file_hashes, input_fingerprint) = crate::input::fingerprint(&ctx.inputs)?;
    let sink = Arc::new(StagingSink::new(
        ctx.session.clone(),
        staging.dir.clone(),
        staging.work.clone(),
        ctx.job.publish.iter().cloned().collect(),
        record::file_metadata(ctx, &input_fingerprint),
    ));
    ctx.attach_sink(sink.clone())?;

    let progress = Progress::new(p.steps.len(), log_format);
    let mut timings = Vec::new();
    // Independent steps run together, except under a memory budget, which then goes to
    // one query at a time rather than being split thin between several.
    let concurrency = if opts.memory_limit.is_some() {
        1
    } else {
        usize::MAX
    };
    for (level, ids) in p.schedule.levels.iter().enumerate() {
        let runs = ids.iter().map(|&i| {
            let s = &p.steps[i];
            let progress = &progress;
            async move {
                progress.running(s.name());
                let start = started.elapsed().as_secs_f64();
                let t = Instant::now();
                crate::failpoint::hit(&format!("step_started:{}", s.name()));
                // The step's own session, so its memory is counted apart from the
                // steps running beside it.
                let (session, pool) = crate::session::step_session(&ctx.session)?;
                s.run(&ctx.with_session(session))
                    .await
                    .map_err(|e| e.in_step(s.name()).at(s.source.clone()))?;
                progress.step_done();
                Ok::<_, SiyuError>(StepTiming {
                    step: i,
                    level,
                    start_seconds: start,
                    seconds: t.elapsed().as_secs_f64(),
                    peak_memory_bytes: pool.peak() as u64,
                })
            }
        });
        let done: Vec<StepTiming> = futures::stream::iter(runs)
            .buffered(concurrency.min(ids.len()))
            .try_collect()
            .await?;
        let written = sink.written();
        for t in done {
            let s = &p.steps[t.step];
            let rows: Vec<(&str, u64)> = written
                .iter()
                .filter(|w| s.writes().contains(&w.name))
                .map(|w| (w.name.as_str(), w.rows))
                .collect();
            let spilled: u64 = written
                .iter()
                .filter(|w| s.writes().contains(&w.name))
                .map(|w| w.spilled_bytes)
                .sum();
            info!(step = s.name(), kind = s.kind, seconds = format!("{:.3}", t.seconds), rows = ?rows,
                  peak_memory_bytes = t.peak_memory_bytes, spilled_bytes = spilled, "step done");
            timings.push(t);
        }
    }
    drop(progress);

    let tables = sink.written();
    let manifest = record::manifest(
        &p,
        RunFacts {
            run_id,
            started_at,
            seconds: started.elapsed().as_secs_f64(),
            memory_limit: opts.memory_limit,
            file_hashes,
            input_fingerprint,
            timings,
            tables: &tables,
        },
    );
    let published = staging.publish(&manifest)?;
    info!(path = %published.display(), seconds = format!("{:.3}", started.elapsed().as_secs_f64()), "published");
    Ok(RunSummary {
        published,
        tables: tables.into_iter().filter(|t| t.published).collect(),
    })
}
