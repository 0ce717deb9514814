//! BG/NBD (Fader, Hardie & Lee 2005): log-likelihood, maximum-likelihood fit over grouped
//! customers, and lifetimes' predictions.

use rayon::prelude::*;

use super::special::{digamma, ln_gamma, series_tail};
use super::{CHUNK, Customer, Fit};

/// Fitted (or given) BG/NBD parameters. `r`, `alpha`: shape and rate of the gamma
/// distribution of purchase rates λ (`alpha` in the time unit of the data, days here);
/// `a`, `b`: the beta distribution of the dropout probability p after each repeat purchase.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

impl BgNbd {
    /// One customer's log-likelihood `A1 + A2 + logaddexp(A3, A4)` (Hardie's numerically
    /// stable form, lifetimes' `BetaGeoFitter._negative_log_likelihood` per row, negated,
    /// without the penalizer). `A4` only counts when `x > 0`.
    pub fn log_likelihood(&self, c: &Customer) -> f64 {
        let Self { r, alpha, a, b } = *self;
        let x = c.x;
        let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
        let a2 = ln_gamma(a + b) + ln_gamma(b + x) - ln_gamma(b) - ln_gamma(a + b + x);
        let a3 = -(r + x) * (alpha + c.t).ln();
        if x > 0.0 {
            let a4 = a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + c.t_x).ln();
            a1 + a2 + log_add_exp(a3, a4)
        } else {
            a1 + a2 + a3
        }
    }

    /// P(alive | x, t_x, T), lifetimes' `conditional_probability_alive`:
    /// `1 / (1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))`; exactly 1 when `x = 0`.
    pub fn p_alive(&self, c: &Customer) -> f64 {
        if c.x == 0.0 {
            return 1.0;
        }
        let Self { r, alpha, a, b } = *self;
        let x = c.x;
        let log_div =
            (r + x) * ((c.t - c.t_x) / (alpha + c.t_x)).ln_1p() + a.ln() - (b + x - 1.0).ln();
        1.0 / (1.0 + log_div.exp())
    }

    /// Expected repeat purchases in `(T, T + t]` given the history, lifetimes'
    /// `conditional_expected_number_of_purchases_up_to_time` (FHL 2005, eq. 10).
    pub fn conditional_expected_purchases(&self, t: f64, c: &Customer) -> f64 {
        self.p_alive(c) * self.purchases_if_alive(c.x, c.t, t)
    }

    /// Expected repeat purchases in `(0, t]` of a new customer, lifetimes'
    /// `expected_number_of_purchases_up_to_time` (eq. 9):
    /// `(a+b−1)/(a−1) · (1 − (α/(α+t))^r ₂F₁(r, b; a+b−1; t/(α+t)))`.
    pub fn expected_purchases(&self, t: f64) -> f64 {
        self.purchases_if_alive(0.0, 0.0, t)
    }

    /// Eq. (10) without its denominator: `(a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x)
    /// ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t))]`, so that the conditional expectation is this times
    /// `p_alive`. It depends on `(x, T, t)` only, not on `t_x`.
    ///
    /// Evaluated without cancellation: with A = r+x, B = b+x, C = a+b+x−1, z = t/(α+T+t) and
    /// L = ln(1−z), when C−A−B = a−1−r−x < 0 (the usual case) Euler's transformation gives
    /// `C·(1−e^{(a−1)L})/(a−1) − (1−z)^{a−1} Σ_{n≥1} (C−A)ₙ (a)ₙ₋₁ zⁿ / ((C+1)ₙ₋₁ n!)`,
    /// finite and accurate through a = 1 and small t; otherwise (a ≥ 1+r+x > 1) the direct
    /// series `C/(a−1)·[−expm1(A L) − (1−z)^A Σ_{n≥1} (A)ₙ(B)ₙ zⁿ/((C)ₙ n!)]`.
    pub(crate) fn purchases_if_alive(&self, x: f64, big_t: f64, t: f64) -> f64 {
        if t.is_nan() || t <= 0.0 {
            return 0.0;
        }
        let Self { r, alpha, a, b } = *self;
        let ca = r + x;
        let cb = b + x;
        let cc = a + b + x - 1.0;
        let z = t / (alpha + big_t + t);
        let l = -(t / (alpha + big_t)).ln_1p(); // ln(1 − z)
        let am1 = a - 1.0;
        if cc - ca - cb < 0.0 {
            let e1 = if am1 == 0.0 {
                -l
            } else {
                -(am1 * l).exp_m1() / am1
            };
            let w = (am1 * l).exp(); // (1 − z)^(a−1)
            let head = cc * e1;
            let scale = if w > 0.0 {
                (head / w).abs()
            } else {
                head.abs()
            };
            let g = series_tail((cc - ca) * z, cc - ca, am1, cc, z, scale);
            head - w * g
        } else {
            let w = (ca * l).exp(); // (1 − z)^A
            let head = -(ca * l).exp_m1();
            let scale = if w > 0.0 {
                (head / w).abs()
            } else {
                head.abs()
            };
            let h = series_tail(ca * cb * z / cc, ca, cb, cc, z, scale);
            cc / am1 * (head - w * h)
        }
    }
}

