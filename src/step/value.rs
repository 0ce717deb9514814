//! The `value` step: predicted member value — P(alive), expected orders and CLV from the
//! BG/NBD and Gamma-Gamma models ([`crate::clv`]), fitted on tonight's buyers. See
//! `docs/value.md` for the method and the tables.
//!
//! ```toml
//! [[steps]]
//! type = "value"
//! histories = "member_purchase_days"   # default: one row per buyer (x, t_x, T, value)
//! output = "member_value"              # default
//! model_output = "clv_model"           # default
//! band_high_share = 0.2                # default: top share by CLV in value_band high
//! band_medium_share = 0.3              # default: the next share, medium; the rest low
//! ```
//!
//! It reads the job params `clv_horizon_days` (365), `clv_discount_rate_annual` (0.1),
//! `clv_min_repeat_buyers` (100) and `high_potential_share` (0.2) — declare them in the
//! job file to change them or pass `--param`; undeclared, the defaults apply. A night
//! without a usable model is not a failure: the predictions are null, `clv_model` says
//! `converged = false` with a note, and the run carries a warning.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef};
use datafusion::prelude::{cast, ident};
use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Deserialize;

use super::{DeclaredStep, Step, StepContext, StepParams, check_identifiers, table_error};
use crate::clv::members::{History, NightlyValue, ValueSettings, nightly_value};
use crate::columns::{as_of_column, batch, require_columns};
use crate::error::{Result, SiyuError};
use crate::held::{string_bytes, vec_bytes};
use crate::job::ParamValue;
use crate::manifest::Warning;
use crate::outputs;

const KIND: &str = "value";

/// The columns the step reads from its histories table.
const COLUMNS: [&str; 5] = [
    "member_id",
    "repeat_purchases",
    "recency_days_model",
    "age_days",
    "repeat_value",
];

/// A value step: its `[[steps]]` parameters (the module docs list them).
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValueStep {
    histories: String,
    output: String,
    model_output: String,
    band_high_share: f64,
    band_medium_share: f64,
}

impl Default for ValueStep {
    fn default() -> Self {
        ValueStep {
            histories: "member_purchase_days".into(),
            output: "member_value".into(),
            model_output: "clv_model".into(),
            band_high_share: 0.2,
            band_medium_share: 0.3,
        }
    }
}

impl StepParams for ValueStep {
    fn validate(&self) -> std::result::Result<(), String> {
        let share = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
        if !share(self.band_high_share)
            || !share(self.band_medium_share)
            || self.band_high_share + self.band_medium_share > 1.0
        {
            return Err(format!(
                "band_high_share ({}) and band_medium_share ({}) must be shares in [0, 1] \
                 adding up to at most 1",
                self.band_high_share, self.band_medium_share
            ));
        }
        check_identifiers([&self.histories, &self.output, &self.model_output])
    }
}

impl DeclaredStep for ValueStep {
    const KIND: &'static str = KIND;
}

/// The job params the step reads, with their defaults when a job does not declare them.
pub const PARAMS: [(&str, f64); 4] = [
    ("clv_horizon_days", 365.0),
    ("clv_discount_rate_annual", 0.1),
    ("clv_min_repeat_buyers", 100.0),
    ("high_potential_share", 0.2),
];

impl ValueStep {
    /// The night's settings from the job params; a bad value is a configuration error.
    fn settings(&self, ctx: &StepContext) -> Result<ValueSettings> {
        let get = |name: &str, default: f64| -> Result<f64> {
            match ctx.params.get(name) {
                None => Ok(default),
                Some(ParamValue::Int(i)) => Ok(*i as f64),
                Some(ParamValue::Float(f)) => Ok(*f),
                Some(other) => Err(SiyuError::config(format!(
                    "value step: param {name} must be a number, found {other:?}"
                ))),
            }
        };
        let [h, d, m, s] = PARAMS.map(|(n, def)| get(n, def));
        let (horizon_days, discount, min_repeat, share) = (h?, d?, m?, s?);
        let bad = |name: &str, v: f64, want: &str| {
            Err(SiyuError::config(format!(
                "value step: param {name} must be {want}, found {v}"
            )))
        };
        if !(horizon_days.is_finite() && horizon_days >= 1.0) {
            return bad("clv_horizon_days", horizon_days, "at least 1 day");
        }
        if !(discount.is_finite() && discount >= 0.0) {
            return bad("clv_discount_rate_annual", discount, "a rate of at least 0");
        }
        if !(min_repeat.is_finite() && min_repeat >= 1.0 && min_repeat.fract() == 0.0) {
            return bad(
                "clv_min_repeat_buyers",
                min_repeat,
                "a whole number of at least 1",
            );
        }
        if !(share.is_finite() && (0.0..=1.0).contains(&share)) {
            return bad("high_potential_share", share, "a share in [0, 1]");
        }
        Ok(ValueSettings {
            horizon_days,
            discount_rate_annual: discount,
            min_repeat_buyers: min_repeat as usize,
            high_potential_share: share,
            band_high_share: self.band_high_share,
            band_medium_share: self.band_medium_share,
        })
    }

