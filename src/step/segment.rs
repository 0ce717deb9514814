//! The `segment` step: k-means segments of members with ids that are stable from night to
//! night. See [`crate::segment`] for the method and `docs/segments.md` for the tables.
//!
//! ```toml
//! [[steps]]
//! type = "segment"
//! features_table = "segment_features"    # one row per member
//! id_column = "member_id"                # default
//! features = ["recency_days", "frequency", "total_spend_365d"]
//! transform = "log1p_zscore"             # default for every feature
//! transforms = { recency_days = "zscore" }   # per-feature overrides
//! k = 6                                  # or k_range = [3, 8] (silhouette)
//! silhouette_sample = 20000              # default
//! k_switch_margin = 0.02                 # default: keep the previous run's k unless another
//!                                        # k's silhouette is better by more than this
//! warm_start_margin = 0.05               # default: start from the previous centroids unless
//!                                        # k-means++ finds a >5% lower inertia
//! n_runs = 10                            # default
//! engine = "fused"                       # default; "linfa" runs linfa's Lloyd loop too
//! seed = 42                              # default
//! tolerance = 1e-4                       # default
//! max_iterations = 300                   # default
//! revenue_column = "total_spend_365d"    # optional: for revenue_share
//! output = "member_segments"             # default
//! profiles_output = "segment_profiles"   # default
//! ```
//!
//! When `profiles_output` is published, the previous run's copy
//! (`previous_segment_profiles`) supplies the centroids and scaling that new segments are
//! matched against; it is read at run time, so it is not listed among the step's reads.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::Float64Builder;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int64Array, ListArray,
    ListBuilder, RecordBatch, StringArray, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};
use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;

use super::{Step, StepContext};
use crate::error::{ErrorClass, Problem, Result, SiyuError};
use crate::segment::kmeans::Engine;
use crate::segment::scale::{Column, FeatureScale, Transform};
use crate::segment::{
    KChoice, Outcome, Previous, PreviousSegment, SegmentParams, format_id, parse_id, segment,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    features_table: String,
    #[serde(default = "default_id")]
    id_column: String,
    features: Vec<String>,
    #[serde(default = "default_transform")]
    transform: Transform,
    #[serde(default)]
    transforms: BTreeMap<String, Transform>,
    #[serde(default)]
    k: Option<usize>,
    #[serde(default)]
    k_range: Option<[usize; 2]>,
    #[serde(default = "default_sample")]
    silhouette_sample: usize,
    #[serde(default = "default_engine")]
    engine: Engine,
    #[serde(default = "default_margin")]
    k_switch_margin: f64,
    #[serde(default = "default_warm_margin")]
    warm_start_margin: f64,
    #[serde(default = "default_runs")]
    n_runs: usize,
    #[serde(default = "default_seed")]
    seed: u64,
    #[serde(default = "default_tolerance")]
    tolerance: f64,
    #[serde(default = "default_iterations")]
    max_iterations: u64,
    #[serde(default)]
    revenue_column: Option<String>,
    #[serde(default = "default_output")]
    output: String,
    #[serde(default = "default_profiles")]
    profiles_output: String,
}

fn default_id() -> String {
    "member_id".into()
}
fn default_transform() -> Transform {
    Transform::Log1pZscore
}
fn default_sample() -> usize {
    20_000
}
fn default_margin() -> f64 {
    0.02
}
fn default_warm_margin() -> f64 {
    0.05
}
fn default_engine() -> Engine {
    Engine::Fused
}
fn default_runs() -> usize {
    10
}
fn default_seed() -> u64 {
    42
}
fn default_tolerance() -> f64 {
    1e-4
}
fn default_iterations() -> u64 {
    300
}
fn default_output() -> String {
    "member_segments".into()
}
fn default_profiles() -> String {
    "segment_profiles".into()
}

pub struct SegmentStep {
    params: Params,
    choice: KChoice,
    at: String,
}

fn list(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", item, true)))
}

