//! Job files: what a nightly run reads, computes and publishes.
//!
//! A job file is TOML; every path in it is relative to the file itself. Unknown keys
//! are refused so a typo never silently changes a night's results:
//!
//! ```toml
//! [job]
//! name = "nightly"
//! timezone = "Asia/Shanghai"
//!
//! [inputs]
//! members = "../testdata/members"          # a file, a directory or a glob
//!
//! [params]
//! frequency_window_days = { type = "int", default = 365, doc = "RFM frequency window" }
//!
//! [sql]
//! dirs = ["../sql/features"]               # every *.sql below is one table
//!
//! [[steps]]                                # Rust step types (segment, rules, ...)
//! type = "..."
//!
//! [publish]
//! tables = ["member_features"]
//! keys = { member_features = ["member_id"] }   # optional: the columns that identify a row
//! keep_nights = 30                             # optional: remove older complete nights
//!
//! [tests]                                      # optional: data tests (crate::datatest)
//! dirs = ["../sql/tests"]                      # singular tests: each *.sql returns failing rows
//! [[tests.checks]]                             # generic tests
//! test = "unique"
//! table = "member_features"
//! columns = ["member_id"]
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime};
use serde::Deserialize;

use crate::error::{Location, Result, SiyuError};

/// A parsed, validated job file.
#[derive(Debug, Clone)]
pub struct Job {
    /// The job file itself; relative paths resolve against its directory.
    pub path: PathBuf,
    pub name: String,
    pub description: String,
    pub timezone: chrono_tz::Tz,
    /// Input table name → path (absolute, resolved against the job file).
    pub inputs: BTreeMap<String, PathBuf>,
    pub params: BTreeMap<String, ParamDecl>,
    pub sql_dirs: Vec<PathBuf>,
    /// Non-SQL steps, as declared; `step::build` turns them into runnable steps.
    pub steps: Vec<StepDecl>,
    pub publish: Vec<String>,
    /// Published table → the columns that identify one of its rows (`[publish] keys`):
    /// the table is written sorted by them (checked unique while writing) instead of by
    /// every column.
    pub publish_keys: BTreeMap<String, Vec<String>>,
    /// `table.column` entries the job explicitly allows to carry personal data
    /// (`[publish] personal_columns`); see `runner::personal_column`.
    pub personal_columns: Vec<String>,
    /// `[publish] keep_nights`: complete nights kept after a publish (older ones are
    /// removed); `None` keeps every night.
    pub keep_nights: Option<usize>,
    /// Mixed into every hash that must differ between jobs (holdout assignment).
    pub salt: String,
    /// `[engine]`: where the SQL runs unless `--engine` / `--scheduler` say otherwise.
    pub engine: crate::engine::EngineDecl,
    /// `[tests]`: the data tests run on every night's tables (`crate::datatest`).
    pub tests: crate::datatest::TestsDecl,
    /// `[tests] dirs`, resolved against the job file.
    pub test_dirs: Vec<PathBuf>,
}

/// A declared, typed parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamDecl {
    pub ty: ParamType,
    pub default: ParamValue,
    pub doc: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    Int,
    Float,
    String,
    Bool,
    Date,
    Timestamp,
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParamType::Int => "int",
            ParamType::Float => "float",
            ParamType::String => "string",
            ParamType::Bool => "bool",
            ParamType::Date => "date",
            ParamType::Timestamp => "timestamp",
        })
    }
}

/// A parameter value, always of its declared type.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Int(i64),
    Float(f64),
    String(String),
    Bool(bool),
    Date(NaiveDate),
    /// Local wall-clock time in the job's timezone, like every normalised timestamp.
    Timestamp(NaiveDateTime),
}

