//! The `segment` step's work that runs in the query engine — on a cluster, on the
//! executors — so the client holds a sample of members, not all of them:
//! - [`fit_sample`]: the rows k-means is fitted on, picked by a hash of their id and the
//!   seed (the `fit_sample` smallest keys; every row when the table has no more);
//! - [`assigned`]: every member's nearest centroid as expressions: the features imputed,
//!   transformed and standardised as [`super::scale`] does, the squared distance to each
//!   centroid summed feature by feature, the first nearest taking a tie;
//! - [`segment_totals`]: members and revenue per segment, revenue summed exactly (as
//!   decimals), so the shares do not depend on how the engine split the rows.
//!
//! The functions the expressions call (`siyu_slog1p`, `siyu_sample_key`) are registered
//! on every node (`crate::cluster::functions`).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::functions::math::expr_fn::{abs, sqrt};
use datafusion::functions_aggregate::count::count_all;
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, cast,
    ident, lit, when,
};
use datafusion::prelude::{DataFrame, coalesce};

use super::scale::{FeatureScale, slog1p};
use crate::error::Result;

/// `siyu_slog1p(x)`: sign(x)·ln(1 + |x|), the `log1p_*` transforms' first step —
/// the same Rust function k-means' features went through, so a member's standardised
/// value is bit for bit the one the fit saw.
pub fn slog1p_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(Slog1p {
        signature: Signature::exact(vec![DataType::Float64], Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Slog1p {
    signature: Signature,
}

impl ScalarUDFImpl for Slog1p {
    fn name(&self) -> &str {
        "siyu_slog1p"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Float64)
    }
    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        match args.args.as_slice() {
            [ColumnarValue::Array(a)] => {
                let a = a.as_primitive::<Float64Type>();
                let out: Float64Array = a.unary(slog1p);
                Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
            }
            [ColumnarValue::Scalar(ScalarValue::Float64(v))] => {
                Ok(ColumnarValue::Scalar(ScalarValue::Float64(v.map(slog1p))))
            }
            other => exec_err!("siyu_slog1p expects one Float64, got {other:?}"),
        }
    }
}

/// `siyu_sample_key(id, seed)`: a row's place in a sample (64-bit FNV-1a of the seed and
/// the id, as the silhouette sample uses).
pub fn sample_key_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(SampleKey {
        signature: Signature::exact(
            vec![DataType::Utf8, DataType::UInt64],
            Volatility::Immutable,
        ),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SampleKey {
    signature: Signature,
}

impl ScalarUDFImpl for SampleKey {
    fn name(&self) -> &str {
        "siyu_sample_key"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::UInt64)
    }
    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let seed = match args.args.get(1) {
            Some(ColumnarValue::Scalar(ScalarValue::UInt64(Some(s)))) => *s,
            other => return exec_err!("siyu_sample_key expects a UInt64 seed, got {other:?}"),
        };
        match args.args.first() {
            Some(ColumnarValue::Array(a)) => {
                let ids = a.as_string::<i32>();
                let out: UInt64Array = (0..ids.len())
                    .map(|i| {
                        ids.is_valid(i)
                            .then(|| super::sample_key(seed, ids.value(i)))
                    })
                    .collect();
                Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
            }
            Some(ColumnarValue::Scalar(ScalarValue::Utf8(v))) => Ok(ColumnarValue::Scalar(
                ScalarValue::UInt64(v.as_deref().map(|id| super::sample_key(seed, id))),
            )),
            other => exec_err!("siyu_sample_key expects a Utf8 id, got {other:?}"),
        }
    }
}

/// The rows to fit k-means on: the `rows` with the smallest sample keys (ties by id).
/// Every row when the table has no more.
pub fn fit_sample(df: DataFrame, id: &str, seed: u64, rows: usize) -> Result<DataFrame> {
    let key = sample_key_udf().call(vec![cast(ident(id), DataType::Utf8), lit(seed)]);
    Ok(df
        .sort(vec![key.sort(true, true), ident(id).sort(true, true)])?
        .limit(0, Some(rows))?)
}

/// A kept feature: its column, how it was scaled, and the value a missing one takes.
pub struct ScaledFeature<'a> {
    pub column: &'a str,
    pub scale: &'a FeatureScale,
    /// The median of the fit's raw values.
    pub fill: f64,
}

