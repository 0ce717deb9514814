//! `siyu run`: prepare, execute every step into staging, write the run record, publish.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
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
    let engine = super::engine_for(&job, opts)?;
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
    // A container with less memory than the run may use would OOM-kill it later, with
    // no message: say so now.
    if let (Some(limit), Some((cgroup, file))) = (opts.memory_limit, crate::cgroup::memory_limit())
        && limit as u64 > cgroup
    {
        let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
        return Err(SiyuError::config(format!(
            "--memory-limit {:.0} MiB is more than this process may use: its cgroup allows {:.0} MiB; the run would be killed part way, without a message. Give --memory-limit at most the container's memory less about 1 GiB for what the pool does not count (docs/operations.md, Memory), or give the container more memory",
            mib(limit as u64),
            mib(cgroup)
        ))
        .in_file(file.display()));
    }
    // A cluster that is down fails the run before it takes the lock or stages anything.
    crate::session::reach_scheduler(&engine).await?;
    let _lock = JobLock::acquire(&job_dir)?;
    for left in publish::remove_leftovers(&job_dir)? {
        warn!(path = %left.display(), "removed the staging directory of an earlier run that did not finish");
    }
    let staging = Staging::create(&job_dir, as_of, &run_id)?;

    let session = crate::session::new_session(
        opts.memory_limit,
        Some(&staging.work.join("spill")),
        &engine,
        opts.partitions,
    )
    .await?;
    let p = Arc::new(
        prepare(job, opts, session, engine, registry)
            .await
            .map_err(SiyuError::many)?,
    );
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
        ctx.job.publish_keys.clone(),
        record::file_metadata(ctx, &input_fingerprint),
    ));
    ctx.attach_sink(sink.clone())?;

    let progress = Arc::new(Progress::new(p.steps.len(), log_format));
    let timings = execute(&p, &sink, &progress, started, opts).await?;
    drop(progress);

    // Every input as the run found it: an export rewritten while the steps read it
    // would make a night of two exports.
    crate::failpoint::hit("before_input_check");
    let changed = crate::input::changed_since_read(&ctx.inputs);
    if let Some((first, _)) = changed.first() {
        let list: Vec<String> = changed
            .iter()
            .map(|(p, what)| format!("{} ({what})", p.display()))
            .collect();
        return Err(SiyuError::input(format!(
            "input changed during the run: {}; nothing is published (the previous night is untouched) — rerun once the export is complete",
            list.join(", ")
        ))
        .in_file(first.display()));
    }

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
    // The morning report goes with the tables, published atomically with them. It is
    // for people: a report that cannot be made is a warning, never a failed night.
    if let Err(e) = crate::report::write_for_run(&staging.dir, &manifest, &job_dir).await {
        warn!("report.html not written: {e}");
    }
    let published = staging.publish(&manifest)?;
    info!(path = %published.display(), seconds = format!("{:.3}", started.elapsed().as_secs_f64()), "published");
    after_publish(&job_dir, as_of, opts.keep_nights.or(p.job().keep_nights));
    Ok(RunSummary {
        published,
        tables: tables.into_iter().filter(|t| t.published).collect(),
    })
}

/// Housekeeping once a night is published: remove nights beyond `keep` (the night just
/// published and the newest are always kept), then point `LATEST` at the newest complete
/// night. The night is already published, so a failure here is a warning, not a failed
/// run: the next run retries both.
fn after_publish(job_dir: &std::path::Path, as_of: chrono::NaiveDate, keep: Option<usize>) {
    if let Some(keep) = keep {
        match publish::apply_retention(job_dir, keep, as_of) {
            Ok(removed) => {
                for date in removed {
                    info!(as_of = %date, keep_nights = keep, "removed a night beyond keep_nights");
                }
            }
            Err(e) => warn!("retention: {e}; older nights are left for the next run"),
        }
    }
    match publish::write_latest(job_dir) {
        Ok(Some(latest)) => info!(latest = %latest, "LATEST"),
        Ok(None) => {}
        Err(e) => warn!("LATEST not updated: {e}"),
    }
}

