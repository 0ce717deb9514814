//! Data tests: dbt-style checks of the tables a night computes, for the people who write
//! its SQL.
//!
//! A test counts *failing rows*. A **singular** test is a SQL file in a directory the job
//! lists under `[tests] dirs`: its query returns the offending rows (dbt's singular
//! tests). A **generic** test is one `[[tests.checks]]` entry of the job file:
//!
//! ```toml
//! [[tests.checks]]
//! test = "unique"                 # unique | not_null | accepted_values | relationships | row_count_change
//! table = "member_tags"
//! columns = ["member_id"]         # unique: the columns that together must be unique
//! # column = "tier"               # not_null, accepted_values, relationships: the column
//! # values = ["regular", "gold"]  # accepted_values (nulls are not counted: not_null does)
//! # to = "member_tags.member_id"  # relationships: every non-null value is one of these
//! # max_change = 0.3              # row_count_change: rows vs the previous night, as a share
//! severity = "error"              # error (default) | warn
//! # warn_if = ">0"                # thresholds on the failing rows (dbt's): default "!=0"
//! # error_if = ">100"
//! ```
//!
//! Failing rows are: for `unique`, the key values that occur more than once (nulls of a
//! single column are not values, as in dbt; in a key of several columns null is a value,
//! like `store_outreach`'s null store); `not_null`,
//! rows where the column is null; `accepted_values`, rows whose value is not listed;
//! `relationships`, rows whose value is not in the other table; `row_count_change`, 1
//! when the row count moved from the previous night's by more than `max_change` (0 on a
//! first night, or when the previous night did not publish the table). A singular test
//! sets its severity and thresholds in comment lines: `-- severity: warn`,
//! `-- warn_if: >0`, `-- error_if: >10`.
//!
//! The outcome is dbt's: with severity `error`, `error_if` true → error, else `warn_if`
//! true → warn, else pass; with severity `warn`, `warn_if` true → warn, else pass.
//! `siyu run` runs the tests as its last step (`step::tests`), on the staged tables: an
//! error fails the run with exit 6 and publishes nothing. `siyu test` runs them on a
//! published night (`runner::test`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::{DataFrame, SessionContext};
use serde::Deserialize;

use crate::error::{ErrorClass, Location, Problem, Result, SiyuError};
use crate::job::{ParamValue, is_identifier};
use crate::manifest::DataTestRecord;
use crate::sql::SqlQuery;

/// The table the test results are written to, in every job with tests.
pub const OUTPUT: &str = "data_tests";

/// How many failing rows a result shows.
const SAMPLE_ROWS: usize = 3;

/// `[tests]` of a job file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestsDecl {
    /// Directories of singular tests (`*.sql`), relative to the job file.
    #[serde(default)]
    pub dirs: Vec<String>,
    #[serde(default)]
    pub checks: Vec<CheckDecl>,
}

/// One generic test, as declared.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckDecl {
    pub test: GenericKind,
    pub table: String,
    /// Defaults to `<test>:<table>.<column(s)>`.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub columns: Vec<String>,
    #[serde(default)]
    pub column: Option<String>,
    #[serde(default)]
    pub values: Vec<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub max_change: Option<f64>,
    #[serde(default)]
    pub severity: Severity,
    #[serde(default)]
    pub warn_if: Option<String>,
    #[serde(default)]
    pub error_if: Option<String>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GenericKind {
    Unique,
    NotNull,
    AcceptedValues,
    Relationships,
    RowCountChange,
}

impl GenericKind {
    pub fn name(self) -> &'static str {
        match self {
            GenericKind::Unique => "unique",
            GenericKind::NotNull => "not_null",
            GenericKind::AcceptedValues => "accepted_values",
            GenericKind::Relationships => "relationships",
            GenericKind::RowCountChange => "row_count_change",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warn,
    #[default]
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Warn => "warn",
            Severity::Error => "error",
        }
    }
}

