//! `siyu backfill`: the nights of a date range, in date order, each seeing the one before
//! as its previous night. Resumable: a night already published with the same inputs and
//! params is skipped (`--force` reruns it). The first failure stops the backfill; the
//! nights before it stay published.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::Options;
use crate::error::{Result, SiyuError};
use crate::job::Job;
use crate::logging::LogFormat;

/// What happened to one night.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Night {
    Published(PathBuf),
    /// Already published with the same input fingerprint and params.
    Skipped(PathBuf),
}

/// Why a published night is the one a run would publish now: its manifest records the
/// same input fingerprint and the same params (as_of included). `None` when there is no
/// complete night for the date or it differs.
pub fn already_published(
    job_path: &Path,
    opts: &Options,
    as_of: NaiveDate,
) -> Result<Option<PathBuf>> {
    let job = Job::load(job_path)?;
    let dir = opts.out.join(&job.name).join(format!("as_of={as_of}"));
    if !dir.join("_SUCCESS").exists() {
        return Ok(None);
    }
    let Ok(text) = std::fs::read_to_string(dir.join("_manifest.json")) else {
        return Ok(None);
    };
    let Ok(manifest) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Ok(None);
    };
    let params = job.resolve_params(&opts.params, as_of)?;
    let params = serde_json::to_value(super::record::params_json_of(&params))
        .map_err(|e| SiyuError::runtime(format!("params: {e}")))?;
    if manifest.get("params") != Some(&params) {
        return Ok(None);
    }
    let sources =
        crate::input::Sources::merge(&job.inputs, opts.input_dir.as_deref(), &opts.inputs)?;
    let inputs = crate::input::discover(&sources).map_err(SiyuError::many)?;
    let (_, fingerprint) = crate::input::fingerprint(&inputs)?;
    Ok(
        (manifest.get("input_fingerprint").and_then(|v| v.as_str()) == Some(fingerprint.as_str()))
            .then_some(dir),
    )
}

/// Run every night from `from` to `to` (inclusive) in date order; `report` is called
/// after each. Stops at the first failure, whose error says which night and how many
/// were published before it.
pub async fn backfill(
    job_path: &Path,
    opts: &Options,
    from: NaiveDate,
    to: NaiveDate,
    force: bool,
    log_format: LogFormat,
    mut report: impl FnMut(NaiveDate, &Night),
) -> Result<Vec<(NaiveDate, Night)>> {
    if to < from {
        return Err(SiyuError::config(format!(
            "--to {to} is before --from {from}"
        )));
    }
    if opts.as_of.is_some() {
        return Err(SiyuError::config(
            "backfill runs the nights from --from to --to: --as-of does not apply",
        ));
    }
    let mut done = Vec::new();
    let mut day = from;
    while day <= to {
        let night = match (!force)
            .then(|| already_published(job_path, opts, day))
            .transpose()?
            .flatten()
        {
            Some(dir) => {
                tracing::info!(as_of = %day, "already published with the same inputs and params: skipped");
                Night::Skipped(dir)
            }
            None => {
                let night_opts = Options {
                    as_of: Some(day),
                    ..opts.clone()
                };
                match super::run(job_path, &night_opts, log_format).await {
                    Ok(summary) => Night::Published(summary.published),
                    Err(e) => {
                        let published = done
                            .iter()
                            .filter(|(_, n)| matches!(n, Night::Published(_)))
                            .count();
                        return Err(SiyuError {
                            message: format!(
                                "backfill stopped at as_of={day} ({published} night(s) published before it, {} skipped; later nights not run): {}",
                                done.len() - published,
                                e.message
                            ),
                            ..e
                        });
                    }
                }
            }
        };
        report(day, &night);
        done.push((day, night));
        day = day.succ_opt().expect("a date before the end of time");
    }
    Ok(done)
}
