//! Data quality: row-level checks of the input tables, run before any other step.
//!
//! The footer checks of [`crate::input`] refuse files that cannot be read as the
//! contract says (missing columns, impossible types). The checks here look at rows:
//! each one finds the rows of a table that break a rule and either
//! - **removes** them (they are filtered out of the table every later step reads),
//! - **refuses** the run (input error, exit 3) — for broken keys, where no repair is safe,
//! - or **keeps** them and only counts them (rows the windows ignore anyway).
//!
//! Every check's count goes to the `data_quality` table and the manifest. A removing
//! check whose rows exceed `max_bad_row_share` of the table (a job param; default 1%)
//! fails the run instead: a silently broken export must not produce confident lists.
//! The error names the table, its files, the check, the counts and the first offending
//! key. `docs/operations.md` lists every check.
//!
//! The step also guards against a **stale export**: when the newest order is more than
//! `stale_export_warn_days` before the run date it warns, and more than
//! `stale_export_fail_days` it fails (input error) — an export job that silently stopped
//! updating must not produce a "successful" night of wrong lists.
//!
//! It is an implicit step: every job has it, and it declares that it replaces every
//! input table, so every step that reads an input runs after it and reads the cleaned
//! rows.

use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::ScalarValue;
use futures::FutureExt;
use futures::future::BoxFuture;

use crate::error::{Location, Problem, Result, SiyuError};
use crate::job::ParamValue;
use crate::manifest::{QualityCheckRecord, QualityDetails, StepDetails, Warning};
use crate::step::{Step, StepContext};

/// The step's kind and name, and the table the checks write.
pub const KIND: &str = "data_quality";
pub const TABLE: &str = KIND;
/// The job param that sets the share of removed rows that fails the run (every job has
/// it: `job::DEFAULT_PARAMS`).
pub const THRESHOLD_PARAM: &str = "max_bad_row_share";
/// Job params for the stale-export guard: whole days between the newest order and the
/// run date above which the run warns, and fails.
pub const STALE_WARN_PARAM: &str = "stale_export_warn_days";
pub const STALE_FAIL_PARAM: &str = "stale_export_fail_days";
/// Days from 0001-01-01 (chrono's day 1) to 1970-01-01 (Arrow's Date32 day 0).
const EPOCH_DAYS_FROM_CE: i32 = 719_163;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Remove,
    Refuse,
    Keep,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Remove => "removed",
            Action::Refuse => "refused",
            Action::Keep => "kept",
        }
    }
}

/// A returned line, as ERP and POS exports book returns (the UCI Online Retail layout: a
/// cancellation invoice whose lines carry negative quantities): a negative quantity with
/// a non-negative unit price and a non-positive line amount, in an order whose status is
/// `refunded` or `cancelled`. Only `paid` orders are purchases, so such a line never
/// counts as spend; the order counts in `refund_rate` (docs/contract.md, "Returns").
macro_rules! return_line {
    () => {
        "(t.quantity < 0 AND t.unit_price >= 0 AND t.line_amount <= 0 \
         AND t.order_id IN (SELECT order_id FROM orders WHERE status IN ('refunded', 'cancelled')))"
    };
}
const RETURN_LINE: &str = return_line!();

/// One rule over one input table. `bad` is a SQL condition over the table's normalised
/// columns (aliased `t`) that is true for the rows breaking the rule; `key` the column
/// named in messages.
pub struct Check {
    pub table: &'static str,
    pub name: &'static str,
    pub what: &'static str,
    pub bad: &'static str,
    pub key: &'static str,
    pub action: Action,
}

const fn check(
    table: &'static str,
    name: &'static str,
    what: &'static str,
    bad: &'static str,
    key: &'static str,
    action: Action,
) -> Check {
    Check {
        table,
        name,
        what,
        bad,
        key,
        action,
    }
}

use Action::{Keep, Refuse, Remove};