/// A feature's standardised value: missing (null, NaN, ±∞) imputed with `fill`, then
/// transformed and standardised exactly as [`FeatureScale::apply`] does.
fn standardised(f: &ScaledFeature) -> Expr {
    let x = cast(ident(f.column), DataType::Float64);
    // NaN and ±∞ fail the comparison; coalesce turns them, and nulls, into the fill.
    let finite = when(abs(x.clone()).lt(lit(f64::INFINITY)), x)
        .end()
        .expect("a CASE with one branch");
    let x = coalesce(vec![finite, lit(f.fill)]);
    let v = if f.scale.transform.is_log() {
        slog1p_udf().call(vec![x])
    } else {
        x
    };
    (v - lit(f.scale.center)) / lit(f.scale.spread)
}

/// Column names of [`assigned`]'s frame.
pub const LABEL: &str = "__label";
pub const SQ_DIST: &str = "__sq_dist";
pub const REVENUE: &str = "__revenue";

/// Every row of `df` with its nearest centroid: `id`, [`LABEL`] (the centroid's index,
/// Int32), [`SQ_DIST`] (its squared distance) and, with `revenue`, [`REVENUE`] (Float64,
/// missing as 0). `centroids_z` is `k` × d, row-major, in the standardised space of
/// `features`.
pub fn assigned(
    df: DataFrame,
    id: &str,
    features: &[ScaledFeature],
    centroids_z: &[f64],
    k: usize,
    revenue: Option<&str>,
) -> Result<DataFrame> {
    let d = features.len();
    let mut first = vec![cast(ident(id), DataType::Utf8).alias(id)];
    first.extend(
        features
            .iter()
            .enumerate()
            .map(|(f, feature)| standardised(feature).alias(format!("__z{f}"))),
    );
    if let Some(r) = revenue {
        first.push(coalesce(vec![cast(ident(r), DataType::Float64), lit(0.0)]).alias(REVENUE));
    }
    // Squared distances, summed in feature order as the fit sums them.
    let mut second = vec![ident(id)];
    for j in 0..k {
        let term = |f: usize| {
            let diff = ident(format!("__z{f}")) - lit(centroids_z[j * d + f]);
            diff.clone() * diff
        };
        let sq = (1..d).fold(if d == 0 { lit(0.0) } else { term(0) }, |acc, f| {
            acc + term(f)
        });
        second.push(sq.alias(format!("__d{j}")));
    }
    if revenue.is_some() {
        second.push(ident(REVENUE));
    }
    // The first nearest: reaching branch j means no earlier centroid is as near.
    let dist = |j: usize| ident(format!("__d{j}"));
    let nearest = |j: usize| {
        (j + 1..k)
            .map(|m| dist(j).lt_eq(dist(m)))
            .reduce(|a, b| a.and(b))
            .unwrap_or(lit(true))
    };
    let pick = |value: &dyn Fn(usize) -> Expr| -> Result<Expr> {
        if k == 1 {
            return Ok(value(0));
        }
        let mut case = when(nearest(0), value(0));
        for j in 1..k - 1 {
            case = case.when(nearest(j), value(j));
        }
        Ok(case.otherwise(value(k - 1))?)
    };
    let mut third = vec![
        ident(id),
        pick(&|j| lit(j as i32))?.alias(LABEL),
        pick(&dist)?.alias(SQ_DIST),
    ];
    if revenue.is_some() {
        third.push(ident(REVENUE));
    }
    Ok(df.select(first)?.select(second)?.select(third)?)
}

