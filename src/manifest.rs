//! The run record: what `_manifest.json` in every published night says, and what
//! `siyu plan --format json` prints.
//!
//! These types are a contract with downstream systems (schedulers, dashboards, the
//! report), versioned by [`MANIFEST_VERSION`]: a field is only added in a compatible
//! way (optional, or with a documented default), and anything else raises the version.
//! `docs/manifest.schema.json` and `docs/plan.schema.json` are generated from them
//! (`siyu schema manifest`, `siyu schema plan`) and a test checks both against the
//! types and against what a real run writes.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The version of the run record's layout. Raised on any change a reader could trip on.
pub const MANIFEST_VERSION: u32 = 1;

/// `_manifest.json`: one published night.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Layout version of this record ([`MANIFEST_VERSION`]).
    pub manifest_version: u32,
    pub job: String,
    /// The run date; windows end the day before it.
    pub as_of: NaiveDate,
    /// Unique per run: start time (UTC) and process id.
    pub run_id: String,
    pub siyu_version: String,
    /// Version of the input contract (`docs/contract.md`) the inputs were read with.
    pub contract_version: String,
    /// IANA timezone naive timestamps are local to.
    pub timezone: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Wall time of the whole run.
    pub seconds: f64,
    /// `--memory-limit` in bytes, when the run had one.
    pub memory_limit_bytes: Option<u64>,
    /// Where the SQL ran: `local`, `ballista` (a cluster) or `standalone`.
    pub engine: String,
    /// The Ballista scheduler (`df://HOST:PORT`) when the engine is `ballista`.
    pub scheduler: Option<String>,
    /// The published night the run compared against (`previous_*` tables), if any.
    pub previous_run: Option<NaiveDate>,
    /// SHA-256 over every input file's hash, in table and file order; also in every
    /// published file's footer (`siyu.input_fingerprint`).
    pub input_fingerprint: String,
    pub inputs: Vec<InputRecord>,
    /// Every parameter's value, built-ins (`as_of`, `as_of_ts`) included.
    pub params: BTreeMap<String, ParamJson>,
    /// Steps in the order they finished within each level of the schedule.
    pub steps: Vec<StepRecord>,
    /// The published tables, by name.
    pub outputs: Vec<TableRecord>,
    /// Everything the run warned about, in the order it happened.
    pub warnings: Vec<Warning>,
}

/// A parameter value as JSON: a number, a string or a boolean (dates and timestamps as
/// `YYYY-MM-DD` and `YYYY-MM-DD HH:MM:SS` strings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ParamJson {
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
}

/// One contract input table as read.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputRecord {
    pub table: String,
    /// The declared path, directory or glob; null when the table is absent.
    pub source: Option<String>,
    /// An optional table with no export: it read as empty.
    pub absent: bool,
    pub rows: u64,
    /// Nullable contract columns the export lacks; they read as null.
    pub missing_columns: Vec<String>,
    pub files: Vec<InputFileRecord>,
}

/// One parquet file of an input table.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputFileRecord {
    pub path: String,
    pub bytes: u64,
    pub rows: u64,
    pub sha256: String,
}

/// One step of the job, as planned: what `siyu plan --format json` lists.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlannedStep {
    /// Position in execution order (1-based).
    pub order: usize,
    /// Schedule level (1-based): steps of one level may run at the same time.
    pub level: usize,
    pub name: String,
    /// `sql`, a `[[steps]]` type, or a built-in kind such as `data_quality`.
    pub kind: String,
    /// Where the step is defined: a SQL file, a job file's `[[steps]]` entry, or
    /// `built-in step NAME`.
    pub source: String,
    pub reads: Vec<String>,
    pub writes: Vec<String>,
    /// The tables of `writes` that are published.
    pub published: Vec<String>,
}

/// `siyu plan --format json`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Layout version, shared with the manifest ([`MANIFEST_VERSION`]).
    pub manifest_version: u32,
    pub job: String,
    pub as_of: NaiveDate,
    pub steps: Vec<PlannedStep>,
}

/// One step as it ran.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepRecord {
    #[serde(flatten)]
    pub plan: PlannedStep,
    /// Seconds after the run started when the step started (for a timeline).
    pub start_seconds: f64,
    /// The step's own wall time.
    pub seconds: f64,
    /// Rows of each table it wrote.
    pub rows: BTreeMap<String, u64>,
    /// The most the step held at once in the memory pool (bytes): what the engine's
    /// operators reserved — sorts, joins, aggregates — not the step's own Rust data.
    pub peak_memory_bytes: u64,
    /// Bytes the queries whose results the step wrote spilled to disk (under
    /// `--memory-limit`).
    pub spilled_bytes: u64,
    /// What the step kind reports about its run, if anything.
    pub details: Option<StepDetails>,
}

/// A published table.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableRecord {
    pub table: String,
    /// File name within the published directory.
    pub file: String,
    pub rows: u64,
    pub bytes: u64,
    pub schema: Vec<ColumnRecord>,
}