/// Every check, in the order they run: a table's removals apply before the checks of
/// tables that refer to it (items of a removed order are then items of an unknown order).
pub const CHECKS: &[Check] = &[
    check(
        "members",
        "no_rows",
        "the members table has no rows",
        "true",
        "member_id",
        Refuse,
    ),
    check(
        "members",
        "null_member_id",
        "member_id is null",
        "t.member_id IS NULL",
        "member_id",
        Remove,
    ),
    check(
        "members",
        "duplicate_member_id",
        "member_id appears more than once",
        "t.member_id IN (SELECT member_id FROM members GROUP BY member_id HAVING COUNT(*) > 1)",
        "member_id",
        Refuse,
    ),
    check(
        "orders",
        "null_order_id",
        "order_id is null",
        "t.order_id IS NULL",
        "order_id",
        Remove,
    ),
    check(
        "orders",
        "duplicate_order_id",
        "order_id appears more than once",
        "t.order_id IN (SELECT order_id FROM orders GROUP BY order_id HAVING COUNT(*) > 1)",
        "order_id",
        Refuse,
    ),
    check(
        "orders",
        "bad_ordered_at",
        "ordered_at is null or before 1970",
        "t.ordered_at IS NULL OR t.ordered_at < CAST('1970-01-01' AS TIMESTAMP)",
        "order_id",
        Remove,
    ),
    check(
        "orders",
        "negative_or_null_amount",
        "gross_amount, discount_amount or paid_amount is negative or null",
        "t.gross_amount IS NULL OR t.discount_amount IS NULL OR t.paid_amount IS NULL \
         OR t.gross_amount < 0 OR t.discount_amount < 0 OR t.paid_amount < 0",
        "order_id",
        Remove,
    ),
    check(
        "orders",
        "after_as_of",
        "ordered_at is on or after the run date (no window counts it)",
        "t.ordered_at >= $as_of_ts",
        "order_id",
        Keep,
    ),
    check(
        "orders",
        "unknown_member",
        "member_id is not in members (read as a guest order)",
        "t.member_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM members m WHERE m.member_id = t.member_id)",
        "order_id",
        Keep,
    ),
    check(
        "products",
        "null_product_id",
        "product_id is null",
        "t.product_id IS NULL",
        "product_id",
        Remove,
    ),
    check(
        "products",
        "duplicate_product_id",
        "product_id appears more than once",
        "t.product_id IN (SELECT product_id FROM products GROUP BY product_id HAVING COUNT(*) > 1)",
        "product_id",
        Refuse,
    ),
    check(
        "order_items",
        "null_key",
        "order_id or product_id is null",
        "t.order_id IS NULL OR t.product_id IS NULL",
        "order_id",
        Remove,
    ),
    check(
        "order_items",
        "unknown_order",
        "order_id is not in orders (or its order was removed)",
        "NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = t.order_id)",
        "order_id",
        Remove,
    ),
    check(
        "order_items",
        "unknown_product",
        "product_id is not in products",
        "NOT EXISTS (SELECT 1 FROM products p WHERE p.product_id = t.product_id)",
        "product_id",
        Remove,
    ),
    check(
        "order_items",
        "return_line",
        "a returned line: negative quantity (and line_amount <= 0) in a refunded or cancelled order; kept, never a purchase",
        RETURN_LINE,
        "order_id",
        Keep,
    ),
    check(
        "order_items",
        "bad_quantity_or_amount",
        "quantity is not positive, or unit_price or line_amount is negative or null (return lines excepted)",
        concat!(
            "(t.quantity IS NULL OR t.quantity <= 0 OR t.unit_price IS NULL OR t.line_amount IS NULL \
             OR t.unit_price < 0 OR t.line_amount < 0) AND NOT COALESCE(",
            return_line!(),
            ", false)"
        ),
        "order_id",
        Remove,
    ),
    check(
        "community_events",
        "bad_row",
        "member_id, group_id or occurred_at is null, or occurred_at is before 1970",
        "t.member_id IS NULL OR t.group_id IS NULL OR t.occurred_at IS NULL \
         OR t.occurred_at < CAST('1970-01-01' AS TIMESTAMP)",
        "member_id",
        Remove,
    ),
    check(
        "points_ledger",
        "bad_row",
        "member_id, occurred_at or points is null, or occurred_at is before 1970",
        "t.member_id IS NULL OR t.occurred_at IS NULL OR t.points IS NULL \
         OR t.occurred_at < CAST('1970-01-01' AS TIMESTAMP)",
        "member_id",
        Remove,
    ),
    check(
        "contact_history",
        "bad_row",
        "member_id, campaign or sent_at is null, or sent_at is before 1970",
        "t.member_id IS NULL OR t.campaign IS NULL OR t.sent_at IS NULL \
         OR t.sent_at < CAST('1970-01-01' AS TIMESTAMP)",
        "member_id",
        Remove,
    ),
    check(
        "suppression",
        "null_member_id",
        "member_id is null (the row suppresses no one)",
        "t.member_id IS NULL",
        "member_id",
        Remove,
    ),
];

