//! Gamma-Gamma model of the mean spend per repeat purchase (Fader & Hardie, "The
//! Gamma-Gamma Model of Monetary Value", 2013; lifetimes' `GammaGammaFitter`).

use rayon::prelude::*;

use super::special::{digamma, ln_gamma};
use super::{CHUNK, Fit};

/// Gamma-Gamma parameters: spend per transaction ~ Gamma(shape `p`, rate ν) and, across
/// customers, ν ~ Gamma(shape `q`, rate `v`) (`v` in money units).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub v: f64,
}

impl GammaGamma {
    /// One customer's log-likelihood, exactly lifetimes' `_negative_log_likelihood` row
    /// (negated): `lnΓ(px+q) − lnΓ(px) − lnΓ(q) + q ln v + (px−1) ln m + px ln x −
    /// (px+q) ln(x m + v)`, for `x > 0` repeat purchases of mean value `m > 0`.
    pub fn log_likelihood(&self, x: f64, m: f64) -> f64 {
        let Self { p, q, v } = *self;
        ln_gamma(p * x + q) - ln_gamma(p * x) - ln_gamma(q)
            + q * v.ln()
            + (p * x - 1.0) * m.ln()
            + p * x * x.ln()
            - (p * x + q) * (x * m + v).ln()
    }

    /// E[mean spend per transaction | x, m], lifetimes' `conditional_expected_average_profit`
    /// (Fader & Hardie eq. 5): `(1 − w)·p v/(q−1) + w·m` with `w = p x/(p x + q − 1)`,
    /// computed as `p (v + x m)/(p x + q − 1)`. For `x = 0` (m is ignored) this is the
    /// population mean `p v/(q−1)`. When `p x + q ≤ 1` the posterior mean does not exist
    /// (infinite); this returns the observed `m` for `x > 0` and 0 for `x = 0` instead of
    /// lifetimes' negative figure.
    pub fn conditional_expected_value(&self, x: f64, m: f64) -> f64 {
        let Self { p, q, v } = *self;
        let den = p * x + q - 1.0;
        if x > 0.0 {
            if den > 0.0 { p * (v + x * m) / den } else { m }
        } else if den > 0.0 {
            p * v / den
        } else {
            0.0
        }
    }
}

/// Customers grouped by identical `(x, m)`.
struct Groups {
    xs: Vec<f64>,
    n_x: Vec<f64>,
    groups: Vec<Group>,
    /// Σ n ln m and Σ n x ln m (constant in the parameters).
    k0: f64,
    k1: f64,
    customers: usize,
    mean_m: f64,
}

#[derive(Clone, Copy)]
struct Group {
    x: f64,
    xm: f64,
    n: f64,
}

impl Groups {
    fn new(spend: &[(f64, f64)]) -> Self {
        let mut keys: Vec<[u64; 2]> = spend
            .par_iter()
            .filter(|(x, m)| x.is_finite() && *x > 0.0 && m.is_finite() && *m > 0.0)
            .map(|&(x, m)| [x.to_bits(), m.to_bits()])
            .collect();
        keys.par_sort_unstable();
        let customers = keys.len();
        let mut runs: Vec<([u64; 2], f64)> = Vec::new();
        for k in keys {
            match runs.last_mut() {
                Some((last, n)) if *last == k => *n += 1.0,
                _ => runs.push((k, 1.0)),
            }
        }
        let mut xs: Vec<f64> = Vec::new();
        let mut n_x: Vec<f64> = Vec::new();
        let (mut k0, mut k1, mut sum_m) = (0.0, 0.0, 0.0);
        let mut groups = Vec::with_capacity(runs.len());
        for (k, n) in runs {
            let (x, m) = (f64::from_bits(k[0]), f64::from_bits(k[1]));
            if xs.last() != Some(&x) {
                xs.push(x);
                n_x.push(0.0);
            }
            let xi = xs.len() - 1;
            n_x[xi] += n;
            k0 += n * m.ln();
            k1 += n * x * m.ln();
            sum_m += n * m;
            groups.push(Group { x, xm: x * m, n });
        }
        let mean_m = if customers > 0 {
            sum_m / customers as f64
        } else {
            1.0
        };
        Groups {
            xs,
            n_x,
            groups,
            k0,
            k1,
            customers,
            mean_m,
        }
    }

    /// Mean negative log-likelihood per customer at `theta` = ln(p, q, v), and its gradient.
    fn neg_mean_ll(&self, theta: &[f64; 3], grad: &mut [f64; 3]) -> f64 {
        let [p, q, v] = theta.map(f64::exp);
        let n = self.customers as f64;
        let (lg_q, dg_q, ln_v) = (ln_gamma(q), digamma(q), v.ln());
        // Σ_x n_x G_x with G_x = lnΓ(px+q) − lnΓ(px) − lnΓ(q) + px ln x, and derivatives.
        let (mut sg, mut sgp, mut sgq) = (0.0, 0.0, 0.0);
        for (&x, &nx) in self.xs.iter().zip(&self.n_x) {
            let px = p * x;
            let dg_pxq = digamma(px + q);
            sg += nx * (ln_gamma(px + q) - ln_gamma(px) - lg_q + px * x.ln());
            sgp += nx * x * (dg_pxq - digamma(px) + x.ln());
            sgq += nx * (dg_pxq - dg_q);
        }
        let parts: Vec<[f64; 4]> = self
            .groups
            .par_chunks(CHUNK)
            .map(|chunk| {
                let mut s = [0.0; 4];
                for g in chunk {
                    let d = g.xm + v;
                    let l = d.ln();
                    let i = 1.0 / d;
                    s[0] += g.n * l;
                    s[1] += g.n * g.x * l;
                    s[2] += g.n * i;
                    s[3] += g.n * g.x * i;
                }
                s
            })
            .collect();
        let mut s = [0.0; 4];
        for part in &parts {
            for i in 0..4 {
                s[i] += part[i];
            }
        }
        let ll = sg + n * q * ln_v + p * self.k1 - self.k0 - (p * s[1] + q * s[0]);
        let dp = sgp + self.k1 - s[1];
        let dq = sgq + n * ln_v - s[0];
        let dv = n * q / v - (p * s[3] + q * s[2]);
        grad[0] = -dp * p / n;
        grad[1] = -dq * q / n;
        grad[2] = -dv * v / n;
        -ll / n
    }
}

/// Maximum-likelihood Gamma-Gamma fit on `(x, m)` pairs: x repeat purchases, m their mean
/// value. Pairs without `x > 0` and `m > 0` (or not finite) are skipped, as lifetimes asks
/// its callers to; `Fit::customers` counts those used. Starts at p = q = 1 and v = the
/// mean of m (the money scale, so the fit does not depend on the currency unit).
pub fn fit_gamma_gamma(spend: &[(f64, f64)]) -> Fit<GammaGamma> {
    let groups = Groups::new(spend);
    let start = [0.0, 0.0, groups.mean_m.ln()];
    let to_params = |th: &[f64; 3]| GammaGamma {
        p: th[0].exp(),
        q: th[1].exp(),
        v: th[2].exp(),
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
    super::fit_in_box(
        |th, g| groups.neg_mean_ll(th, g),
        start,
        to_params,
        &mut fit,
    );
    fit
}
