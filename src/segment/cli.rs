//! `siyu segment`: ad-hoc k-means of one parquet file, and the column reading the
//! `segment` step shares.

use std::fmt::Write as _;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema};
use datafusion::logical_expr::{cast, ident};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionContext};

use super::scale::{Column, Transform};
use super::{KChoice, SegmentParams, format_id, segment};
use crate::error::{Result, SiyuError};

/// Rows of a feature table: ids (as text; null ids refused), each feature as f64 with
/// nulls, and optionally a revenue column (nulls as 0).
pub struct FeatureRows {
    pub ids: Vec<String>,
    pub features: Vec<Vec<Option<f64>>>,
    pub revenue: Option<Vec<f64>>,
}

/// Read `id`, `features` and `revenue` from `df`; `what` names the source in errors.
pub async fn read_features(
    df: DataFrame,
    id: &str,
    features: &[String],
    revenue: Option<&str>,
    what: &str,
) -> Result<FeatureRows> {
    let mut cols: Vec<&str> = vec![id];
    cols.extend(features.iter().map(String::as_str));
    cols.extend(revenue);
    for c in &cols {
        let Ok(f) = df.schema().field_with_unqualified_name(c) else {
            return Err(SiyuError::input(format!("{what}: no column {c}")));
        };
        if *c != id && !f.data_type().is_numeric() && f.data_type() != &DataType::Boolean {
            return Err(SiyuError::input(format!(
                "{what}: column {c} is {}, expected a number",
                f.data_type()
            )));
        }
    }
    let mut exprs = vec![cast(ident(id), DataType::Utf8).alias("__id")];
    for (k, c) in cols.iter().enumerate().skip(1) {
        exprs.push(cast(ident(*c), DataType::Float64).alias(format!("__f{k}")));
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
                "{what}: column {id} is null in a row (row {} of a batch); every row needs an id",
                r + 1
            )));
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

pub struct CliArgs<'a> {
    pub input: &'a str,
    pub id: &'a str,
    pub features: Vec<String>,
    pub k: KChoice,
    pub transform: Transform,
    pub params: SegmentParams,
    pub out: &'a Path,
}

/// Segment `input` and write (id, segment_id, distance); returns the text to print.
pub async fn run(a: CliArgs<'_>) -> Result<String> {
    let ctx = SessionContext::new();
    let df = ctx
        .read_parquet(a.input, ParquetReadOptions::default())
        .await
        .map_err(|e| SiyuError::input(format!("{}: cannot read parquet: {e}", a.input)))?;
    let rows = read_features(df, a.id, &a.features, None, a.input).await?;
    let columns = a
        .features
        .iter()
        .zip(rows.features)
        .map(|(name, values)| Column {
            name: name.clone(),
            transform: a.transform,
            values,
        })
        .collect();
    let started = std::time::Instant::now();
    let params = SegmentParams { k: a.k, ..a.params };
    let o = tokio::task::block_in_place(|| segment(rows.ids, columns, None, &params, None))
        .map_err(|e| SiyuError::config(format!("segment: {e}")))?;
    let seconds = started.elapsed().as_secs_f64();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{} rows, {} features, k = {}, inertia = {:.6}, converged = {}, {seconds:.3} s (k-means {:.3} s{})",
        o.ids.len(),
        o.prepared.scales.len(),
        o.clustering.k,
        o.clustering.inertia,
        o.clustering.converged,
        o.kmeans_seconds,
        o.clustering
            .iterations
            .map(|i| format!(", {i} Lloyd iterations"))
            .unwrap_or_default()
    );
    for c in &o.candidates {
        let _ = writeln!(
            text,
            "  k = {}: silhouette {:.4}, inertia {:.6}",
            c.k, c.silhouette, c.inertia
        );
    }
    for f in &o.prepared.dropped {
        let _ = writeln!(text, "  dropped {f}: it has the same value in every row");
    }
    for (f, n) in o.prepared.imputed.iter().filter(|(_, n)| *n > 0) {
        let _ = writeln!(text, "  {f}: {n} missing value(s) imputed with the median");
    }
    for note in &o.clustering.notes {
        let _ = writeln!(text, "  note: {note}");
    }
    let labels = &o.clustering.labels;
    let schema = Arc::new(Schema::new(vec![
        Field::new(a.id, DataType::Utf8, false),
        Field::new("segment_id", DataType::Utf8, false),
        Field::new("distance", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(o.ids.clone())) as ArrayRef,
            Arc::new(StringArray::from_iter_values(
                labels.iter().map(|&l| format_id(o.segment_ids[l as usize])),
            )),
            Arc::new(Float64Array::from_iter_values(
                o.clustering.sq_dists.iter().map(|d| d.sqrt()),
            )),
        ],
    )
    .map_err(|e| SiyuError::runtime(e.to_string()))?;
    let f =
        File::create(a.out).map_err(|e| SiyuError::runtime(format!("{}: {e}", a.out.display())))?;
    let mut w = ArrowWriter::try_new(f, schema, None)
        .map_err(|e| SiyuError::runtime(format!("{}: {e}", a.out.display())))?;
    w.write(&batch)
        .and_then(|_| w.close().map(|_| ()))
        .map_err(|e| SiyuError::runtime(format!("{}: {e}", a.out.display())))?;
    Ok(text)
}