/// One column of a published table.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnRecord {
    pub name: String,
    /// The Arrow type, as Arrow prints it (`Utf8`, `Int64`, `List(Utf8)`, …).
    #[serde(rename = "type")]
    pub data_type: String,
    pub nullable: bool,
}

/// Something the run warned about; it also went to the log.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Warning {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
}

impl Warning {
    pub fn new(message: impl Into<String>) -> Warning {
        Warning {
            message: message.into(),
            step: None,
            table: None,
        }
    }
}

/// What a step kind reports about its run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum StepDetails {
    DataQuality(QualityDetails),
    Segment(Box<SegmentDetails>),
    Rules(RulesDetails),
    Outreach(OutreachDetails),
    DataTests(DataTestsDetails),
}

/// The data tests step: every test's outcome (`src/datatest.rs`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataTestsDetails {
    pub tests: Vec<DataTestRecord>,
}

/// One data test's outcome, as the manifest and the `data_tests` table hold it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataTestRecord {
    /// The test's name: a singular test's file stem, `<kind>:<table>.<column>` for a generic one.
    pub test: String,
    /// `unique`, `not_null`, `accepted_values`, `relationships`, `row_count_change` or `singular`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// `warn` or `error`.
    pub severity: String,
    pub warn_if: String,
    pub error_if: String,
    /// Failing rows (for `row_count_change`, 1 when the count moved too far).
    pub failures: u64,
    /// `pass`, `warn` or `error`.
    pub status: String,
    pub message: String,
    /// The first failing rows, `column=value` pairs, one row per line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<String>,
    /// The job file (a generic test) or the test's SQL file.
    pub source: String,
}

/// The data quality step: every check's counts.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QualityDetails {
    pub checks: Vec<QualityCheckRecord>,
    /// The share of a table's rows a removing check may remove before the run fails.
    pub max_bad_row_share: f64,
    /// The date of the newest order in the export (null without orders).
    pub newest_order: Option<NaiveDate>,
    /// Whole days between the newest order's date and the run date.
    pub export_age_days: Option<i64>,
}

/// One data quality check's outcome.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QualityCheckRecord {
    pub table: String,
    pub check: String,
    pub rows_affected: i64,
    pub rows_total: i64,
    /// `removed`, `refused` or `kept`.
    pub action: String,
}

/// The segment step: how k was chosen and how tonight's segments match last night's.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentDetails {
    pub k: usize,
    /// Rows assigned to a segment (every row of the features table).
    pub members: u64,
    /// Rows k-means was fitted on: every row, or the step's `fit_sample` of them.
    pub fit_rows: u64,
    pub k_candidates: Vec<KCandidateRecord>,
    pub inertia: f64,
    pub converged: bool,
    pub notes: Vec<String>,
    /// Feature → rows of the fit whose missing value was imputed with the median.
    pub imputed: BTreeMap<String, u64>,
    pub dropped_features: Vec<String>,
    /// Segments of the previous night matched against, if there was one.
    pub previous_segments: Option<usize>,
    pub warm_start: Option<WarmStartRecord>,
    pub matched: Vec<MatchedSegmentRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KCandidateRecord {
    pub k: usize,
    /// Non-empty segments found.
    pub segments: usize,
    pub silhouette: f64,
    pub inertia: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WarmStartRecord {
    pub used: bool,
    pub warm_inertia: f64,
    pub cold_inertia: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchedSegmentRecord {
    pub segment_id: String,
    /// Distance to the previous night's centroid it took the id of; null for a new id.
    pub previous_distance: Option<f64>,
}

/// The rules step: what was mined.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesDetails {
    pub baskets: u64,
    pub items: usize,
    pub itemsets: usize,
    pub rules: usize,
}

/// The outreach step: each campaign's list, and the history it was checked against.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutreachDetails {
    pub campaigns: Vec<CampaignRecord>,
    pub members_with_recent_contacts: u64,
    pub members_suppressed: u64,
    /// Members of `members` in the step's fatigue table (rested tonight); 0 without one.
    #[serde(default)]
    pub members_fatigued: u64,
    /// Rows of the outreach table.
    pub rows: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignRecord {
    pub campaign: String,
    pub table: String,
    pub description: Option<String>,
    pub eligible: u64,
    pub unknown_members: u64,
    pub null_scores: u64,
    /// Pairs removed because the member is rested tonight (营销疲劳).
    #[serde(default)]
    pub removed_fatigue: u64,
    /// Pairs removed because every consented channel was at its per-channel cap.
    #[serde(default)]
    pub removed_channel_cap: u64,
    /// Pairs removed because the member's guide was full and the campaign had no other
    /// channel for them.
    #[serde(default)]
    pub removed_guide_capacity: u64,
    pub selected: u64,
    pub holdout: u64,
}

/// The JSON Schema of a record type, pretty-printed with a trailing newline (the form of
/// the files in `docs/`).
pub fn schema_json<T: JsonSchema>() -> String {
    let schema = schemars::schema_for!(T);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serialises");
    text.push('\n');
    text
}