/// How many steps run at once: `--concurrent-steps`, else one. Each step's query already
/// runs on every core (one partition per core); measured on 2 cores at scale 10, two
/// steps at once took the same time as one (93.0 s against 93.9 s) with 9.1 GiB peak RSS
/// against 5.8 (bench/README.md), and four were slower.
fn steps_at_once(opts: &Options) -> usize {
    opts.concurrent_steps.map_or(1, |n| n.max(1))
}

/// Run every step, each as its own task (so steps that run together use different cores)
/// and each as soon as the steps it reads from are done, in schedule order among those
/// ready. The first failure stops the others and is returned; the timings come back in
/// schedule order.
async fn execute(
    p: &Arc<super::prepare::Prepared>,
    sink: &Arc<StagingSink>,
    progress: &Arc<Progress>,
    started: Instant,
    opts: &Options,
) -> Result<Vec<StepTiming>> {
    let order: Vec<usize> = p.schedule.order().collect();
    let mut level_of = vec![0; p.steps.len()];
    for (level, ids) in p.schedule.levels.iter().enumerate() {
        for &i in ids {
            level_of[i] = level;
        }
    }
    let mut waiting: Vec<usize> = p.schedule.deps.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); p.steps.len()];
    for (i, deps) in p.schedule.deps.iter().enumerate() {
        for &d in deps {
            dependents[d].push(i);
        }
    }
    let limit = steps_at_once(opts);
    let mut started_steps = vec![false; p.steps.len()];
    // A JoinSet aborts its tasks when dropped: a run stopped by a signal (which drops
    // this future) leaves no step running.
    let mut running = tokio::task::JoinSet::new();
    let mut timings: Vec<StepTiming> = Vec::new();
    let mut failure: Option<SiyuError> = None;
    loop {
        while failure.is_none() && running.len() < limit {
            let Some(&i) = order
                .iter()
                .find(|&&i| !started_steps[i] && waiting[i] == 0)
            else {
                break;
            };
            started_steps[i] = true;
            let (p, progress, level) = (Arc::clone(p), Arc::clone(progress), level_of[i]);
            running.spawn(async move {
                let s = &p.steps[i];
                progress.running(s.name());
                let start = started.elapsed().as_secs_f64();
                let t = Instant::now();
                crate::failpoint::hit(&format!("step_started:{}", s.name()));
                // The step's own session, so its memory is counted apart from the
                // steps running beside it.
                let job_name = format!("siyu {} {}", p.ctx.job.name, s.name());
                let (session, pool) = crate::session::step_session(&p.ctx.session, &job_name)?;
                s.run(&p.ctx.with_session(session))
                    .await
                    .map_err(|e| e.in_step(s.name()).at(s.source.clone()))?;
                progress.step_done();
                // Give what the step freed back to the system: glibc keeps freed heap in
                // its arenas, so without this the process's RSS ratchets up to the sum
                // of the steps' peaks instead of the largest one (scale 10: 4.8 GiB
                // peak RSS with, 3.4 without).
                // SAFETY: malloc_trim only releases free memory; it has no preconditions.
                unsafe { libc::malloc_trim(0) };
                Ok::<_, SiyuError>(StepTiming {
                    step: i,
                    level,
                    start_seconds: start,
                    seconds: t.elapsed().as_secs_f64(),
                    peak_memory_bytes: pool.peak() as u64,
                })
            });
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        let timing = match done {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                if failure.is_none() {
                    // Stop the others: nothing of a failed run is published.
                    running.abort_all();
                }
                failure.get_or_insert(e);
                continue;
            }
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => {
                failure.get_or_insert(SiyuError::runtime(format!("a step was cancelled: {e}")));
                continue;
            }
        };
        if failure.is_some() {
            continue;
        }
        let s = &p.steps[timing.step];
        let written = sink.written();
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
        info!(step = s.name(), kind = s.kind, seconds = format!("{:.3}", timing.seconds), rows = ?rows,
              peak_memory_bytes = timing.peak_memory_bytes, spilled_bytes = spilled, "step done");
        for &j in &dependents[timing.step] {
            waiting[j] -= 1;
        }
        timings.push(timing);
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let position: Vec<usize> = {
        let mut pos = vec![0; p.steps.len()];
        for (k, &i) in order.iter().enumerate() {
            pos[i] = k;
        }
        pos
    };
    timings.sort_by_key(|t| position[t.step]);
    Ok(timings)
}
