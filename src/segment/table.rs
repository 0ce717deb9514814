//! Reading features from a table of rows and turning segments back into Arrow. Shared
//! by the `segment` step and the `siyu segment` command (as `rules::table` is for rules).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::logical_expr::{cast, ident};
use datafusion::prelude::DataFrame;

use super::scale::{FeatureScale, Transform};
use super::{Outcome, Previous, PreviousSegment, format_id, parse_id};
use crate::columns::{
    as_of_column, float_list_column, floats, lists, strings, text_list_column, texts,
};
use crate::error::{Result, SiyuError};

/// Rows of a feature table: ids (as text; null ids refused), each feature as f64 with
/// nulls, and optionally a revenue column (nulls as 0).
pub struct FeatureRows {
    pub ids: Vec<String>,
    pub features: Vec<Vec<Option<f64>>>,
    pub revenue: Option<Vec<f64>>,
}

/// Check that `df` has the id column and numeric (or Boolean) feature and revenue
/// columns; `table` names it in errors.
pub fn check_columns(
    df: &DataFrame,
    table: &str,
    id: &str,
    features: &[String],
    revenue: Option<&str>,
) -> Result<()> {
    crate::columns::require_columns(df.schema(), table, &[id])?;
    for c in features.iter().map(String::as_str).chain(revenue) {
        crate::columns::require_columns(df.schema(), table, &[c])?;
        let f = df.schema().field_with_unqualified_name(c)?;
        if !f.data_type().is_numeric() && f.data_type() != &DataType::Boolean {
            return Err(SiyuError::config(format!(
                "column {table}.{c} is {}, expected a number",
                f.data_type()
            ))
            .in_table(table)
            .in_column(c));
        }
    }
    Ok(())
}

/// Read `id`, `features` and `revenue` from `df` (a table called `table`).
pub async fn read_features(
    df: DataFrame,
    table: &str,
    id: &str,
    features: &[String],
    revenue: Option<&str>,
) -> Result<FeatureRows> {
    check_columns(&df, table, id, features, revenue).map_err(|mut e| {
        e.class = crate::error::ErrorClass::Input;
        e
    })?;
    let mut exprs = vec![cast(ident(id), DataType::Utf8).alias("__id")];
    for (k, c) in features
        .iter()
        .map(String::as_str)
        .chain(revenue)
        .enumerate()
    {
        exprs.push(cast(ident(c), DataType::Float64).alias(format!("__f{k}")));
    }
    let mut out = FeatureRows {
        ids: vec![],
        features: vec![vec![]; features.len()],
        revenue: revenue.map(|_| vec![]),
    };
    for b in df.select(exprs)?.collect().await? {
        let ids = b.column(0).as_string::<i32>();
        if let Some(r) = (0..b.num_rows()).find(|&r| ids.is_null(r)) {
            return Err(SiyuError::input(format!(
                "column {id} is null in a row (row {} of a batch); every row needs an id",
                r + 1
            ))
            .in_table(table)
            .in_column(id));
        }
        out.ids
            .extend(ids.iter().map(|s| s.expect("checked").to_string()));
        for (f, dst) in out.features.iter_mut().enumerate() {
            let a = b.column(f + 1).as_primitive::<Float64Type>();
            dst.extend(a.iter());
        }
        if let Some(dst) = &mut out.revenue {
            let a = b.column(features.len() + 1).as_primitive::<Float64Type>();
            dst.extend(a.iter().map(|v| v.unwrap_or(0.0)));
        }
    }
    Ok(out)
}