/// The built-in step that runs [`CHECKS`]. Every job has it (an implicit kind of the
/// step registry).
pub struct QualityStep;

struct Outcome {
    check: &'static Check,
    affected: i64,
    total: i64,
}

impl Outcome {
    fn share(&self) -> f64 {
        if self.total > 0 {
            self.affected as f64 / self.total as f64
        } else {
            0.0
        }
    }
}

/// The checked settings of the step, from the job's params.
struct Settings {
    threshold: f64,
    stale_warn_days: i64,
    stale_fail_days: i64,
}

impl Settings {
    fn from_params(ctx: &StepContext) -> Result<Settings> {
        let threshold = match ctx.params.get(THRESHOLD_PARAM) {
            Some(ParamValue::Float(f)) if (0.0..=1.0).contains(f) => *f,
            other => {
                return Err(SiyuError::config(format!(
                    "param {THRESHOLD_PARAM} must be a float in [0, 1], found {other:?}"
                )));
            }
        };
        let days = |name: &str| match ctx.params.get(name) {
            Some(ParamValue::Int(d)) if *d >= 0 => Ok(*d),
            other => Err(SiyuError::config(format!(
                "param {name} must be an int of at least 0 days, found {other:?}"
            ))),
        };
        let stale_warn_days = days(STALE_WARN_PARAM)?;
        let stale_fail_days = days(STALE_FAIL_PARAM)?;
        if stale_fail_days < stale_warn_days {
            return Err(SiyuError::config(format!(
                "param {STALE_FAIL_PARAM} ({stale_fail_days}) must be at least {STALE_WARN_PARAM} ({stale_warn_days})"
            )));
        }
        Ok(Settings {
            threshold,
            stale_warn_days,
            stale_fail_days,
        })
    }
}

impl QualityStep {
    /// The registry's build function: the step has no `[[steps]]` parameters.
    pub fn build(
        _params: &toml::Table,
        _at: &Location,
    ) -> std::result::Result<Box<dyn Step>, Problem> {
        Ok(Box::new(QualityStep))
    }

    /// Where an input table came from, for messages: its one file, else its declared
    /// path or glob.
    fn source_of(ctx: &StepContext, table: &str) -> String {
        match ctx.inputs.iter().find(|i| i.spec.name == table) {
            Some(i) => match (&i.source, i.files.as_slice()) {
                (_, [one]) => one.path.display().to_string(),
                (Some(s), _) => s.display().to_string(),
                (None, _) => "absent, read as empty".to_string(),
            },
            None => table.to_string(),
        }
    }

    /// The first value of the first column of a query's result (`None`: no rows).
    async fn first_value(ctx: &StepContext, sql: &str) -> Result<Option<ScalarValue>> {
        let batches = ctx.session.sql(sql).await?.collect().await?;
        match batches.iter().find(|b| b.num_rows() > 0) {
            Some(b) => Ok(Some(ScalarValue::try_from_array(b.column(0), 0)?)),
            None => Ok(None),
        }
    }

    async fn count(ctx: &StepContext, sql: &str) -> Result<i64> {
        Ok(match Self::first_value(ctx, sql).await? {
            Some(ScalarValue::Int64(Some(n))) => n,
            _ => 0,
        })
    }

