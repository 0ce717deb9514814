//! The calibration/holdout check of the BG/NBD model (Fader, Hardie & Lee 2005, fig. 3–4;
//! lifetimes' `plot_calibration_purchases_vs_holdout_purchases`): fit on the calibration
//! period, predict each customer's repeat purchases over the holdout period, and compare
//! with what they did — in total, by number of calibration repeat purchases (0 … 7+) and
//! by decile of the prediction.

use std::fmt::Write as _;

use super::{BgNbd, Customer};

/// One calibration customer: their calibration history and the purchase days they made
/// in the holdout period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observed {
    pub customer: Customer,
    pub holdout_purchases: f64,
}

/// A row of the comparison: a group of customers, their mean prediction and mean actual.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub group: String,
    pub customers: usize,
    pub predicted: f64,
    pub actual: f64,
}

/// The comparison over a holdout of `holdout_days` days.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub holdout_days: f64,
    /// Sums over every customer (not means).
    pub total: Row,
    /// Mean per customer by calibration repeat purchases 0, 1, … 6, 7+.
    pub by_frequency: Vec<Row>,
    /// Mean per customer by decile of the prediction (1 = lowest), ties by input order
    /// after sorting by prediction, so deciles hold ⌊n/10⌋ or ⌈n/10⌉ customers.
    pub by_decile: Vec<Row>,
}

/// Compare the model's predictions with the holdout.
pub fn compare(model: &BgNbd, observed: &[Observed], holdout_days: f64) -> Comparison {
    let predicted: Vec<f64> = observed
        .iter()
        .map(|o| model.conditional_expected_purchases(holdout_days, &o.customer))
        .collect();
    let row = |group: String, idx: &[usize], mean: bool| {
        let n = idx.len();
        let p: f64 = idx.iter().map(|&i| predicted[i]).sum();
        let a: f64 = idx.iter().map(|&i| observed[i].holdout_purchases).sum();
        let d = if mean && n > 0 { n as f64 } else { 1.0 };
        Row {
            group,
            customers: n,
            predicted: p / d,
            actual: a / d,
        }
    };
    let all: Vec<usize> = (0..observed.len()).collect();
    let total = row("all".into(), &all, false);
    let by_frequency = (0..8)
        .map(|k| {
            let idx: Vec<usize> = all
                .iter()
                .copied()
                .filter(|&i| {
                    let x = observed[i].customer.x;
                    if k == 7 { x >= 7.0 } else { x == f64::from(k) }
                })
                .collect();
            let name = if k == 7 {
                "7+".to_string()
            } else {
                k.to_string()
            };
            row(name, &idx, true)
        })
        .collect();
    let mut order = all.clone();
    order.sort_by(|&a, &b| predicted[a].total_cmp(&predicted[b]).then(a.cmp(&b)));
    let n = order.len();
    let by_decile = (0..10)
        .map(|d| {
            let idx = &order[d * n / 10..(d + 1) * n / 10];
            row(format!("decile {}", d + 1), idx, true)
        })
        .collect();
    Comparison {
        holdout_days,
        total,
        by_frequency,
        by_decile,
    }
}

impl std::fmt::Display for Comparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::new();
        let t = &self.total;
        let _ = writeln!(
            s,
            "holdout {} days: {} customers, predicted {:.1} repeat purchase days, actual {:.0} ({:+.1} %)",
            self.holdout_days,
            t.customers,
            t.predicted,
            t.actual,
            if t.actual > 0.0 {
                100.0 * (t.predicted - t.actual) / t.actual
            } else {
                0.0
            }
        );
        for (title, rows) in [
            ("calibration repeat purchases", &self.by_frequency),
            ("decile of predicted purchases", &self.by_decile),
        ] {
            let _ = writeln!(
                s,
                "\n{title:<30} {:>9} {:>10} {:>10}",
                "customers", "predicted", "actual"
            );
            for r in rows.iter() {
                let _ = writeln!(
                    s,
                    "{:<30} {:>9} {:>10.3} {:>10.3}",
                    r.group, r.customers, r.predicted, r.actual
                );
            }
        }
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(x: f64, t_x: f64, t: f64, h: f64) -> Observed {
        Observed {
            customer: Customer { x, t_x, t },
            holdout_purchases: h,
        }
    }

    #[test]
    fn groups_and_means_by_hand() {
        let m = BgNbd {
            r: 0.25,
            alpha: 4.0,
            a: 0.8,
            b: 2.5,
        };
        let o = vec![
            obs(0.0, 0.0, 40.0, 0.0),
            obs(0.0, 0.0, 40.0, 2.0),
            obs(3.0, 30.0, 40.0, 1.0),
            obs(9.0, 39.0, 40.0, 4.0),
        ];
        let c = compare(&m, &o, 10.0);
        let p: Vec<f64> = o
            .iter()
            .map(|o| m.conditional_expected_purchases(10.0, &o.customer))
            .collect();
        assert_eq!(c.total.customers, 4);
        assert!((c.total.predicted - p.iter().sum::<f64>()).abs() < 1e-12);
        assert_eq!(c.total.actual, 7.0);
        // x = 0: two customers, mean actual 1, mean predicted p[0].
        assert_eq!(c.by_frequency[0].customers, 2);
        assert_eq!(c.by_frequency[0].actual, 1.0);
        assert!((c.by_frequency[0].predicted - p[0]).abs() < 1e-12);
        assert_eq!(c.by_frequency[3].customers, 1);
        assert_eq!(c.by_frequency[7].group, "7+");
        assert_eq!(c.by_frequency[7].actual, 4.0);
        assert_eq!(c.by_frequency[1].customers, 0);
        assert_eq!(c.by_frequency[1].actual, 0.0);
        // Deciles of 4 customers: 0,0,1,0,1,0,1,0,1... sizes sum to 4 and the highest
        // decile holds the largest prediction.
        let sizes: usize = c.by_decile.iter().map(|r| r.customers).sum();
        assert_eq!(sizes, 4);
        let top = c.by_decile.last().unwrap();
        let max = p.iter().copied().fold(f64::MIN, f64::max);
        assert!((top.predicted - max).abs() < 1e-12);
        let text = c.to_string();
        assert!(text.contains("holdout 10 days: 4 customers"), "{text}");
        assert!(text.contains("decile 10"), "{text}");
    }
}
