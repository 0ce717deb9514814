//! Predicted member value: the BG/NBD purchase model, the Gamma-Gamma spend model and
//! discounted customer lifetime value, following the conventions of the Python `lifetimes`
//! package (0.11) so that figures compare.
//!
//! # Models
//! - **BG/NBD** (Fader, Hardie & Lee 2005, "Counting your customers the easy way"). While
//!   alive, a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after each
//!   *repeat* purchase they drop out for good with probability p ~ Beta(a, b). A customer's
//!   history is [`Customer`]: `x` repeat purchases (whole number), `t_x` the time of the
//!   last one and `t` (T in the literature) the age, both measured from the first purchase.
//!   The log-likelihood is Hardie's numerically stable form
//!   `A1 + A2 + logaddexp(A3, A4)` (lifetimes' `BetaGeoFitter._negative_log_likelihood`,
//!   no penalizer). Predictions: [`BgNbd::p_alive`], [`BgNbd::conditional_expected_purchases`]
//!   and [`BgNbd::expected_purchases`], as lifetimes defines them (P(alive) = 1 when x = 0).
//! - **Gamma-Gamma** (Fader & Hardie): for customers with x > 0, the mean value m of their
//!   repeat purchases; [`GammaGamma::conditional_expected_value`] is lifetimes'
//!   `conditional_expected_average_profit`.
//! - **CLV** ([`clv`], [`score`]): lifetimes' `customer_lifetime_value(..., freq="D")`.
//!
//! # Units
//! Times are in **days** wherever a function says `days` ([`clv`], [`score`]): fit the
//! BG/NBD on day-valued `t_x` and `t`. `α` is then in days. The model itself is unit-free:
//! the fit starts from a point scaled by the data, so fitting in weeks gives the same r, a,
//! b and α/7.
//!
//! # Fitting
//! Customers with identical `(x, t_x, T)` (BG/NBD) or `(x, m)` (Gamma-Gamma) are grouped
//! and weighted by their count; terms depending only on x (the lnΓ and ψ terms) are
//! computed once per distinct x, logs of `α + T` and `α + t_x` once per distinct value. The
//! objective is the mean negative log-likelihood per customer over the log-parameters
//! (all parameters are positive), minimised by BFGS with analytic gradients and a
//! strong-Wolfe line search ([`optim`]), inside the box `start ± 25` in log space.
//! - BG/NBD starts at r = a = b = 1 and α = max(T)/10, the point lifetimes starts from
//!   after scaling time by 10/max(T); Gamma-Gamma at p = q = 1, v = mean of m.
//! - Converged means: the largest gradient component of the mean NLL with respect to the
//!   log-parameters is ≤ 1e-8 ([`optim::GTOL`]), or the line search can no longer lower
//!   the objective (rounding noise) with that gradient ≤ 1e-5 ([`optim::GTOL_NOISE`]).
//! - `converged = false` means the parameters are not a usable maximum: empty input (after
//!   dropping invalid rows), no repeat purchase at all (BG/NBD: the likelihood rises without
//!   bound as r → 0), the iteration limit ([`optim::MAX_ITER`]), a stalled search away from
//!   a stationary point, or a parameter that ran off towards 0 or ∞ (its logarithm moved more
//!   than 16 from the start, i.e. a factor ≈ 9·10⁶, or hit the box). The parameters then are
//!   the starting point or the last iterate; do not predict with them.
//! - The reported [`Fit::log_likelihood`] is the **total** log-likelihood at the optimum, in
//!   the original units (lifetimes reports the mean NLL, `-log_likelihood / customers`, and
//!   for BG/NBD in its scaled time, which differs by `Σx·ln(scale)`).
//! - Invalid rows are skipped, not fatal: for BG/NBD non-finite or negative values, a
//!   fractional x, or `t_x > T` when x > 0 (`t_x` is ignored when x = 0); for Gamma-Gamma
//!   anything but finite x > 0 and m > 0. [`Fit::customers`] counts the rows used.
//!
//! # Determinism
//! Groups are sorted by their bit patterns, so the input order does not matter; sums over
//! groups are taken in fixed chunks of [`CHUNK`] groups whose partial sums are added in
//! order, so the result is bit-identical whatever the rayon thread count.
//!
//! # Numerics
//! `ln Γ`, `ψ` and `₂F₁` are implemented in [`special`] (no dependency). The conditional
//! expectation is evaluated in a cancellation-free form (see `purchases_if_alive`), with the
//! ₂F₁ series summed after Euler's transformation when that converges faster, as lifetimes
//! falls back to when scipy's `hyp2f1` overflows.