/// The published per-member table: id, segment_id, segment_name, distance, as_of.
pub fn members_frame(
    assigned: DataFrame,
    id: &str,
    segment_ids: &[String],
    names: &[String],
    as_of: i32,
) -> Result<DataFrame> {
    let label = |values: &[String]| -> Result<Expr> {
        if values.len() == 1 {
            return Ok(lit(values[0].clone()));
        }
        let mut case = when(ident(LABEL).eq(lit(0i32)), lit(values[0].clone()));
        for (j, v) in values.iter().enumerate().take(values.len() - 1).skip(1) {
            case = case.when(ident(LABEL).eq(lit(j as i32)), lit(v.clone()));
        }
        Ok(case.otherwise(lit(values[values.len() - 1].clone()))?)
    };
    Ok(assigned.select(vec![
        ident(id),
        label(segment_ids)?.alias("segment_id"),
        label(names)?.alias("segment_name"),
        // sqrt, as every function, may say its result is nullable; it never is here, and
        // the published column is declared required.
        coalesce(vec![sqrt(ident(SQ_DIST)), lit(0.0)]).alias("distance"),
        lit(ScalarValue::Date32(Some(as_of))).alias("as_of"),
    ])?)
}

/// Members and revenue per centroid index, from [`assigned`]'s frame.
pub struct Totals {
    pub members: Vec<i64>,
    /// Exact sums of the revenue, each value rounded to 1e-6 first.
    pub revenue: Vec<f64>,
}

/// Revenue is summed as Decimal128(38, 6): integers underneath, so the sum is the same
/// whatever order the engine adds the rows in.
pub async fn segment_totals(assigned: DataFrame, k: usize, revenue: bool) -> Result<Totals> {
    let mut aggregates = vec![count_all().alias("members")];
    if revenue {
        aggregates.push(sum(cast(ident(REVENUE), DataType::Decimal128(38, 6))).alias("revenue"));
    }
    let batches = assigned
        .aggregate(vec![ident(LABEL)], aggregates)?
        .collect()
        .await?;
    let mut totals = Totals {
        members: vec![0; k],
        revenue: vec![0.0; k],
    };
    for b in batches {
        let labels = b
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int32Type>();
        let members = b
            .column(1)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        for r in 0..b.num_rows() {
            let j = labels.value(r) as usize;
            totals.members[j] = members.value(r);
            if revenue {
                let rev = b
                    .column(2)
                    .as_primitive::<datafusion::arrow::datatypes::Decimal128Type>();
                totals.revenue[j] = if rev.is_valid(r) {
                    rev.value(r) as f64 / 1e6
                } else {
                    0.0
                };
            }
        }
    }
    Ok(totals)
}