    /// Every buyer's history, checked: ids present, counts and days whole and not
    /// negative, t_x ≤ T, and a positive repeat value exactly when x > 0 (a zero-value
    /// repeat day is allowed: it is left out of the spend model).
    async fn histories(&self, ctx: &StepContext) -> Result<Vec<History>> {
        let t = &self.histories;
        let df = ctx.table(t).await?.select(vec![
            cast(ident("member_id"), DataType::Utf8).alias("member_id"),
            cast(ident("repeat_purchases"), DataType::Int64).alias("x"),
            cast(ident("recency_days_model"), DataType::Int64).alias("t_x"),
            cast(ident("age_days"), DataType::Int64).alias("t"),
            cast(ident("repeat_value"), DataType::Float64).alias("m"),
        ])?;
        let mut out = Vec::new();
        for b in df.collect().await? {
            let ids = b.column(0).as_string::<i32>();
            let x = b.column(1).as_primitive::<Int64Type>();
            let t_x = b.column(2).as_primitive::<Int64Type>();
            let big_t = b.column(3).as_primitive::<Int64Type>();
            let m = b.column(4).as_primitive::<Float64Type>();
            for r in 0..b.num_rows() {
                let fail = |column: &str, what: String| {
                    let id = if ids.is_null(r) {
                        "(null)"
                    } else {
                        ids.value(r)
                    };
                    Err(SiyuError::input(format!("member_id {id}: {what}"))
                        .in_table(t)
                        .in_column(column))
                };
                if ids.is_null(r) {
                    return fail("member_id", "every row needs a member_id".into());
                }
                if x.is_null(r) || x.value(r) < 0 {
                    return fail("repeat_purchases", "expected a count of at least 0".into());
                }
                if big_t.is_null(r) || big_t.value(r) < 0 {
                    return fail(
                        "age_days",
                        format!(
                            "expected at least 0 days (the first purchase before the run date), found {:?}",
                            big_t.is_valid(r).then(|| big_t.value(r))
                        ),
                    );
                }
                if t_x.is_null(r) || t_x.value(r) < 0 || t_x.value(r) > big_t.value(r) {
                    return fail(
                        "recency_days_model",
                        format!(
                            "expected 0 ≤ t_x ≤ age_days ({}), found {:?}",
                            big_t.value(r),
                            t_x.is_valid(r).then(|| t_x.value(r))
                        ),
                    );
                }
                let value = m.is_valid(r).then(|| m.value(r));
                let repeat = x.value(r) > 0;
                let value = match value {
                    Some(v) if !v.is_finite() || v < 0.0 => {
                        return fail(
                            "repeat_value",
                            format!("expected an amount of at least 0, found {v}"),
                        );
                    }
                    Some(v) if repeat => (v > 0.0).then_some(v),
                    None if !repeat => None,
                    _ => {
                        return fail(
                            "repeat_value",
                            format!(
                                "expected a value exactly when repeat_purchases > 0 (found {} repeat purchases)",
                                x.value(r)
                            ),
                        );
                    }
                };
                out.push(History {
                    member_id: ids.value(r).to_string(),
                    repeat_purchases: x.value(r),
                    recency_days_model: t_x.value(r),
                    age_days: big_t.value(r),
                    repeat_value: value,
                });
            }
        }
        Ok(out)
    }
}

impl Step for ValueStep {
    fn name(&self) -> &str {
        &self.output
    }
    fn reads(&self) -> Vec<String> {
        vec![self.histories.clone()]
    }
    fn writes(&self) -> Vec<String> {
        vec![self.output.clone(), self.model_output.clone()]
    }

