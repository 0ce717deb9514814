//! `siyu segment`: ad-hoc k-means of one parquet file, outside any job.

use std::fmt::Write as _;
use std::path::Path;

use datafusion::prelude::{ParquetReadOptions, SessionContext};

use super::scale::{Column, Transform};
use super::table::{assignments_batch, read_features};
use super::{KChoice, SegmentParams, segment};
use crate::error::{Result, SiyuError};
use crate::publish::{ParquetOptions, write_batches};

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
        .map_err(|e| SiyuError::input(format!("cannot read parquet: {e}")).in_file(a.input))?;
    let rows = read_features(df, a.input, a.id, &a.features, None).await?;
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
    let batch = assignments_batch(&o, a.id)?;
    write_batches(
        a.out,
        batch.schema(),
        [&batch],
        &ParquetOptions::working(Vec::new()),
    )?;
    Ok(text)
}
