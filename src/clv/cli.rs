//! `siyu clv`: the calibration/holdout check of the value models on a directory of
//! exports, outside any job. The purchase histories come from the job's own SQL
//! (`sql/features/paid_orders.sql`, `sql/value/member_purchase_days.sql`), so what is
//! checked is what the nightly `value` step fits.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::prelude::{DataFrame, SessionContext, cast, col};

use super::holdout::{Comparison, Observed, compare};
use super::{Customer, fit_bgnbd, fit_gamma_gamma};
use crate::error::{Result, SiyuError};
use crate::job::ParamValue;
use crate::sql::SqlSource;

const PAID_ORDERS: &str = include_str!("../../sql/features/paid_orders.sql");
const PURCHASE_DAYS: &str = include_str!("../../sql/value/member_purchase_days.sql");

/// What `siyu clv` is asked.
pub struct Options {
    pub input_dir: PathBuf,
    /// The last day of the calibration period (its orders count).
    pub calibration_end: NaiveDate,
    /// The last day of the holdout period.
    pub holdout_end: NaiveDate,
    /// The timezone the exports' timestamps are read in (a job's `timezone`).
    pub timezone: String,
}

/// Fit on the calibration period, compare with the holdout; returns the text to print.
pub async fn run(opts: &Options) -> Result<String> {
    if opts.holdout_end <= opts.calibration_end {
        return Err(SiyuError::config(format!(
            "--holdout-end {} must be after --calibration-end {}",
            opts.holdout_end, opts.calibration_end
        )));
    }
    let sources = crate::input::Sources::merge(&BTreeMap::new(), Some(&opts.input_dir), &[])?;
    let inputs = crate::input::discover(&sources).map_err(SiyuError::many)?;
    let ctx = SessionContext::new();
    crate::input::register(&ctx, &inputs, &opts.timezone)?;

    // Calibration: the data ends on calibration_end, so the "run date" is the day after.
    let day_after = |d: NaiveDate| d.succ_opt().expect("a date before the end of time");
    register_sql(
        &ctx,
        "paid_orders",
        PAID_ORDERS,
        day_after(opts.calibration_end),
    )
    .await?;
    let histories = sql_frame(
        &ctx,
        "member_purchase_days",
        PURCHASE_DAYS,
        day_after(opts.calibration_end),
    )
    .await?
    .select(vec![
        cast(col("member_id"), DataType::Utf8).alias("member_id"),
        col("repeat_purchases"),
        col("recency_days_model"),
        col("age_days"),
        col("repeat_value"),
    ])?
    .sort(vec![col("member_id").sort(true, false)])?
    .collect()
    .await?;
    let mut ids = Vec::new();
    let mut customers = Vec::new();
    let mut spend = Vec::new();
    for b in &histories {
        let id = b.column(0).as_string::<i32>();
        let x = b.column(1).as_primitive::<Int64Type>();
        let t_x = b.column(2).as_primitive::<Int64Type>();
        let t = b.column(3).as_primitive::<Int64Type>();
        let m = b.column(4).as_primitive::<Float64Type>();
        for r in 0..b.num_rows() {
            ids.push(id.value(r).to_string());
            let c = Customer {
                x: x.value(r) as f64,
                t_x: t_x.value(r) as f64,
                t: t.value(r) as f64,
            };
            if c.x > 0.0 && m.is_valid(r) {
                spend.push((c.x, m.value(r)));
            }
            customers.push(c);
        }
    }
    if customers.is_empty() {
        return Err(SiyuError::input(format!(
            "no paid orders of members on or before --calibration-end {} in {}",
            opts.calibration_end,
            opts.input_dir.display()
        ))
        .in_table("orders"));
    }

    // Holdout: each calibration customer's purchase days after calibration_end.
    register_sql(
        &ctx,
        "paid_orders",
        PAID_ORDERS,
        day_after(opts.holdout_end),
    )
    .await?;
    let holdout = ctx
        .sql(&format!(
            "SELECT member_id, \
                    CAST(COUNT(DISTINCT order_date) AS BIGINT) AS days \
             FROM paid_orders WHERE order_date > DATE '{}' GROUP BY member_id",
            opts.calibration_end
        ))
        .await?
        .select(vec![
            cast(col("member_id"), DataType::Utf8).alias("member_id"),
            col("days"),
        ])?
        .collect()
        .await?;
    let mut actual: BTreeMap<String, f64> = BTreeMap::new();
    for b in &holdout {
        let id = b.column(0).as_string::<i32>();
        let n = b.column(1).as_primitive::<Int64Type>();
        for r in 0..b.num_rows() {
            actual.insert(id.value(r).to_string(), n.value(r) as f64);
        }
    }
    let observed: Vec<Observed> = ids
        .iter()
        .zip(&customers)
        .map(|(id, c)| Observed {
            customer: *c,
            holdout_purchases: actual.get(id).copied().unwrap_or(0.0),
        })
        .collect();

    let started = std::time::Instant::now();
    let bg = fit_bgnbd(&customers);
    let gg = fit_gamma_gamma(&spend);
    let seconds = started.elapsed().as_secs_f64();
    let mut text = String::new();
    let p = bg.params;
    let _ = writeln!(
        text,
        "calibration to {} ({} customers, {} with a repeat purchase day), holdout to {}\n\
         BG/NBD: r = {:.4}, alpha = {:.4} days, a = {:.4}, b = {:.4}; log-likelihood {:.3}; \
         {} iterations, converged: {}\n\
         Gamma-Gamma: p = {:.4}, q = {:.4}, v = {:.4}; log-likelihood {:.3}; {} customers, \
         {} iterations, converged: {}\nfit in {:.3} s\n",
        opts.calibration_end,
        customers.len(),
        customers.iter().filter(|c| c.x > 0.0).count(),
        opts.holdout_end,
        p.r,
        p.alpha,
        p.a,
        p.b,
        bg.log_likelihood,
        bg.iterations,
        bg.converged,
        gg.params.p,
        gg.params.q,
        gg.params.v,
        gg.log_likelihood,
        gg.customers,
        gg.iterations,
        gg.converged,
        seconds
    );
    if !bg.converged {
        let _ = writeln!(
            text,
            "the BG/NBD fit did not converge: no predictions (the nightly job would publish none)"
        );
        return Ok(text);
    }
    let days = (opts.holdout_end - opts.calibration_end).num_days() as f64;
    let comparison: Comparison = compare(&p, &observed, days);
    let _ = write!(text, "{comparison}");
    Ok(text)
}