impl SegmentStep {
    pub fn build(table: &toml::Table, at: &str) -> std::result::Result<SegmentStep, Problem> {
        let problem =
            |m: String| Problem::new(ErrorClass::Config, at, format!("segment step: {m}"));
        let params = Params::deserialize(toml::Value::Table(table.clone()))
            .map_err(|e| problem(e.message().to_string()))?;
        let choice = match (params.k, params.k_range) {
            (Some(_), Some(_)) => return Err(problem("give k or k_range, not both".into())),
            (None, None) => return Err(problem("give k or k_range".into())),
            (Some(0), None) => return Err(problem("k must be at least 1".into())),
            (Some(k), None) => KChoice::Fixed(k),
            (None, Some([lo, hi])) if lo < 2 || hi < lo => {
                return Err(problem(format!(
                    "k_range [{lo}, {hi}] needs 2 <= low <= high"
                )));
            }
            (None, Some([lo, hi])) => KChoice::Range(lo, hi),
        };
        if params.features.is_empty() {
            return Err(problem("features is empty".into()));
        }
        if let Some(f) = params
            .transforms
            .keys()
            .find(|f| !params.features.contains(f))
        {
            return Err(problem(format!(
                "transforms names {f}, which is not in features"
            )));
        }
        if params.n_runs == 0
            || params.max_iterations == 0
            || params.tolerance.is_nan()
            || params.tolerance <= 0.0
        {
            return Err(problem(
                "n_runs and max_iterations must be at least 1 and tolerance positive".into(),
            ));
        }
        for name in [&params.output, &params.profiles_output] {
            if !crate::job::is_identifier(name) {
                return Err(problem(format!(
                    "output name {name:?} must be lowercase letters, digits and _"
                )));
            }
        }
        Ok(SegmentStep {
            params,
            choice,
            at: at.to_string(),
        })
    }

