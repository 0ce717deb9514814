//! The run record: turning what a run did into the typed [`Manifest`] and the footer
//! metadata of every file it writes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::Prepared;
use super::sink::WrittenTable;
use crate::job::ParamValue;
use crate::manifest::{
    ColumnRecord, InputFileRecord, InputRecord, MANIFEST_VERSION, Manifest, ParamJson, StepRecord,
    TableRecord,
};
use crate::step::StepContext;

/// When one step ran.
pub struct StepTiming {
    /// Index into the prepared steps.
    pub step: usize,
    /// Schedule level (0-based).
    pub level: usize,
    pub start_seconds: f64,
    pub seconds: f64,
    /// The most the step held in the memory pool at once.
    pub peak_memory_bytes: u64,
}

/// What only the run knows, beside the prepared job.
pub struct RunFacts<'a> {
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub seconds: f64,
    pub memory_limit: Option<usize>,
    /// SHA-256 of every input file, in table and file order.
    pub file_hashes: Vec<String>,
    pub input_fingerprint: String,
    /// Steps in the order they finished, level by level.
    pub timings: Vec<StepTiming>,
    pub tables: &'a [WrittenTable],
}

impl From<&ParamValue> for ParamJson {
    fn from(v: &ParamValue) -> ParamJson {
        match v {
            ParamValue::Int(i) => ParamJson::Int(*i),
            ParamValue::Float(f) => ParamJson::Float(*f),
            ParamValue::Bool(b) => ParamJson::Bool(*b),
            ParamValue::String(_) | ParamValue::Date(_) | ParamValue::Timestamp(_) => {
                ParamJson::Text(v.to_string())
            }
        }
    }
}

fn params_json(ctx: &StepContext) -> BTreeMap<String, ParamJson> {
    params_json_of(&ctx.params)
}

/// Parameter values as the manifest records them.
pub fn params_json_of(params: &BTreeMap<String, ParamValue>) -> BTreeMap<String, ParamJson> {
    params
        .iter()
        .map(|(k, v)| (k.clone(), ParamJson::from(v)))
        .collect()
}

/// Footer metadata of every parquet file a run writes, in this order.
pub fn file_metadata(ctx: &StepContext, input_fingerprint: &str) -> Vec<(String, String)> {
    let params = serde_json::to_string(&params_json(ctx)).expect("params serialise");
    vec![
        ("siyu.job".to_string(), ctx.job.name.clone()),
        ("siyu.as_of".to_string(), ctx.as_of.to_string()),
        (
            "siyu.version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        (
            "siyu.contract_version".to_string(),
            crate::contract::CONTRACT_VERSION.to_string(),
        ),
        (
            "siyu.input_fingerprint".to_string(),
            input_fingerprint.to_string(),
        ),
        ("siyu.params".to_string(), params),
    ]
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The manifest of a finished run.
pub fn manifest(p: &Prepared, facts: RunFacts<'_>) -> Manifest {
    let ctx = &p.ctx;
    let mut hashes = facts.file_hashes.into_iter();
    let inputs = ctx
        .inputs
        .iter()
        .map(|i| InputRecord {
            table: i.spec.name.to_string(),
            source: i.source.as_ref().map(|s| s.display().to_string()),
            absent: i.is_absent(),
            rows: i.rows(),
            missing_columns: i.missing_columns.iter().map(|c| c.to_string()).collect(),
            files: i
                .files
                .iter()
                .map(|f| InputFileRecord {
                    path: f.path.display().to_string(),
                    bytes: f.bytes,
                    rows: f.rows,
                    sha256: hashes.next().unwrap_or_default(),
                })
                .collect(),
        })
        .collect();
    let steps = facts
        .timings
        .iter()
        .enumerate()
        .map(|(position, t)| {
            let s = &p.steps[t.step];
            let plan = super::plan::planned_step(p, t.step, t.level, position);
            StepRecord {
                rows: facts
                    .tables
                    .iter()
                    .filter(|w| plan.writes.contains(&w.name))
                    .map(|w| (w.name.clone(), w.rows))
                    .collect(),
                spilled_bytes: facts
                    .tables
                    .iter()
                    .filter(|w| plan.writes.contains(&w.name))
                    .map(|w| w.spilled_bytes)
                    .sum(),
                peak_memory_bytes: t.peak_memory_bytes,
                details: ctx.details_of(s.name()),
                start_seconds: round3(t.start_seconds),
                seconds: round3(t.seconds),
                plan,
            }
        })
        .collect();
    let outputs = facts
        .tables
        .iter()
        .filter(|t| t.published)
        .map(|t| TableRecord {
            table: t.name.clone(),
            file: t
                .path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            rows: t.rows,
            bytes: t.bytes,
            schema: t
                .schema
                .fields()
                .iter()
                .map(|f| ColumnRecord {
                    name: f.name().clone(),
                    data_type: f.data_type().to_string(),
                    nullable: f.is_nullable(),
                })
                .collect(),
        })
        .collect();
    Manifest {
        manifest_version: MANIFEST_VERSION,
        job: ctx.job.name.clone(),
        as_of: ctx.as_of,
        run_id: facts.run_id,
        siyu_version: env!("CARGO_PKG_VERSION").to_string(),
        contract_version: crate::contract::CONTRACT_VERSION.to_string(),
        timezone: ctx.job.timezone.name().to_string(),
        started_at: facts.started_at,
        finished_at: Utc::now(),
        seconds: round3(facts.seconds),
        memory_limit_bytes: facts.memory_limit.map(|m| m as u64),
        engine: p.ctx.engine.name().to_string(),
        scheduler: match p.ctx.engine.as_ref() {
            crate::engine::Engine::Ballista { url, .. } => Some(url.clone()),
            _ => None,
        },
        previous_run: p.previous.as_ref().map(|(d, _)| *d),
        input_fingerprint: facts.input_fingerprint,
        inputs,
        params: params_json(ctx),
        steps,
        outputs,
        warnings: ctx.warnings(),
    }
}
