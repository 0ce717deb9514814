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
//! fit_sample = 1000000                   # default: k-means is fitted on at most this many
//!                                        # rows (a hash of id and seed picks them); every
//!                                        # row is assigned its nearest centroid in SQL
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

use datafusion::arrow::datatypes::SchemaRef;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Deserialize;

use super::{DeclaredStep, Step, StepContext, StepParams, check_identifiers, table_error};
use crate::error::Result;
use crate::held::{string_bytes, vec_bytes};
use crate::manifest::{
    KCandidateRecord, MatchedSegmentRecord, SegmentDetails, StepDetails, WarmStartRecord,
};
use crate::outputs;
use crate::segment::kmeans::Engine;
use crate::segment::scale::{Column, Transform};
use crate::segment::sql;
use crate::segment::table::{check_columns, profiles_batch, read_features};
use crate::segment::{KChoice, Previous, SegmentParams, format_id, segment};

const KIND: &str = "segment";

/// A segment step: its `[[steps]]` parameters (the module docs list them), checked once by
/// [`StepParams::validate`].
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SegmentStep {
    features_table: String,
    id_column: String,
    features: Vec<String>,
    transform: Transform,
    transforms: BTreeMap<String, Transform>,
    k: Option<usize>,
    k_range: Option<[usize; 2]>,
    silhouette_sample: usize,
    engine: Engine,
    k_switch_margin: f64,
    warm_start_margin: f64,
    n_runs: usize,
    fit_sample: usize,
    seed: u64,
    tolerance: f64,
    max_iterations: u64,
    revenue_column: Option<String>,
    output: String,
    profiles_output: String,
}

impl Default for SegmentStep {
    fn default() -> Self {
        SegmentStep {
            features_table: String::new(),
            id_column: "member_id".into(),
            features: Vec::new(),
            transform: Transform::Log1pZscore,
            transforms: BTreeMap::new(),
            k: None,
            k_range: None,
            silhouette_sample: 20_000,
            engine: Engine::Fused,
            k_switch_margin: 0.02,
            warm_start_margin: 0.05,
            n_runs: 10,
            fit_sample: 1_000_000,
            seed: 42,
            tolerance: 1e-4,
            max_iterations: 300,
            revenue_column: None,
            output: "member_segments".into(),
            profiles_output: "segment_profiles".into(),
        }
    }
}

impl SegmentStep {
    /// How k is chosen; `validate` has checked that this succeeds.
    fn choice(&self) -> std::result::Result<KChoice, String> {
        match (self.k, self.k_range) {
            (Some(_), Some(_)) => Err("give k or k_range, not both".into()),
            (None, None) => Err("give k or k_range".into()),
            (Some(0), None) => Err("k must be at least 1".into()),
            (Some(k), None) => Ok(KChoice::Fixed(k)),
            (None, Some([lo, hi])) if lo < 2 || hi < lo => {
                Err(format!("k_range [{lo}, {hi}] needs 2 <= low <= high"))
            }
            (None, Some([lo, hi])) => Ok(KChoice::Range(lo, hi)),
        }
    }

    fn segment_params(&self) -> SegmentParams {
        SegmentParams {
            engine: self.engine,
            k: self.choice().unwrap_or(KChoice::Fixed(1)),
            n_runs: self.n_runs,
            seed: self.seed,
            tolerance: self.tolerance,
            max_iterations: self.max_iterations,
            silhouette_sample: self.silhouette_sample,
            k_switch_margin: self.k_switch_margin,
            warm_start_margin: self.warm_start_margin,
        }
    }
}

impl StepParams for SegmentStep {
    fn validate(&self) -> std::result::Result<(), String> {
        if self.features_table.is_empty() {
            return Err("missing field `features_table`".into());
        }
        self.choice()?;
        if self.features.is_empty() {
            return Err("features is empty".into());
        }
        if let Some(f) = self.transforms.keys().find(|f| !self.features.contains(f)) {
            return Err(format!("transforms names {f}, which is not in features"));
        }
        if self.fit_sample < 2 {
            return Err(format!(
                "fit_sample must be at least 2, found {}",
                self.fit_sample
            ));
        }
        if self.n_runs == 0
            || self.max_iterations == 0
            || self.tolerance.is_nan()
            || self.tolerance <= 0.0
        {
            return Err(
                "n_runs and max_iterations must be at least 1 and tolerance positive".into(),
            );
        }
        check_identifiers([&self.output, &self.profiles_output])
    }
}

impl DeclaredStep for SegmentStep {
    const KIND: &'static str = KIND;
}

impl SegmentStep {
    /// The previous run's segments, if its profiles table is there and not empty.
    async fn previous(&self, ctx: &StepContext) -> Result<Option<Previous>> {
        let name = format!("previous_{}", self.profiles_output);
        let Ok(df) = ctx.table(&name).await else {
            return Ok(None);
        };
        crate::segment::table::previous(&df.collect().await?, &name)
    }
}

impl Step for SegmentStep {
    fn name(&self) -> &str {
        &self.output
    }
    fn reads(&self) -> Vec<String> {
        vec![self.features_table.clone()]
    }
    fn writes(&self) -> Vec<String> {
        vec![self.output.clone(), self.profiles_output.clone()]
    }