/// A condition on the number of failing rows, as dbt writes it: `>0`, `>=10`, `!=0`,
/// `=0`, `<5`, `<=5`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    op: Op,
    n: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Threshold {
    /// dbt's default for both thresholds: any failing row.
    pub const ANY: Threshold = Threshold { op: Op::Ne, n: 0 };

    pub fn parse(text: &str) -> std::result::Result<Threshold, String> {
        let t = text.trim();
        let (op, rest) = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("!=", Op::Ne),
            (">", Op::Gt),
            ("<", Op::Lt),
            ("=", Op::Eq),
        ]
        .iter()
        .find_map(|(s, op)| t.strip_prefix(s).map(|r| (*op, r)))
        .ok_or_else(|| {
            format!(
                "threshold {text:?} must be a comparison and a count, such as \">0\" or \">=10\""
            )
        })?;
        let n = rest.trim().parse().map_err(|_| {
            format!(
                "threshold {text:?} must be a comparison and a count, such as \">0\" or \">=10\""
            )
        })?;
        Ok(Threshold { op, n })
    }

    pub fn holds(self, failures: u64) -> bool {
        match self.op {
            Op::Gt => failures > self.n,
            Op::Ge => failures >= self.n,
            Op::Lt => failures < self.n,
            Op::Le => failures <= self.n,
            Op::Eq => failures == self.n,
            Op::Ne => failures != self.n,
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "=",
            Op::Ne => "!=",
        };
        write!(f, "{op}{}", self.n)
    }
}

/// A test's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Pass,
    Warn,
    Error,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Error => "error",
        }
    }
}

/// dbt's rule: an `error` test errors when `error_if` holds, else warns when `warn_if`
/// holds; a `warn` test only warns.
pub fn status(
    severity: Severity,
    warn_if: Threshold,
    error_if: Threshold,
    failures: u64,
) -> Status {
    if severity == Severity::Error && error_if.holds(failures) {
        Status::Error
    } else if warn_if.holds(failures) {
        Status::Warn
    } else {
        Status::Pass
    }
}

/// A test ready to run.
#[derive(Debug, Clone)]
pub struct DataTest {
    pub name: String,
    /// `unique`, …, or `singular`.
    pub kind: &'static str,
    pub table: Option<String>,
    pub column: Option<String>,
    pub severity: Severity,
    pub warn_if: Threshold,
    pub error_if: Threshold,
    pub description: String,
    /// The job file (a generic test) or the SQL file (a singular one), as a path, for
    /// messages.
    pub source: String,
    /// The same relative to the job file's directory (`nightly.toml`,
    /// `../sql/tests/x.sql`): what the `data_tests` table publishes, the same whatever
    /// directory the job is run from.
    pub source_shown: String,
    /// The other table of a `relationships` test.
    to_table: Option<String>,
    body: Body,
}

#[derive(Debug, Clone)]
enum Body {
    /// A query returning the failing rows, generated from a generic test's settings.
    Generated(String),
    Singular(Box<SqlQuery>),
    RowCountChange {
        max_change: f64,
    },
}

impl DataTest {
    /// The tables the test reads (a singular test's, as its SQL names them).
    pub fn reads(&self) -> Vec<String> {
        match &self.body {
            Body::Singular(q) => q.reads.clone(),
            Body::RowCountChange { .. } => {
                let t = self.table.clone().unwrap_or_default();
                vec![format!("previous_{t}"), t]
            }
            Body::Generated(_) => {
                let mut reads: Vec<String> = self.table.iter().cloned().collect();
                reads.extend(self.to_table.clone());
                reads
            }
        }
    }

    /// The failing rows as a frame over `session`.
    async fn failing_rows(&self, session: &SessionContext) -> Result<DataFrame> {
        match &self.body {
            Body::Generated(sql) => Ok(session.sql(sql).await?),
            Body::Singular(q) => {
                let state = session.state();
                let plan = state
                    .statement_to_plan(q.statement.clone())
                    .await
                    .map_err(|e| {
                        SiyuError::config(e.message().to_string()).in_file(q.source.path.display())
                    })?;
                datafusion::execution::context::SQLOptions::new()
                    .with_allow_ddl(false)
                    .with_allow_dml(false)
                    .with_allow_statements(false)
                    .verify_plan(&plan)
                    .map_err(|e| {
                        SiyuError::config(e.to_string()).in_file(q.source.path.display())
                    })?;
                Ok(DataFrame::new(state, plan))
            }
            Body::RowCountChange { .. } => Err(SiyuError::runtime(
                "row_count_change has no failing rows to list",
            )),
        }
    }