    fn plan<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Vec<(String, SchemaRef)>>> {
        async move {
            self.settings(ctx)?;
            let df = ctx.table(&self.histories).await?;
            require_columns(df.schema(), &self.histories, &COLUMNS)
                .map_err(|e| table_error(KIND, e))?;
            Ok(vec![
                (self.output.clone(), outputs::member_value()),
                (self.model_output.clone(), outputs::clv_model()),
            ])
        }
        .boxed()
    }

    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<()>> {
        async move {
            let settings = self.settings(ctx)?;
            let histories = self.histories(ctx).await?;
            // The histories, their customers and values, and the scores.
            let mut held = crate::held::Held::new(&ctx.session, "the value models' members");
            held.set(
                string_bytes(histories.iter().map(|h| &h.member_id)) + vec_bytes(&histories) * 4,
            )?;
            let night = tokio::task::block_in_place(|| nightly_value(&histories, &settings));
            for note in &night.notes {
                ctx.warn(Warning {
                    message: note.clone(),
                    step: Some(self.output.clone()),
                    table: Some(self.model_output.clone()),
                });
            }
            tracing::info!(
                step = %self.output,
                members = histories.len(),
                predicted = night.predicted,
                bgnbd_converged = night.bgnbd.is_some_and(|f| f.converged),
                gamma_gamma_converged = night.gamma_gamma.is_some_and(|f| f.converged),
                "member value"
            );
            let as_of = ctx.as_of_date32();
            let members = members_batch(&histories, &night, as_of, &self.output)?;
            drop(held);
            ctx.write_batch(&self.output, members).await?;
            let model = model_batch(&night, as_of, &self.model_output)?;
            ctx.write_batch(&self.model_output, model).await?;
            Ok(())
        }
        .boxed()
    }
}

fn members_batch(
    histories: &[History],
    night: &NightlyValue,
    as_of: i32,
    table: &str,
) -> Result<datafusion::arrow::record_batch::RecordBatch> {
    let n = histories.len();
    let m = &night.members;
    let floats = |f: &dyn Fn(usize) -> Option<f64>| -> ArrayRef {
        Arc::new((0..n).map(f).collect::<Float64Array>())
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            histories.iter().map(|h| h.member_id.as_str()),
        )),
        as_of_column(as_of, n),
        Arc::new(Int64Array::from_iter_values(
            histories.iter().map(|h| h.repeat_purchases),
        )),
        Arc::new(Int64Array::from_iter_values(
            histories.iter().map(|h| h.recency_days_model),
        )),
        Arc::new(Int64Array::from_iter_values(
            histories.iter().map(|h| h.age_days),
        )),
        floats(&|i| m[i].p_alive),
        floats(&|i| m[i].expected_orders),
        floats(&|i| m[i].expected_order_value),
        floats(&|i| m[i].clv),
        Arc::new(
            m.iter()
                .map(|v| v.value_band.map(|b| b.code()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            m.iter()
                .map(|v| v.value_band.map(|b| b.label()))
                .collect::<StringArray>(),
        ),
        Arc::new(m.iter().map(|v| v.high_potential).collect::<BooleanArray>()),
    ];
    batch(outputs::member_value(), columns, table)
}

fn model_batch(
    night: &NightlyValue,
    as_of: i32,
    table: &str,
) -> Result<datafusion::arrow::record_batch::RecordBatch> {
    let bg = night.bgnbd;
    let gg = night.gamma_gamma;
    let note_for = |prefix: &str| {
        night
            .notes
            .iter()
            .find(|n| n.contains(prefix))
            .or(night.notes.first().filter(|_| prefix == "BG/NBD"))
            .cloned()
    };
    let bg_note = if bg.is_some_and(|f| f.converged) {
        None
    } else {
        note_for("BG/NBD")
    };
    let gg_note = match gg {
        Some(f) if f.converged => None,
        Some(_) => note_for("Gamma-Gamma"),
        None => Some("not fitted: no usable BG/NBD model tonight".to_string()),
    };
    let p = |f: fn(&crate::clv::BgNbd) -> f64| bg.map(|b| f(&b.params));
    let q = |f: fn(&crate::clv::GammaGamma) -> f64| gg.map(|g| f(&g.params));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["bgnbd", "gamma_gamma"])),
        as_of_column(as_of, 2),
        Arc::new(Float64Array::from(vec![p(|b| b.r), None])),
        Arc::new(Float64Array::from(vec![p(|b| b.alpha), None])),
        Arc::new(Float64Array::from(vec![p(|b| b.a), None])),
        Arc::new(Float64Array::from(vec![p(|b| b.b), None])),
        Arc::new(Float64Array::from(vec![None, q(|g| g.p)])),
        Arc::new(Float64Array::from(vec![None, q(|g| g.q)])),
        Arc::new(Float64Array::from(vec![None, q(|g| g.v)])),
        Arc::new(Float64Array::from(vec![
            bg.map(|f| f.log_likelihood),
            gg.map(|f| f.log_likelihood),
        ])),
        Arc::new(Int64Array::from(vec![
            bg.map_or(0, |f| f.customers as i64),
            gg.map_or(0, |f| f.customers as i64),
        ])),
        Arc::new(Int64Array::from(vec![
            bg.map_or(0, |f| i64::from(f.iterations)),
            gg.map_or(0, |f| i64::from(f.iterations)),
        ])),
        Arc::new(BooleanArray::from(vec![
            bg.is_some_and(|f| f.converged),
            gg.is_some_and(|f| f.converged),
        ])),
        Arc::new(StringArray::from(vec![bg_note, gg_note])),
    ];
    batch(outputs::clv_model(), columns, table)
}