fn log_add_exp(u: f64, w: f64) -> f64 {
    let m = u.max(w);
    m + (-(u - w).abs()).exp().ln_1p()
}

/// Customers grouped by identical `(x, t_x, T)`, sorted, with tables of the distinct values.
struct Groups {
    /// Distinct x, ascending.
    xs: Vec<f64>,
    /// Customers per distinct x.
    n_x: Vec<f64>,
    /// Distinct T and distinct t_x (of groups with x > 0), ascending.
    ts: Vec<f64>,
    txs: Vec<f64>,
    groups: Vec<Group>,
    customers: usize,
    any_repeat: bool,
    max_t: f64,
}

#[derive(Clone, Copy)]
struct Group {
    xi: u32,
    ti: u32,
    txi: u32,
    n: f64,
}

fn valid(c: &Customer) -> bool {
    let whole = c.x.is_finite() && c.x >= 0.0 && c.x.fract() == 0.0;
    let age = c.t.is_finite() && c.t >= 0.0;
    whole && age && (c.x == 0.0 || (c.t_x.is_finite() && c.t_x >= 0.0 && c.t_x <= c.t))
}

fn index_of(values: &[f64], v: f64) -> u32 {
    values.partition_point(|&u| u < v) as u32
}

fn distinct(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_unstable_by(f64::total_cmp);
    v.dedup();
    v
}

impl Groups {
    fn new(customers: &[Customer]) -> Self {
        // Bit patterns of non-negative floats sort like the numbers (+0.0 normalises −0.0).
        let mut keys: Vec<[u64; 3]> = customers
            .par_iter()
            .filter(|c| valid(c))
            .map(|c| {
                let tx = if c.x > 0.0 { c.t_x + 0.0 } else { 0.0 };
                [(c.x + 0.0).to_bits(), tx.to_bits(), (c.t + 0.0).to_bits()]
            })
            .collect();
        keys.par_sort_unstable();
        let count = keys.len();
        let mut runs: Vec<([u64; 3], f64)> = Vec::new();
        for k in keys {
            match runs.last_mut() {
                Some((last, n)) if *last == k => *n += 1.0,
                _ => runs.push((k, 1.0)),
            }
        }
        let xs = distinct(runs.iter().map(|(k, _)| f64::from_bits(k[0])).collect());
        let ts = distinct(runs.iter().map(|(k, _)| f64::from_bits(k[2])).collect());
        let txs = distinct(
            runs.iter()
                .filter(|(k, _)| k[0] != 0)
                .map(|(k, _)| f64::from_bits(k[1]))
                .collect(),
        );
        let mut n_x = vec![0.0; xs.len()];
        let groups: Vec<Group> = runs
            .iter()
            .map(|&(k, n)| {
                let (x, tx, t) = (
                    f64::from_bits(k[0]),
                    f64::from_bits(k[1]),
                    f64::from_bits(k[2]),
                );
                let xi = index_of(&xs, x);
                n_x[xi as usize] += n;
                Group {
                    xi,
                    ti: index_of(&ts, t),
                    txi: if x > 0.0 { index_of(&txs, tx) } else { 0 },
                    n,
                }
            })
            .collect();
        Groups {
            any_repeat: xs.last().is_some_and(|&x| x > 0.0),
            max_t: ts.last().copied().unwrap_or(0.0),
            xs,
            n_x,
            ts,
            txs,
            groups,
            customers: count,
        }
    }