    /// Plan the test against the tables registered in `session` (their schemas), so
    /// `siyu check` finds a misspelt column before a night runs.
    pub async fn check(&self, session: &SessionContext) -> Result<()> {
        if let Body::RowCountChange { .. } = self.body {
            return Ok(());
        }
        let wrong = |message: &str| {
            SiyuError::config(format!("data test {}: {message}", self.name)).in_file(&self.source)
        };
        self.failing_rows(session)
            .await
            .map_err(|e| wrong(&e.message))?
            .create_physical_plan()
            .await
            .map_err(|e| wrong(&e.message()))?;
        Ok(())
    }

    /// Run the test. `previous_has` says whether the previous night published a table
    /// (a row count is compared only with a night that had the table).
    pub async fn run(
        &self,
        session: &SessionContext,
        previous_has: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Outcome> {
        let (failures, sample, message) = match &self.body {
            Body::RowCountChange { max_change } => {
                let table = self.table.as_deref().unwrap_or_default();
                let now = session.table(table).await?.count().await? as u64;
                if !previous_has(table) {
                    (
                        0,
                        String::new(),
                        format!("{now} rows; no previous night to compare with"),
                    )
                } else {
                    let before = session
                        .table(format!("previous_{table}").as_str())
                        .await?
                        .count()
                        .await? as u64;
                    let change = if before == 0 {
                        if now == 0 { 0.0 } else { f64::INFINITY }
                    } else {
                        (now as f64 - before as f64) / before as f64
                    };
                    let moved = change.abs() > *max_change;
                    (
                        u64::from(moved),
                        String::new(),
                        format!(
                            "{before} → {now} rows ({:+.1} %, limit ±{:.1} %)",
                            change * 100.0,
                            max_change * 100.0
                        ),
                    )
                }
            }
            _ => {
                let rows = self.failing_rows(session).await?;
                let failures = rows.clone().count().await? as u64;
                let sample = if failures > 0 {
                    // The first rows in order of every column, so a rerun shows the same.
                    let order: Vec<_> = rows
                        .schema()
                        .columns()
                        .into_iter()
                        .map(|c| datafusion::logical_expr::Expr::Column(c).sort(true, true))
                        .collect();
                    render(
                        &rows
                            .sort(order)?
                            .limit(0, Some(SAMPLE_ROWS))?
                            .collect()
                            .await?,
                    )
                } else {
                    String::new()
                };
                let message = match failures {
                    0 => "no failing rows".to_string(),
                    1 => "1 failing row".to_string(),
                    n => format!("{n} failing rows"),
                };
                (failures, sample, message)
            }
        };
        Ok(Outcome {
            status: status(self.severity, self.warn_if, self.error_if, failures),
            failures,
            message,
            sample,
        })
    }

    /// The record of an outcome, for the manifest and the `data_tests` table.
    pub fn record(&self, outcome: &Outcome) -> DataTestRecord {
        DataTestRecord {
            test: self.name.clone(),
            kind: self.kind.to_string(),
            table: self.table.clone(),
            column: self.column.clone(),
            severity: self.severity.name().to_string(),
            warn_if: self.warn_if.to_string(),
            error_if: self.error_if.to_string(),
            failures: outcome.failures,
            status: outcome.status.name().to_string(),
            message: outcome.message.clone(),
            sample: (!outcome.sample.is_empty()).then(|| outcome.sample.clone()),
            source: self.source_shown.clone(),
        }
    }
}

/// What running a test found.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Status,
    pub failures: u64,
    pub message: String,
    /// The first failing rows as `column=value` pairs, one row per line.
    pub sample: String,
}