    async fn first_key(ctx: &StepContext, c: &Check, bad: &str) -> Result<String> {
        let sql = format!(
            "SELECT CAST(t.{key} AS VARCHAR) FROM {table} t WHERE {bad} ORDER BY 1 NULLS FIRST LIMIT 1",
            key = c.key,
            table = c.table
        );
        Ok(match Self::first_value(ctx, &sql).await? {
            Some(ScalarValue::Utf8(Some(key))) => key,
            Some(_) => "null".to_string(),
            None => String::new(),
        })
    }

    /// Run the checks of one table; with no failure, register its cleaned rows.
    async fn check_table(
        ctx: &StepContext,
        table: &'static str,
        threshold: f64,
        outcomes: &mut Vec<Outcome>,
        problems: &mut Vec<SiyuError>,
    ) -> Result<()> {
        let total = Self::count(ctx, &format!("SELECT COUNT(*) FROM {table}")).await?;
        let mut removals = Vec::new();
        for c in CHECKS.iter().filter(|c| c.table == table) {
            let bad = format!("COALESCE({}, false)", with_as_of(ctx, c.bad));
            let affected = if c.name == "no_rows" {
                i64::from(total == 0)
            } else {
                Self::count(ctx, &format!("SELECT COUNT(*) FROM {table} t WHERE {bad}")).await?
            };
            let outcome = Outcome {
                check: c,
                affected,
                total,
            };
            let fails = match c.action {
                Refuse => affected > 0,
                Remove => outcome.share() > threshold,
                Keep => false,
            };
            if fails {
                let mut problem = SiyuError::input("")
                    .in_table(table)
                    .in_file(Self::source_of(ctx, table));
                let first = if c.name == "no_rows" {
                    String::new()
                } else {
                    let key = Self::first_key(ctx, c, &bad).await?;
                    let text = format!("; first {}: {key:?}", c.key);
                    problem = problem.in_column(c.key).with_key(key);
                    text
                };
                let why = match c.action {
                    Refuse => "this cannot be repaired safely".to_string(),
                    _ => format!(
                        "more than {THRESHOLD_PARAM} = {:.2}% of the table",
                        threshold * 100.0
                    ),
                };
                problem.message = format!(
                    "{table}: check {}: {} rows of {} ({:.2}%): {}{first} — {why}",
                    c.name,
                    affected,
                    total,
                    outcome.share() * 100.0,
                    c.what,
                );
                problems.push(problem);
            } else if affected > 0 {
                tracing::warn!(
                    table,
                    check = c.name,
                    rows = affected,
                    action = c.action.as_str(),
                    "data quality: {}",
                    c.what
                );
            }
            if c.action == Remove && affected > 0 {
                removals.push(format!("NOT {bad}"));
            }
            outcomes.push(outcome);
        }
        if !removals.is_empty() && problems.is_empty() {
            let cleaned = ctx
                .session
                .sql(&format!(
                    "SELECT t.* FROM {table} t WHERE {}",
                    removals.join(" AND ")
                ))
                .await?;
            ctx.session.deregister_table(table)?;
            ctx.session.register_table(table, cleaned.into_view())?;
        }
        Ok(())
    }

    /// The newest order's date, and whether it is too old for the run date.
    async fn check_freshness(
        ctx: &StepContext,
        settings: &Settings,
    ) -> Result<(Option<NaiveDate>, Option<i64>)> {
        let newest =
            Self::first_value(ctx, "SELECT CAST(MAX(ordered_at) AS DATE) FROM orders").await?;
        let Some(ScalarValue::Date32(Some(days))) = newest else {
            return Ok((None, None));
        };
        let newest = NaiveDate::from_num_days_from_ce_opt(days + EPOCH_DAYS_FROM_CE)
            .expect("a Date32 in chrono's range");
        // Orders on or after the run date (a rerun of an earlier night on a later export)
        // make the export fresh enough for that night.
        let age = (ctx.as_of - newest).num_days().max(0);
        let source = Self::source_of(ctx, "orders");
        if age > settings.stale_fail_days {
            return Err(SiyuError::input(format!(
                "stale export: the newest order is from {newest}, {age} days before the run date {}; \
                 more than {STALE_FAIL_PARAM} = {} days. Has the export stopped updating? \
                 (To run an earlier night on purpose, pass --as-of.)",
                ctx.as_of, settings.stale_fail_days
            ))
            .in_table("orders")
            .in_file(source));
        }
        if age > settings.stale_warn_days {
            ctx.warn(Warning {
                step: Some(KIND.to_string()),
                table: Some("orders".to_string()),
                ..Warning::new(format!(
                    "stale export? the newest order is from {newest}, {age} days before the run date {} \
                     (more than {STALE_WARN_PARAM} = {} days; the run fails above {STALE_FAIL_PARAM} = {})",
                    ctx.as_of, settings.stale_warn_days, settings.stale_fail_days
                ))
            });
        }
        Ok((Some(newest), Some(age)))
    }
}

