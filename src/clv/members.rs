//! The nightly member value: both models fitted on tonight's buyers, every buyer scored,
//! banded and flagged — the pure half of the `value` step (`docs/value.md`), kept apart
//! from tables so it can be tested by hand.
//!
//! A night has a model only when there are at least `min_repeat_buyers` members with a
//! repeat purchase and the BG/NBD fit converged. Without one, every prediction is null
//! (never a number from an unusable fit) and [`NightlyValue::no_model`] says why. The
//! Gamma-Gamma model is fitted on the repeat buyers with a positive repeat value; when it
//! cannot be used, P(alive) and expected orders stay and the money columns are null.

use super::{BgNbd, Customer, Fit, GammaGamma, fit_bgnbd, fit_gamma_gamma, score};

/// One buyer's purchase history in days (from `member_purchase_days`).
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    pub member_id: String,
    /// Repeat purchase days (x).
    pub repeat_purchases: i64,
    /// Last purchase day − first purchase day (t_x).
    pub recency_days_model: i64,
    /// (as_of − 1 day) − first purchase day (T).
    pub age_days: i64,
    /// Mean paid amount per repeat purchase day; `None` without a repeat purchase.
    pub repeat_value: Option<f64>,
}

/// The settings of a night's value model (job params and step settings).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValueSettings {
    /// Expected orders and CLV cover this many days.
    pub horizon_days: f64,
    /// CLV is discounted monthly at (1 + this)^(1/12) − 1.
    pub discount_rate_annual: f64,
    /// Fewer repeat buyers than this: no model tonight.
    pub min_repeat_buyers: usize,
    /// Share of scored buyers, ranked by expected orders, flagged high potential.
    pub high_potential_share: f64,
    /// Share of scored buyers, ranked by CLV, in the `high` value band.
    pub band_high_share: f64,
    /// Share after the high band in the `medium` band; the rest is `low`.
    pub band_medium_share: f64,
}

impl ValueSettings {
    /// The monthly discount rate equivalent to the annual one.
    pub fn monthly_discount(&self) -> f64 {
        monthly_rate(self.discount_rate_annual)
    }
}

/// The monthly rate equivalent to an annual one: (1 + annual)^(1/12) − 1.
pub fn monthly_rate(annual: f64) -> f64 {
    (1.0 + annual).powf(1.0 / 12.0) - 1.0
}

/// A value band: its code and its label (Chinese and English).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Band {
    High,
    Medium,
    Low,
}

impl Band {
    pub fn code(self) -> &'static str {
        match self {
            Band::High => "high",
            Band::Medium => "medium",
            Band::Low => "low",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Band::High => "高价值 high value",
            Band::Medium => "中价值 medium value",
            Band::Low => "低价值 low value",
        }
    }
}

/// One buyer's predictions; every field is `None` on a night without a model.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MemberValue {
    pub p_alive: Option<f64>,
    pub expected_orders: Option<f64>,
    pub expected_order_value: Option<f64>,
    pub clv: Option<f64>,
    pub value_band: Option<Band>,
    pub high_potential: Option<bool>,
}

/// The night's models and one [`MemberValue`] per input history, in input order.
#[derive(Debug, Clone, PartialEq)]
pub struct NightlyValue {
    /// `None` when the BG/NBD was not fitted (too few repeat buyers).
    pub bgnbd: Option<Fit<BgNbd>>,
    /// `None` when the Gamma-Gamma was not fitted.
    pub gamma_gamma: Option<Fit<GammaGamma>>,
    /// Why there are no predictions tonight, or why the money columns are null.
    pub notes: Vec<String>,
    /// True when P(alive) and expected orders were predicted.
    pub predicted: bool,
    pub members: Vec<MemberValue>,
}

