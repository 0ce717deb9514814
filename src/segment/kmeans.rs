//! k-means with linfa, and what a nightly job needs around it: degenerate inputs, a
//! convergence verdict, parallel assignment, canonical cluster order, silhouettes.

use std::collections::HashSet;

use linfa::DatasetBase;
use linfa::traits::Fit;
use linfa_clustering::{KMeans, KMeansInit};
use ndarray::ArrayView2;
use rand_xoshiro::Xoshiro256Plus;
use rand_xoshiro::rand_core::SeedableRng;
use rayon::prelude::*;

/// Who runs the Lloyd iterations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    /// linfa's KMeans end to end (k-means++ init and Lloyd iterations).
    Linfa,
    /// siyu's greedy k-means++ and fused parallel Lloyd iterations (the default: linfa's
    /// per-row ndarray distance calls made it ~3.5× slower than scikit-learn at 1M × 8;
    /// see bench/README.md). Tested against linfa from the same start.
    Fused,
}

impl Engine {
    pub fn parse(s: &str) -> Option<Engine> {
        match s {
            "linfa" => Some(Engine::Linfa),
            "fused" => Some(Engine::Fused),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct KMeansParams {
    pub engine: Engine,
    pub k: usize,
    pub n_runs: usize,
    pub seed: u64,
    /// Stop when the centroids move less than this (Euclidean norm over all of them).
    pub tolerance: f64,
    pub max_iterations: u64,
}

#[derive(Debug, Clone)]
pub struct Clustering {
    /// Clusters found (≤ the k asked for: fewer distinct rows, or empty clusters).
    pub k: usize,
    pub d: usize,
    /// k × d, row-major, in the clustering space.
    pub centroids: Vec<f64>,
    pub labels: Vec<u32>,
    /// Squared distance of each row to its centroid.
    pub sq_dists: Vec<f64>,
    /// Sum of squared distances (scikit-learn's `inertia_`).
    pub inertia: f64,
    pub converged: bool,
    /// Why the result is not the plain k-means asked for, if it is not.
    pub notes: Vec<String>,
    /// Lloyd iterations over all starts (siyu's engine only).
    pub iterations: Option<u64>,
}

const CHUNK: usize = 2048;

fn sq(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Nearest centroid of every row (ties to the lower index), in parallel.
pub fn assign(data: &[f64], d: usize, centroids: &[f64]) -> (Vec<u32>, Vec<f64>) {
    let n = data.len().checked_div(d).unwrap_or(0);
    let mut labels = vec![0u32; n];
    let mut dists = vec![0f64; n];
    labels
        .par_chunks_mut(CHUNK)
        .zip(dists.par_chunks_mut(CHUNK))
        .enumerate()
        .for_each(|(c, (ls, ds))| {
            for (r, (l, dd)) in ls.iter_mut().zip(ds.iter_mut()).enumerate() {
                let row = &data[(c * CHUNK + r) * d..(c * CHUNK + r + 1) * d];
                let (best, bd) = nearest(centroids.chunks_exact(d).map(|cen| sq(row, cen)));
                *l = best as u32;
                *dd = bd;
            }
        });
    (labels, dists)
}

/// Mean of the rows of each cluster; (sums, counts).
fn means(data: &[f64], d: usize, labels: &[u32], k: usize) -> (Vec<f64>, Vec<u64>) {
    // One partial per fixed chunk, merged in chunk order: float sums do not depend on
    // how rayon split the work, so results are the same on any machine and any load.
    let partials: Vec<(Vec<f64>, Vec<u64>)> = data
        .par_chunks(CHUNK * d)
        .zip(labels.par_chunks(CHUNK))
        .map(|(rows, ls)| {
            let (mut s, mut c) = (vec![0.0; k * d], vec![0u64; k]);
            for (row, &l) in rows.chunks_exact(d).zip(ls) {
                let l = l as usize;
                c[l] += 1;
                for (acc, x) in s[l * d..(l + 1) * d].iter_mut().zip(row) {
                    *acc += x;
                }
            }
            (s, c)
        })
        .collect();
    let (sums, counts) = merge_partials(partials, k * d, k);
    let mut m = sums;
    for j in 0..k {
        if counts[j] > 0 {
            for x in &mut m[j * d..(j + 1) * d] {
                *x /= counts[j] as f64;
            }
        }
    }
    (m, counts)
}

/// linfa's KMeans: k-means++ (or the given start) and Lloyd iterations; the centroids.
fn linfa_fit(
    data: &[f64],
    n: usize,
    d: usize,
    k: usize,
    p: &KMeansParams,
    warm: Option<&[f64]>,
    runs: usize,
) -> Result<Vec<f64>, String> {
    let view = ArrayView2::from_shape((n, d), data).map_err(|e| e.to_string())?;
    let dataset = DatasetBase::from(view);
    let (init, runs) = match warm {
        Some(c) => (
            KMeansInit::Precomputed(
                ndarray::Array2::from_shape_vec((k, d), c.to_vec()).map_err(|e| e.to_string())?,
            ),
            1,
        ),
        None => (KMeansInit::KMeansPlusPlus, runs),
    };
    let model = KMeans::params_with_rng(k, Xoshiro256Plus::seed_from_u64(p.seed))
        .n_runs(runs)
        .tolerance(p.tolerance)
        .max_n_iterations(p.max_iterations)
        .init_method(init)
        .fit(&dataset)
        .map_err(|e| format!("k-means failed: {e}"))?;
    Ok(model.centroids().iter().copied().collect())
}

/// Greedy k-means++ (Arthur & Vassilvitskii 2007, with the 2 + ln k local trials per
/// centre that scikit-learn uses): the first centre uniformly at random, each next one the
/// best of several candidates drawn with probability proportional to the squared distance
/// to the nearest centre so far. Distance updates run in parallel.
pub fn kmeans_plusplus(data: &[f64], d: usize, k: usize, seed: u64) -> Vec<f64> {
    use rand::{Rng, SeedableRng};
    let n = data.len() / d;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let trials = 2 + (k as f64).ln().floor() as usize;
    let row = |i: usize| &data[i * d..(i + 1) * d];
    let mut centres: Vec<f64> = row(rng.random_range(0..n)).to_vec();
    let first = centres.clone();
    let mut closest: Vec<f64> = data.par_chunks(d).map(|r| sq(r, &first)).collect();
    while centres.len() < k * d {
        let mut cumulative = Vec::with_capacity(n);
        let mut acc = 0.0;
        for &x in &closest {
            acc += x;
            cumulative.push(acc);
        }
        if acc <= 0.0 {
            // Every row sits on a centre: any row will do.
            centres.extend_from_slice(row(0));
            continue;
        }
        // Score each candidate by the potential it would leave (no allocation), then
        // update the distances once for the winner.
        let mut best: Option<(f64, usize)> = None;
        for _ in 0..trials {
            let target = rng.random::<f64>() * acc;
            let cand = cumulative.partition_point(|&c| c <= target).min(n - 1);
            let c = row(cand);
            let pot: f64 = data
                .par_chunks(CHUNK * d)
                .zip(closest.par_chunks(CHUNK))
                .map(|(rows, old)| {
                    rows.chunks_exact(d)
                        .zip(old)
                        .map(|(r, &o)| sq(r, c).min(o))
                        .sum::<f64>()
                })
                .collect::<Vec<f64>>()
                .iter()
                .sum();
            if best.is_none_or(|(b, _)| pot < b) {
                best = Some((pot, cand));
            }
        }
        let (_, cand) = best.expect("at least one trial");
        let c = row(cand);
        closest
            .par_chunks_mut(CHUNK)
            .zip(data.par_chunks(CHUNK * d))
            .for_each(|(old, rows)| {
                for (o, r) in old.iter_mut().zip(rows.chunks_exact(d)) {
                    *o = sq(r, c).min(*o);
                }
            });
        centres.extend_from_slice(c);
    }
    centres
}

/// One pass over the data: for the given centroids, the per-cluster sums and counts of
/// the rows nearest to each, and the total squared distance — assignment and update
/// fused, in parallel, without materialising labels.
fn step(data: &[f64], d: usize, centroids: &[f64]) -> (Vec<f64>, Vec<u64>, f64) {
    // With the row length known at compile time the distance loop unrolls and vectorises
    // (about 2× at d = 8); member features rarely number more than 16.
    macro_rules! fixed {
        ($($n:literal)*) => {
            match d {
                $($n => return step_fixed::<$n>(data, centroids),)*
                _ => {}
            }
        };
    }
    fixed!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);
    // Wider rows: all centroids at once, one accumulator per centroid (see step_lanes).
    match centroids.len() / d {
        0..=4 => step_lanes::<4>(data, d, centroids),
        5..=8 => step_lanes::<8>(data, d, centroids),
        9..=16 => step_lanes::<16>(data, d, centroids),
        _ => step_dyn(data, d, centroids),
    }
}

/// The fused step for rows of any width and at most `L` centroids: the centroids are
/// transposed (feature-major, `L` lanes per feature, unused lanes zero) so that one pass
/// over a row's features updates every centroid's distance at once. The `L` running sums
/// are independent, so the loop over lanes vectorises, where one distance at a time is a
/// chain of dependent additions. Each distance still adds its features' squares in
/// feature order from zero, so the result is bitwise that of [`step_dyn`].
fn step_lanes<const L: usize>(
    data: &[f64],
    d: usize,
    centroids: &[f64],
) -> (Vec<f64>, Vec<u64>, f64) {
    let k = centroids.len() / d;
    debug_assert!(k <= L);
    let mut lanes = vec![[0.0f64; L]; d];
    for (j, cen) in centroids.chunks_exact(d).enumerate() {
        for (f, &x) in cen.iter().enumerate() {
            lanes[f][j] = x;
        }
    }
    step_rows(data, d, k, |row| {
        let mut acc = [0.0f64; L];
        for (&x, cen) in row.iter().zip(&lanes) {
            for j in 0..L {
                let t = x - cen[j];
                acc[j] += t * t;
            }
        }
        nearest(acc[..k].iter().copied())
    })
}

fn step_fixed<const D: usize>(data: &[f64], centroids: &[f64]) -> (Vec<f64>, Vec<u64>, f64) {
    let (rows, _) = data.as_chunks::<D>();
    let (cens, _) = centroids.as_chunks::<D>();
    let k = cens.len();
    let partials: Vec<(Vec<f64>, Vec<u64>, f64)> = rows
        .par_chunks(CHUNK)
        .map(|rows| {
            let (mut s, mut c, mut total) = (vec![[0.0; D]; k], vec![0u64; k], 0.0);
            for row in rows {
                let (mut best, mut bd) = (0usize, f64::INFINITY);
                for (j, cen) in cens.iter().enumerate() {
                    let mut x = 0.0;
                    for f in 0..D {
                        let t = row[f] - cen[f];
                        x += t * t;
                    }
                    if x < bd {
                        bd = x;
                        best = j;
                    }
                }
                c[best] += 1;
                total += bd;
                for f in 0..D {
                    s[best][f] += row[f];
                }
            }
            (s.into_iter().flatten().collect::<Vec<f64>>(), c, total)
        })
        .collect();
    merge_step_partials(partials, k * D, k)
}

fn step_dyn(data: &[f64], d: usize, centroids: &[f64]) -> (Vec<f64>, Vec<u64>, f64) {
    step_rows(data, d, centroids.len() / d, |row| {
        nearest(centroids.chunks_exact(d).map(|cen| sq(row, cen)))
    })
}

/// The index and value of the smallest distance, ties to the lower index.
fn nearest(dists: impl Iterator<Item = f64>) -> (usize, f64) {
    let (mut best, mut bd) = (0usize, f64::INFINITY);
    for (j, x) in dists.enumerate() {
        if x < bd {
            bd = x;
            best = j;
        }
    }
    (best, bd)
}

/// The fused step over rows of width `d` and `k` centroids, given each row's nearest
/// centroid and its squared distance: per fixed chunk the sums, counts and inertia, merged
/// in chunk order.
fn step_rows(
    data: &[f64],
    d: usize,
    k: usize,
    nearest: impl Fn(&[f64]) -> (usize, f64) + Sync,
) -> (Vec<f64>, Vec<u64>, f64) {
    let partials: Vec<(Vec<f64>, Vec<u64>, f64)> = data
        .par_chunks(CHUNK * d)
        .map(|rows| {
            let (mut s, mut c, mut total) = (vec![0.0; k * d], vec![0u64; k], 0.0);
            for row in rows.chunks_exact(d) {
                let (best, bd) = nearest(row);
                c[best] += 1;
                total += bd;
                for (acc, x) in s[best * d..(best + 1) * d].iter_mut().zip(row) {
                    *acc += x;
                }
            }
            (s, c, total)
        })
        .collect();
    merge_step_partials(partials, k * d, k)
}

/// Sum per-chunk (sums, counts) in chunk order.
fn merge_partials(
    partials: Vec<(Vec<f64>, Vec<u64>)>,
    len: usize,
    k: usize,
) -> (Vec<f64>, Vec<u64>) {
    let (mut sums, mut counts) = (vec![0.0; len], vec![0u64; k]);
    for (s, c) in partials {
        sums.iter_mut().zip(s).for_each(|(a, b)| *a += b);
        counts.iter_mut().zip(c).for_each(|(a, b)| *a += b);
    }
    (sums, counts)
}

/// Sum per-chunk (sums, counts, inertia) in chunk order.
fn merge_step_partials(
    partials: Vec<(Vec<f64>, Vec<u64>, f64)>,
    len: usize,
    k: usize,
) -> (Vec<f64>, Vec<u64>, f64) {
    let (mut sums, mut counts, mut total) = (vec![0.0; len], vec![0u64; k], 0.0);
    for (s, c, t) in partials {
        sums.iter_mut().zip(s).for_each(|(a, b)| *a += b);
        counts.iter_mut().zip(c).for_each(|(a, b)| *a += b);
        total += t;
    }
    (sums, counts, total)
}

/// Lloyd iterations from `centroids` until they move less than `tolerance` (the norm of
/// the change over all centroids, as linfa measures it) or `max_iterations` passes. An
/// empty cluster keeps its centroid, as in linfa.
///
/// Hamerly's bounds (Hamerly 2010, "Making k-means even faster") skip the distances that
/// cannot change a row's centroid: each row keeps an upper bound on the distance to its
/// centroid and a lower bound on the distance to every other one, moved by how far the
/// centroids moved; while the upper bound is below the lower one (or below half the gap
/// from its centroid to the nearest other), the row stays. The skip is taken only with a
/// relative margin of [`BOUND_MARGIN`] and never on a tie, so every row lands where the
/// plain loop ([`lloyd_plain`]) puts it, and the sums are added in the same order: the
/// centroids are bitwise the same (tested), in a fraction of the distance computations
/// once few rows still move.
fn lloyd(
    data: &[f64],
    d: usize,
    mut centroids: Vec<f64>,
    tolerance: f64,
    max_iterations: u64,
) -> (Vec<f64>, u64) {
    let n = data.len() / d;
    let k = centroids.len() / d;
    let mut rows = vec![
        Bounds {
            label: 0,
            upper: f64::INFINITY,
            lower: f64::NEG_INFINITY,
        };
        n
    ];
    let mut moved = vec![0.0f64; k];
    let mut iterations = 0;
    for _ in 0..max_iterations {
        iterations += 1;
        let half = half_gaps(&centroids, d);
        let (sums, counts) = bounded_step(data, d, &centroids, &half, &moved, &mut rows);
        let mut shift = 0.0;
        for (j, &count) in counts.iter().enumerate() {
            if count == 0 {
                moved[j] = 0.0;
                continue;
            }
            let mut own = 0.0;
            for f in 0..d {
                let new = sums[j * d + f] / count as f64;
                let old = &mut centroids[j * d + f];
                let t = (new - *old) * (new - *old);
                shift += t;
                own += t;
                *old = new;
            }
            moved[j] = own.sqrt();
        }
        if shift.sqrt() < tolerance {
            break;
        }
    }
    (centroids, iterations)
}

/// How much smaller than a lower bound an upper bound must be for a row to skip its
/// distances: far above the rounding of the bounds' arithmetic (a few ulps an iteration),
/// far below any gap that matters.
const BOUND_MARGIN: f64 = 1e-9;

/// A row's centroid and Hamerly's bounds: `upper` ≥ the distance to it, `lower` ≤ the
/// distance to every other centroid (plain distances, not squared).
#[derive(Debug, Clone, Copy)]
struct Bounds {
    label: u32,
    upper: f64,
    lower: f64,
}

/// Half the distance from each centroid to its nearest other one (∞ for a lone one).
fn half_gaps(centroids: &[f64], d: usize) -> Vec<f64> {
    let k = centroids.len() / d;
    (0..k)
        .map(|j| {
            let c = &centroids[j * d..(j + 1) * d];
            (0..k)
                .filter(|&o| o != j)
                .map(|o| sq(c, &centroids[o * d..(o + 1) * d]))
                .fold(f64::INFINITY, f64::min)
                .sqrt()
                / 2.0
        })
        .collect()
}

/// One bounded pass: every row's centroid (recomputed only where the bounds allow a
/// change), and the per-cluster sums and counts, per fixed chunk and merged in chunk
/// order as in [`step_rows`]. `moved` is how far each centroid moved in the last update.
fn bounded_step(
    data: &[f64],
    d: usize,
    centroids: &[f64],
    half: &[f64],
    moved: &[f64],
    rows: &mut [Bounds],
) -> (Vec<f64>, Vec<u64>) {
    let k = centroids.len() / d;
    let most = moved.iter().copied().fold(0.0, f64::max);
    let safe = |upper: f64, bound: f64| upper * (1.0 + BOUND_MARGIN) < bound * (1.0 - BOUND_MARGIN);
    let partials: Vec<(Vec<f64>, Vec<u64>)> = data
        .par_chunks(CHUNK * d)
        .zip(rows.par_chunks_mut(CHUNK))
        .map(|(chunk, bounds)| {
            let (mut s, mut c) = (vec![0.0; k * d], vec![0u64; k]);
            for (row, b) in chunk.chunks_exact(d).zip(bounds.iter_mut()) {
                let a = b.label as usize;
                b.upper += moved[a];
                b.lower -= most;
                let bound = half[a].max(b.lower);
                if !safe(b.upper, bound) {
                    b.upper = sq(row, &centroids[a * d..(a + 1) * d]).sqrt();
                    if !safe(b.upper, bound) {
                        // Every distance, as the plain loop computes them: nearest (ties
                        // to the lower index) and second nearest.
                        let (mut best, mut bd, mut second) = (0usize, f64::INFINITY, f64::INFINITY);
                        for (j, cen) in centroids.chunks_exact(d).enumerate() {
                            let x = sq(row, cen);
                            if x < bd {
                                second = bd;
                                bd = x;
                                best = j;
                            } else if x < second {
                                second = x;
                            }
                        }
                        *b = Bounds {
                            label: best as u32,
                            upper: bd.sqrt(),
                            lower: second.sqrt(),
                        };
                    }
                }
                let l = b.label as usize;
                c[l] += 1;
                for (acc, x) in s[l * d..(l + 1) * d].iter_mut().zip(row) {
                    *acc += x;
                }
            }
            (s, c)
        })
        .collect();
    merge_partials(partials, k * d, k)
}

/// [`lloyd`] without bounds: every distance of every row on every pass (the reference the
/// bounded loop is tested against, bit for bit).
#[cfg(test)]
fn lloyd_plain(
    data: &[f64],
    d: usize,
    mut centroids: Vec<f64>,
    tolerance: f64,
    max_iterations: u64,
) -> (Vec<f64>, u64) {
    let mut iterations = 0;
    for _ in 0..max_iterations {
        iterations += 1;
        let (sums, counts, _) = step(data, d, &centroids);
        let mut shift = 0.0;
        for (j, &count) in counts.iter().enumerate() {
            if count == 0 {
                continue;
            }
            for f in 0..d {
                let new = sums[j * d + f] / count as f64;
                let old = &mut centroids[j * d + f];
                shift += (new - *old) * (new - *old);
                *old = new;
            }
        }
        if shift.sqrt() < tolerance {
            break;
        }
    }
    (centroids, iterations)
}

/// Cluster `data` (n × d, row-major) into at most `p.k` clusters.
///
/// Clusters are numbered canonically — largest first, ties by centroid coordinates — so
/// the numbering does not depend on which random start won.
pub fn fit(data: &[f64], n: usize, d: usize, p: &KMeansParams) -> Result<Clustering, String> {
    fit_from(data, n, d, p, None)
}

/// [`fit`], started from the given centroids (k × d, row-major; a warm start) instead of
/// k-means++ when `init` has `p.k` rows and the data has at least `p.k` distinct rows.
pub fn fit_from(
    data: &[f64],
    n: usize,
    d: usize,
    p: &KMeansParams,
    init: Option<&[f64]>,
) -> Result<Clustering, String> {
    if p.k == 0 {
        return Err("k must be at least 1".into());
    }
    if p.n_runs == 0 {
        return Err("n_runs must be at least 1".into());
    }
    if p.tolerance.is_nan() || p.tolerance <= 0.0 {
        return Err(format!("tolerance must be positive, found {}", p.tolerance));
    }
    if p.max_iterations == 0 {
        return Err("max_iterations must be at least 1".into());
    }
    let mut notes = Vec::new();
    if d == 0 && n > 0 {
        return Ok(Clustering {
            k: 1,
            d,
            centroids: vec![],
            labels: vec![0; n],
            sq_dists: vec![0.0; n],
            inertia: 0.0,
            converged: true,
            notes: vec!["no feature varies: one segment".into()],
            iterations: None,
        });
    }
    if n == 0 {
        return Ok(Clustering {
            k: 0,
            d,
            centroids: vec![],
            labels: vec![],
            sq_dists: vec![],
            inertia: 0.0,
            converged: true,
            notes: vec!["no rows to cluster".into()],
            iterations: None,
        });
    }
    // Fewer distinct rows than k: k-means cannot make k non-empty clusters.
    let mut distinct: HashSet<Vec<u64>> = HashSet::new();
    for row in data.chunks_exact(d) {
        distinct.insert(row.iter().map(|x| x.to_bits()).collect());
        if distinct.len() >= p.k {
            break;
        }
    }
    let k = p.k.min(distinct.len()).max(1);
    if k < p.k {
        notes.push(format!(
            "only {} distinct row(s): {} segment(s) instead of {}",
            distinct.len(),
            k,
            p.k
        ));
    }
    let d_eff = d;
    let mut notes_iterations = None;
    let centroids = if k == 1 {
        means(data, d_eff, &vec![0; n], 1).0
    } else {
        let warm = match init {
            Some(c) if k == p.k && c.len() == k * d => Some(c),
            _ => None,
        };
        match p.engine {
            Engine::Linfa => linfa_fit(data, n, d, k, p, warm, p.n_runs)?,
            Engine::Fused => {
                // Each start: greedy k-means++, then the fused iterations; the lowest
                // inertia wins, ties to the earlier start.
                let mut best: Option<(f64, Vec<f64>)> = None;
                let mut iterations = 0;
                let starts = if warm.is_some() { 1 } else { p.n_runs };
                for run in 0..starts {
                    let start = match warm {
                        Some(c) => c.to_vec(),
                        None => kmeans_plusplus(data, d, k, p.seed.wrapping_add(run as u64)),
                    };
                    let (c, its) = lloyd(data, d, start, p.tolerance, p.max_iterations);
                    iterations += its;
                    let inertia = step(data, d, &c).2;
                    if best.as_ref().is_none_or(|(b, _)| inertia < *b) {
                        best = Some((inertia, c));
                    }
                }
                notes_iterations = Some(iterations);
                best.expect("at least one start").1
            }
        }
    };
    let (labels, _) = assign(data, d_eff, &centroids);
    // linfa stops at max_iterations without saying so: one more Lloyd step tells.
    let (next, counts) = means(data, d_eff, &labels, k);
    let shift = next
        .iter()
        .zip(&centroids)
        .enumerate()
        .filter(|(i, _)| counts[i / d_eff] > 0)
        .map(|(_, (a, b))| (a - b) * (a - b))
        .sum::<f64>()
        .sqrt();
    let converged = k == 1 || shift <= p.tolerance;
    if !converged {
        notes.push(format!(
            "k-means did not converge in {} iterations (centroids still move {shift:.3e} > tolerance {}); the best run is used",
            p.max_iterations, p.tolerance
        ));
    }
    // Drop empty clusters, then number canonically.
    let mut order: Vec<usize> = (0..k).filter(|&j| counts[j] > 0).collect();
    if order.len() < k {
        notes.push(format!("{} empty cluster(s) dropped", k - order.len()));
    }
    order.sort_by(|&a, &b| {
        counts[b].cmp(&counts[a]).then_with(|| {
            centroids[a * d_eff..(a + 1) * d_eff]
                .iter()
                .zip(&centroids[b * d_eff..(b + 1) * d_eff])
                .map(|(x, y)| x.total_cmp(y))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        })
    });
    let mut final_c = Vec::with_capacity(order.len() * d_eff);
    for &j in &order {
        final_c.extend_from_slice(&centroids[j * d_eff..(j + 1) * d_eff]);
    }
    let (labels, sq_dists) = assign(data, d_eff, &final_c);
    let inertia = sq_dists.iter().sum();
    Ok(Clustering {
        k: order.len(),
        d,
        centroids: final_c,
        labels,
        sq_dists,
        inertia,
        converged,
        notes,
        iterations: notes_iterations,
    })
}

/// Mean silhouette of the rows in `sample` (indices into `data`), distances within the
/// sample only — scikit-learn's `silhouette_score(..., sample_size=…)` on a given sample.
/// A row alone in its cluster scores 0; one cluster scores 0.
pub fn silhouette(data: &[f64], d: usize, labels: &[u32], k: usize, sample: &[usize]) -> f64 {
    silhouettes(data, d, &[(labels, k)], sample)[0]
}

/// [`silhouette`] of several clusterings of the same rows (the candidates of a k range)
/// on one sample, in one pass: each distance between two sampled rows is computed once
/// and added to its cluster's sum in every clustering. Each clustering's sums are added
/// in the same order as on its own, so each result is bitwise that of [`silhouette`].
pub fn silhouettes(
    data: &[f64],
    d: usize,
    clusterings: &[(&[u32], usize)],
    sample: &[usize],
) -> Vec<f64> {
    let mut out = vec![0.0; clusterings.len()];
    let scored: Vec<usize> = (0..clusterings.len())
        .filter(|&c| clusterings[c].1 >= 2 && sample.len() >= 2)
        .collect();
    if scored.is_empty() {
        return out;
    }
    let m = scored.len();
    let rows: Vec<&[f64]> = sample.iter().map(|&i| &data[i * d..(i + 1) * d]).collect();
    // Clustering c's cluster sums sit at base[c]..base[c] + k; slot[j * m + c] is where
    // sampled row j's distance goes for clustering c.
    let mut base = Vec::with_capacity(m);
    let mut width = 0;
    for &c in &scored {
        base.push(width);
        width += clusterings[c].1;
    }
    let mut slot = vec![0usize; rows.len() * m];
    let mut size = vec![0usize; width];
    for (j, &i) in sample.iter().enumerate() {
        for (q, &c) in scored.iter().enumerate() {
            let s = base[q] + clusterings[c].0[i] as usize;
            slot[j * m + q] = s;
            size[s] += 1;
        }
    }
    let per_row: Vec<Vec<f64>> = (0..rows.len())
        .into_par_iter()
        .map(|i| {
            let mut sum = vec![0.0; width];
            for j in 0..rows.len() {
                if j != i {
                    let dist = sq(rows[i], rows[j]).sqrt();
                    for &s in &slot[j * m..(j + 1) * m] {
                        sum[s] += dist;
                    }
                }
            }
            (0..m)
                .map(|q| {
                    let k = clusterings[scored[q]].1;
                    let (sum, size) = (&sum[base[q]..base[q] + k], &size[base[q]..base[q] + k]);
                    let own = slot[i * m + q] - base[q];
                    if size[own] <= 1 {
                        return 0.0;
                    }
                    let a = sum[own] / (size[own] - 1) as f64;
                    let b = (0..k)
                        .filter(|&c| c != own && size[c] > 0)
                        .map(|c| sum[c] / size[c] as f64)
                        .fold(f64::INFINITY, f64::min);
                    if !b.is_finite() || a.max(b) == 0.0 {
                        0.0
                    } else {
                        (b - a) / a.max(b)
                    }
                })
                .collect()
        })
        .collect();
    for (q, &c) in scored.iter().enumerate() {
        let total: f64 = per_row.iter().map(|r| r[q]).sum();
        out[c] = total / rows.len() as f64;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn params(k: usize) -> KMeansParams {
        KMeansParams {
            engine: Engine::Fused,
            k,
            n_runs: 5,
            seed: 42,
            tolerance: 1e-6,
            max_iterations: 300,
        }
    }

    /// n points around each centre, spread ±0.5 uniformly.
    fn blobs(centres: &[[f64; 2]], n: usize, seed: u64) -> (Vec<f64>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (mut data, mut truth) = (Vec::new(), Vec::new());
        for i in 0..n {
            for (c, centre) in centres.iter().enumerate() {
                let _ = i;
                data.push(centre[0] + rng.random_range(-0.5..0.5));
                data.push(centre[1] + rng.random_range(-0.5..0.5));
                truth.push(c);
            }
        }
        (data, truth)
    }

    /// The silhouette as it was computed one clustering at a time, before silhouettes().
    /// Mean silhouette of the rows in `sample` (indices into `data`), distances within the
    /// sample only — scikit-learn's `silhouette_score(..., sample_size=…)` on a given sample.
    /// A row alone in its cluster scores 0; one cluster scores 0.
    fn silhouette_alone(data: &[f64], d: usize, labels: &[u32], k: usize, sample: &[usize]) -> f64 {
        if k < 2 || sample.len() < 2 {
            return 0.0;
        }
        let rows: Vec<&[f64]> = sample.iter().map(|&i| &data[i * d..(i + 1) * d]).collect();
        let lab: Vec<usize> = sample.iter().map(|&i| labels[i] as usize).collect();
        let mut size = vec![0usize; k];
        for &l in &lab {
            size[l] += 1;
        }
        let total: f64 = (0..rows.len())
            .into_par_iter()
            .map(|i| {
                let mut sum = vec![0.0; k];
                for j in 0..rows.len() {
                    if j != i {
                        sum[lab[j]] += sq(rows[i], rows[j]).sqrt();
                    }
                }
                let own = lab[i];
                if size[own] <= 1 {
                    return 0.0;
                }
                let a = sum[own] / (size[own] - 1) as f64;
                let b = (0..k)
                    .filter(|&c| c != own && size[c] > 0)
                    .map(|c| sum[c] / size[c] as f64)
                    .fold(f64::INFINITY, f64::min);
                if !b.is_finite() || a.max(b) == 0.0 {
                    0.0
                } else {
                    (b - a) / a.max(b)
                }
            })
            .collect::<Vec<f64>>()
            .iter()
            .sum();
        total / rows.len() as f64
    }

    #[test]
    fn silhouettes_of_several_clusterings_are_each_bitwise_the_single_one() {
        let mut rng = ChaCha8Rng::seed_from_u64(23);
        let (n, d) = (900, 3);
        let data: Vec<f64> = (0..n * d).map(|_| rng.random_range(0..6) as f64).collect();
        let ks = [1usize, 2, 3, 5, 8];
        let labels: Vec<Vec<u32>> = ks
            .iter()
            .map(|&k| (0..n).map(|_| rng.random_range(0..k as u32)).collect())
            .collect();
        let sample: Vec<usize> = (0..n).filter(|i| i % 3 != 1).collect();
        let clusterings: Vec<(&[u32], usize)> = labels
            .iter()
            .zip(ks)
            .map(|(l, k)| (l.as_slice(), k))
            .collect();
        let all = silhouettes(&data, d, &clusterings, &sample);
        for (q, &(l, k)) in clusterings.iter().enumerate() {
            let one = silhouette_alone(&data, d, l, k, &sample);
            assert_eq!(
                all[q].to_bits(),
                one.to_bits(),
                "k = {k}: {} vs {one}",
                all[q]
            );
        }
        assert_eq!(all[0], 0.0, "one cluster scores 0");
        assert!(all[1] != 0.0);
    }

    #[test]
    fn every_step_kernel_gives_bitwise_the_result_of_the_plain_loop() {
        // The fixed-width and all-centroids-at-once kernels reorder loops, not additions:
        // sums, counts and inertia must be those of step_dyn to the bit, including ties
        // (integer coordinates make equal distances common).
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        for d in [1, 3, 8, 16, 17, 36, 50] {
            for k in [1, 2, 4, 5, 8, 9, 16, 17] {
                let n = 3 * CHUNK + 77;
                let data: Vec<f64> = (0..n * d)
                    .map(|_| rng.random_range(0..5) as f64 * 0.5)
                    .collect();
                let cen: Vec<f64> = (0..k * d).map(|_| rng.random_range(0..5) as f64).collect();
                let want = step_dyn(&data, d, &cen);
                let got = step(&data, d, &cen);
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got.0), bits(&want.0), "sums d = {d}, k = {k}");
                assert_eq!(got.1, want.1, "counts d = {d}, k = {k}");
                assert_eq!(
                    got.2.to_bits(),
                    want.2.to_bits(),
                    "inertia d = {d}, k = {k}"
                );
            }
        }
    }

    #[test]
    fn results_are_bitwise_the_same_on_any_number_of_threads() {
        // Float sums depend on the order of additions: partial sums are per fixed chunk
        // and merged in chunk order, never in the order rayon's work stealing finishes.
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let (n, d) = (20_000, 5);
        let data: Vec<f64> = (0..n * d).map(|_| rng.random::<f64>() * 100.0).collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let c = fit(&data, n, d, &params(6)).unwrap();
                let s = silhouette(&data, d, &c.labels, c.k, &(0..1000).collect::<Vec<_>>());
                (c.centroids, c.labels, c.inertia.to_bits(), s.to_bits())
            })
        };
        let one = run(1);
        for threads in [2, 3, 7] {
            let other = run(threads);
            assert!(
                one.0
                    .iter()
                    .zip(&other.0)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "centroids differ with {threads} threads"
            );
            assert_eq!(one.1, other.1, "labels differ with {threads} threads");
            assert_eq!(one.2, other.2, "inertia differs with {threads} threads");
            assert_eq!(one.3, other.3, "silhouette differs with {threads} threads");
        }
    }

    #[test]
    fn well_separated_blobs_are_recovered_up_to_relabelling() {
        let centres = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]];
        let (data, truth) = blobs(&centres, 200, 1);
        let c = fit(&data, data.len() / 2, 2, &params(4)).unwrap();
        assert_eq!(c.k, 4);
        assert!(c.converged);
        // One-to-one map between found and true clusters.
        let mut map = std::collections::HashMap::new();
        for (l, t) in c.labels.iter().zip(&truth) {
            assert_eq!(*map.entry(*l).or_insert(*t), *t);
        }
        assert_eq!(map.len(), 4);
        // Centroids near the true centres.
        for j in 0..4 {
            let t = centres[map[&(j as u32)]];
            assert!((c.centroids[2 * j] - t[0]).abs() < 0.2);
            assert!((c.centroids[2 * j + 1] - t[1]).abs() < 0.2);
        }
        // Inertia is the sum of squared distances to the centroids.
        let brute: f64 = (0..c.labels.len())
            .map(|i| {
                let l = c.labels[i] as usize;
                sq(&data[2 * i..2 * i + 2], &c.centroids[2 * l..2 * l + 2])
            })
            .sum();
        assert!((brute - c.inertia).abs() < 1e-9 * brute);
        let s = silhouette(&data, 2, &c.labels, c.k, &(0..800).collect::<Vec<_>>());
        assert!(s > 0.85, "silhouette {s}");
    }

    #[test]
    fn same_seed_same_result_and_canonical_numbering() {
        let (data, _) = blobs(&[[0.0, 0.0], [5.0, 5.0], [9.0, 0.0]], 100, 3);
        let a = fit(&data, data.len() / 2, 2, &params(3)).unwrap();
        let b = fit(&data, data.len() / 2, 2, &params(3)).unwrap();
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.centroids, b.centroids);
        let sizes: Vec<usize> = (0..a.k)
            .map(|j| a.labels.iter().filter(|&&l| l as usize == j).count())
            .collect();
        assert!(sizes.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn degenerate_inputs_give_fewer_segments_not_a_panic() {
        // All rows identical.
        let c = fit(&[1.0, 2.0, 1.0, 2.0, 1.0, 2.0], 3, 2, &params(3)).unwrap();
        assert_eq!((c.k, c.labels.clone()), (1, vec![0, 0, 0]));
        assert!(c.notes[0].contains("only 1 distinct"), "{:?}", c.notes);
        // Fewer rows than k.
        let c = fit(&[0.0, 1.0, 5.0], 3, 1, &params(5)).unwrap();
        assert_eq!(c.k, 3);
        assert_eq!(c.inertia, 0.0);
        // No rows.
        assert_eq!(fit(&[], 0, 2, &params(3)).unwrap().k, 0);
        // No features: one segment.
        assert_eq!(fit(&[], 4, 0, &params(3)).unwrap().labels, vec![0; 4]);
        // Bad parameters are errors.
        assert!(fit(&[0.0], 1, 1, &params(0)).is_err());
    }

    #[test]
    fn bounded_lloyd_is_bitwise_the_plain_loop() {
        // Hamerly's bounds only skip distances that cannot change a row's centroid: the
        // centroids and the number of passes must be those of the plain loop to the bit,
        // on continuous data, on integer grids (many exact ties) and with duplicate rows.
        let mut rng = ChaCha8Rng::seed_from_u64(23);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for case in 0..60 {
            let d = [1, 2, 3, 8, 17][case % 5];
            let k = 2 + case % 8;
            let n = [50, 700, 2 * CHUNK + 31][case % 3];
            let data: Vec<f64> = match case % 3 {
                0 => (0..n * d).map(|_| rng.random_range(-10.0..10.0)).collect(),
                1 => (0..n * d).map(|_| rng.random_range(0..4) as f64).collect(),
                _ => {
                    let base: Vec<f64> = (0..20 * d).map(|_| rng.random_range(-3.0..3.0)).collect();
                    (0..n)
                        .flat_map(|i| base[(i % 20) * d..(i % 20 + 1) * d].to_vec())
                        .collect()
                }
            };
            let start = kmeans_plusplus(&data, d, k, case as u64);
            for tolerance in [1e-4, 1e-12] {
                let want = lloyd_plain(&data, d, start.clone(), tolerance, 300);
                let got = lloyd(&data, d, start.clone(), tolerance, 300);
                assert_eq!(got.1, want.1, "case {case}: passes");
                assert_eq!(bits(&got.0), bits(&want.0), "case {case}: centroids");
            }
        }
    }

    #[test]
    fn a_row_on_a_tie_is_never_skipped() {
        // Centroids 0 and 2, a row at 1 labelled 1 with exact bounds: the upper bound
        // equals half the gap and the lower bound. The plain loop gives the tie to the
        // lower index; a skip on `<=` would keep label 1.
        let (data, centroids) = (vec![1.0], vec![0.0, 2.0]);
        let mut rows = vec![Bounds {
            label: 1,
            upper: 1.0,
            lower: 1.0,
        }];
        let half = half_gaps(&centroids, 1);
        assert_eq!(half, vec![1.0, 1.0]);
        let (sums, counts) = bounded_step(&data, 1, &centroids, &half, &[0.0, 0.0], &mut rows);
        let (want_sums, want_counts, _) = step(&data, 1, &centroids);
        assert_eq!(rows[0].label, 0);
        assert_eq!((sums, counts), (want_sums, want_counts));
    }

    #[test]
    fn fused_lloyd_agrees_with_a_textbook_lloyd_from_the_same_start() {
        // The textbook loop: assign every row to its nearest centroid (lowest index on
        // ties), move each non-empty centroid to its rows' mean, stop when the centroids
        // move less than the tolerance. (linfa's loop is not this: it adds the old
        // centroid as one more point of its cluster — "m_k-means" — so it walks a different
        // path to the same kind of fixed point and is compared on whole fits below.)
        fn textbook(data: &[f64], d: usize, mut c: Vec<f64>, tol: f64, max: u64) -> Vec<f64> {
            let k = c.len() / d;
            for _ in 0..max {
                let mut sums = vec![0.0; k * d];
                let mut counts = vec![0usize; k];
                for row in data.chunks(d) {
                    let mut best = 0;
                    for j in 1..k {
                        if sq(row, &c[j * d..(j + 1) * d]) < sq(row, &c[best * d..(best + 1) * d]) {
                            best = j;
                        }
                    }
                    counts[best] += 1;
                    for f in 0..d {
                        sums[best * d + f] += row[f];
                    }
                }
                let old = c.clone();
                for j in 0..k {
                    if counts[j] > 0 {
                        for f in 0..d {
                            c[j * d + f] = sums[j * d + f] / counts[j] as f64;
                        }
                    }
                }
                if sq(&old, &c).sqrt() < tol {
                    break;
                }
            }
            c
        }
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for case in 0..20 {
            let (n, d, k) = (
                rng.random_range(20..300),
                rng.random_range(1..5),
                rng.random_range(2..6),
            );
            let data: Vec<f64> = (0..n * d).map(|_| rng.random_range(-10.0..10.0)).collect();
            let start: Vec<f64> = data[..k * d].to_vec();
            let mut p = params(k);
            p.tolerance = 1e-9;
            let want = textbook(&data, d, start.clone(), p.tolerance, p.max_iterations);
            let (ours, _) = lloyd(&data, d, start, p.tolerance, p.max_iterations);
            for (a, b) in want.iter().zip(&ours) {
                assert!((a - b).abs() < 1e-9, "case {case}: {want:?} vs {ours:?}");
            }
        }
        // And whole fits land on the same inertia on clear blobs.
        let (data, _) = blobs(&[[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]], 100, 9);
        let mut p = params(3);
        let fused = fit(&data, 300, 2, &p).unwrap();
        p.engine = Engine::Linfa;
        let linfa = fit(&data, 300, 2, &p).unwrap();
        assert!((fused.inertia - linfa.inertia).abs() < 1e-9 * linfa.inertia);
    }

    #[test]
    fn silhouette_matches_a_hand_computed_case() {
        // 1-D: cluster 0 = {0, 1}, cluster 1 = {4}.
        // point 0: a = 1, b = 4 → 0.75; point 1: a = 1, b = 3 → 2/3; point 4: alone → 0.
        let s = silhouette(&[0.0, 1.0, 4.0], 1, &[0, 0, 1], 2, &[0, 1, 2]);
        assert!((s - (0.75 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
    }
}