mod bgnbd;
pub mod cli;
mod gamma_gamma;
pub mod holdout;
pub mod members;
pub mod optim;
pub mod special;
#[cfg(test)]
mod tests;

use rayon::prelude::*;

pub use bgnbd::{BgNbd, fit_bgnbd};
pub use gamma_gamma::{GammaGamma, fit_gamma_gamma};

/// Groups per chunk of the parallel likelihood sums (fixed, so sums do not depend on the
/// thread count).
pub const CHUNK: usize = 8192;
/// Half-width of the box around the starting point, in log-parameters.
const LOG_BOX: f64 = 25.0;
/// A log-parameter further than this from its start has run off (converged = false).
const RUNOFF: f64 = 16.0;
/// Days per month in CLV discounting (lifetimes' factor for `freq="D"`).
pub const DAYS_PER_MONTH: f64 = 30.0;

/// One customer's purchase history: `x` repeat purchases (purchases after the first), `t_x`
/// the time of the last purchase and `t` (T) the age, both since the first purchase.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Customer {
    pub x: f64,
    pub t_x: f64,
    pub t: f64,
}

/// A maximum-likelihood fit.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fit<P> {
    pub params: P,
    /// Total log-likelihood at `params` over the customers used.
    pub log_likelihood: f64,
    /// Customers (rows) used by the fit.
    pub customers: usize,
    /// BFGS iterations (accepted steps).
    pub iterations: u32,
    /// See the module documentation for what `false` means.
    pub converged: bool,
}

/// Minimise a mean negative log-likelihood over log-parameters inside the box
/// `start ± LOG_BOX` and fill `fit` with the result: parameters, total log-likelihood over
/// `fit.customers`, iterations, and converged — false at the box, after a run-off (a
/// log-parameter more than `RUNOFF` from its start) or a non-finite objective.
fn fit_in_box<const N: usize, P>(
    neg_mean_ll: impl FnMut(&[f64; N], &mut [f64; N]) -> f64,
    start: [f64; N],
    to_params: impl Fn(&[f64; N]) -> P,
    fit: &mut Fit<P>,
) {
    let lower = start.map(|s| s - LOG_BOX);
    let upper = start.map(|s| s + LOG_BOX);
    let out = optim::minimize(neg_mean_ll, start, lower, upper);
    let ran_off = out
        .x
        .iter()
        .zip(&start)
        .any(|(x, s)| (x - s).abs() > RUNOFF);
    fit.params = to_params(&out.x);
    fit.log_likelihood = -out.f * fit.customers as f64;
    fit.iterations = out.iterations;
    fit.converged = out.converged && !out.at_bound && !ran_off && out.f.is_finite();
}

/// Discounted expected purchases over `horizon_days`, for an alive customer: the sum over
/// months i = 1..⌈horizon/30⌉ of (N(tᵢ) − N(tᵢ₋₁)) / (1 + d)^i, tᵢ = min(30 i, horizon).
fn discounted_purchases(bg: &BgNbd, x: f64, big_t: f64, horizon_days: f64, d: f64) -> f64 {
    if horizon_days.is_nan() || horizon_days <= 0.0 {
        return 0.0;
    }
    let months = (horizon_days / DAYS_PER_MONTH).ceil() as i32;
    let (mut prev, mut sum) = (0.0, 0.0);
    for i in 1..=months {
        let t = (DAYS_PER_MONTH * f64::from(i)).min(horizon_days);
        let n = bg.purchases_if_alive(x, big_t, t);
        sum += (n - prev) / (1.0 + d).powi(i);
        prev = n;
    }
    sum
}