impl ParamValue {
    /// Parse a `--param KEY=VALUE` value as the declared type.
    pub fn parse(ty: ParamType, text: &str) -> std::result::Result<ParamValue, String> {
        match ty {
            ParamType::Int => text
                .trim()
                .parse()
                .map(ParamValue::Int)
                .map_err(|_| format!("expected an int, found {text:?}")),
            ParamType::Float => match text.trim().parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(ParamValue::Float(v)),
                _ => Err(format!("expected a finite float, found {text:?}")),
            },
            ParamType::String => Ok(ParamValue::String(text.to_string())),
            ParamType::Bool => match text.trim() {
                "true" => Ok(ParamValue::Bool(true)),
                "false" => Ok(ParamValue::Bool(false)),
                _ => Err(format!("expected true or false, found {text:?}")),
            },
            ParamType::Date => NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                .map(ParamValue::Date)
                .map_err(|_| format!("expected a date YYYY-MM-DD, found {text:?}")),
            ParamType::Timestamp => {
                let t = text.trim();
                NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S")
                    .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S"))
                    .map(ParamValue::Timestamp)
                    .map_err(|_| {
                        format!("expected a timestamp YYYY-MM-DD HH:MM:SS, found {text:?}")
                    })
            }
        }
    }

    /// Convert a TOML default to the declared type (an integer is a valid float).
    fn from_toml(ty: ParamType, v: &toml::Value) -> std::result::Result<ParamValue, String> {
        match (ty, v) {
            (ParamType::Int, toml::Value::Integer(i)) => Ok(ParamValue::Int(*i)),
            (ParamType::Float, toml::Value::Float(f)) if f.is_finite() => Ok(ParamValue::Float(*f)),
            (ParamType::Float, toml::Value::Integer(i)) => Ok(ParamValue::Float(*i as f64)),
            (ParamType::String, toml::Value::String(s)) => Ok(ParamValue::String(s.clone())),
            (ParamType::Bool, toml::Value::Boolean(b)) => Ok(ParamValue::Bool(*b)),
            (ParamType::Date | ParamType::Timestamp, toml::Value::String(s)) => {
                ParamValue::parse(ty, s)
            }
            (ParamType::Date | ParamType::Timestamp, toml::Value::Datetime(d)) => {
                ParamValue::parse(ty, &d.to_string())
            }
            (_, other) => Err(format!(
                "default {other} is not a {ty} (declared type = \"{ty}\")"
            )),
        }
    }

    pub fn ty(&self) -> ParamType {
        match self {
            ParamValue::Int(_) => ParamType::Int,
            ParamValue::Float(_) => ParamType::Float,
            ParamValue::String(_) => ParamType::String,
            ParamValue::Bool(_) => ParamType::Bool,
            ParamValue::Date(_) => ParamType::Date,
            ParamValue::Timestamp(_) => ParamType::Timestamp,
        }
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Float(v) => write!(f, "{v:?}"),
            ParamValue::String(s) => f.write_str(s),
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Date(d) => write!(f, "{d}"),
            ParamValue::Timestamp(t) => write!(f, "{}", t.format("%Y-%m-%d %H:%M:%S")),
        }
    }
}

/// A `[[steps]]` entry: its `type` picks the step kind, the rest of the table is that
/// kind's own parameters, checked by the kind.
#[derive(Debug, Clone)]
pub struct StepDecl {
    pub kind: String,
    /// Position in the job file's `[[steps]]` array, for messages.
    pub index: usize,
    pub table: toml::Table,
}

/// Names of parameters siyu defines for every run; a job may not declare them.
pub const BUILTIN_PARAMS: &[&str] = &["as_of", "as_of_ts"];