async fn sql_frame(
    ctx: &SessionContext,
    name: &str,
    text: &str,
    as_of: NaiveDate,
) -> Result<DataFrame> {
    let source = SqlSource {
        name: name.to_string(),
        path: Path::new("sql").join(format!("{name}.sql")),
        text: text.to_string(),
    };
    let params = BTreeMap::from([("as_of".to_string(), ParamValue::Date(as_of))]);
    let query = crate::sql::prepare(&source, &params).map_err(SiyuError::many)?;
    let state = ctx.state();
    let plan = state.statement_to_plan(query.statement).await?;
    Ok(DataFrame::new(state, plan))
}

/// Register the query's result as table `name` (replacing any earlier one).
async fn register_sql(
    ctx: &SessionContext,
    name: &str,
    text: &str,
    as_of: NaiveDate,
) -> Result<()> {
    let df = sql_frame(ctx, name, text, as_of).await?;
    let _ = ctx.deregister_table(name)?;
    ctx.register_table(name, df.into_view())?;
    Ok(())
}

/// What `siyu clv --summary` is asked: fit and score a lifetimes-style summary table.
pub struct SummaryOptions {
    /// Parquet with member_id, frequency (repeat purchases), recency (t_x), T and
    /// monetary_value (mean value of the repeat purchases; ignored where frequency = 0),
    /// times in days.
    pub summary: PathBuf,
    pub horizon_days: f64,
    pub discount_rate_annual: f64,
    /// Where to write member_id, p_alive, expected_orders, expected_order_value, clv.
    pub out: Option<PathBuf>,
}

