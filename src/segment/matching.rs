//! Minimum-cost assignment (the Hungarian algorithm, O(n²·m)), for keeping segment ids
//! from one night to the next.

/// For an n × m cost matrix, the assignment of rows to distinct columns with the least
/// total cost: `result[row] = Some(column)`, `None` for rows left over when n > m.
pub fn min_cost_assignment(cost: &[Vec<f64>]) -> Vec<Option<usize>> {
    let n = cost.len();
    let m = cost.first().map_or(0, Vec::len);
    if n == 0 || m == 0 {
        return vec![None; n];
    }
    if n > m {
        let t: Vec<Vec<f64>> = (0..m)
            .map(|j| (0..n).map(|i| cost[i][j]).collect())
            .collect();
        let cols = min_cost_assignment(&t);
        let mut out = vec![None; n];
        for (j, i) in cols.iter().enumerate() {
            if let Some(i) = i {
                out[*i] = Some(j);
            }
        }
        return out;
    }
    // Potentials formulation (1-indexed), rows ≤ columns.
    let inf = f64::INFINITY;
    let (mut u, mut v) = (vec![0.0; n + 1], vec![0.0; m + 1]);
    let (mut p, mut way) = (vec![0usize; m + 1], vec![0usize; m + 1]);
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![inf; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = inf;
            let mut j1 = 0;
            for j in 1..=m {
                if !used[j] {
                    let cur = cost[i0 - 1][j - 1] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut out = vec![None; n];
    for j in 1..=m {
        if p[j] != 0 {
            out[p[j] - 1] = Some(j - 1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn total(cost: &[Vec<f64>], a: &[Option<usize>]) -> f64 {
        a.iter()
            .enumerate()
            .filter_map(|(i, j)| j.map(|j| cost[i][j]))
            .sum()
    }

    /// Every injective assignment of min(n, m) pairs.
    fn brute(cost: &[Vec<f64>]) -> f64 {
        let (n, m) = (cost.len(), cost[0].len());
        fn go(i: usize, used: &mut Vec<bool>, cost: &[Vec<f64>], left: usize) -> f64 {
            if left == 0 || i == cost.len() {
                return if left == 0 { 0.0 } else { f64::INFINITY };
            }
            let mut best = if cost.len() - i > left {
                go(i + 1, used, cost, left)
            } else {
                f64::INFINITY
            };
            for j in 0..used.len() {
                if !used[j] {
                    used[j] = true;
                    best = best.min(cost[i][j] + go(i + 1, used, cost, left - 1));
                    used[j] = false;
                }
            }
            best
        }
        go(0, &mut vec![false; m], cost, n.min(m))
    }

    #[test]
    fn agrees_with_brute_force_on_random_rectangles() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for _ in 0..300 {
            let (n, m) = (rng.random_range(1..7), rng.random_range(1..7));
            let cost: Vec<Vec<f64>> = (0..n)
                .map(|_| (0..m).map(|_| rng.random_range(0..20) as f64).collect())
                .collect();
            let a = min_cost_assignment(&cost);
            let cols: Vec<usize> = a.iter().flatten().copied().collect();
            assert_eq!(cols.len(), n.min(m));
            let mut dedup = cols.clone();
            dedup.sort_unstable();
            dedup.dedup();
            assert_eq!(dedup.len(), cols.len(), "columns used twice: {a:?}");
            assert_eq!(total(&cost, &a), brute(&cost), "{cost:?} → {a:?}");
        }
    }
}
