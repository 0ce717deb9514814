//! Member segments (会员分群): k-means over standardised features, with segment ids that
//! stay the same from one night to the next.
//!
//! [`segment`] is shared by the `segment` step and `siyu segment`:
//! 1. rows are put in id order, so the result does not depend on the input's row order;
//! 2. features are imputed, transformed and standardised ([`scale`]);
//! 3. k is fixed, or chosen from a range by the mean silhouette on a deterministic sample
//!    (rows picked by a hash of their id and the seed);
//! 4. linfa's k-means (k-means++ init, `n_runs` starts, fixed seed) clusters them
//!    ([`kmeans`]);
//! 5. when the previous run's segments are given, the new centroids are matched to them
//!    in the previous run's standardised space by minimum total squared distance
//!    ([`matching`]): a matched segment keeps its id and name, a new one gets the next
//!    unused id and a generated name ([`naming`]).

pub mod cli;
pub mod kmeans;
pub mod matching;
pub mod naming;
pub mod scale;
pub mod sql;
pub mod table;

use std::collections::{BTreeSet, HashMap};

use kmeans::{Clustering, KMeansParams};
use scale::{Column, FeatureScale, Prepared};

/// How k is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KChoice {
    Fixed(usize),
    /// Inclusive.
    Range(usize, usize),
}

#[derive(Debug, Clone)]
pub struct SegmentParams {
    pub engine: kmeans::Engine,
    pub k: KChoice,
    pub n_runs: usize,
    pub seed: u64,
    pub tolerance: f64,
    pub max_iterations: u64,
    pub silhouette_sample: usize,
    /// With a previous run whose segment count is in the k range, keep that count unless
    /// another k's silhouette beats it by more than this (so k does not flip nightly on
    /// noise).
    pub k_switch_margin: f64,
    /// Keep the warm start from the previous run's centroids unless the cold k-means++
    /// inertia is lower by more than this fraction.
    pub warm_start_margin: f64,
}

/// A segment of the previous run, in original units.
#[derive(Debug, Clone)]
pub struct PreviousSegment {
    pub id: u32,
    pub name: String,
    pub centroid: Vec<f64>,
}

/// The previous run's segments and the scaling it used (same feature order).
#[derive(Debug, Clone)]
pub struct Previous {
    pub scales: Vec<FeatureScale>,
    pub segments: Vec<PreviousSegment>,
}

/// One candidate k: its silhouette on the sample and its inertia.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub k: usize,
    pub found: usize,
    pub silhouette: f64,
    pub inertia: f64,
}

pub struct Outcome {
    /// Row ids in the order of every per-row vector below (sorted).
    pub ids: Vec<String>,
    pub prepared: Prepared,
    pub clustering: Clustering,
    pub candidates: Vec<Candidate>,
    /// Per cluster: its stable id and name, and for matched clusters the distance to the
    /// previous centroid (previous standardised space).
    pub segment_ids: Vec<u32>,
    pub names: Vec<String>,
    pub matched: Vec<Option<f64>>,
    /// Per row: the revenue given, in id order.
    pub revenue: Option<Vec<f64>>,
    /// With a previous run of the same k: (warm start used, its inertia, the cold
    /// k-means++ inertia).
    pub warm_start: Option<(bool, f64, f64)>,
    /// Wall time of the clustering itself (k choice, k-means, warm start), without
    /// reading and preparing the features.
    pub kmeans_seconds: f64,
}

impl Outcome {
    /// The centroid of cluster `j` in original units.
    pub fn centroid(&self, j: usize) -> Vec<f64> {
        let d = self.prepared.scales.len();
        self.prepared
            .scales
            .iter()
            .enumerate()
            .map(|(f, s)| s.invert(self.clustering.centroids[j * d + f]))
            .collect()
    }
    pub fn centroid_z(&self, j: usize) -> &[f64] {
        let d = self.prepared.scales.len();
        &self.clustering.centroids[j * d..(j + 1) * d]
    }
}