fn render(batches: &[RecordBatch]) -> String {
    let options = FormatOptions::default().with_null("null");
    let mut lines = Vec::new();
    for batch in batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<std::result::Result<_, _>>()
            .unwrap_or_default();
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = batch
                .schema()
                .fields()
                .iter()
                .zip(&formatters)
                .map(|(f, fmt)| {
                    // A sample is published: personal data is named, never shown.
                    if crate::runner::personal_column(f.name(), f.data_type(), true) {
                        format!("{}=(personal data, not shown)", f.name())
                    } else {
                        format!("{}={}", f.name(), fmt.value(row))
                    }
                })
                .collect();
            lines.push(cells.join(", "));
        }
    }
    lines.join("\n")
}

/// SQL text of a string literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Build the job's tests: its generic checks, then the singular SQL files of `dirs`
/// (sorted by path), with `params` substituted. Every problem is collected.
pub fn build(
    decl: &TestsDecl,
    job_file: &std::path::Path,
    dirs: &[PathBuf],
    params: &BTreeMap<String, ParamValue>,
) -> std::result::Result<Vec<DataTest>, Vec<Problem>> {
    let mut tests = Vec::new();
    let mut problems = Vec::new();
    let source = job_file.display().to_string();
    let base = job_file.parent().unwrap_or(std::path::Path::new(""));
    let shown = |p: &std::path::Path| p.strip_prefix(base).unwrap_or(p).display().to_string();
    for (i, c) in decl.checks.iter().enumerate() {
        match generic(c, &source) {
            Ok(mut t) => {
                t.source_shown = shown(job_file);
                tests.push(t)
            }
            Err(m) => problems.push(
                SiyuError::config(format!("[[tests.checks]] entry {}: {m}", i + 1))
                    .in_file(&source),
            ),
        }
    }
    let (sources, mut p) = crate::sql::load_dirs(dirs);
    problems.append(&mut p);
    for s in &sources {
        let at = Location::file(s.path.display());
        let settings = match header(&s.text) {
            Ok(h) => h,
            Err(m) => {
                problems.push(SiyuError::config(m).at(at));
                continue;
            }
        };
        match crate::sql::prepare(s, params) {
            Ok(query) => tests.push(DataTest {
                name: s.name.clone(),
                kind: "singular",
                table: None,
                column: None,
                severity: settings.0,
                warn_if: settings.1,
                error_if: settings.2,
                description: settings.3,
                source: s.path.display().to_string(),
                source_shown: shown(&s.path),
                to_table: None,
                body: Body::Singular(Box::new(query)),
            }),
            Err(mut p) => problems.append(&mut p),
        }
    }
    let mut seen = BTreeSet::new();
    for t in &tests {
        if !seen.insert(t.name.clone()) {
            problems.push(
                SiyuError::config(format!(
                    "two data tests are named {} (give one a `name`)",
                    t.name
                ))
                .in_file(&t.source),
            );
        }
    }
    if problems.is_empty() {
        Ok(tests)
    } else {
        Err(problems)
    }
}

/// Severity, thresholds and description of a singular test from its leading comments.
fn header(text: &str) -> std::result::Result<(Severity, Threshold, Threshold, String), String> {
    let mut severity = Severity::Error;
    let (mut warn_if, mut error_if) = (Threshold::ANY, Threshold::ANY);
    let mut description = Vec::new();
    for line in text.lines() {
        let Some(comment) = line.trim().strip_prefix("--") else {
            if line.trim().is_empty() {
                continue;
            }
            break;
        };
        let comment = comment.trim();
        if let Some(v) = comment.strip_prefix("severity:") {
            severity = match v.trim() {
                "warn" => Severity::Warn,
                "error" => Severity::Error,
                other => return Err(format!("severity {other:?} must be warn or error")),
            };
        } else if let Some(v) = comment.strip_prefix("warn_if:") {
            warn_if = Threshold::parse(v.trim())?;
        } else if let Some(v) = comment.strip_prefix("error_if:") {
            error_if = Threshold::parse(v.trim())?;
        } else if !comment.is_empty() {
            description.push(comment.to_string());
        }
    }
    Ok((severity, warn_if, error_if, description.join(" ")))
}

