//! A small, deterministic quasi-Newton minimiser: BFGS on the inverse Hessian with a
//! strong-Wolfe line search (Nocedal & Wright, Algorithms 3.5, 3.6 and 6.1), inside a box.
//!
//! The models minimise the mean negative log-likelihood per customer over log-parameters,
//! so the objective and its gradient are O(1) whatever the number of customers, and the
//! tolerances below are absolute.
//!
//! Convergence test (`converged = true`): the largest gradient component is at most
//! [`GTOL`]; or the line search cannot lower the objective any more (it sits on rounding
//! noise) while the largest gradient component is already at most [`GTOL_NOISE`]. Anything
//! else (iteration limit, a non-finite objective at the start, a stalled search far from a
//! stationary point, a step that runs into the box) ends with `converged = false`.

/// Gradient tolerance on `max |∂f/∂θᵢ|` (θ = log-parameters, f = mean NLL per customer).
pub const GTOL: f64 = 1e-8;
/// Looser gradient tolerance accepted when the line search can make no further progress.
pub const GTOL_NOISE: f64 = 1e-5;
/// Most BFGS iterations (accepted steps).
pub const MAX_ITER: u32 = 500;
/// Largest change of any log-parameter in one step (a factor e³ ≈ 20 in the parameter).
const MAX_STEP: f64 = 3.0;
/// Armijo (sufficient decrease) constant.
const C1: f64 = 1e-4;
/// Curvature constant of the strong Wolfe conditions.
const C2: f64 = 0.9;

/// What [`minimize`] returns.
#[derive(Debug, Clone, Copy)]
pub struct Outcome<const N: usize> {
    /// Final point (log-parameters).
    pub x: [f64; N],
    /// Objective at `x`.
    pub f: f64,
    /// Accepted BFGS steps.
    pub iterations: u32,
    /// See the module documentation.
    pub converged: bool,
    /// True when the search stopped against the box.
    pub at_bound: bool,
}

fn dot<const N: usize>(a: &[f64; N], b: &[f64; N]) -> f64 {
    let mut s = 0.0;
    for i in 0..N {
        s += a[i] * b[i];
    }
    s
}

fn max_abs<const N: usize>(a: &[f64; N]) -> f64 {
    a.iter().fold(0.0_f64, |m, v| m.max(v.abs()))
}

fn identity<const N: usize>() -> [[f64; N]; N] {
    let mut h = [[0.0; N]; N];
    for (i, row) in h.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    h
}

/// Evaluations of the objective at trial points, with its gradient.
struct Trial<const N: usize> {
    a: f64,
    f: f64,
    g: [f64; N],
    dg: f64,
}

/// Minimises `fg` (which returns f and writes the gradient) from `x0` inside the box
/// `[lower, upper]` (per coordinate). Deterministic: the same inputs take the same path.
pub fn minimize<const N: usize, F>(
    mut fg: F,
    x0: [f64; N],
    lower: [f64; N],
    upper: [f64; N],
) -> Outcome<N>
where
    F: FnMut(&[f64; N], &mut [f64; N]) -> f64,
{
    let mut x = x0;
    let mut g = [0.0; N];
    let mut f = fg(&x, &mut g);
    let mut out = Outcome {
        x,
        f,
        iterations: 0,
        converged: false,
        at_bound: false,
    };
    if !f.is_finite() || g.iter().any(|v| !v.is_finite()) {
        return out;
    }
    let mut h = identity::<N>();
    let mut fresh = true; // h is the (unscaled) identity
    while out.iterations < MAX_ITER {
        if max_abs(&g) <= GTOL {
            out.converged = true;
            break;
        }
        // d = -H g
        let mut d = [0.0; N];
        for i in 0..N {
            d[i] = -dot(&h[i], &g);
        }
        if dot(&d, &g) >= 0.0 || d.iter().any(|v| !v.is_finite()) {
            h = identity::<N>();
            fresh = true;
            for i in 0..N {
                d[i] = -g[i];
            }
        }
        // Longest step that stays in the box.
        let mut a_max = f64::INFINITY;
        for i in 0..N {
            if d[i] > 0.0 {
                a_max = a_max.min((upper[i] - x[i]) / d[i]);
            } else if d[i] < 0.0 {
                a_max = a_max.min((lower[i] - x[i]) / d[i]);
            }
        }
        if a_max <= 0.0 {
            out.at_bound = true;
            break;
        }
        let a0 = 1.0_f64.min(MAX_STEP / max_abs(&d)).min(a_max);
        let trial = line_search(&mut fg, &x, f, &g, &d, a0, a_max);
        let Some(t) = trial else {
            if !fresh {
                // Retry once along steepest descent before giving up.
                h = identity::<N>();
                fresh = true;
                continue;
            }
            out.converged = max_abs(&g) <= GTOL_NOISE;
            break;
        };
        let mut s = [0.0; N];
        let mut x_new = x;
        for i in 0..N {
            x_new[i] = (x[i] + t.a * d[i]).clamp(lower[i], upper[i]);
            s[i] = x_new[i] - x[i];
        }
        let mut y = [0.0; N];
        for i in 0..N {
            y[i] = t.g[i] - g[i];
        }
        let sy = dot(&s, &y);
        let yy = dot(&y, &y);
        if sy > 1e-12 * dot(&s, &s).sqrt() * yy.sqrt() && sy > 0.0 {
            if fresh {
                // Nocedal & Wright (6.20): scale the initial inverse Hessian.
                let scale = sy / yy;
                for (i, row) in h.iter_mut().enumerate() {
                    row[i] = scale;
                }
                fresh = false;
            }
            // H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ
            let rho = 1.0 / sy;
            let mut hy = [0.0; N];
            for i in 0..N {
                hy[i] = dot(&h[i], &y);
            }
            let yhy = dot(&y, &hy);
            for i in 0..N {
                for j in 0..N {
                    h[i][j] += -rho * (hy[i] * s[j] + s[i] * hy[j])
                        + (rho * rho * yhy + rho) * s[i] * s[j];
                }
            }
        }
        let stalled = (f - t.f).abs() <= 4.0 * f64::EPSILON * f.abs().max(1.0);
        x = x_new;
        f = t.f;
        g = t.g;
        out.iterations += 1;
        let touches = (0..N).any(|i| x[i] <= lower[i] || x[i] >= upper[i]);
        if touches {
            out.at_bound = true;
            break;
        }
        if stalled && max_abs(&g) <= GTOL_NOISE {
            out.converged = true;
            break;
        }
    }
    out.x = x;
    out.f = f;
    out
}