    fn plan<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Vec<(String, SchemaRef)>>> {
        async move {
            let df = ctx.table(&self.features_table).await?;
            check_columns(
                &df,
                &self.features_table,
                &self.id_column,
                &self.features,
                self.revenue_column.as_deref(),
            )
            .map_err(|e| table_error(KIND, e))?;
            Ok(vec![
                (
                    self.output.clone(),
                    outputs::segment_members(&self.id_column),
                ),
                (self.profiles_output.clone(), outputs::segment_profiles()),
            ])
        }
        .boxed()
    }

    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<()>> {
        async move {
            let p = self;
            let table = ctx.table(&p.features_table).await?;
            // The fit reads a sample (on a cluster: picked by the executors); every
            // member is then assigned in the engine, so the client never holds them all.
            let sample = sql::fit_sample(table.clone(), &p.id_column, p.seed, p.fit_sample)?;
            let rows = read_features(
                sample,
                &p.features_table,
                &p.id_column,
                &p.features,
                p.revenue_column.as_deref(),
            )
            .await?;
            let fit_rows = rows.ids.len();
            // The fit holds the rows read, their standardised matrix and a label per row
            // for each k tried at once.
            let mut held = crate::held::Held::new(&ctx.session, "the segment fit's rows");
            let read_bytes = string_bytes(&rows.ids)
                + vec_bytes(&rows.ids)
                + rows.features.iter().map(vec_bytes).sum::<usize>()
                + rows.revenue.as_ref().map_or(0, vec_bytes);
            let matrix_bytes = fit_rows * p.features.len() * size_of::<f64>();
            let label_bytes = fit_rows * size_of::<usize>() * rayon::current_num_threads();
            held.set(read_bytes + matrix_bytes + label_bytes)?;
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
            let params = p.segment_params();
            let o = tokio::task::block_in_place(|| {
                segment(rows.ids, columns, rows.revenue, &params, previous.as_ref())
            })
            .map_err(|e| {
                crate::error::SiyuError::input(format!("table {}: {e}", p.features_table))
                    .in_table(&p.features_table)
            })?;
            drop(held);
            for f in &o.prepared.dropped {
                tracing::warn!(step = %p.output, feature = %f, "feature dropped: the same value in every row");
            }
            for note in &o.clustering.notes {
                tracing::warn!(step = %p.output, "{note}");
            }

            let scaled: Vec<sql::ScaledFeature> = o
                .prepared
                .scales
                .iter()
                .zip(&o.prepared.fills)
                .map(|(scale, &fill)| sql::ScaledFeature {
                    column: &scale.name,
                    scale,
                    fill,
                })
                .collect();
            let k = o.clustering.k;
            let assigned = sql::assigned(
                table.clone(),
                &p.id_column,
                &scaled,
                &o.clustering.centroids,
                k,
                p.revenue_column.as_deref(),
            )?;
            let totals =
                sql::segment_totals(assigned.clone(), k, p.revenue_column.is_some()).await?;
            let members: i64 = totals.members.iter().sum();
            if members as usize > fit_rows {
                // Rows the fit did not read: their ids are checked here.
                sql::check_ids(table, &p.features_table, &p.id_column).await?;
            }
            tracing::info!(
                step = %p.output,
                members,
                fit_rows,
                k,
                inertia = o.clustering.inertia,
                matched = o.matched.iter().filter(|m| m.is_some()).count(),
                "segmented"
            );
            ctx.detail(
                &p.output,
                StepDetails::Segment(Box::new(SegmentDetails {
                    k,
                    members: members as u64,
                    fit_rows: fit_rows as u64,
                    k_candidates: o
                        .candidates
                        .iter()
                        .map(|c| KCandidateRecord {
                            k: c.k,
                            segments: c.found,
                            silhouette: c.silhouette,
                            inertia: c.inertia,
                        })
                        .collect(),
                    inertia: o.clustering.inertia,
                    converged: o.clustering.converged,
                    notes: o.clustering.notes.clone(),
                    imputed: o.prepared.imputed.iter().map(|(f, n)| (f.clone(), *n)).collect(),
                    dropped_features: o.prepared.dropped.clone(),
                    previous_segments: previous.as_ref().map(|p| p.segments.len()),
                    warm_start: o.warm_start.map(|(used, warm, cold)| WarmStartRecord {
                        used,
                        warm_inertia: warm,
                        cold_inertia: cold,
                    }),
                    matched: o
                        .segment_ids
                        .iter()
                        .zip(&o.matched)
                        .map(|(id, m)| MatchedSegmentRecord {
                            segment_id: format_id(*id),
                            previous_distance: *m,
                        })
                        .collect(),
                })),
            );
            let as_of = ctx.as_of_date32();
            let segment_ids: Vec<String> = o.segment_ids.iter().map(|&i| format_id(i)).collect();
            let members_frame =
                sql::members_frame(assigned, &p.id_column, &segment_ids, &o.names, as_of)?;
            ctx.write(&p.output, members_frame).await?;
            let revenue = p.revenue_column.as_ref().map(|_| totals.revenue.as_slice());
            let profiles = profiles_batch(&o, &totals.members, revenue, as_of)?;
            ctx.write_batch(&p.profiles_output, profiles).await?;
            Ok(())
        }
        .boxed()
    }
}