fn generic(c: &CheckDecl, source: &str) -> std::result::Result<DataTest, String> {
    let ident = |name: &str, what: &str| {
        if is_identifier(name) {
            Ok(())
        } else {
            Err(format!(
                "{what} {name:?} must be lowercase letters, digits and _"
            ))
        }
    };
    ident(&c.table, "table")?;
    let kind = c.test.name();
    let column = || -> std::result::Result<String, String> {
        let col = c
            .column
            .clone()
            .ok_or_else(|| format!("{kind} needs `column`"))?;
        ident(&col, "column")?;
        Ok(col)
    };
    let refuse = |key: &str, given: bool| {
        if given {
            Err(format!("`{key}` does not apply to {kind}"))
        } else {
            Ok(())
        }
    };
    let t = &c.table;
    // Quoted, so a column named like a keyword (`user`, `case`) is still a column; the
    // names are checked identifiers, so quoting cannot be escaped.
    let q = |name: &str| format!("\"{name}\"");
    let qt = q(t);
    let (column_text, body) = match c.test {
        GenericKind::Unique => {
            refuse("column (unique takes `columns`)", c.column.is_some())?;
            if c.columns.is_empty() {
                return Err("unique needs `columns`".into());
            }
            for col in &c.columns {
                ident(col, "column")?;
            }
            let cols = c
                .columns
                .iter()
                .map(|c| q(c))
                .collect::<Vec<_>>()
                .join(", ");
            // One column: nulls are not values (dbt's rule). Several: null is a value
            // of a key like (store_id, campaign), and GROUP BY groups nulls together.
            let nulls = match c.columns.as_slice() {
                [one] => format!(" WHERE {} IS NOT NULL", q(one)),
                _ => String::new(),
            };
            (
                c.columns.join(","),
                Body::Generated(format!(
                    "SELECT {cols}, COUNT(*) AS n_rows FROM {qt}{nulls} GROUP BY {cols} HAVING COUNT(*) > 1"
                )),
            )
        }
        GenericKind::NotNull => {
            let col = column()?;
            (
                col.clone(),
                Body::Generated(format!("SELECT * FROM {qt} WHERE {} IS NULL", q(&col))),
            )
        }
        GenericKind::AcceptedValues => {
            let col = column()?;
            if c.values.is_empty() {
                return Err("accepted_values needs `values`".into());
            }
            let list = c
                .values
                .iter()
                .map(|v| literal(v))
                .collect::<Vec<_>>()
                .join(", ");
            (
                col.clone(),
                Body::Generated(format!(
                    "SELECT {qc} FROM {qt} WHERE {qc} IS NOT NULL AND CAST({qc} AS VARCHAR) NOT IN ({list})",
                    qc = q(&col)
                )),
            )
        }
        GenericKind::Relationships => {
            let col = column()?;
            let to =
                c.to.as_deref()
                    .ok_or("relationships needs `to` (\"table.column\")")?;
            let (to_table, to_col) = to
                .split_once('.')
                .ok_or_else(|| format!("to {to:?} must be \"table.column\""))?;
            ident(to_table, "table")?;
            ident(to_col, "column")?;
            (
                col.clone(),
                Body::Generated(format!(
                    "SELECT * FROM {qt} WHERE {qc} IS NOT NULL AND {qc} NOT IN (SELECT {qtc} FROM {qtt} WHERE {qtc} IS NOT NULL)",
                    qc = q(&col),
                    qtc = q(to_col),
                    qtt = q(to_table)
                )),
            )
        }
        GenericKind::RowCountChange => {
            let max_change = c
                .max_change
                .ok_or("row_count_change needs `max_change` (a share, e.g. 0.3)")?;
            if !(max_change.is_finite() && max_change >= 0.0) {
                return Err(format!("max_change {max_change} must be a share ≥ 0"));
            }
            (String::new(), Body::RowCountChange { max_change })
        }
    };
    if c.test != GenericKind::AcceptedValues {
        refuse("values", !c.values.is_empty())?;
    }
    if c.test != GenericKind::Relationships {
        refuse("to", c.to.is_some())?;
    }
    if c.test != GenericKind::RowCountChange {
        refuse("max_change", c.max_change.is_some())?;
    } else {
        refuse("column", c.column.is_some())?;
    }
    if c.test != GenericKind::Unique {
        refuse("columns", !c.columns.is_empty())?;
    }
    let threshold = |t: &Option<String>| t.as_deref().map_or(Ok(Threshold::ANY), Threshold::parse);
    let column = (!column_text.is_empty()).then_some(column_text);
    let name = c.name.clone().unwrap_or_else(|| match &column {
        Some(col) => format!("{kind}:{t}.{col}"),
        None => format!("{kind}:{t}"),
    });
    Ok(DataTest {
        name,
        kind,
        table: Some(t.clone()),
        column,
        severity: c.severity,
        warn_if: threshold(&c.warn_if)?,
        error_if: threshold(&c.error_if)?,
        description: c.description.clone(),
        source: source.to_string(),
        source_shown: source.to_string(),
        to_table: c
            .to
            .as_deref()
            .and_then(|to| to.split_once('.'))
            .map(|(t, _)| t.to_string()),
        body,
    })
}