/// Fit both models on `histories` and score every one of them.
pub fn nightly_value(histories: &[History], s: &ValueSettings) -> NightlyValue {
    let customers: Vec<Customer> = histories
        .iter()
        .map(|h| Customer {
            x: h.repeat_purchases as f64,
            t_x: h.recency_days_model as f64,
            t: h.age_days as f64,
        })
        .collect();
    let repeat_buyers = histories.iter().filter(|h| h.repeat_purchases > 0).count();
    let mut out = NightlyValue {
        bgnbd: None,
        gamma_gamma: None,
        notes: Vec::new(),
        predicted: false,
        members: vec![MemberValue::default(); histories.len()],
    };
    if repeat_buyers < s.min_repeat_buyers.max(1) {
        out.notes.push(format!(
            "no value model tonight: {repeat_buyers} members with a repeat purchase, fewer than \
             clv_min_repeat_buyers = {}; p_alive, expected_orders and clv are null",
            s.min_repeat_buyers
        ));
        return out;
    }
    let bg = fit_bgnbd(&customers);
    out.bgnbd = Some(bg);
    if !bg.converged {
        out.notes.push(format!(
            "no value model tonight: the BG/NBD fit did not converge after {} iterations; \
             p_alive, expected_orders and clv are null",
            bg.iterations
        ));
        return out;
    }
    let spend: Vec<(f64, f64)> = histories
        .iter()
        .filter_map(|h| Some((h.repeat_purchases as f64, h.repeat_value?)))
        .collect();
    let gg = fit_gamma_gamma(&spend);
    out.gamma_gamma = Some(gg);
    if !gg.converged {
        out.notes.push(format!(
            "the Gamma-Gamma spend model did not converge ({} members, {} iterations); \
             expected_order_value and clv are null tonight",
            gg.customers, gg.iterations
        ));
    }
    let values: Vec<f64> = histories
        .iter()
        .map(|h| h.repeat_value.unwrap_or(0.0))
        .collect();
    let scores = score(
        &bg.params,
        &gg.params,
        &customers,
        &values,
        s.horizon_days,
        s.monthly_discount(),
    );
    out.predicted = true;
    for (m, sc) in out.members.iter_mut().zip(&scores) {
        m.p_alive = Some(sc.p_alive);
        m.expected_orders = Some(sc.expected_purchases);
        if gg.converged {
            m.expected_order_value = Some(sc.expected_value);
            m.clv = Some(sc.clv);
        }
    }
    let ids: Vec<&str> = histories.iter().map(|h| h.member_id.as_str()).collect();
    // High potential: the top share by expected orders, ties by member id.
    let by_orders = ranking(&ids, |i| out.members[i].expected_orders);
    let top = share_count(by_orders.len(), s.high_potential_share);
    for (rank, &i) in by_orders.iter().enumerate() {
        out.members[i].high_potential = Some(rank < top);
    }
    // Value bands by CLV, when there is one.
    let by_clv = ranking(&ids, |i| out.members[i].clv);
    let high = share_count(by_clv.len(), s.band_high_share);
    let medium = share_count(by_clv.len(), s.band_high_share + s.band_medium_share);
    for (rank, &i) in by_clv.iter().enumerate() {
        out.members[i].value_band = Some(if rank < high {
            Band::High
        } else if rank < medium {
            Band::Medium
        } else {
            Band::Low
        });
    }
    out
}

/// The indices with a value, highest value first, ties by member id (ascending).
fn ranking(ids: &[&str], value: impl Fn(usize) -> Option<f64>) -> Vec<usize> {
    let mut ranked: Vec<(f64, usize)> = (0..ids.len())
        .filter_map(|i| value(i).map(|v| (v, i)))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| ids[a.1].cmp(ids[b.1])));
    ranked.into_iter().map(|(_, i)| i).collect()
}