fn eval<const N: usize, F>(fg: &mut F, x: &[f64; N], d: &[f64; N], a: f64) -> Trial<N>
where
    F: FnMut(&[f64; N], &mut [f64; N]) -> f64,
{
    let mut xa = *x;
    for i in 0..N {
        xa[i] += a * d[i];
    }
    let mut g = [0.0; N];
    let mut f = fg(&xa, &mut g);
    if !f.is_finite() || g.iter().any(|v| !v.is_finite()) {
        f = f64::INFINITY;
    }
    let dg = dot(&g, d);
    Trial { a, f, g, dg }
}

/// Strong-Wolfe line search along `d` from `x` (Nocedal & Wright, Algorithm 3.5). Returns
/// `None` when no step lowers the objective.
fn line_search<const N: usize, F>(
    fg: &mut F,
    x: &[f64; N],
    f0: f64,
    g0: &[f64; N],
    d: &[f64; N],
    a0: f64,
    a_max: f64,
) -> Option<Trial<N>>
where
    F: FnMut(&[f64; N], &mut [f64; N]) -> f64,
{
    let dg0 = dot(g0, d);
    let mut prev = Trial {
        a: 0.0,
        f: f0,
        g: *g0,
        dg: dg0,
    };
    let mut a = a0;
    for i in 0..40 {
        let t = eval(fg, x, d, a);
        if t.f > f0 + C1 * a * dg0 || (i > 0 && t.f >= prev.f) {
            return zoom(fg, x, f0, dg0, d, prev, t);
        }
        if t.dg.abs() <= -C2 * dg0 {
            return Some(t);
        }
        if t.dg >= 0.0 {
            return zoom(fg, x, f0, dg0, d, t, prev);
        }
        if a >= a_max {
            return Some(t); // sufficient decrease at the box edge
        }
        a = (2.0 * a).min(a_max);
        prev = t;
    }
    (prev.a > 0.0).then_some(prev)
}

/// Algorithm 3.6: `lo` satisfies sufficient decrease and has the lowest f seen; the
/// minimiser lies between `lo` and `hi`. Trial steps by safeguarded cubic interpolation.
fn zoom<const N: usize, F>(
    fg: &mut F,
    x: &[f64; N],
    f0: f64,
    dg0: f64,
    d: &[f64; N],
    mut lo: Trial<N>,
    mut hi: Trial<N>,
) -> Option<Trial<N>>
where
    F: FnMut(&[f64; N], &mut [f64; N]) -> f64,
{
    for _ in 0..60 {
        let width = hi.a - lo.a;
        if width.abs() <= 1e-14 * lo.a.abs().max(hi.a.abs()) {
            break;
        }
        let a = interpolate(&lo, &hi);
        let t = eval(fg, x, d, a);
        if t.f > f0 + C1 * a * dg0 || t.f >= lo.f {
            hi = t;
        } else {
            if t.dg.abs() <= -C2 * dg0 {
                return Some(t);
            }
            if t.dg * (hi.a - lo.a) >= 0.0 {
                hi = lo;
            }
            lo = t;
        }
    }
    (lo.a > 0.0 && lo.f < f0).then_some(lo)
}

/// Minimiser of the cubic through (a, f, f') at both ends, kept inside the middle 80 % of
/// the interval; bisection when the cubic is unusable (non-finite values, no minimum).
fn interpolate<const N: usize>(lo: &Trial<N>, hi: &Trial<N>) -> f64 {
    let (a1, a2) = (lo.a, hi.a);
    let mid = 0.5 * (a1 + a2);
    let (left, right) = (a1.min(a2), a1.max(a2));
    let margin = 0.1 * (right - left);
    if !(lo.f.is_finite() && hi.f.is_finite()) {
        return mid;
    }
    let d1 = lo.dg + hi.dg - 3.0 * (lo.f - hi.f) / (a1 - a2);
    let disc = d1 * d1 - lo.dg * hi.dg;
    if disc.is_nan() || disc < 0.0 {
        return mid;
    }
    let d2 = (a2 - a1).signum() * disc.sqrt();
    let a = a2 - (a2 - a1) * (hi.dg + d2 - d1) / (hi.dg - lo.dg + 2.0 * d2);
    if a.is_finite() {
        a.clamp(left + margin, right - margin)
    } else {
        mid
    }
}