/// The per-segment table of an outcome: `sizes` and `revenue` (per cluster, over every
/// member assigned — [`crate::segment::sql::segment_totals`]) give its counts and shares.
pub fn profiles_batch(
    o: &Outcome,
    sizes: &[i64],
    revenue: Option<&[f64]>,
    as_of: i32,
) -> Result<RecordBatch> {
    let k = o.clustering.k;
    let n: i64 = sizes.iter().sum();
    let ids: Vec<String> = o.segment_ids.iter().map(|&i| format_id(i)).collect();
    let size = sizes.to_vec();
    let rev = revenue.map(<[f64]>::to_vec).unwrap_or_else(|| vec![0.0; k]);
    let total_rev: f64 = rev.iter().sum();
    let scales = &o.prepared.scales;
    let features: Vec<&str> = scales.iter().map(|s| s.name.as_str()).collect();
    crate::columns::batch(
        crate::outputs::segment_profiles(),
        vec![
            Arc::new(StringArray::from(ids.clone())) as ArrayRef,
            Arc::new(StringArray::from(o.names.clone())),
            Arc::new(Int64Array::from(size.clone())),
            Arc::new(Float64Array::from_iter_values(
                size.iter().map(|&s| s as f64 / n.max(1) as f64),
            )),
            Arc::new(Float64Array::from_iter((0..k).map(|j| {
                revenue.map(|_| {
                    if total_rev > 0.0 {
                        rev[j] / total_rev
                    } else {
                        0.0
                    }
                })
            }))),
            text_list_column(vec![features.clone(); k]),
            float_list_column((0..k).map(|j| o.centroid(j))),
            float_list_column((0..k).map(|j| o.centroid_z(j).to_vec())),
            text_list_column(vec![
                scales
                    .iter()
                    .map(|s| s.transform.name())
                    .collect::<Vec<_>>();
                k
            ]),
            float_list_column(vec![scales.iter().map(|s| s.center).collect::<Vec<_>>(); k]),
            float_list_column(vec![scales.iter().map(|s| s.spread).collect::<Vec<_>>(); k]),
            Arc::new(BooleanArray::from_iter(
                o.matched.iter().map(|m| Some(m.is_none())),
            )),
            Arc::new(Float64Array::from(o.matched.clone())),
            as_of_column(as_of, k),
        ],
        "segment profiles",
    )
}

/// The per-row table the `siyu segment` command writes: id, segment_id, distance.
pub fn assignments_batch(o: &Outcome, id: &str) -> Result<RecordBatch> {
    crate::columns::batch(
        crate::outputs::segment_assignments(id),
        vec![
            Arc::new(StringArray::from(o.ids.clone())) as ArrayRef,
            Arc::new(StringArray::from_iter_values(
                o.clustering
                    .labels
                    .iter()
                    .map(|&l| format_id(o.segment_ids[l as usize])),
            )),
            Arc::new(Float64Array::from_iter_values(
                o.clustering.sq_dists.iter().map(|d| d.sqrt()),
            )),
        ],
        "segments",
    )
}

/// The segments of a profiles table written by [`profiles_batch`] (the previous night's), or
/// `None` when it holds none. `table` names it in errors.
pub fn previous(batches: &[RecordBatch], table: &str) -> Result<Option<Previous>> {
    let mut prev: Option<Previous> = None;
    for b in batches {
        let ids = strings(b, table, "segment_id")?;
        let names = strings(b, table, "segment_name")?;
        let features = lists(b, table, "features")?;
        let centroid = lists(b, table, "centroid")?;
        let transforms = lists(b, table, "transforms")?;
        let center = lists(b, table, "scale_center")?;
        let spread = lists(b, table, "scale_spread")?;
        for r in 0..b.num_rows() {
            if ids.is_null(r) || features.is_null(r) || centroid.is_null(r) {
                continue;
            }
            let Some(id) = parse_id(ids.value(r)) else {
                continue;
            };
            let p = prev.get_or_insert_with(|| {
                let t = texts(transforms, r);
                let (c, s) = (floats(center, r), floats(spread, r));
                Previous {
                    scales: texts(features, r)
                        .into_iter()
                        .enumerate()
                        .map(|(i, name)| FeatureScale {
                            name,
                            transform: t
                                .get(i)
                                .and_then(|t| Transform::parse(t))
                                .unwrap_or(Transform::None),
                            center: c.get(i).copied().unwrap_or(0.0),
                            spread: s.get(i).copied().unwrap_or(1.0),
                        })
                        .collect(),
                    segments: vec![],
                }
            });
            let c = floats(centroid, r);
            if c.len() == p.scales.len() {
                p.segments.push(PreviousSegment {
                    id,
                    name: names.value(r).to_string(),
                    centroid: c,
                });
            }
        }
    }
    Ok(prev)
}
