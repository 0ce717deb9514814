//! Feature preparation for clustering: missing values, transforms, standardisation.
//!
//! Each feature is read as f64 (nulls and NaN are *missing*), missing values are imputed
//! with the feature's median (of the raw values), then transformed:
//! - `none`: as is;
//! - `zscore`: (x − mean) / standard deviation (population, as scikit-learn's
//!   StandardScaler);
//! - `log1p_zscore`: signed log1p first (sign(x)·ln(1 + |x|), so skewed money and counts
//!   stop dominating and negative values stay defined), then z-score;
//! - `robust` / `log1p_robust`: (x − median) / interquartile range, falling back to the
//!   standard deviation when the IQR is 0.
//!
//! A feature whose spread is 0 (all values equal after imputation) carries no information
//! and would divide by zero: it is dropped, and the caller warns.

use rayon::slice::ParallelSliceMut;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    None,
    Zscore,
    Log1pZscore,
    Robust,
    Log1pRobust,
}

impl Transform {
    pub const NAMES: &'static str = "none, zscore, log1p_zscore, robust, log1p_robust";

    pub fn parse(s: &str) -> Option<Transform> {
        Some(match s {
            "none" => Transform::None,
            "zscore" => Transform::Zscore,
            "log1p_zscore" => Transform::Log1pZscore,
            "robust" => Transform::Robust,
            "log1p_robust" => Transform::Log1pRobust,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Transform::None => "none",
            Transform::Zscore => "zscore",
            Transform::Log1pZscore => "log1p_zscore",
            Transform::Robust => "robust",
            Transform::Log1pRobust => "log1p_robust",
        }
    }

    /// Whether the transform takes signed log1p first.
    pub fn is_log(self) -> bool {
        matches!(self, Transform::Log1pZscore | Transform::Log1pRobust)
    }
}

pub(crate) fn slog1p(x: f64) -> f64 {
    x.signum() * x.abs().ln_1p()
}

fn sexpm1(y: f64) -> f64 {
    y.signum() * y.abs().exp_m1()
}

/// How one feature maps from original units to the clustering space.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureScale {
    pub name: String,
    pub transform: Transform,
    pub center: f64,
    pub spread: f64,
}

impl FeatureScale {
    pub fn apply(&self, x: f64) -> f64 {
        let v = if self.transform.is_log() {
            slog1p(x)
        } else {
            x
        };
        (v - self.center) / self.spread
    }

    pub fn invert(&self, z: f64) -> f64 {
        let v = z * self.spread + self.center;
        if self.transform.is_log() {
            sexpm1(v)
        } else {
            v
        }
    }
}

/// One input feature column.
pub struct Column {
    pub name: String,
    pub transform: Transform,
    pub values: Vec<Option<f64>>,
}

