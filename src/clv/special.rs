//! Special functions the models need, written here so the crate takes no new dependency:
//! `ln Γ` (Lanczos), the digamma function `ψ` (for analytic gradients) and the Gaussian
//! hypergeometric function `₂F₁(a, b; c; z)` for `0 ≤ z < 1`.

/// Lanczos parameter `g` of the approximation below (CPython's `math.lgamma`, 13 terms),
/// written as CPython does (it is exactly representable).
#[allow(clippy::excessive_precision)]
const LANCZOS_G: f64 = 6.024_680_040_776_729_583_740_234_375;

/// Numerator coefficients of the rational Lanczos sum (CPython `mathmodule.c`).
#[allow(clippy::excessive_precision)]
const LANCZOS_NUM: [f64; 13] = [
    23_531_376_880.410_759_688_572_007_674_451_636_754_734_846_804_940,
    42_919_803_642.649_098_768_957_899_047_001_988_850_926_355_848_959,
    35_711_959_237.355_668_049_440_185_451_547_166_705_960_488_635_843,
    17_921_034_426.037_209_699_919_755_754_458_931_112_671_403_265_390,
    6_039_542_586.352_028_005_064_291_644_307_297_921_069_938_842_070_8,
    1_439_720_407.311_721_673_663_223_072_794_912_393_971_548_578_677_2,
    248_874_557.862_054_156_511_460_386_413_229_423_216_321_251_278_01,
    31_426_415.585_400_194_380_614_231_628_318_205_362_874_684_987_640,
    2_876_370.628_935_372_441_225_409_051_620_849_613_599_114_537_876_8,
    186_056.265_395_223_495_040_294_989_716_045_699_282_207_842_363_28,
    8_071.672_002_365_816_210_638_002_902_272_250_613_821_851_632_502_4,
    210.824_277_751_579_345_872_509_733_920_713_362_711_669_695_802_91,
    2.506_628_274_631_000_270_164_908_177_133_837_338_626_431_079_340_8,
];

/// Denominator coefficients: the expanded product `x (x+1) … (x+11)`.
const LANCZOS_DEN: [f64; 13] = [
    0.0,
    39_916_800.0,
    120_543_840.0,
    150_917_976.0,
    105_258_076.0,
    45_995_730.0,
    13_339_535.0,
    2_637_558.0,
    357_423.0,
    32_670.0,
    1_925.0,
    66.0,
    1.0,
];

fn lanczos_sum(x: f64) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    if x < 5.0 {
        for i in (0..13).rev() {
            num = num * x + LANCZOS_NUM[i];
            den = den * x + LANCZOS_DEN[i];
        }
    } else {
        // Evaluate in 1/x so that large x does not overflow.
        for i in 0..13 {
            num = num / x + LANCZOS_NUM[i];
            den = den / x + LANCZOS_DEN[i];
        }
    }
    num / den
}

/// `ln Γ(x)` for `x > 0` (Lanczos approximation, as CPython's `math.lgamma`): absolute error
/// about 1e-15 near the zeros at 1 and 2, relative error about 1e-15 elsewhere. Returns NaN
/// for `x ≤ 0` or NaN, `+∞` for `x = +∞`.
pub fn ln_gamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    if x.is_infinite() {
        return f64::INFINITY;
    }
    if x == 1.0 || x == 2.0 {
        return 0.0;
    }
    if x < 1e-20 {
        return -x.ln();
    }
    let r = lanczos_sum(x).ln() - LANCZOS_G;
    r + (x - 0.5) * ((x + LANCZOS_G - 0.5).ln() - 1.0)
}

/// The digamma function `ψ(x) = d ln Γ(x) / dx` for `x > 0`: the recurrence
/// `ψ(x) = ψ(x + 1) − 1/x` up to `x ≥ 10`, then the asymptotic (Bernoulli) series; error
/// about 1e-15 relative. NaN for `x ≤ 0` or NaN.
pub fn digamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    if x.is_infinite() {
        return f64::INFINITY;
    }
    let mut x = x;
    let mut shift = 0.0;
    while x < 10.0 {
        shift -= 1.0 / x;
        x += 1.0;
    }
    let w = 1.0 / (x * x);
    // Σ B_2k / (2k x^2k), k = 1..7, in Horner form in w = 1/x².
    let series = w
        * (1.0 / 12.0
            - w * (1.0 / 120.0
                - w * (1.0 / 252.0
                    - w * (1.0 / 240.0 - w * (1.0 / 132.0 - w * (691.0 / 32_760.0 - w / 12.0))))));
    shift + x.ln() - 0.5 / x - series
}

/// Most terms a hypergeometric series may take (reached only for `z` within about 1e-6
/// of 1; the partial sum is then returned).
const MAX_TERMS: usize = 10_000_000;

/// `Σ_{n≥1} g_n` with `g_1` given and `g_{n+1} = g_n · (p+n)(q+n) z / ((s+n)(n+1))`, for
/// `0 ≤ z < 1`: the tail of a hypergeometric series. Stops once the remaining terms,
/// bounded by a geometric series with ratio `max(current ratio, z)` (valid once the term
/// ratio is monotone, i.e. past `n > |p| + |q| + |s| + 2`), are below 1e-17 of
/// `max(|sum|, scale)`.
pub(crate) fn series_tail(g1: f64, p: f64, q: f64, s: f64, z: f64, scale: f64) -> f64 {
    let mut sum = 0.0;
    let mut g = g1;
    let monotone_from = (p.abs() + q.abs() + s.abs() + 2.0).min(MAX_TERMS as f64) as usize;
    let eps = 1e-17;
    for n in 1..=MAX_TERMS {
        if g == 0.0 || !g.is_finite() {
            return sum + if g.is_finite() { 0.0 } else { g };
        }
        sum += g;
        let nf = n as f64;
        let ratio = (p + nf) * (q + nf) * z / ((s + nf) * (nf + 1.0));
        g *= ratio;
        if n > monotone_from {
            let rho = ratio.abs().max(z);
            if rho < 1.0 && g.abs() <= eps * (1.0 - rho) * sum.abs().max(scale) {
                return sum + g;
            }
        }
    }
    sum
}

/// The Gaussian hypergeometric function `₂F₁(a, b; c; z)` for `0 ≤ z < 1` and `c` not a
/// non-positive integer. Sums the defining series when `c − a − b ≥ 0`; otherwise sums it
/// after Euler's transformation `₂F₁(a, b; c; z) = (1−z)^(c−a−b) ₂F₁(c−a, c−b; c; z)`, so
/// the terms always decay at least like `n^(−1) zⁿ` (this is the alternative lifetimes uses
/// when scipy's `hyp2f1` overflows). Relative error about 1e-16/(1 − z) (rounding in the
/// term recurrence over the ~37/(1 − z) terms summed), unless the series cancels. NaN
/// outside the domain.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    if !((0.0..1.0).contains(&z) && a.is_finite() && b.is_finite() && c.is_finite()) {
        return f64::NAN;
    }
    if c <= 0.0 && c.fract() == 0.0 {
        return f64::NAN;
    }
    if z == 0.0 {
        return 1.0;
    }
    let e = c - a - b;
    if e >= 0.0 {
        1.0 + series_tail(a * b * z / c, a, b, c, z, 1.0)
    } else {
        let (a2, b2) = (c - a, c - b);
        let f = 1.0 + series_tail(a2 * b2 * z / c, a2, b2, c, z, 1.0);
        f * (e * (-z).ln_1p()).exp()
    }
}