    /// Mean negative log-likelihood per customer at log-parameters `theta` = ln(r, α, a, b),
    /// and its gradient with respect to `theta`.
    fn neg_mean_ll(&self, theta: &[f64; 4], grad: &mut [f64; 4]) -> f64 {
        let [r, alpha, a, b] = theta.map(f64::exp);
        let ln_alpha = alpha.ln();
        let table = |v: &Vec<f64>| -> Vec<(f64, f64)> {
            v.par_iter()
                .with_min_len(4096)
                .map(|&t| ((alpha + t).ln(), 1.0 / (alpha + t)))
                .collect()
        };
        let lt = table(&self.ts);
        let ltx = table(&self.txs);
        // Terms depending on x only, once per distinct x.
        let (lg_r, lg_b, lg_ab) = (ln_gamma(r), ln_gamma(b), ln_gamma(a + b));
        let (dg_r, dg_b, dg_ab) = (digamma(r), digamma(b), digamma(a + b));
        let mut per_x = Vec::with_capacity(self.xs.len());
        let mut ll = 0.0;
        let mut d = [0.0; 4]; // ∂LL/∂(r, α, a, b)
        for (&x, &n) in self.xs.iter().zip(&self.n_x) {
            let a1 = ln_gamma(r + x) - lg_r + r * ln_alpha;
            let a2 = lg_ab + ln_gamma(b + x) - lg_b - ln_gamma(a + b + x);
            ll += n * (a1 + a2);
            let dg_abx = digamma(a + b + x);
            d[0] += n * (digamma(r + x) - dg_r + ln_alpha);
            d[1] += n * r / alpha;
            d[2] += n * (dg_ab - dg_abx);
            d[3] += n * (dg_ab + digamma(b + x) - dg_b - dg_abx);
            // (r + x, ln a − ln(b+x−1), 1/(b+x−1))
            let bx1 = b + x - 1.0;
            per_x.push((
                r + x,
                if x > 0.0 { a.ln() - bx1.ln() } else { 0.0 },
                1.0 / bx1,
                x > 0.0,
            ));
        }
        // logaddexp(A3, A4) per group, in fixed chunks summed in order (deterministic).
        let parts: Vec<[f64; 5]> = self
            .groups
            .par_chunks(CHUNK)
            .map(|chunk| {
                let mut s = [0.0; 5];
                for g in chunk {
                    let (k, c4, inv_bx1, repeat) = per_x[g.xi as usize];
                    let (l_t, i_t) = lt[g.ti as usize];
                    let u = -k * l_t;
                    if !repeat {
                        s[0] += g.n * u;
                        s[1] += g.n * l_t;
                        s[2] += g.n * k * i_t;
                        continue;
                    }
                    let (l_tx, i_tx) = ltx[g.txi as usize];
                    let w = c4 - k * l_tx;
                    let e = (-(u - w).abs()).exp();
                    let lse = u.max(w) + e.ln_1p();
                    // s4 = P(the A4 branch) = e^{w−L}, s3 = 1 − s4.
                    let s4 = if w > u {
                        1.0 / (1.0 + e)
                    } else {
                        e / (1.0 + e)
                    };
                    let s3 = 1.0 - s4;
                    s[0] += g.n * lse;
                    s[1] += g.n * (s3 * l_t + s4 * l_tx);
                    s[2] += g.n * k * (s3 * i_t + s4 * i_tx);
                    s[3] += g.n * s4;
                    s[4] += g.n * s4 * inv_bx1;
                }
                s
            })
            .collect();
        let mut s = [0.0; 5];
        for p in &parts {
            for i in 0..5 {
                s[i] += p[i];
            }
        }
        ll += s[0];
        d[0] -= s[1];
        d[1] -= s[2];
        d[2] += s[3] / a;
        d[3] -= s[4];
        let n = self.customers as f64;
        let params = [r, alpha, a, b];
        for i in 0..4 {
            grad[i] = -d[i] * params[i] / n;
        }
        -ll / n
    }
}

/// Maximum-likelihood BG/NBD fit (see the module documentation of [`crate::clv`]).
pub fn fit_bgnbd(customers: &[Customer]) -> Fit<BgNbd> {
    let groups = Groups::new(customers);
    // lifetimes fits in time scaled by 10 / max(T) from log-parameters near 0; starting
    // at α = max(T)/10 in the original unit is the same point (BFGS in log space is
    // invariant to the shift), and makes the fit independent of the time unit.
    let alpha0 = if groups.max_t > 0.0 {
        groups.max_t / 10.0
    } else {
        1.0
    };
    let start = [0.0, alpha0.ln(), 0.0, 0.0];
    let to_params = |th: &[f64; 4]| BgNbd {
        r: th[0].exp(),
        alpha: th[1].exp(),
        a: th[2].exp(),
        b: th[3].exp(),
    };
    let mut fit = Fit {
        params: to_params(&start),
        log_likelihood: 0.0,
        customers: groups.customers,
        iterations: 0,
        converged: false,
    };
    if groups.customers == 0 {
        return fit;
    }
    let n = groups.customers as f64;
    let mut grad = [0.0; 4];
    if !groups.any_repeat {
        // No repeat purchase at all: the likelihood grows without bound as r → 0 and says
        // nothing about a, b. Report the starting point, not converged.
        fit.log_likelihood = -groups.neg_mean_ll(&start, &mut grad) * n;
        return fit;
    }
    super::fit_in_box(
        |th, g| groups.neg_mean_ll(th, g),
        start,
        to_params,
        &mut fit,
    );
    fit
}