fn with_as_of(ctx: &StepContext, sql: &str) -> String {
    sql.replace(
        "$as_of_ts",
        &format!("CAST('{}' AS TIMESTAMP)", ctx.as_of.format("%Y-%m-%d")),
    )
}

impl Step for QualityStep {
    fn name(&self) -> &str {
        TABLE
    }
    fn reads(&self) -> Vec<String> {
        crate::contract::TABLES
            .iter()
            .map(|t| t.name.to_string())
            .collect()
    }
    fn writes(&self) -> Vec<String> {
        vec![TABLE.to_string()]
    }
    fn replaces(&self) -> Vec<String> {
        self.reads()
    }

    fn plan<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Vec<(String, SchemaRef)>>> {
        async move {
            Settings::from_params(ctx)?;
            Ok(vec![(TABLE.to_string(), crate::outputs::data_quality())])
        }
        .boxed()
    }

    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<()>> {
        async move {
            let settings = Settings::from_params(ctx)?;
            let mut outcomes = Vec::new();
            let mut problems = Vec::new();
            let mut tables: Vec<&'static str> = Vec::new();
            for c in CHECKS {
                if !tables.contains(&c.table) {
                    tables.push(c.table);
                }
            }
            for table in tables {
                Self::check_table(ctx, table, settings.threshold, &mut outcomes, &mut problems)
                    .await?;
            }
            let (newest_order, export_age_days) = if problems.is_empty() {
                Self::check_freshness(ctx, &settings).await?
            } else {
                (None, None)
            };
            ctx.detail(
                TABLE,
                StepDetails::DataQuality(QualityDetails {
                    checks: outcomes
                        .iter()
                        .map(|o| QualityCheckRecord {
                            table: o.check.table.to_string(),
                            check: o.check.name.to_string(),
                            rows_affected: o.affected,
                            rows_total: o.total,
                            action: o.check.action.as_str().to_string(),
                        })
                        .collect(),
                    max_bad_row_share: settings.threshold,
                    newest_order,
                    export_age_days,
                }),
            );
            if !problems.is_empty() {
                return Err(SiyuError::many(problems).context("data quality"));
            }
            let n = outcomes.len();
            let batch = crate::columns::batch(
                crate::outputs::data_quality(),
                vec![
                    Arc::new(StringArray::from_iter_values(
                        outcomes.iter().map(|o| o.check.table),
                    )) as ArrayRef,
                    Arc::new(StringArray::from_iter_values(
                        outcomes.iter().map(|o| o.check.name),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        outcomes.iter().map(|o| o.check.what),
                    )),
                    Arc::new(Int64Array::from_iter_values(
                        outcomes.iter().map(|o| o.affected),
                    )),
                    Arc::new(Int64Array::from_iter_values(
                        outcomes.iter().map(|o| o.total),
                    )),
                    Arc::new(Float64Array::from_iter_values(
                        outcomes.iter().map(Outcome::share),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        outcomes.iter().map(|o| o.check.action.as_str()),
                    )),
                    crate::columns::as_of_column(ctx.as_of_date32(), n),
                ],
                TABLE,
            )?;
            ctx.write_batch(TABLE, batch).await?;
            Ok(())
        }
        .boxed()
    }
}