/// Fit both models on a summary table and score every row; returns the text to print
/// (parameters, convergence, and the seconds of the fits and of scoring, reading and
/// writing excluded).
pub async fn summary(opts: &SummaryOptions) -> Result<String> {
    use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::prelude::ParquetReadOptions;
    use std::sync::Arc;

    if !(opts.horizon_days.is_finite() && opts.horizon_days >= 1.0) {
        return Err(SiyuError::config(format!(
            "--horizon-days must be at least 1, found {}",
            opts.horizon_days
        )));
    }
    if !(opts.discount_rate_annual.is_finite() && opts.discount_rate_annual >= 0.0) {
        return Err(SiyuError::config(format!(
            "--discount-rate-annual must be at least 0, found {}",
            opts.discount_rate_annual
        )));
    }
    let file = opts.summary.display().to_string();
    let ctx = SessionContext::new();
    let df = ctx
        .read_parquet(file.as_str(), ParquetReadOptions::default())
        .await
        .map_err(|e| SiyuError::input(format!("cannot read parquet: {e}")).in_file(&file))?;
    for c in ["member_id", "frequency", "recency", "T", "monetary_value"] {
        if df.schema().field_with_unqualified_name(c).is_err() {
            return Err(SiyuError::input(format!(
                "no column {c} (a summary has member_id, frequency, recency, T, monetary_value; times in days)"
            ))
            .in_file(&file)
            .in_column(c));
        }
    }
    let f64col = |c: &str| cast(datafusion::prelude::ident(c), DataType::Float64).alias(c);
    let batches = df
        .select(vec![
            cast(col("member_id"), DataType::Utf8).alias("member_id"),
            f64col("frequency"),
            f64col("recency"),
            f64col("T"),
            f64col("monetary_value"),
        ])?
        .collect()
        .await?;
    let (mut ids, mut customers, mut values) = (Vec::new(), Vec::new(), Vec::new());
    let mut row = 0usize;
    for b in &batches {
        let id = b.column(0).as_string::<i32>();
        let get = |k: usize| b.column(k).as_primitive::<Float64Type>();
        let (x, t_x, t, m) = (get(1), get(2), get(3), get(4));
        for r in 0..b.num_rows() {
            row += 1;
            let c = Customer {
                x: x.value(r),
                t_x: t_x.value(r),
                t: t.value(r),
            };
            let bad = id.is_null(r)
                || x.is_null(r)
                || t_x.is_null(r)
                || t.is_null(r)
                || !(c.x >= 0.0 && c.x.fract() == 0.0 && c.t >= 0.0 && c.t_x >= 0.0)
                || (c.x > 0.0 && c.t_x > c.t);
            if bad {
                return Err(SiyuError::input(format!(
                    "row {row}: expected a member_id, a whole frequency ≥ 0 and 0 ≤ recency ≤ T \
                     (recency only matters when frequency > 0), found frequency {:?}, recency {:?}, T {:?}",
                    x.is_valid(r).then_some(c.x),
                    t_x.is_valid(r).then_some(c.t_x),
                    t.is_valid(r).then_some(c.t)
                ))
                .in_file(&file));
            }
            ids.push(id.value(r).to_string());
            customers.push(c);
            values.push(if m.is_valid(r) { m.value(r) } else { 0.0 });
        }
    }
    let spend: Vec<(f64, f64)> = customers
        .iter()
        .zip(&values)
        .filter(|(c, m)| c.x > 0.0 && **m > 0.0)
        .map(|(c, &m)| (c.x, m))
        .collect();
    let monthly = super::members::monthly_rate(opts.discount_rate_annual);

    let started = std::time::Instant::now();
    let bg = fit_bgnbd(&customers);
    let gg = fit_gamma_gamma(&spend);
    let fit_seconds = started.elapsed().as_secs_f64();
    let scored = std::time::Instant::now();
    let scores = super::score(
        &bg.params,
        &gg.params,
        &customers,
        &values,
        opts.horizon_days,
        monthly,
    );
    let score_seconds = scored.elapsed().as_secs_f64();

    let mut text = String::new();
    let p = bg.params;
    let _ = writeln!(
        text,
        "{} customers ({} with a repeat purchase), horizon {} days, monthly discount {:.6}\n\
         bgnbd r {:.9} alpha {:.9} a {:.9} b {:.9} log_likelihood {:.6} iterations {} converged {}\n\
         gamma_gamma p {:.9} q {:.9} v {:.9} log_likelihood {:.6} customers {} iterations {} converged {}\n\
         fit_seconds {:.4} score_seconds {:.4} threads {}",
        customers.len(),
        spend.len(),
        opts.horizon_days,
        monthly,
        p.r,
        p.alpha,
        p.a,
        p.b,
        bg.log_likelihood,
        bg.iterations,
        bg.converged,
        gg.params.p,
        gg.params.q,
        gg.params.v,
        gg.log_likelihood,
        gg.customers,
        gg.iterations,
        gg.converged,
        fit_seconds,
        score_seconds,
        rayon::current_num_threads()
    );
    if let Some(out) = &opts.out {
        let schema = Arc::new(Schema::new(vec![
            Field::new("member_id", DataType::Utf8, false),
            Field::new("p_alive", DataType::Float64, false),
            Field::new("expected_orders", DataType::Float64, false),
            Field::new("expected_order_value", DataType::Float64, false),
            Field::new("clv", DataType::Float64, false),
        ]));
        let f = |g: fn(&super::Score) -> f64| -> ArrayRef {
            Arc::new(scores.iter().map(g).collect::<Float64Array>())
        };
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from_iter_values(&ids)),
                f(|s| s.p_alive),
                f(|s| s.expected_purchases),
                f(|s| s.expected_value),
                f(|s| s.clv),
            ],
        )
        .map_err(|e| SiyuError::runtime(format!("building the scores: {e}")))?;
        let file = std::fs::File::create(out).map_err(|e| {
            SiyuError::io(
                crate::error::ErrorClass::Publish,
                "cannot create the scores file",
                out,
                e,
            )
        })?;
        let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(file, schema, None)
            .map_err(|e| SiyuError::runtime(e.to_string()))?;
        w.write(&batch)
            .and_then(|_| w.close().map(|_| ()))
            .map_err(|e| SiyuError::publish(format!("writing {}: {e}", out.display())))?;
    }
    Ok(text)
}