/// How many of `n` ranked members are in the top `share`: ⌊share · n⌋ (a member is in
/// when its 1-based rank is at most share · n), computed with a small tolerance so that
/// 0.2 × 10 is 2.
fn share_count(n: usize, share: f64) -> usize {
    ((share.clamp(0.0, 1.0) * n as f64) + 1e-9).floor() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ValueSettings {
        ValueSettings {
            horizon_days: 365.0,
            discount_rate_annual: 0.1,
            min_repeat_buyers: 3,
            high_potential_share: 0.2,
            band_high_share: 0.2,
            band_medium_share: 0.3,
        }
    }

    fn h(id: &str, x: i64, t_x: i64, t: i64, m: Option<f64>) -> History {
        History {
            member_id: id.into(),
            repeat_purchases: x,
            recency_days_model: t_x,
            age_days: t,
            repeat_value: m,
        }
    }

    #[test]
    fn monthly_discount_compounds_to_the_annual_rate() {
        let d = settings().monthly_discount();
        assert!(((1.0 + d).powi(12) - 1.1).abs() < 1e-12, "{d}");
    }

    #[test]
    fn share_counts_by_hand() {
        assert_eq!(share_count(10, 0.2), 2);
        assert_eq!(share_count(10, 0.5), 5);
        assert_eq!(share_count(9, 0.2), 1); // 1.8 → 1
        assert_eq!(share_count(3, 0.0), 0);
        assert_eq!(share_count(3, 1.0), 3);
    }

    #[test]
    fn too_few_repeat_buyers_means_no_model_and_null_columns() {
        let hs = vec![
            h("a", 0, 0, 100, None),
            h("b", 1, 30, 100, Some(50.0)),
            h("c", 2, 60, 100, Some(80.0)),
        ];
        let v = nightly_value(&hs, &settings());
        assert!(!v.predicted);
        assert!(v.bgnbd.is_none() && v.gamma_gamma.is_none());
        assert!(
            v.notes[0].contains("2 members with a repeat purchase"),
            "{v:?}"
        );
        assert!(v.members.iter().all(|m| *m == MemberValue::default()));
    }

    /// Buyers simulated from the BG/NBD and Gamma-Gamma processes in whole days.
    fn simulated(n: usize, with_spend: bool) -> Vec<History> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let truth = BgNbd {
            r: 0.5,
            alpha: 20.0,
            a: 0.8,
            b: 2.5,
        };
        let cs = super::super::tests::simulate_bgnbd(
            &mut rng,
            n,
            &truth,
            |r| f64::from(r.random_range(100..=700_u32)),
            true,
        );
        let gg = GammaGamma {
            p: 6.0,
            q: 4.0,
            v: 15.0,
        };
        let spend =
            super::super::tests::simulate_spend(&mut rng, cs.iter().map(|c| c.x.max(1.0)), &gg);
        cs.iter()
            .zip(&spend)
            .enumerate()
            .map(|(i, (c, s))| {
                let value = (with_spend && c.x > 0.0).then_some(s.1);
                h(
                    &format!("m{i:05}"),
                    c.x as i64,
                    c.t_x as i64,
                    c.t as i64,
                    value,
                )
            })
            .collect()
    }

    /// A population from known parameters: the model is fitted, the predictions equal
    /// the library's per-member functions, and bands and flags follow the ranks.
    #[test]
    fn scored_members_match_the_models_and_are_banded_by_rank() {
        let hs = simulated(2000, true);
        let s = settings();
        let v = nightly_value(&hs, &s);
        assert!(v.predicted, "{:?}", v.notes);
        let bg = v.bgnbd.unwrap().params;
        let gg = v.gamma_gamma.unwrap().params;
        for (h, m) in hs.iter().zip(&v.members) {
            let c = Customer {
                x: h.repeat_purchases as f64,
                t_x: h.recency_days_model as f64,
                t: h.age_days as f64,
            };
            let p = bg.p_alive(&c);
            assert_eq!(m.p_alive, Some(p));
            let n = bg.conditional_expected_purchases(365.0, &c);
            assert!((m.expected_orders.unwrap() - n).abs() <= 1e-9 * n.max(1.0));
            let ev = gg.conditional_expected_value(c.x, h.repeat_value.unwrap_or(0.0));
            assert_eq!(m.expected_order_value, Some(ev));
            let clv = super::super::clv(&bg, ev, &c, 365.0, s.monthly_discount());
            assert!((m.clv.unwrap() - clv).abs() <= 1e-9 * clv.max(1.0));
            if h.repeat_purchases == 0 {
                assert_eq!(
                    m.p_alive,
                    Some(1.0),
                    "no repeat purchase: alive by the model"
                );
            }
        }
        // Bands: exactly 400 high, 600 medium, 1000 low; every high CLV ≥ every medium ≥ low.
        let band = |b: Band| v.members.iter().filter(|m| m.value_band == Some(b)).count();
        assert_eq!(
            (band(Band::High), band(Band::Medium), band(Band::Low)),
            (400, 600, 1000)
        );
        let lowest = |b: Band| {
            v.members
                .iter()
                .filter(|m| m.value_band == Some(b))
                .map(|m| m.clv.unwrap())
                .fold(f64::INFINITY, f64::min)
        };
        let highest = |b: Band| {
            v.members
                .iter()
                .filter(|m| m.value_band == Some(b))
                .map(|m| m.clv.unwrap())
                .fold(f64::NEG_INFINITY, f64::max)
        };
        assert!(lowest(Band::High) >= highest(Band::Medium));
        assert!(lowest(Band::Medium) >= highest(Band::Low));
        // High potential: 400 members, the 400 largest expected orders.
        let flagged: Vec<f64> = v
            .members
            .iter()
            .filter(|m| m.high_potential == Some(true))
            .map(|m| m.expected_orders.unwrap())
            .collect();
        assert_eq!(flagged.len(), 400);
        let min_flagged = flagged.iter().copied().fold(f64::INFINITY, f64::min);
        assert!(
            v.members
                .iter()
                .filter(|m| m.high_potential == Some(false))
                .all(|m| m.expected_orders.unwrap() <= min_flagged)
        );
    }

    #[test]
    fn ties_are_broken_by_member_id() {
        let ids = ["c", "a", "b"];
        let vals = [1.0, 1.0, 2.0];
        assert_eq!(ranking(&ids, |i| Some(vals[i])), vec![2, 1, 0]);
        assert_eq!(ranking(&ids, |i| (i != 2).then_some(vals[i])), vec![1, 0]);
    }

    #[test]
    fn no_spend_model_keeps_orders_and_nulls_money() {
        // Repeat buyers, but every repeat value is missing: the Gamma-Gamma has no rows.
        let hs = simulated(1000, false);
        let v = nightly_value(&hs, &settings());
        assert!(v.predicted, "{:?}", v.notes);
        assert!(!v.gamma_gamma.unwrap().converged);
        assert!(
            v.notes.iter().any(|n| n.contains("Gamma-Gamma")),
            "{:?}",
            v.notes
        );
        assert!(v.members.iter().all(|m| m.p_alive.is_some()
            && m.expected_orders.is_some()
            && m.clv.is_none()
            && m.value_band.is_none()
            && m.high_potential.is_some()));
    }
}