/// Run every test, in order. A test that cannot run (a table it reads is missing, its
/// SQL fails) is an error of the run, not a failing test.
pub async fn run_all(
    session: &SessionContext,
    tests: &[DataTest],
    previous_has: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Vec<DataTestRecord>> {
    let mut records = Vec::new();
    for t in tests {
        let outcome = t.run(session, previous_has).await.map_err(|e| {
            let class = e.class;
            SiyuError::new(class, format!("data test {}: {}", t.name, e.message)).in_file(&t.source)
        })?;
        tracing::info!(test = %t.name, status = outcome.status.name(), failures = outcome.failures, "data test");
        records.push(t.record(&outcome));
    }
    Ok(records)
}

/// The error that fails a run (or `siyu test`) whose tests errored, naming each.
pub fn failure(records: &[DataTestRecord]) -> Option<SiyuError> {
    let errors: Vec<&DataTestRecord> = records.iter().filter(|r| r.status == "error").collect();
    let first = errors.first()?;
    let list: Vec<String> = errors
        .iter()
        .map(|r| {
            let mut s = format!("{} ({}; error_if {})", r.test, r.message, r.error_if);
            if let Some(sample) = &r.sample {
                s.push_str(&format!(" e.g. {}", sample.lines().next().unwrap_or("")));
            }
            s
        })
        .collect();
    let mut e = SiyuError::new(
        ErrorClass::DataTest,
        format!(
            "{} data test{} failed: {}",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" },
            list.join("; ")
        ),
    )
    .in_file(&first.source);
    if let Some(t) = &first.table {
        e = e.in_table(t);
    }
    Some(e)
}

/// The `data_tests` table: one row per test.
pub fn table(records: &[DataTestRecord], as_of: chrono::NaiveDate) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&DataTestRecord) -> Option<String>| -> ArrayRef {
        std::sync::Arc::new(records.iter().map(f).collect::<StringArray>())
    };
    let columns: Vec<ArrayRef> = vec![
        text(&|r| Some(r.test.clone())),
        text(&|r| Some(r.kind.clone())),
        text(&|r| r.table.clone()),
        text(&|r| r.column.clone()),
        text(&|r| Some(r.severity.clone())),
        text(&|r| Some(r.warn_if.clone())),
        text(&|r| Some(r.error_if.clone())),
        std::sync::Arc::new(
            records
                .iter()
                .map(|r| Some(r.failures as i64))
                .collect::<Int64Array>(),
        ),
        text(&|r| Some(r.status.clone())),
        text(&|r| Some(r.message.clone())),
        text(&|r| r.sample.clone()),
        text(&|r| Some(r.source.clone())),
        crate::columns::as_of_column(crate::columns::date32(as_of), records.len()),
    ];
    debug_assert!(columns.iter().all(|c| c.len() == records.len()));
    crate::columns::batch(crate::outputs::data_tests(), columns, OUTPUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_read_as_dbt_writes_them() {
        let t = |s: &str| Threshold::parse(s).unwrap();
        assert!(t(">0").holds(1) && !t(">0").holds(0));
        assert!(t(">= 10").holds(10) && !t(">=10").holds(9));
        assert!(t("!=0").holds(3) && !t("!=0").holds(0));
        assert!(t("=0").holds(0) && !t("=0").holds(1));
        assert!(t("<5").holds(4) && !t("<5").holds(5));
        assert!(t("<=5").holds(5) && !t("<=5").holds(6));
        assert_eq!(t(" >= 10 ").to_string(), ">=10");
        for bad in ["", "10", ">", "> x", "=>3", ">-1"] {
            assert!(Threshold::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn severity_and_thresholds_decide_as_dbt_does() {
        let t = |s: &str| Threshold::parse(s).unwrap();
        let (w, e) = (t(">0"), t(">10"));
        assert_eq!(status(Severity::Error, w, e, 0), Status::Pass);
        assert_eq!(status(Severity::Error, w, e, 5), Status::Warn);
        assert_eq!(status(Severity::Error, w, e, 11), Status::Error);
        // A `warn` test never errors, however many rows fail.
        assert_eq!(status(Severity::Warn, w, e, 1000), Status::Warn);
        assert_eq!(status(Severity::Warn, t(">100"), e, 50), Status::Pass);
    }

    #[test]
    fn a_singular_test_reads_its_settings_from_its_leading_comments() {
        let (s, w, e, d) = header(
            "-- Outreach only to a consented channel.\n-- severity: warn\n-- warn_if: >5\n\nSELECT 1\n-- error_if: nonsense\n",
        )
        .unwrap();
        assert_eq!(s, Severity::Warn);
        assert_eq!(w.to_string(), ">5");
        assert_eq!(e, Threshold::ANY);
        assert_eq!(d, "Outreach only to a consented channel.");
        assert!(header("-- severity: fatal\nSELECT 1").is_err());
    }

    fn decl(toml_text: &str) -> CheckDecl {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn generic_tests_refuse_settings_that_do_not_apply() {
        let err = |t: &str| generic(&decl(t), "job.toml").unwrap_err();
        assert_eq!(
            err("test = \"unique\"\ntable = \"t\""),
            "unique needs `columns`"
        );
        assert_eq!(
            err("test = \"not_null\"\ntable = \"t\"\ncolumn = \"a\"\nvalues = [\"x\"]"),
            "`values` does not apply to not_null"
        );
        assert!(
            err("test = \"relationships\"\ntable = \"t\"\ncolumn = \"a\"\nto = \"u\"")
                .contains("table.column")
        );
        assert!(
            err("test = \"not_null\"\ntable = \"t\"\ncolumn = \"a; DROP\"").contains("lowercase")
        );
        assert_eq!(
            err("test = \"row_count_change\"\ntable = \"t\""),
            "row_count_change needs `max_change` (a share, e.g. 0.3)"
        );
        let ok = generic(
            &decl("test = \"accepted_values\"\ntable = \"t\"\ncolumn = \"a\"\nvalues = [\"it's\"]"),
            "job.toml",
        )
        .unwrap();
        assert_eq!(ok.name, "accepted_values:t.a");
        assert_eq!(ok.reads(), vec!["t".to_string()]);
        let rel = generic(
            &decl("test = \"relationships\"\ntable = \"t\"\ncolumn = \"a\"\nto = \"u.b\""),
            "job.toml",
        )
        .unwrap();
        assert_eq!(rel.reads(), vec!["t".to_string(), "u".to_string()]);
    }

    /// Each generic kind counts its failing rows as documented, on a hand-made table.
    #[tokio::test]
    async fn generic_tests_count_failing_rows_by_hand() {
        let session = SessionContext::new();
        session
            .sql("CREATE TABLE t (id VARCHAR, stage VARCHAR, ref VARCHAR) AS VALUES ('1','a','x'), ('1','b','y'), ('2',NULL,'z'), ('3','c',NULL), ('3','a','x'), ('3','a','x')")
            .await
            .unwrap();
        session
            .sql("CREATE TABLE u (k VARCHAR) AS VALUES ('x'), ('y')")
            .await
            .unwrap();
        session
            .sql("CREATE TABLE previous_t (id VARCHAR) AS VALUES ('1'), ('2'), ('3'), ('4')")
            .await
            .unwrap();
        let run = |toml_text: &str, previous: bool| {
            let t = generic(&decl(toml_text), "job.toml").unwrap();
            let session = session.clone();
            async move { t.run(&session, &|_| previous).await.unwrap() }
        };
        // ids 1 (twice) and 3 (three times): two duplicated keys.
        let o = run("test = \"unique\"\ntable = \"t\"\ncolumns = [\"id\"]", true).await;
        assert_eq!((o.failures, o.status), (2, Status::Error));
        assert!(o.sample.starts_with("id=1, n_rows=2"), "{}", o.sample);
        // (3, a) twice is the one duplicated pair.
        let o = run(
            "test = \"unique\"\ntable = \"t\"\ncolumns = [\"id\", \"stage\"]",
            true,
        )
        .await;
        assert_eq!(o.failures, 1);
        let o = run(
            "test = \"not_null\"\ntable = \"t\"\ncolumn = \"stage\"",
            true,
        )
        .await;
        assert_eq!(o.failures, 1);
        // b and c are not accepted; the null is not_null's business.
        let o = run(
            "test = \"accepted_values\"\ntable = \"t\"\ncolumn = \"stage\"\nvalues = [\"a\"]\nseverity = \"warn\"",
            true,
        )
        .await;
        assert_eq!((o.failures, o.status), (2, Status::Warn));
        // z is not in u; the null ref is not counted.
        let o = run(
            "test = \"relationships\"\ntable = \"t\"\ncolumn = \"ref\"\nto = \"u.k\"\nerror_if = \">1\"",
            true,
        )
        .await;
        assert_eq!((o.failures, o.status), (1, Status::Warn));
        // 4 → 6 rows is +50 %.
        let o = run(
            "test = \"row_count_change\"\ntable = \"t\"\nmax_change = 0.5",
            true,
        )
        .await;
        assert_eq!((o.failures, o.status), (0, Status::Pass), "{}", o.message);
        let o = run(
            "test = \"row_count_change\"\ntable = \"t\"\nmax_change = 0.49",
            true,
        )
        .await;
        assert_eq!((o.failures, o.status), (1, Status::Error));
        assert_eq!(o.message, "4 → 6 rows (+50.0 %, limit ±49.0 %)");
        let o = run(
            "test = \"row_count_change\"\ntable = \"t\"\nmax_change = 0.49",
            false,
        )
        .await;
        assert_eq!((o.failures, o.status), (0, Status::Pass));
        // Nulls: not values of one column, a value within a key of several.
        session
            .sql("CREATE TABLE k (a VARCHAR, \"user\" VARCHAR) AS VALUES ('1', NULL), ('1', NULL), (NULL, 'x'), (NULL, 'x')")
            .await
            .unwrap();
        let o = run("test = \"unique\"\ntable = \"k\"\ncolumns = [\"a\"]", true).await;
        assert_eq!(o.failures, 1);
        // `user` is a keyword: the generated SQL quotes every name.
        let o = run(
            "test = \"unique\"\ntable = \"k\"\ncolumns = [\"a\", \"user\"]",
            true,
        )
        .await;
        assert_eq!(o.failures, 2);
        // Sorted, nulls first.
        assert_eq!(
            o.sample,
            "a=null, user=x, n_rows=2\na=1, user=null, n_rows=2"
        );
    }

    /// A published sample never shows personal data, whatever the test selects.
    #[test]
    fn samples_name_personal_columns_without_their_values() {
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        let b = RecordBatch::try_new(
            std::sync::Arc::new(Schema::new(vec![
                Field::new("member_id", DataType::Utf8, false),
                Field::new("phone", DataType::Utf8, false),
            ])),
            vec![
                std::sync::Arc::new(StringArray::from(vec!["7"])),
                std::sync::Arc::new(StringArray::from(vec!["13800000000"])),
            ],
        )
        .unwrap();
        assert_eq!(
            render(&[b]),
            "member_id=7, phone=(personal data, not shown)"
        );
    }
}