/// Features ready for clustering.
pub struct Prepared {
    /// Row-major n × d, in the clustering space.
    pub data: Vec<f64>,
    pub rows: usize,
    /// The kept features, in order.
    pub scales: Vec<FeatureScale>,
    /// Raw values after imputation, per kept feature (column-major).
    pub raw: Vec<Vec<f64>>,
    /// Per kept feature, the value a missing one takes (the median of the present raw
    /// values): rows outside these (a segment fitted on a sample) are imputed with it.
    pub fills: Vec<f64>,
    /// (feature, values imputed) for every feature.
    pub imputed: Vec<(String, u64)>,
    /// Features dropped for zero spread.
    pub dropped: Vec<String>,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    // Linear interpolation between closest ranks (numpy's default).
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

pub fn prepare(columns: Vec<Column>) -> Prepared {
    let rows = columns.first().map_or(0, |c| c.values.len());
    let mut scales = Vec::new();
    let mut raw = Vec::new();
    let mut fills = Vec::new();
    let mut imputed = Vec::new();
    let mut dropped = Vec::new();
    for c in columns {
        let present: Vec<f64> = c
            .values
            .iter()
            .flatten()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        // The median imputes these rows, and the rows the fit did not see.
        let median = {
            let mut sorted = present.clone();
            sorted.par_sort_unstable_by(f64::total_cmp);
            quantile(&sorted, 0.5)
        };
        let mut missing = 0u64;
        let values: Vec<f64> = c
            .values
            .iter()
            .map(|v| match v {
                Some(x) if x.is_finite() => *x,
                _ => {
                    missing += 1;
                    median
                }
            })
            .collect();
        imputed.push((c.name.clone(), missing));
        let t: Vec<f64> = if c.transform.is_log() {
            values.iter().map(|&x| slog1p(x)).collect()
        } else {
            values.clone()
        };
        let n = t.len().max(1) as f64;
        let mean = t.iter().sum::<f64>() / n;
        let std = (t.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt();
        let (center, spread) = match c.transform {
            Transform::None => (0.0, 1.0),
            Transform::Zscore | Transform::Log1pZscore => (mean, std),
            Transform::Robust | Transform::Log1pRobust => {
                let mut s = t.clone();
                s.par_sort_unstable_by(f64::total_cmp);
                let iqr = quantile(&s, 0.75) - quantile(&s, 0.25);
                (quantile(&s, 0.5), if iqr > 0.0 { iqr } else { std })
            }
        };
        // Spread relative to the values' magnitude, so float noise is not "variance".
        // (NaN-safe: a NaN spread is dropped too.)
        if std.is_nan() || std <= 1e-12 * (1.0 + mean.abs()) || spread.is_nan() || spread <= 0.0 {
            dropped.push(c.name);
            continue;
        }
        scales.push(FeatureScale {
            name: c.name,
            transform: c.transform,
            center,
            spread,
        });
        raw.push(values);
        fills.push(median);
    }
    let d = scales.len();
    let mut data = vec![0.0; rows * d];
    for (j, (s, col)) in scales.iter().zip(&raw).enumerate() {
        for (i, &x) in col.iter().enumerate() {
            data[i * d + j] = s.apply(x);
        }
    }
    Prepared {
        data,
        rows,
        scales,
        raw,
        fills,
        imputed,
        dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, t: Transform, v: &[Option<f64>]) -> Column {
        Column {
            name: name.into(),
            transform: t,
            values: v.to_vec(),
        }
    }

    #[test]
    fn zscore_imputes_with_the_median_and_drops_constant_features() {
        let p = prepare(vec![
            col(
                "a",
                Transform::Zscore,
                &[Some(1.0), None, Some(3.0), Some(10.0)],
            ),
            col(
                "flat",
                Transform::Zscore,
                &[Some(5.0), Some(5.0), None, Some(5.0)],
            ),
        ]);
        assert_eq!(p.dropped, vec!["flat".to_string()]);
        assert_eq!(p.imputed, vec![("a".into(), 1), ("flat".into(), 1)]);
        // a imputed: [1, 3, 3, 10]: mean 4.25, population std sqrt(11.6875).
        let std = 11.6875f64.sqrt();
        assert_eq!(p.raw[0], vec![1.0, 3.0, 3.0, 10.0]);
        for (z, x) in p.data.iter().zip([1.0, 3.0, 3.0, 10.0]) {
            assert!((z - (x - 4.25) / std).abs() < 1e-12);
        }
    }

    #[test]
    fn log1p_and_robust_invert_exactly() {
        let v: Vec<Option<f64>> = [0.0, 1.0, 9.0, 99.0, -3.0]
            .iter()
            .map(|&x| Some(x))
            .collect();
        for t in [
            Transform::Log1pZscore,
            Transform::Robust,
            Transform::Log1pRobust,
        ] {
            let p = prepare(vec![col("x", t, &v)]);
            let s = &p.scales[0];
            for (k, x) in v.iter().enumerate() {
                assert!((s.invert(p.data[k]) - x.unwrap()).abs() < 1e-9, "{t:?}");
            }
        }
        // robust: median 1, IQR = 9 − 0 = 9.
        let p = prepare(vec![col("x", Transform::Robust, &v)]);
        assert_eq!((p.scales[0].center, p.scales[0].spread), (1.0, 9.0));
    }

    #[test]
    fn scaling_a_feature_by_1000_does_not_change_z_scores() {
        let v: Vec<Option<f64>> = (0..50).map(|i| Some((i * i % 17) as f64)).collect();
        let w: Vec<Option<f64>> = v.iter().map(|x| x.map(|x| x * 1000.0)).collect();
        let a = prepare(vec![col("x", Transform::Zscore, &v)]);
        let b = prepare(vec![col("x", Transform::Zscore, &w)]);
        for (x, y) in a.data.iter().zip(&b.data) {
            assert!((x - y).abs() < 1e-9);
        }
    }
}