/// Customer lifetime value over `horizon_days`, lifetimes' `customer_lifetime_value` with
/// `freq="D"`: Σᵢ (E[purchases by tᵢ] − E[purchases by tᵢ₋₁]) · `value` / (1 + d)^i over
/// months i = 1..⌈horizon/30⌉ with tᵢ = 30 i, except that the last month ends at the horizon
/// when the horizon is not a whole number of 30-day months (365 days: 12 whole months, then
/// a 5-day 13th discounted as month 13). With horizon = 30·k days this is exactly lifetimes
/// with `time = k`. `value` is the expected value per purchase, normally
/// [`GammaGamma::conditional_expected_value`]; `monthly_discount` is lifetimes'
/// `discount_rate`. The customer's times must be in days. 0 for a horizon ≤ 0.
pub fn clv(bg: &BgNbd, value: f64, c: &Customer, horizon_days: f64, monthly_discount: f64) -> f64 {
    value * bg.p_alive(c) * discounted_purchases(bg, c.x, c.t, horizon_days, monthly_discount)
}

/// One customer's predictions from [`score`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Score {
    pub p_alive: f64,
    /// Expected repeat purchases over the horizon.
    pub expected_purchases: f64,
    /// Expected value per purchase (Gamma-Gamma).
    pub expected_value: f64,
    pub clv: f64,
}

/// Batch predictions: for each customer (times in days) and their mean value per repeat
/// purchase (`mean_values[i]`, ignored when x = 0), P(alive), expected purchases over
/// `horizon_days`, the Gamma-Gamma expected value and the CLV over the same horizon. Equal,
/// bit for bit, to calling [`BgNbd::p_alive`], [`BgNbd::conditional_expected_purchases`],
/// [`GammaGamma::conditional_expected_value`] and [`clv`] per customer, but the ₂F₁ series
/// (which depend on `(x, T)` only) are summed once per distinct `(x, T)`, in parallel.
///
/// # Panics
/// If `customers` and `mean_values` differ in length.
pub fn score(
    bg: &BgNbd,
    gg: &GammaGamma,
    customers: &[Customer],
    mean_values: &[f64],
    horizon_days: f64,
    monthly_discount: f64,
) -> Vec<Score> {
    assert_eq!(
        customers.len(),
        mean_values.len(),
        "one mean value per customer"
    );
    let key = |c: &Customer| ((c.x + 0.0).to_bits(), (c.t + 0.0).to_bits());
    let mut keys: Vec<(u64, u64)> = customers.par_iter().map(key).collect();
    keys.par_sort_unstable();
    keys.dedup();
    // Per distinct (x, T): purchases over the horizon if alive, and their discounted sum.
    let per_key: Vec<(f64, f64)> = keys
        .par_iter()
        .with_min_len(64)
        .map(|&(xb, tb)| {
            let (x, big_t) = (f64::from_bits(xb), f64::from_bits(tb));
            (
                bg.purchases_if_alive(x, big_t, horizon_days),
                discounted_purchases(bg, x, big_t, horizon_days, monthly_discount),
            )
        })
        .collect();
    customers
        .par_iter()
        .zip(mean_values.par_iter())
        .with_min_len(1024)
        .map(|(c, &m)| {
            let (n_h, k) = per_key[keys.partition_point(|k| *k < key(c))];
            let p_alive = bg.p_alive(c);
            let expected_value = gg.conditional_expected_value(c.x, m);
            Score {
                p_alive,
                expected_purchases: p_alive * n_h,
                expected_value,
                clv: expected_value * p_alive * k,
            }
        })
        .collect()
}
