//! Per-member recommendations from ranked rules.
//!
//! A rule X ⇒ Y is *applicable* to a member when every item of X is among the member's
//! recent items. Each item of Y the member has not bought recently (or has, but which is
//! consumable and so worth buying again) becomes a candidate, scored by the rule's
//! confidence. A candidate reached by several rules keeps its best rule: highest
//! confidence, then highest lift, then the best (lowest) rule rank. A member's candidates
//! are ordered the same way, ties broken by item code, and the first `top_n` kept.
//!
//! Rules are indexed by one antecedent item each — the one that starts the fewest rules —
//! so a member only looks at rules that can possibly apply, and members are scored in
//! parallel.

use std::cmp::Ordering;
use std::collections::HashMap;

use rayon::prelude::*;

/// A rule over item codes, as the scorer sees it.
#[derive(Debug, Clone)]
pub struct ScoredRule {
    /// Sorted, non-empty.
    pub antecedent: Vec<u32>,
    pub consequent: Vec<u32>,
    pub confidence: f64,
    pub lift: f64,
    /// The rule's rank in `basket_rules` (1 = best); unique.
    pub rank: i64,
}

/// One recommendation: `rule` indexes the rules slice given to [`Recommender::new`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pick {
    pub item: u32,
    pub rule: usize,
}

pub struct Recommender<'a> {
    rules: &'a [ScoredRule],
    /// Item → rules keyed on it.
    index: HashMap<u32, Vec<usize>>,
    consumable: &'a (dyn Fn(u32) -> bool + Sync),
    top_n: usize,
}

/// Best first: confidence, lift, rank.
fn better(a: &ScoredRule, b: &ScoredRule) -> Ordering {
    b.confidence
        .total_cmp(&a.confidence)
        .then(b.lift.total_cmp(&a.lift))
        .then(a.rank.cmp(&b.rank))
}