/// Every row has an id, and no id is there twice: what the fit checks of the rows it
/// reads, for a table larger than its sample. Errors name the table, the column and (for
/// a repeated id) the id.
pub async fn check_ids(df: DataFrame, table: &str, id: &str) -> Result<()> {
    use datafusion::functions_aggregate::expr_fn::count;
    let counts = df
        .clone()
        .aggregate(
            vec![],
            vec![count_all().alias("rows"), count(ident(id)).alias("ids")],
        )?
        .collect()
        .await?;
    let value = |c: usize| {
        counts.first().map_or(0, |b| {
            b.column(c)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .value(0)
        })
    };
    let nulls = value(0) - value(1);
    if nulls > 0 {
        return Err(crate::error::SiyuError::input(format!(
            "column {id} is null in {nulls} rows; every row needs an id"
        ))
        .in_table(table)
        .in_column(id));
    }
    let repeated = df
        .aggregate(
            vec![cast(ident(id), DataType::Utf8).alias("id")],
            vec![count_all().alias("n")],
        )?
        .filter(ident("n").gt(lit(1i64)))?
        .sort(vec![ident("id").sort(true, true)])?
        .limit(0, Some(1))?
        .collect()
        .await?;
    if let Some(b) = repeated.iter().find(|b| b.num_rows() > 0) {
        let key = b.column(0).as_string::<i32>().value(0).to_string();
        return Err(
            crate::error::SiyuError::input(format!("id {key:?} appears more than once"))
                .in_table(table)
                .in_column(id)
                .with_key(key),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Float64Array, Int32Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema};
    use datafusion::prelude::SessionContext;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::segment::scale::{Column, Transform};
    use crate::segment::{KChoice, SegmentParams, kmeans, segment};

    const TRANSFORMS: [Transform; 5] = [
        Transform::None,
        Transform::Zscore,
        Transform::Log1pZscore,
        Transform::Robust,
        Transform::Log1pRobust,
    ];

    /// A table of `n` rows and `d` features drawn around a few centres, with nulls, NaN,
    /// ±∞, negative values and repeated values sprinkled in.
    fn table(rng: &mut ChaCha8Rng, n: usize, d: usize) -> (Vec<String>, Vec<Vec<Option<f64>>>) {
        let centres: Vec<Vec<f64>> = (0..3)
            .map(|_| (0..d).map(|_| rng.random_range(-50.0..500.0)).collect())
            .collect();
        let ids = (0..n)
            .map(|i| format!("m{:05}", (i * 7919) % 100_000))
            .collect();
        let mut columns = vec![Vec::with_capacity(n); d];
        for i in 0..n {
            let c = &centres[i % 3];
            for (f, col) in columns.iter_mut().enumerate() {
                let v = match rng.random_range(0..40) {
                    0 => None,
                    1 => Some(f64::NAN),
                    2 => Some(if rng.random_bool(0.5) {
                        f64::INFINITY
                    } else {
                        f64::NEG_INFINITY
                    }),
                    3 => Some(c[f].round()),
                    _ => Some(c[f] + rng.random_range(-20.0..20.0)),
                };
                col.push(v);
            }
        }
        (ids, columns)
    }

    fn params(k: usize, seed: u64) -> SegmentParams {
        SegmentParams {
            engine: kmeans::Engine::Fused,
            k: KChoice::Fixed(k),
            n_runs: 2,
            seed,
            tolerance: 1e-4,
            max_iterations: 50,
            silhouette_sample: 100,
            k_switch_margin: 0.02,
            warm_start_margin: 0.05,
        }
    }

    fn batch(ids: &[String], columns: &[Vec<Option<f64>>], revenue: &[f64]) -> RecordBatch {
        let mut fields = vec![Field::new("member_id", DataType::Utf8, false)];
        let mut arrays: Vec<ArrayRef> = vec![Arc::new(StringArray::from(ids.to_vec()))];
        for (f, col) in columns.iter().enumerate() {
            fields.push(Field::new(format!("f{f}"), DataType::Float64, true));
            arrays.push(Arc::new(Float64Array::from(col.clone())));
        }
        fields.push(Field::new("spend", DataType::Float64, false));
        arrays.push(Arc::new(Float64Array::from(revenue.to_vec())));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
    }

    /// The nearest centroid by brute force, in Rust: the first of equally near ones.
    fn nearest(z: &[f64], centroids: &[f64], k: usize) -> (i32, f64) {
        let d = z.len();
        let mut best = (0, f64::INFINITY);
        for j in 0..k {
            let mut s = 0.0;
            for f in 0..d {
                let diff = z[f] - centroids[j * d + f];
                s += diff * diff;
            }
            if s < best.1 || j == 0 {
                best = (j as i32, s);
            }
        }
        best
    }

    /// Every member's label and squared distance from the SQL equal the brute-force
    /// nearest centroid computed with `FeatureScale::apply` and the median fill — bit for
    /// bit — over random tables, transforms and k; the totals are the brute-force counts
    /// and exact sums.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn assignment_in_sql_is_the_brute_force_nearest_centroid() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for case in 0..12 {
            let (n, d, k) = (
                rng.random_range(20..300),
                rng.random_range(1..5),
                rng.random_range(1..6),
            );
            let (ids, raw) = table(&mut rng, n, d);
            let transform = TRANSFORMS[case % TRANSFORMS.len()];
            let revenue: Vec<f64> = (0..n).map(|_| rng.random_range(0.0..1000.0)).collect();
            let columns: Vec<Column> = raw
                .iter()
                .enumerate()
                .map(|(f, values)| Column {
                    name: format!("f{f}"),
                    transform,
                    values: values.clone(),
                })
                .collect();
            let o = segment(ids.clone(), columns, None, &params(k, case as u64), None).unwrap();
            let kept = &o.prepared.scales;
            let scaled: Vec<ScaledFeature> = kept
                .iter()
                .zip(&o.prepared.fills)
                .map(|(scale, &fill)| ScaledFeature {
                    column: &scale.name,
                    scale,
                    fill,
                })
                .collect();
            let ctx = SessionContext::new();
            // Two partitions, so the rows arrive in pieces.
            let b = batch(&ids, &raw, &revenue);
            let half = b.num_rows() / 2;
            ctx.register_batch("a", b.slice(0, half)).unwrap();
            ctx.register_batch("b", b.slice(half, b.num_rows() - half))
                .unwrap();
            let df = ctx
                .table("a")
                .await
                .unwrap()
                .union(ctx.table("b").await.unwrap())
                .unwrap();
            let got = assigned(
                df,
                "member_id",
                &scaled,
                &o.clustering.centroids,
                o.clustering.k,
                Some("spend"),
            )
            .unwrap();
            let mut seen = 0;
            for b in got.clone().collect().await.unwrap() {
                let id = b.column(0).as_string::<i32>();
                let label = b.column(1).as_primitive::<Int32Type>();
                let sq = b.column(2).as_primitive::<Float64Type>();
                for r in 0..b.num_rows() {
                    let i = ids.iter().position(|x| x == id.value(r)).unwrap();
                    let z: Vec<f64> = kept
                        .iter()
                        .enumerate()
                        .map(|(f, s)| {
                            let g: usize = s.name[1..].parse().unwrap();
                            let x = raw[g][i]
                                .filter(|x| x.is_finite())
                                .unwrap_or(o.prepared.fills[f]);
                            s.apply(x)
                        })
                        .collect();
                    let (l, s) = nearest(&z, &o.clustering.centroids, o.clustering.k);
                    assert_eq!(label.value(r), l, "case {case}, row {i}");
                    assert_eq!(sq.value(r).to_bits(), s.to_bits(), "case {case}, row {i}");
                    seen += 1;
                }
            }
            assert_eq!(seen, n);
            // Totals: counts and exact (micro-unit) revenue per label.
            let totals = segment_totals(got, o.clustering.k, true).await.unwrap();
            let mut count = vec![0i64; o.clustering.k];
            let mut micros = vec![0i128; o.clustering.k];
            for b in assigned(
                ctx.table("a")
                    .await
                    .unwrap()
                    .union(ctx.table("b").await.unwrap())
                    .unwrap(),
                "member_id",
                &scaled,
                &o.clustering.centroids,
                o.clustering.k,
                Some("spend"),
            )
            .unwrap()
            .collect()
            .await
            .unwrap()
            {
                let id = b.column(0).as_string::<i32>();
                let label = b.column(1).as_primitive::<Int32Type>();
                for r in 0..b.num_rows() {
                    let i = ids.iter().position(|x| x == id.value(r)).unwrap();
                    count[label.value(r) as usize] += 1;
                    micros[label.value(r) as usize] += (revenue[i] * 1e6).round() as i128;
                }
            }
            assert_eq!(totals.members, count, "case {case}");
            let expected: Vec<f64> = micros.iter().map(|&m| m as f64 / 1e6).collect();
            assert_eq!(totals.revenue, expected, "case {case}");
        }
    }

    /// The fit sample is the rows with the smallest keys (ties by id), however the rows
    /// arrive; every row when there are fewer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_fit_sample_is_the_smallest_keys() {
        let ids: Vec<String> = (0..500)
            .map(|i| format!("member-{}", (i * 37) % 1000))
            .collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("member_id", DataType::Utf8, false),
            Field::new("x", DataType::Int32, false),
        ]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(ids.clone())) as ArrayRef,
                Arc::new(Int32Array::from_iter_values(0..500)),
            ],
        )
        .unwrap();
        let ctx = SessionContext::new();
        ctx.register_batch("t", b).unwrap();
        for (seed, rows) in [(42u64, 50usize), (7, 499), (42, 500), (1, 10_000)] {
            let df = fit_sample(ctx.table("t").await.unwrap(), "member_id", seed, rows).unwrap();
            let mut got: Vec<String> = Vec::new();
            for b in df.collect().await.unwrap() {
                let id = b.column(0).as_string::<i32>();
                got.extend((0..b.num_rows()).map(|r| id.value(r).to_string()));
            }
            let mut expected = ids.clone();
            expected.sort_by_key(|id| (crate::segment::sample_key(seed, id), id.clone()));
            expected.truncate(rows);
            assert_eq!(got, expected, "seed {seed}, {rows} rows");
        }
    }
}