    fn members_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(&self.params.id_column, DataType::Utf8, false),
            Field::new("segment_id", DataType::Utf8, false),
            Field::new("segment_name", DataType::Utf8, false),
            Field::new("distance", DataType::Float64, false),
            Field::new("as_of", DataType::Date32, false),
        ]))
    }

    fn profiles_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("segment_id", DataType::Utf8, false),
            Field::new("segment_name", DataType::Utf8, false),
            Field::new("members", DataType::Int64, false),
            Field::new("share", DataType::Float64, false),
            Field::new("revenue_share", DataType::Float64, true),
            Field::new("features", list(DataType::Utf8), false),
            Field::new("centroid", list(DataType::Float64), false),
            Field::new("centroid_z", list(DataType::Float64), false),
            Field::new("transforms", list(DataType::Utf8), false),
            Field::new("scale_center", list(DataType::Float64), false),
            Field::new("scale_spread", list(DataType::Float64), false),
            Field::new("is_new", DataType::Boolean, false),
            Field::new("previous_distance", DataType::Float64, true),
            Field::new("as_of", DataType::Date32, false),
        ]))
    }

    /// The previous run's segments, if its profiles table is there and not empty.
    async fn previous(&self, ctx: &StepContext) -> Result<Option<Previous>> {
        let name = format!("previous_{}", self.params.profiles_output);
        let Ok(df) = ctx.table(&name).await else {
            return Ok(None);
        };
        let batches = df.collect().await?;
        let mut prev: Option<Previous> = None;
        let strings = |a: &ListArray, r: usize| -> Vec<String> {
            let v = a.value(r);
            let s = v.as_string::<i32>();
            (0..s.len()).map(|i| s.value(i).to_string()).collect()
        };
        let floats = |a: &ListArray, r: usize| -> Vec<f64> {
            let v = a.value(r);
            let s = v.as_primitive::<Float64Type>();
            (0..s.len()).map(|i| s.value(i)).collect()
        };
        for b in &batches {
            let col = |n: &str| {
                b.column_by_name(n)
                    .ok_or_else(|| SiyuError::input(format!("{name}: no column {n}")))
            };
            let ids = col("segment_id")?.as_string::<i32>();
            let names = col("segment_name")?.as_string::<i32>();
            let features = col("features")?.as_list::<i32>();
            let centroid = col("centroid")?.as_list::<i32>();
            let transforms = col("transforms")?.as_list::<i32>();
            let center = col("scale_center")?.as_list::<i32>();
            let spread = col("scale_spread")?.as_list::<i32>();
            for r in 0..b.num_rows() {
                if ids.is_null(r) || features.is_null(r) || centroid.is_null(r) {
                    continue;
                }
                let Some(id) = parse_id(ids.value(r)) else {
                    continue;
                };
                let p = prev.get_or_insert_with(|| {
                    let f = strings(features, r);
                    let t = strings(transforms, r);
                    let (c, s) = (floats(center, r), floats(spread, r));
                    Previous {
                        scales: f
                            .into_iter()
                            .enumerate()
                            .map(|(i, name)| FeatureScale {
                                name,
                                transform: Transform::parse(&t[i]).unwrap_or(Transform::None),
                                center: c[i],
                                spread: s[i],
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

    fn batches(&self, o: &Outcome, as_of: i32) -> Result<(RecordBatch, RecordBatch)> {
        let k = o.clustering.k;
        let n = o.ids.len();
        let labels = &o.clustering.labels;
        let ids: Vec<String> = o.segment_ids.iter().map(|&i| format_id(i)).collect();
        let members = RecordBatch::try_new(
            self.members_schema(),
            vec![
                Arc::new(StringArray::from(o.ids.clone())) as ArrayRef,
                Arc::new(StringArray::from_iter_values(
                    labels.iter().map(|&l| ids[l as usize].as_str()),
                )),
                Arc::new(StringArray::from_iter_values(
                    labels.iter().map(|&l| o.names[l as usize].as_str()),
                )),
                Arc::new(Float64Array::from_iter_values(
                    o.clustering.sq_dists.iter().map(|d| d.sqrt()),
                )),
                Arc::new(Date32Array::from(vec![as_of; n])),
            ],
        )
        .map_err(|e| SiyuError::runtime(format!("{}: {e}", self.at)))?;

        let mut size = vec![0i64; k];
        let mut rev = vec![0f64; k];
        for (i, &l) in labels.iter().enumerate() {
            size[l as usize] += 1;
            if let Some(r) = &o.revenue {
                rev[l as usize] += r[i];
            }
        }
        let total_rev: f64 = rev.iter().sum();
        let features: Vec<&str> = o.prepared.scales.iter().map(|s| s.name.as_str()).collect();
        let str_list = |rows: Vec<Vec<&str>>| -> ArrayRef {
            let mut b = ListBuilder::new(StringBuilder::new());
            for row in rows {
                for v in row {
                    b.values().append_value(v);
                }
                b.append(true);
            }
            Arc::new(b.finish())
        };
        let f64_list = |rows: Vec<Vec<f64>>| -> ArrayRef {
            let mut b = ListBuilder::new(Float64Builder::new());
            for row in rows {
                for v in row {
                    b.values().append_value(v);
                }
                b.append(true);
            }
            Arc::new(b.finish())
        };
        let scales = &o.prepared.scales;
        let profiles = RecordBatch::try_new(
            Self::profiles_schema(),
            vec![
                Arc::new(StringArray::from(ids.clone())) as ArrayRef,
                Arc::new(StringArray::from(o.names.clone())),
                Arc::new(Int64Array::from(size.clone())),
                Arc::new(Float64Array::from_iter_values(
                    size.iter().map(|&s| s as f64 / n.max(1) as f64),
                )),
                Arc::new(Float64Array::from_iter((0..k).map(|j| {
                    o.revenue.as_ref().map(|_| {
                        if total_rev > 0.0 {
                            rev[j] / total_rev
                        } else {
                            0.0
                        }
                    })
                }))),
                str_list(vec![features.clone(); k]),
                f64_list((0..k).map(|j| o.centroid(j)).collect()),
                f64_list((0..k).map(|j| o.centroid_z(j).to_vec()).collect()),
                str_list(vec![scales.iter().map(|s| s.transform.name()).collect(); k]),
                f64_list(vec![scales.iter().map(|s| s.center).collect(); k]),
                f64_list(vec![scales.iter().map(|s| s.spread).collect(); k]),
                Arc::new(BooleanArray::from_iter(
                    o.matched.iter().map(|m| Some(m.is_none())),
                )),
                Arc::new(Float64Array::from(o.matched.clone())),
                Arc::new(Date32Array::from(vec![as_of; k])),
            ],
        )
        .map_err(|e| SiyuError::runtime(format!("{}: {e}", self.at)))?;
        Ok((members, profiles))
    }
}

impl Step for SegmentStep {
    fn name(&self) -> &str {
        &self.params.output
    }
    fn kind(&self) -> &'static str {
        "segment"
    }
    fn source(&self) -> String {
        self.at.clone()
    }
    fn reads(&self) -> Vec<String> {
        vec![self.params.features_table.clone()]
    }
    fn writes(&self) -> Vec<String> {
        vec![
            self.params.output.clone(),
            self.params.profiles_output.clone(),
        ]
    }

    fn plan<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Vec<(String, SchemaRef)>>> {
        async move {
            let p = &self.params;
            let df = ctx.table(&p.features_table).await?;
            let mut cols = vec![&p.id_column];
            cols.extend(&p.features);
            cols.extend(&p.revenue_column);
            for c in cols {
                match df.schema().field_with_unqualified_name(c) {
                    Err(_) => {
                        return Err(SiyuError::config(format!(
                            "{}: segment step: table {} has no column {c}",
                            self.at, p.features_table
                        )));
                    }
                    Ok(f)
                        if c != &p.id_column
                            && !f.data_type().is_numeric()
                            && f.data_type() != &DataType::Boolean =>
                    {
                        return Err(SiyuError::config(format!(
                            "{}: segment step: column {}.{c} is {}, expected a number",
                            self.at,
                            p.features_table,
                            f.data_type()
                        )));
                    }
                    Ok(_) => {}
                }
            }
            Ok(vec![
                (p.output.clone(), self.members_schema()),
                (p.profiles_output.clone(), Self::profiles_schema()),
            ])
        }
        .boxed()
    }

    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<()>> {
        async move {
            let p = &self.params;
            let what = format!("{} (table {})", self.at, p.features_table);
            let rows = crate::segment::cli::read_features(
                ctx.table(&p.features_table).await?,
                &p.id_column,
                &p.features,
                p.revenue_column.as_deref(),
                &what,
            )
            .await?;
            let previous = self.previous(ctx).await?;
            let columns: Vec<Column> = p
                .features
                .iter()
                .zip(rows.features)
                .map(|(name, values)| Column {
                    name: name.clone(),
                    transform: *p.transforms.get(name).unwrap_or(&p.transform),
                    values,
                })
                .collect();
            let params = SegmentParams {
                engine: p.engine,
                k: self.choice,
                n_runs: p.n_runs,
                seed: p.seed,
                tolerance: p.tolerance,
                max_iterations: p.max_iterations,
                silhouette_sample: p.silhouette_sample,
                k_switch_margin: p.k_switch_margin,
                warm_start_margin: p.warm_start_margin,
            };
            let o = tokio::task::block_in_place(|| {
                segment(rows.ids, columns, rows.revenue, &params, previous.as_ref())
            })
            .map_err(|e| SiyuError::input(format!("{what}: {e}")))?;
            for f in &o.prepared.dropped {
                tracing::warn!(step = %p.output, feature = %f, "feature dropped: the same value in every row");
            }
            for note in &o.clustering.notes {
                tracing::warn!(step = %p.output, "{note}");
            }
            tracing::info!(
                step = %p.output,
                members = o.ids.len(),
                k = o.clustering.k,
                inertia = o.clustering.inertia,
                matched = o.matched.iter().filter(|m| m.is_some()).count(),
                "segmented"
            );
            ctx.detail(
                &p.output,
                json!({
                    "k": o.clustering.k,
                    "k_candidates": o.candidates.iter().map(|c| json!({
                        "k": c.k, "segments": c.found, "silhouette": c.silhouette, "inertia": c.inertia,
                    })).collect::<Vec<_>>(),
                    "inertia": o.clustering.inertia,
                    "converged": o.clustering.converged,
                    "notes": o.clustering.notes,
                    "imputed": o.prepared.imputed.iter().map(|(f, n)| (f.clone(), *n)).collect::<BTreeMap<_, _>>(),
                    "dropped_features": o.prepared.dropped,
                    "previous_segments": previous.as_ref().map(|p| p.segments.len()),
                    "warm_start": o.warm_start.map(|(used, warm, cold)| json!({
                        "used": used, "warm_inertia": warm, "cold_inertia": cold,
                    })),
                    "matched": o.segment_ids.iter().zip(&o.matched).map(|(id, m)| json!({
                        "segment_id": format_id(*id), "previous_distance": m,
                    })).collect::<Vec<_>>(),
                }),
            );
            let as_of = ctx.as_of_date32();
            let (members, profiles) = self.batches(&o, as_of)?;
            ctx.write(&p.output, ctx.session.read_batch(members)?).await?;
            ctx.write(&p.profiles_output, ctx.session.read_batch(profiles)?)
                .await?;
            Ok(())
        }
        .boxed()
    }
}