impl<'a> Recommender<'a> {
    pub fn new(
        rules: &'a [ScoredRule],
        consumable: &'a (dyn Fn(u32) -> bool + Sync),
        top_n: usize,
    ) -> Recommender<'a> {
        let mut starts: HashMap<u32, usize> = HashMap::new();
        for r in rules {
            for &i in &r.antecedent {
                *starts.entry(i).or_default() += 1;
            }
        }
        let mut index: HashMap<u32, Vec<usize>> = HashMap::new();
        for (k, r) in rules.iter().enumerate() {
            let key = *r
                .antecedent
                .iter()
                .min_by_key(|&&i| (starts[&i], i))
                .expect("rules have an antecedent");
            index.entry(key).or_default().push(k);
        }
        Recommender {
            rules,
            index,
            consumable,
            top_n,
        }
    }

    /// Recommendations for one member; `items` sorted and deduplicated.
    pub fn for_member(&self, items: &[u32]) -> Vec<Pick> {
        let mut best: HashMap<u32, usize> = HashMap::new();
        for i in items {
            let Some(keyed) = self.index.get(i) else {
                continue;
            };
            for &k in keyed {
                let rule = &self.rules[k];
                if !rule
                    .antecedent
                    .iter()
                    .all(|a| items.binary_search(a).is_ok())
                {
                    continue;
                }
                for &y in &rule.consequent {
                    if items.binary_search(&y).is_ok() && !(self.consumable)(y) {
                        continue;
                    }
                    best.entry(y)
                        .and_modify(|b| {
                            if better(rule, &self.rules[*b]) == Ordering::Less {
                                *b = k
                            }
                        })
                        .or_insert(k);
                }
            }
        }
        let mut picks: Vec<Pick> = best
            .into_iter()
            .map(|(item, rule)| Pick { item, rule })
            .collect();
        picks.sort_by(|a, b| {
            better(&self.rules[a.rule], &self.rules[b.rule]).then(a.item.cmp(&b.item))
        });
        picks.truncate(self.top_n);
        picks
    }

    /// Every member's recommendations, in parallel, in the order of `members`.
    pub fn for_all(&self, members: &[Vec<u32>]) -> Vec<Vec<Pick>> {
        members.par_iter().map(|m| self.for_member(m)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn rule(a: &[u32], c: &[u32], confidence: f64, lift: f64, rank: i64) -> ScoredRule {
        ScoredRule {
            antecedent: a.to_vec(),
            consequent: c.to_vec(),
            confidence,
            lift,
            rank,
        }
    }

    #[test]
    fn golden_small_case() {
        // Items: 0 milk, 1 bread, 2 butter, 3 jam, 4 eggs (consumable: milk).
        let rules = vec![
            rule(&[0, 1], &[2], 0.8, 2.0, 1), // milk+bread ⇒ butter
            rule(&[1], &[3], 0.6, 3.0, 2),    // bread ⇒ jam
            rule(&[1], &[2], 0.6, 1.5, 3),    // bread ⇒ butter (worse than rank 1)
            rule(&[4], &[0], 0.5, 1.2, 4),    // eggs ⇒ milk
            rule(&[2], &[4], 0.4, 1.1, 5),    // butter ⇒ eggs
        ];
        let consumable = |i: u32| i == 0;
        let r = Recommender::new(&rules, &consumable, 2);
        // Bought milk and bread: butter via rule 1 (0.8), jam via rule 2 (0.6).
        assert_eq!(
            r.for_member(&[0, 1]),
            vec![Pick { item: 2, rule: 0 }, Pick { item: 3, rule: 1 }]
        );
        // Bought bread only: rule 1 does not apply; jam and butter tie on confidence 0.6,
        // jam wins on lift.
        assert_eq!(
            r.for_member(&[1]),
            vec![Pick { item: 3, rule: 1 }, Pick { item: 2, rule: 2 }]
        );
        // Bought eggs and milk: milk is consumable, so it is recommended again.
        assert_eq!(r.for_member(&[0, 4]), vec![Pick { item: 0, rule: 3 }]);
        // Bought bread, butter and eggs: butter is not consumable, so only jam; eggs
        // (bought) is not consumable either; milk comes from eggs ⇒ milk.
        assert_eq!(
            r.for_member(&[1, 2, 4]),
            vec![Pick { item: 3, rule: 1 }, Pick { item: 0, rule: 3 }]
        );
        // Nothing bought, nothing recommended.
        assert!(r.for_member(&[]).is_empty());
    }

    /// Brute force: scan every rule for every member.
    fn brute(
        rules: &[ScoredRule],
        items: &[u32],
        consumable: &dyn Fn(u32) -> bool,
        top_n: usize,
    ) -> Vec<Pick> {
        let mut cands: Vec<Pick> = Vec::new();
        for (k, r) in rules.iter().enumerate() {
            if r.antecedent.iter().all(|a| items.contains(a)) {
                for &y in &r.consequent {
                    if !items.contains(&y) || consumable(y) {
                        cands.push(Pick { item: y, rule: k });
                    }
                }
            }
        }
        cands.sort_by(|a, b| {
            a.item
                .cmp(&b.item)
                .then(better(&rules[a.rule], &rules[b.rule]))
        });
        cands.dedup_by_key(|p| p.item);
        cands.sort_by(|a, b| better(&rules[a.rule], &rules[b.rule]).then(a.item.cmp(&b.item)));
        cands.truncate(top_n);
        cands
    }

    #[test]
    fn index_agrees_with_brute_force() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for case in 0..200 {
            let n_items = rng.random_range(2..12u32);
            let n_rules = rng.random_range(0..40);
            let mut rules = Vec::new();
            for k in 0..n_rules {
                let mut a: Vec<u32> = (0..rng.random_range(1..4))
                    .map(|_| rng.random_range(0..n_items))
                    .collect();
                a.sort_unstable();
                a.dedup();
                let y = rng.random_range(0..n_items);
                if a.contains(&y) {
                    continue;
                }
                // Coarse values so that ties on confidence and lift happen.
                let confidence = rng.random_range(1..5) as f64 / 4.0;
                let lift = rng.random_range(1..4) as f64;
                rules.push(rule(&a, &[y], confidence, lift, k as i64 + 1));
            }
            let cons_mask = rng.random_range(0..(1u32 << n_items));
            let consumable = move |i: u32| cons_mask & (1 << i) != 0;
            let top_n = rng.random_range(1..6);
            let r = Recommender::new(&rules, &consumable, top_n);
            let members: Vec<Vec<u32>> = (0..20)
                .map(|_| {
                    let mut m: Vec<u32> = (0..rng.random_range(0..6))
                        .map(|_| rng.random_range(0..n_items))
                        .collect();
                    m.sort_unstable();
                    m.dedup();
                    m
                })
                .collect();
            let all = r.for_all(&members);
            for (m, got) in members.iter().zip(&all) {
                assert_eq!(
                    got,
                    &brute(&rules, m, &consumable, top_n),
                    "case {case}, member {m:?}"
                );
            }
        }
    }
}