/// Parameters every job has with these defaults (the data quality checks' thresholds); a
/// job may declare them again with its own default, of the same type, and `--param`
/// overrides them either way.
pub const DEFAULT_PARAMS: &[(&str, ParamValue, &str)] = &[
    (
        "max_bad_row_share",
        ParamValue::Float(0.01),
        "data quality: a check removing more than this share of a table's rows fails the run",
    ),
    (
        "stale_export_warn_days",
        ParamValue::Int(3),
        "data quality: warn when the newest order is more than N days before the run date",
    ),
    (
        "stale_export_fail_days",
        ParamValue::Int(14),
        "data quality: fail the run (exit 3) when the newest order is more than N days before the run date",
    ),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    job: RawMeta,
    #[serde(default)]
    inputs: BTreeMap<String, String>,
    #[serde(default)]
    params: BTreeMap<String, RawParam>,
    #[serde(default)]
    sql: RawSql,
    #[serde(default)]
    steps: Vec<toml::Table>,
    #[serde(default)]
    publish: RawPublish,
    #[serde(default)]
    engine: crate::engine::EngineDecl,
    #[serde(default)]
    tests: crate::datatest::TestsDecl,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeta {
    name: String,
    #[serde(default = "default_timezone")]
    timezone: String,
    #[serde(default)]
    salt: Option<String>,
    #[serde(default)]
    description: String,
}

fn default_timezone() -> String {
    "Asia/Shanghai".to_string()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParam {
    #[serde(rename = "type")]
    ty: ParamType,
    default: toml::Value,
    #[serde(default)]
    doc: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSql {
    #[serde(default)]
    dirs: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPublish {
    #[serde(default)]
    tables: Vec<String>,
    #[serde(default)]
    personal_columns: Vec<String>,
    #[serde(default)]
    keys: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    keep_nights: Option<usize>,
}

/// Whether `name` is usable as a table or parameter name in SQL without quoting.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Job {
    /// Read and validate a job file.
    pub fn load(path: &Path) -> Result<Job> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            SiyuError::config(format!("cannot read job file: {e}")).in_file(path.display())
        })?;
        Job::parse(path, &text)
    }

    /// Parse job-file text; `path` locates relative paths and names the file in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Job> {
        let raw: RawJob = toml::from_str(text).map_err(|e| {
            let mut at = Location::file(path.display());
            if let Some(span) = e.span() {
                let (line, col) = line_col(text, span.start);
                at = at.at(line as u64, col as u64);
            }
            SiyuError::config(e.message()).at(at)
        })?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let fail = |msg: String| SiyuError::config(msg).in_file(path.display());

        if !is_identifier(&raw.job.name) {
            return Err(fail(format!(
                "[job] name {:?} must be lowercase letters, digits and _ (it names the output directory)",
                raw.job.name
            )));
        }
        let timezone: chrono_tz::Tz = raw.job.timezone.parse().map_err(|_| {
            fail(format!(
                "[job] timezone {:?} is not an IANA timezone such as \"Asia/Shanghai\"",
                raw.job.timezone
            ))
        })?;

        let mut inputs = BTreeMap::new();
        for (name, p) in raw.inputs {
            if crate::contract::table(&name).is_none() {
                return Err(fail(format!(
                    "[inputs] {name} is not a contract table (expected one of: {})",
                    contract_names()
                )));
            }
            inputs.insert(name, base.join(p));
        }

        let mut params = BTreeMap::new();
        for (name, p) in raw.params {
            if !is_identifier(&name) {
                return Err(fail(format!(
                    "[params] {name:?} must be lowercase letters, digits and _"
                )));
            }
            if BUILTIN_PARAMS.contains(&name.as_str()) {
                return Err(fail(format!(
                    "[params] {name} is built in (set it with --as-of), it cannot be declared"
                )));
            }
            let default = ParamValue::from_toml(p.ty, &p.default)
                .map_err(|m| fail(format!("[params] {name}: {m}")))?;
            if let Some((_, builtin, _)) = DEFAULT_PARAMS.iter().find(|(n, _, _)| *n == name)
                && builtin.ty() != p.ty
            {
                return Err(fail(format!(
                    "[params] {name} is a {} parameter every job has; declare it as type = \"{}\"",
                    builtin.ty(),
                    builtin.ty()
                )));
            }
            params.insert(
                name,
                ParamDecl {
                    ty: p.ty,
                    default,
                    doc: p.doc,
                },
            );
        }
        for (name, default, doc) in DEFAULT_PARAMS {
            params.entry(name.to_string()).or_insert_with(|| ParamDecl {
                ty: default.ty(),
                default: default.clone(),
                doc: doc.to_string(),
            });
        }

        let mut steps = Vec::new();
        for (index, mut table) in raw.steps.into_iter().enumerate() {
            let kind = match table.remove("type") {
                Some(toml::Value::String(s)) => s,
                Some(other) => {
                    return Err(
                        SiyuError::config(format!("type must be a string, found {other}"))
                            .at(Location::steps_entry(path, index)),
                    );
                }
                None => {
                    return Err(SiyuError::config("missing `type` (the step kind)")
                        .at(Location::steps_entry(path, index)));
                }
            };
            steps.push(StepDecl { kind, index, table });
        }

        let mut publish = Vec::new();
        for t in raw.publish.tables {
            if publish.contains(&t) {
                return Err(fail(format!("[publish] tables lists {t} twice")));
            }
            if !is_identifier(&t) {
                return Err(fail(format!(
                    "[publish] table {t:?} must be lowercase letters, digits and _"
                )));
            }
            publish.push(t);
        }
        for (t, columns) in &raw.publish.keys {
            if !publish.contains(t) {
                return Err(fail(format!(
                    "[publish] keys names {t}, which is not in [publish] tables"
                )));
            }
            if columns.is_empty() {
                return Err(fail(format!(
                    "[publish] keys for {t} is empty: list the columns that identify a row"
                )));
            }
            for (i, c) in columns.iter().enumerate() {
                if columns[..i].contains(c) {
                    return Err(fail(format!("[publish] keys for {t} lists {c} twice")));
                }
            }
        }
        if raw.publish.keep_nights == Some(0) {
            return Err(fail(
                "[publish] keep_nights must be at least 1 (the night just published is always kept)"
                    .to_string(),
            ));
        }
        for c in &raw.publish.personal_columns {
            match c.split_once('.') {
                Some((t, col)) if publish.contains(&t.to_string()) && !col.is_empty() => {}
                _ => {
                    return Err(fail(format!(
                        "[publish] personal_columns entry {c:?} must be \"table.column\" with a published table"
                    )));
                }
            }
        }

        Ok(Job {
            path: path.to_path_buf(),
            salt: raw.job.salt.unwrap_or_else(|| raw.job.name.clone()),
            name: raw.job.name,
            description: raw.job.description,
            timezone,
            inputs,
            params,
            sql_dirs: raw.sql.dirs.iter().map(|d| base.join(d)).collect(),
            test_dirs: raw.tests.dirs.iter().map(|d| base.join(d)).collect(),
            tests: raw.tests,
            steps,
            publish,
            publish_keys: raw.publish.keys,
            personal_columns: raw.publish.personal_columns,
            keep_nights: raw.publish.keep_nights,
            engine: crate::engine::EngineDecl {
                // Relative shared directories are relative to the job file, like inputs.
                shared_dirs: raw
                    .engine
                    .shared_dirs
                    .iter()
                    .map(|d| base.join(d))
                    .collect(),
                ..raw.engine
            },
        })
    }

    /// Resolve parameter values: declared defaults overridden by `--param KEY=VALUE`,
    /// plus the built-in `as_of` (date) and `as_of_ts` (local midnight).
    pub fn resolve_params(
        &self,
        overrides: &[(String, String)],
        as_of: NaiveDate,
    ) -> Result<BTreeMap<String, ParamValue>> {
        let mut values: BTreeMap<String, ParamValue> = self
            .params
            .iter()
            .map(|(k, d)| (k.clone(), d.default.clone()))
            .collect();
        for (key, text) in overrides {
            let decl = self.params.get(key).ok_or_else(|| {
                SiyuError::config(format!(
                    "--param {key}: no such parameter in {} (declared: {})",
                    self.path.display(),
                    self.params.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            })?;
            let v = ParamValue::parse(decl.ty, text)
                .map_err(|m| SiyuError::config(format!("--param {key}: {m}")))?;
            values.insert(key.clone(), v);
        }
        values.insert("as_of".into(), ParamValue::Date(as_of));
        values.insert(
            "as_of_ts".into(),
            ParamValue::Timestamp(as_of.and_time(chrono::NaiveTime::MIN)),
        );
        Ok(values)
    }
}

fn contract_names() -> String {
    crate::contract::TABLES
        .iter()
        .map(|t| t.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Parse `KEY=VALUE` from the command line.
pub fn split_key_value(arg: &str) -> std::result::Result<(String, String), String> {
    match arg.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, found {arg:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Job> {
        Job::parse(Path::new("/jobs/x.toml"), text)
    }

    #[test]
    fn the_engine_table_is_read_and_the_flags_win_over_it() {
        use crate::engine::{Engine, EngineKind};
        let job = parse(
            "[job]\nname='x'\n[engine]\ntype='ballista'\nscheduler='df://s:7000'\nshared_dirs=['../lake']\n",
        )
        .unwrap();
        assert_eq!(job.engine.kind, Some(EngineKind::Ballista));
        assert_eq!(job.engine.shared_dirs, vec![PathBuf::from("/jobs/../lake")]);
        let e = Engine::resolve(&job.engine, None, None, &[]).unwrap();
        assert_eq!(e.scheduler_endpoint().as_deref(), Some("http://s:7000"));
        // A path outside the job's shared directory is refused, one inside it is not.
        assert!(e.not_shared(Path::new("/srv/in")).is_some());
        assert_eq!(e.not_shared(Path::new("/jobs/../lake/in")), None);
        let local = Engine::resolve(&job.engine, Some(EngineKind::Local), None, &[]).unwrap();
        assert_eq!(local, Engine::Local);
        let bad = parse("[job]\nname='x'\n[engine]\ntype='spark'\n").unwrap_err();
        assert!(bad.message.contains("spark"), "{}", bad.message);
    }

    #[test]
    fn relative_paths_resolve_against_the_job_file() {
        let job = parse(
            "[job]\nname='x'\n[inputs]\nmembers='../data/m.parquet'\n[sql]\ndirs=['../sql']\n",
        )
        .unwrap();
        assert_eq!(job.inputs["members"], Path::new("/jobs/../data/m.parquet"));
        assert_eq!(job.sql_dirs, vec![PathBuf::from("/jobs/../sql")]);
        assert_eq!(job.timezone, chrono_tz::Asia::Shanghai);
    }

    #[test]
    fn unknown_key_is_refused_with_its_line() {
        let err = parse("[job]\nname='x'\nnmae='y'\n").unwrap_err();
        assert_eq!(err.location.file.as_deref(), Some("/jobs/x.toml"));
        assert_eq!((err.location.line, err.location.column), (Some(3), Some(1)));
        assert!(err.to_string().contains("x.toml:3:1"), "{err}");
        assert!(err.message.contains("nmae"), "{}", err.message);
    }

    #[test]
    fn param_default_of_the_wrong_type_is_refused() {
        let err = parse("[job]\nname='x'\n[params]\nn={type='int', default='7'}\n").unwrap_err();
        assert!(err.message.contains("[params] n"), "{}", err.message);
    }

    #[test]
    fn overrides_are_parsed_as_the_declared_type() {
        let job = parse("[job]\nname='x'\n[params]\nn={type='int', default=7}\n").unwrap();
        let as_of = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
        let v = job
            .resolve_params(&[("n".into(), "9".into())], as_of)
            .unwrap();
        assert_eq!(v["n"], ParamValue::Int(9));
        assert_eq!(v["as_of"], ParamValue::Date(as_of));
        let err = job
            .resolve_params(&[("n".into(), "nine".into())], as_of)
            .unwrap_err();
        assert!(err.message.contains("expected an int"), "{}", err.message);
        let err = job
            .resolve_params(&[("m".into(), "1".into())], as_of)
            .unwrap_err();
        assert!(err.message.contains("no such parameter"), "{}", err.message);
    }

    #[test]
    fn unknown_input_table_and_bad_timezone_are_refused() {
        assert!(parse("[job]\nname='x'\n[inputs]\nmembrs='a'\n").is_err());
        assert!(parse("[job]\nname='x'\ntimezone='Mars/Base'\n").is_err());
    }

    #[test]
    fn steps_keep_their_kind_and_parameters() {
        let job = parse("[job]\nname='x'\n[[steps]]\ntype='segment'\nk=5\n").unwrap();
        assert_eq!(job.steps[0].kind, "segment");
        assert_eq!(job.steps[0].table["k"].as_integer(), Some(5));
    }
}
