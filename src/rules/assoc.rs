//! Association rules X ⇒ Y from frequent itemsets, with the usual measures.
//!
//! For a rule X ⇒ Y over N baskets: support = count(X ∪ Y) / N (the support of the whole
//! itemset, as arules, mlxtend and Spark define it), confidence = count(X ∪ Y) / count(X),
//! lift = confidence / support(Y), leverage = support(X ∪ Y) − support(X)·support(Y),
//! conviction = (1 − support(Y)) / (1 − confidence) (infinite when confidence is 1).

use std::collections::HashMap;

use super::fpgrowth::Itemset;

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub antecedent: Vec<u32>,
    pub consequent: Vec<u32>,
    /// Baskets holding X ∪ Y, X, and Y.
    pub rule_count: u64,
    pub antecedent_count: u64,
    pub consequent_count: u64,
    pub support: f64,
    pub confidence: f64,
    pub lift: f64,
    pub leverage: f64,
    pub conviction: f64,
}

/// Every rule with confidence ≥ `min_confidence` from a complete set of frequent
/// itemsets (every subset of a frequent itemset is in it, as FP-growth guarantees).
/// Consequents are single items unless `multi_consequent`, in which case every non-empty
/// proper subset is tried.
pub fn rules(
    itemsets: &[Itemset],
    baskets: u64,
    min_confidence: f64,
    multi_consequent: bool,
) -> Vec<Rule> {
    let count: HashMap<&[u32], u64> = itemsets
        .iter()
        .map(|s| (s.items.as_slice(), s.count))
        .collect();
    let n = baskets as f64;
    let mut out = Vec::new();
    for s in itemsets.iter().filter(|s| s.items.len() >= 2) {
        let k = s.items.len();
        let masks: Vec<u64> = if multi_consequent {
            (1..(1u64 << k) - 1).collect()
        } else {
            (0..k).map(|i| 1u64 << i).collect()
        };
        for mask in masks {
            let (mut x, mut y) = (Vec::new(), Vec::new());
            for (i, &item) in s.items.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    y.push(item)
                } else {
                    x.push(item)
                }
            }
            let (cx, cy) = (count[x.as_slice()], count[y.as_slice()]);
            let confidence = s.count as f64 / cx as f64;
            if confidence < min_confidence {
                continue;
            }
            let (support, sx, sy) = (s.count as f64 / n, cx as f64 / n, cy as f64 / n);
            out.push(Rule {
                antecedent: x,
                consequent: y,
                rule_count: s.count,
                antecedent_count: cx,
                consequent_count: cy,
                support,
                confidence,
                lift: confidence / sy,
                leverage: support - sx * sy,
                conviction: if confidence >= 1.0 {
                    f64::INFINITY
                } else {
                    (1.0 - sy) / (1.0 - confidence)
                },
            });
        }
    }
    out
}

/// The order 《营销5.0》 recommends for acting on rules: only rules with lift > 1 (the
/// antecedent makes the consequent more likely), highest confidence first, then highest
/// lift, then by items so the order is total.
pub fn rank(mut rules: Vec<Rule>) -> Vec<Rule> {
    rules.retain(|r| r.lift > 1.0);
    rules.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(b.lift.total_cmp(&a.lift))
            .then_with(|| a.antecedent.cmp(&b.antecedent))
            .then_with(|| a.consequent.cmp(&b.consequent))
    });
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::fpgrowth::{MineParams, frequent_itemsets};

    #[test]
    fn measures_match_hand_computation() {
        // 10 baskets: {a,b} ×4, {a} ×2, {b} ×2, {c} ×2.  a=0 b=1 c=2.
        let mut baskets = vec![vec![0, 1]; 4];
        baskets.extend(vec![vec![0]; 2]);
        baskets.extend(vec![vec![1]; 2]);
        baskets.extend(vec![vec![2]; 2]);
        let sets = frequent_itemsets(
            &baskets,
            3,
            MineParams {
                min_count: 1,
                max_len: None,
            },
        );
        let r = rules(&sets, 10, 0.0, false);
        let ab = r
            .iter()
            .find(|r| r.antecedent == vec![0] && r.consequent == vec![1])
            .unwrap();
        assert_eq!(
            (ab.rule_count, ab.antecedent_count, ab.consequent_count),
            (4, 6, 6)
        );
        assert!((ab.support - 0.4).abs() < 1e-12);
        assert!((ab.confidence - 4.0 / 6.0).abs() < 1e-12);
        assert!((ab.lift - (4.0 / 6.0) / 0.6).abs() < 1e-12);
        assert!((ab.leverage - (0.4 - 0.36)).abs() < 1e-12);
        assert!((ab.conviction - 0.4 / (1.0 - 4.0 / 6.0)).abs() < 1e-12);
        // Multi-item consequents come only when asked for.
        let three = vec![vec![0, 1, 2]; 3];
        let sets = frequent_itemsets(
            &three,
            3,
            MineParams {
                min_count: 1,
                max_len: None,
            },
        );
        assert_eq!(rules(&sets, 3, 0.0, false).len(), 3 + 3 * 2);
        assert_eq!(rules(&sets, 3, 0.0, true).len(), 6 + 3 * 2);
        assert!(
            rules(&sets, 3, 0.0, true)
                .iter()
                .all(|r| r.conviction.is_infinite())
        );
    }

    #[test]
    fn ranking_keeps_lift_above_one_and_orders_by_confidence_then_lift() {
        let rule = |a: u32, confidence: f64, lift: f64| Rule {
            antecedent: vec![a],
            consequent: vec![9],
            rule_count: 1,
            antecedent_count: 1,
            consequent_count: 1,
            support: 0.1,
            confidence,
            lift,
            leverage: 0.0,
            conviction: 1.0,
        };
        let ranked = rank(vec![
            rule(1, 0.5, 2.0),
            rule(2, 0.9, 0.8),
            rule(3, 0.5, 3.0),
            rule(4, 0.7, 1.1),
            rule(5, 0.5, 3.0),
        ]);
        let order: Vec<u32> = ranked.iter().map(|r| r.antecedent[0]).collect();
        assert_eq!(order, [4, 3, 5, 1]);
    }
}