/// 64-bit FNV-1a of the seed and an id: a row's place in the silhouette sample.
fn sample_key(seed: u64, id: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in seed.to_le_bytes().iter().chain(id.as_bytes()) {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Cluster rows given as (ids, feature columns, optional revenue). Ids must be unique.
pub fn segment(
    ids: Vec<String>,
    columns: Vec<Column>,
    revenue: Option<Vec<f64>>,
    params: &SegmentParams,
    previous: Option<&Previous>,
) -> Result<Outcome, String> {
    match params.k {
        KChoice::Fixed(0) => return Err("k must be at least 1".into()),
        KChoice::Range(lo, hi) if lo < 2 || hi < lo => {
            return Err(format!(
                "k range {lo}..{hi}: needs 2 <= low <= high (a silhouette needs 2 clusters)"
            ));
        }
        _ => {}
    }
    // Id order.
    let mut order: Vec<usize> = (0..ids.len()).collect();
    {
        use rayon::slice::ParallelSliceMut;
        order.par_sort_unstable_by(|&a, &b| ids[a].cmp(&ids[b]));
    }
    if let Some(w) = order.windows(2).find(|w| ids[w[0]] == ids[w[1]]) {
        return Err(format!("id {:?} appears more than once", ids[w[0]]));
    }
    let ids: Vec<String> = order.iter().map(|&i| ids[i].clone()).collect();
    let columns: Vec<Column> = columns
        .into_iter()
        .map(|c| Column {
            values: order.iter().map(|&i| c.values[i]).collect(),
            ..c
        })
        .collect();
    let revenue = revenue.map(|r| order.iter().map(|&i| r[i]).collect::<Vec<f64>>());
    let prepared = scale::prepare(columns);
    let d = prepared.scales.len();
    let n = prepared.rows;

    let fit = |k: usize| {
        kmeans::fit(
            &prepared.data,
            n,
            d,
            &KMeansParams {
                engine: params.engine,
                k,
                n_runs: params.n_runs,
                seed: params.seed,
                tolerance: params.tolerance,
                max_iterations: params.max_iterations,
            },
        )
    };
    let mut candidates = Vec::new();
    let started = std::time::Instant::now();
    let mut clustering = match params.k {
        KChoice::Fixed(k) => fit(k)?,
        KChoice::Range(lo, hi) => {
            let mut keyed: Vec<(u64, usize)> = (0..n)
                .map(|i| (sample_key(params.seed, &ids[i]), i))
                .collect();
            keyed.sort_unstable();
            let mut sample: Vec<usize> = keyed
                .into_iter()
                .take(params.silhouette_sample.max(2))
                .map(|(_, i)| i)
                .collect();
            sample.sort_unstable();
            // Fit every k (up to the first that cannot make k segments), then score all
            // of them on the sample in one pass over its pairs of rows.
            let mut fitted: Vec<(usize, Clustering)> = Vec::new();
            for k in lo..=hi {
                let c = fit(k)?;
                let degenerate = c.k < k;
                fitted.push((k, c));
                if degenerate {
                    break;
                }
            }
            let labelled: Vec<(&[u32], usize)> = fitted
                .iter()
                .map(|(_, c)| (c.labels.as_slice(), c.k))
                .collect();
            let scores = kmeans::silhouettes(&prepared.data, d.max(1), &labelled, &sample);
            let mut fits: Vec<(f64, Clustering)> = Vec::new();
            let mut best = 0;
            for ((k, c), s) in fitted.into_iter().zip(scores) {
                candidates.push(Candidate {
                    k,
                    found: c.k,
                    silhouette: s,
                    inertia: c.inertia,
                });
                if fits.is_empty() || s > fits[best].0 {
                    best = fits.len();
                }
                fits.push((s, c));
            }
            // Keep the previous run's k unless the best beats it by more than the margin.
            let (best_s, best_k) = (fits[best].0, fits[best].1.k);
            let previous_k = previous.map(|p| p.segments.len()).unwrap_or(0);
            let keep = fits.iter().position(|(s, c)| {
                c.k == previous_k && c.k != best_k && best_s - s <= params.k_switch_margin
            });
            fits.swap_remove(keep.unwrap_or(best)).1
        }
    };

    // Warm start: yesterday's centroids, mapped into today's space, as the starting
    // point; kept unless the cold k-means++ result is clearly better.
    let mut warm_start = None;
    if let Some(prev) = previous.filter(|p| p.segments.len() == clustering.k && clustering.k > 1) {
        let init: Vec<f64> = prev
            .segments
            .iter()
            .flat_map(|ps| {
                prepared.scales.iter().map(|s| {
                    match prev.scales.iter().position(|q| q.name == s.name) {
                        Some(g) => s.apply(ps.centroid[g]),
                        None => 0.0,
                    }
                })
            })
            .collect();
        let warm = kmeans::fit_from(
            &prepared.data,
            n,
            d,
            &KMeansParams {
                engine: params.engine,
                k: clustering.k,
                n_runs: 1,
                seed: params.seed,
                tolerance: params.tolerance,
                max_iterations: params.max_iterations,
            },
            Some(&init),
        )?;
        let used = warm.k == clustering.k
            && warm.inertia <= clustering.inertia * (1.0 + params.warm_start_margin);
        warm_start = Some((used, warm.inertia, clustering.inertia));
        if used {
            clustering = warm;
        }
    }

    let mut outcome = Outcome {
        kmeans_seconds: started.elapsed().as_secs_f64(),
        warm_start,
        ids,
        prepared,
        clustering,
        candidates,
        segment_ids: vec![],
        names: vec![],
        matched: vec![],
        revenue,
    };
    let k = outcome.clustering.k;
    let features: Vec<String> = outcome
        .prepared
        .scales
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let generated: Vec<String> = (0..k)
        .map(|j| naming::name(&features, outcome.centroid_z(j)))
        .collect();
    let mut segment_ids: Vec<Option<u32>> = vec![None; k];
    let mut names: Vec<Option<String>> = vec![None; k];
    let mut matched = vec![None; k];
    let mut next_id = 1;
    if let Some(prev) = previous.filter(|p| !p.segments.is_empty()) {
        next_id = prev.segments.iter().map(|s| s.id).max().unwrap_or(0) + 1;
        // Features both runs have, and where each sits in the previous run.
        let common: Vec<(usize, usize)> = outcome
            .prepared
            .scales
            .iter()
            .enumerate()
            .filter_map(|(f, s)| {
                prev.scales
                    .iter()
                    .position(|p| p.name == s.name)
                    .map(|g| (f, g))
            })
            .collect();
        if !common.is_empty() {
            let cost: Vec<Vec<f64>> = (0..k)
                .map(|j| {
                    let c = outcome.centroid(j);
                    prev.segments
                        .iter()
                        .map(|ps| {
                            common
                                .iter()
                                .map(|&(f, g)| {
                                    let s = &prev.scales[g];
                                    let x = s.apply(c[f]) - s.apply(ps.centroid[g]);
                                    x * x
                                })
                                .sum()
                        })
                        .collect()
                })
                .collect();
            for (j, m) in matching::min_cost_assignment(&cost).into_iter().enumerate() {
                if let Some(m) = m {
                    segment_ids[j] = Some(prev.segments[m].id);
                    names[j] = Some(prev.segments[m].name.clone());
                    matched[j] = Some(cost[j][m].sqrt());
                }
            }
        }
    }
    for id in segment_ids.iter_mut().filter(|s| s.is_none()) {
        *id = Some(next_id);
        next_id += 1;
    }
    let segment_ids: Vec<u32> = segment_ids.into_iter().map(|s| s.expect("set")).collect();
    // Generated names must not repeat a name in use.
    let mut taken: BTreeSet<String> = names.iter().flatten().cloned().collect();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (j, g) in generated.iter().enumerate() {
        if names[j].is_none() {
            *count.entry(g.as_str()).or_default() += 1;
        }
    }
    for j in 0..k {
        if names[j].is_none() {
            let g = &generated[j];
            let name = if taken.contains(g) || count[g.as_str()] > 1 {
                format!("{g} #{}", segment_ids[j])
            } else {
                g.clone()
            };
            taken.insert(name.clone());
            names[j] = Some(name);
        }
    }
    outcome.segment_ids = segment_ids;
    outcome.names = names.into_iter().map(|s| s.expect("set")).collect();
    outcome.matched = matched;
    Ok(outcome)
}

/// Format a segment id for output.
pub fn format_id(id: u32) -> String {
    format!("s{id:02}")
}

/// Parse an output segment id.
pub fn parse_id(s: &str) -> Option<u32> {
    s.strip_prefix('s')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use scale::Transform;

    fn params(k: KChoice) -> SegmentParams {
        SegmentParams {
            engine: kmeans::Engine::Fused,
            k,
            n_runs: 4,
            seed: 7,
            tolerance: 1e-6,
            max_iterations: 300,
            silhouette_sample: 1000,
            k_switch_margin: 0.02,
            warm_start_margin: 0.01,
        }
    }

    /// Three groups of members: (spend, orders) around (100, 1), (1000, 5), (5000, 20).
    fn members(shuffle: u64) -> (Vec<String>, Vec<Column>) {
        let mut rows = Vec::new();
        for i in 0..90 {
            let g = i % 3;
            let jitter = ((i * 7919) % 13) as f64 / 13.0 - 0.5;
            let (s, o) = [(100.0, 1.0), (1000.0, 5.0), (5000.0, 20.0)][g];
            rows.push((format!("m{i:03}"), s * (1.0 + 0.1 * jitter), o + jitter));
        }
        // A deterministic reordering.
        rows.sort_by_key(|r| {
            r.0.bytes()
                .fold(shuffle, |h, b| h.wrapping_mul(0x100000001b3) ^ b as u64)
        });
        let ids = rows.iter().map(|r| r.0.clone()).collect();
        let cols = vec![
            Column {
                name: "total_spend_365d".into(),
                transform: Transform::Log1pZscore,
                values: rows.iter().map(|r| Some(r.1)).collect(),
            },
            Column {
                name: "frequency".into(),
                transform: Transform::Log1pZscore,
                values: rows.iter().map(|r| Some(r.2)).collect(),
            },
        ];
        (ids, cols)
    }

    fn by_id(o: &Outcome) -> Vec<(String, u32)> {
        o.ids
            .iter()
            .zip(&o.clustering.labels)
            .map(|(id, &l)| (id.clone(), o.segment_ids[l as usize]))
            .collect()
    }

    fn previous_of(o: &Outcome) -> Previous {
        Previous {
            scales: o.prepared.scales.clone(),
            segments: (0..o.clustering.k)
                .map(|j| PreviousSegment {
                    id: o.segment_ids[j],
                    name: o.names[j].clone(),
                    centroid: o.centroid(j),
                })
                .collect(),
        }
    }

    #[test]
    fn row_order_does_not_matter() {
        let (i1, c1) = members(1);
        let (i2, c2) = members(2);
        let a = segment(i1, c1, None, &params(KChoice::Fixed(3)), None).unwrap();
        let b = segment(i2, c2, None, &params(KChoice::Fixed(3)), None).unwrap();
        assert_eq!(by_id(&a), by_id(&b));
        assert_eq!(a.names, b.names);
    }

    #[test]
    fn the_silhouette_picks_the_planted_k() {
        let (ids, cols) = members(1);
        let o = segment(ids, cols, None, &params(KChoice::Range(2, 6)), None).unwrap();
        assert_eq!(o.clustering.k, 3, "{:?}", o.candidates);
        assert_eq!(o.candidates.len(), 5);
    }

    #[test]
    fn ids_survive_a_rerun_with_other_seeds_and_a_small_change() {
        let (ids, cols) = members(1);
        let first = segment(ids, cols, None, &params(KChoice::Fixed(3)), None).unwrap();
        assert_eq!(first.segment_ids, vec![1, 2, 3]);
        let prev = previous_of(&first);
        // Another seed numbers clusters however it likes; ids must follow the centroids.
        let (mut ids, mut cols) = members(3);
        // A small change: one member's spend moves a little, one member leaves.
        cols[0].values[5] = cols[0].values[5].map(|v| v * 1.05);
        ids.pop();
        for c in &mut cols {
            c.values.pop();
        }
        let mut p = params(KChoice::Fixed(3));
        p.seed = 99;
        let second = segment(ids, cols, None, &p, Some(&prev)).unwrap();
        let before: HashMap<String, u32> = by_id(&first).into_iter().collect();
        for (id, seg) in by_id(&second) {
            assert_eq!(before[&id], seg, "{id}");
        }
        assert_eq!(
            second.names.iter().collect::<BTreeSet<_>>(),
            first.names.iter().collect()
        );
        assert!(second.matched.iter().all(|m| m.is_some_and(|d| d < 0.1)));
        // With one more cluster, the new one gets a new id.
        let (ids, cols) = members(1);
        let third = segment(ids, cols, None, &params(KChoice::Fixed(4)), Some(&prev)).unwrap();
        let mut got = third.segment_ids.clone();
        got.sort_unstable();
        assert_eq!(got, vec![1, 2, 3, 4]);
    }

    #[test]
    fn scaling_a_feature_by_1000_changes_nothing_after_standardisation() {
        let (ids, cols) = members(1);
        let a = segment(ids.clone(), cols, None, &params(KChoice::Fixed(3)), None).unwrap();
        let (_, mut cols) = members(1);
        for c in &mut cols {
            c.transform = Transform::Zscore;
        }
        let b = segment(ids.clone(), cols, None, &params(KChoice::Fixed(3)), None).unwrap();
        let (_, mut cols) = members(1);
        for c in &mut cols {
            c.transform = Transform::Zscore;
        }
        cols[0].values = cols[0]
            .values
            .iter()
            .map(|v| v.map(|x| x * 1000.0))
            .collect();
        let c = segment(ids, cols, None, &params(KChoice::Fixed(3)), None).unwrap();
        assert_eq!(by_id(&b), by_id(&c));
        assert_eq!(a.clustering.k, 3);
    }

    #[test]
    fn duplicate_ids_and_bad_ranges_are_refused() {
        let cols = vec![Column {
            name: "x".into(),
            transform: Transform::Zscore,
            values: vec![Some(1.0), Some(2.0)],
        }];
        let e = segment(
            vec!["a".into(), "a".into()],
            cols,
            None,
            &params(KChoice::Fixed(2)),
            None,
        )
        .err()
        .unwrap();
        assert!(e.contains("more than once"), "{e}");
        let (ids, cols) = members(1);
        assert!(segment(ids, cols, None, &params(KChoice::Range(1, 3)), None).is_err());
    }
}
