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

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::json;

use crate::error::{Result, SiyuError};
use crate::job::ParamValue;
use crate::step::{Step, StepContext};

/// The table the checks write, and the name of the step in plans and manifests.
pub const TABLE: &str = "data_quality";
/// The job param that sets the share of removed rows that fails the run.
pub const THRESHOLD_PARAM: &str = "max_bad_row_share";
pub const DEFAULT_THRESHOLD: f64 = 0.01;

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
        "bad_quantity_or_amount",
        "quantity is not positive, or unit_price or line_amount is negative or null",
        "t.quantity IS NULL OR t.quantity <= 0 OR t.unit_price IS NULL OR t.line_amount IS NULL \
         OR t.unit_price < 0 OR t.line_amount < 0",
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

/// The built-in step that runs [`CHECKS`]. Every job has it; every other step runs after
/// it (the runner starts it first), so they all read the cleaned tables.
pub struct QualityStep {
    /// Where each input table came from, for messages (table → files).
    pub sources: Vec<(String, String)>,
}

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("table", DataType::Utf8, false),
        Field::new("check", DataType::Utf8, false),
        Field::new("description", DataType::Utf8, false),
        Field::new("rows_affected", DataType::Int64, false),
        Field::new("rows_total", DataType::Int64, false),
        Field::new("share", DataType::Float64, false),
        Field::new("action", DataType::Utf8, false),
        Field::new("as_of", DataType::Date32, false),
    ]))
}

struct Outcome {
    check: &'static Check,
    affected: i64,
    total: i64,
}

impl QualityStep {
    fn threshold(ctx: &StepContext) -> Result<f64> {
        match ctx.params.get(THRESHOLD_PARAM) {
            None => Ok(DEFAULT_THRESHOLD),
            Some(ParamValue::Float(f)) if (0.0..=1.0).contains(f) => Ok(*f),
            Some(other) => Err(SiyuError::config(format!(
                "param {THRESHOLD_PARAM} must be a float in [0, 1], found {other:?}"
            ))),
        }
    }

    fn source_of(&self, table: &str) -> String {
        self.sources
            .iter()
            .find(|(t, _)| t == table)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| table.to_string())
    }

    async fn scalar(ctx: &StepContext, sql: &str) -> Result<i64> {
        let batches = ctx.session.sql(sql).await?.collect().await?;
        Ok(batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .map(|b| {
                let c = b.column(0);
                if c.is_null(0) {
                    0
                } else {
                    c.as_primitive::<Int64Type>().value(0)
                }
            })
            .unwrap_or(0))
    }

    async fn first_key(ctx: &StepContext, c: &Check, bad: &str) -> Result<String> {
        let sql = format!(
            "SELECT CAST(t.{key} AS VARCHAR) FROM {table} t WHERE {bad} ORDER BY 1 NULLS FIRST LIMIT 1",
            key = c.key,
            table = c.table
        );
        let batches = ctx.session.sql(&sql).await?.collect().await?;
        Ok(batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .map(|b| {
                let col = b.column(0).as_string::<i32>();
                if col.is_null(0) {
                    "null".to_string()
                } else {
                    format!("{:?}", col.value(0))
                }
            })
            .unwrap_or_default())
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
    fn kind(&self) -> &'static str {
        "quality"
    }
    fn source(&self) -> String {
        "built-in data quality checks (src/quality.rs)".into()
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

    fn plan<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Vec<(String, SchemaRef)>>> {
        async move {
            Self::threshold(ctx)?;
            Ok(vec![(TABLE.to_string(), schema())])
        }
        .boxed()
    }

    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<()>> {
        async move {
            let threshold = Self::threshold(ctx)?;
            let mut outcomes = Vec::new();
            let mut problems = Vec::new();
            let tables: Vec<&str> = {
                let mut seen = Vec::new();
                for c in CHECKS {
                    if !seen.contains(&c.table) {
                        seen.push(c.table);
                    }
                }
                seen
            };
            for table in tables {
                let total = Self::scalar(ctx, &format!("SELECT COUNT(*) FROM {table}")).await?;
                let mut removals = Vec::new();
                for c in CHECKS.iter().filter(|c| c.table == table) {
                    let bad = with_as_of(ctx, c.bad);
                    let affected = if c.name == "no_rows" {
                        i64::from(total == 0)
                    } else {
                        Self::scalar(
                            ctx,
                            &format!("SELECT COUNT(*) FROM {table} t WHERE COALESCE({bad}, false)"),
                        )
                        .await?
                    };
                    let share = if total > 0 {
                        affected as f64 / total as f64
                    } else {
                        0.0
                    };
                    let fails = match c.action {
                        Refuse => affected > 0,
                        Remove => share > threshold,
                        Keep => false,
                    };
                    if fails {
                        let first = if c.name == "no_rows" {
                            String::new()
                        } else {
                            format!(
                                "; first {}: {}",
                                c.key,
                                Self::first_key(ctx, c, &format!("COALESCE({bad}, false)")).await?
                            )
                        };
                        let why = match c.action {
                            Refuse => "this cannot be repaired safely".to_string(),
                            _ => format!(
                                "more than {THRESHOLD_PARAM} = {:.2}% of the table",
                                threshold * 100.0
                            ),
                        };
                        problems.push(format!(
                            "{table} ({}): check {}: {} rows of {} ({:.2}%): {}{first} — {why}",
                            self.source_of(table),
                            c.name,
                            affected,
                            total,
                            share * 100.0,
                            c.what,
                        ));
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
                        removals.push(format!("NOT COALESCE({bad}, false)"));
                    }
                    outcomes.push(Outcome {
                        check: c,
                        affected,
                        total,
                    });
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
            }
            let details: Vec<serde_json::Value> = outcomes
                .iter()
                .map(|o| {
                    json!({
                        "table": o.check.table,
                        "check": o.check.name,
                        "rows_affected": o.affected,
                        "rows_total": o.total,
                        "action": o.check.action.as_str(),
                    })
                })
                .collect();
            ctx.detail(
                TABLE,
                json!({"checks": details, THRESHOLD_PARAM: threshold}),
            );
            if !problems.is_empty() {
                return Err(SiyuError::input(format!(
                    "data quality: {} problem(s):\n  {}",
                    problems.len(),
                    problems.join("\n  ")
                )));
            }
            let n = outcomes.len();
            let as_of = ctx.as_of_date32();
            let batch = RecordBatch::try_new(
                schema(),
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
                    Arc::new(Float64Array::from_iter_values(outcomes.iter().map(|o| {
                        if o.total > 0 {
                            o.affected as f64 / o.total as f64
                        } else {
                            0.0
                        }
                    }))),
                    Arc::new(StringArray::from_iter_values(
                        outcomes.iter().map(|o| o.check.action.as_str()),
                    )),
                    Arc::new(Date32Array::from(vec![as_of; n])),
                ],
            )
            .map_err(|e| SiyuError::runtime(format!("building {TABLE}: {e}")))?;
            ctx.write(TABLE, ctx.session.read_batch(batch)?).await?;
            Ok(())
        }
        .boxed()
    }
}
