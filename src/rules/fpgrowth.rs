//! Frequent itemsets by FP-growth (Han, Pei & Yin, 2000).
//!
//! Baskets are lists of dense `u32` item codes. Identical baskets are merged with a
//! weight before anything else (real baskets repeat a lot: "milk" alone, "milk, bread").
//! Items below the minimum count are dropped and the rest re-coded by descending
//! frequency, so each basket becomes a path of the FP-tree from its most frequent item,
//! sharing prefixes with the others. Mining then walks the items from least to most
//! frequent: an item's *conditional pattern base* (the tree paths above its nodes, with
//! the node counts) is itself a smaller set of weighted baskets, mined recursively with
//! the item appended to the prefix. A tree that is a single path is finished directly:
//! every combination of its items is frequent with the count of its deepest item.
//!
//! The top-level items are independent, so they are mined in parallel with rayon; each
//! worker reads the shared tree and builds its own conditional trees. Results are
//! collected in item order, so the output does not depend on the number of threads.
//! Memory is the tree (at most one node per basket item) plus one conditional tree per
//! recursion level and worker: very long baskets lengthen paths but do not multiply them,
//! and `max_len` bounds the recursion depth.

use std::collections::HashMap;

use rayon::prelude::*;

/// A frequent itemset: item codes in ascending order, and how many baskets hold them all.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Itemset {
    pub items: Vec<u32>,
    pub count: u64,
}

/// Mining parameters, checked once.
#[derive(Debug, Clone, Copy)]
pub struct MineParams {
    /// Minimum number of baskets (weighted) an itemset must be in.
    pub min_count: u64,
    /// Longest itemset to report; `None` for no limit.
    pub max_len: Option<usize>,
}

/// The smallest count `c` with `c / baskets >= min_support`, the convention of arules,
/// mlxtend and pyfim (support is a fraction of baskets, compared with `>=`).
pub fn min_count_for(min_support: f64, baskets: u64) -> u64 {
    let n = baskets as f64;
    let mut c = (min_support * n).ceil().max(1.0) as u64;
    // Guard against the product landing just above an integer.
    while c > 1 && (c - 1) as f64 / n >= min_support {
        c -= 1;
    }
    while (c as f64) / n < min_support {
        c += 1;
    }
    c
}

struct Node {
    item: u32,
    count: u64,
    /// Children as (item, node) pairs; baskets are short, so a linear scan wins.
    children: Vec<(u32, u32)>,
}

/// An FP-tree over items re-coded 0..n by descending frequency.
struct Tree {
    nodes: Vec<Node>,
    /// Per node, (parent, item): walking up the tree touches only this dense array.
    up: Vec<(u32, u32)>,
    /// Per item, the nodes holding it.
    links: Vec<Vec<u32>>,
    /// Per item, its total count in the tree.
    totals: Vec<u64>,
}

const ROOT: u32 = 0;

impl Tree {
    fn new(items: usize) -> Tree {
        Tree {
            nodes: vec![Node {
                item: u32::MAX,
                count: 0,
                children: Vec::new(),
            }],
            up: vec![(ROOT, u32::MAX)],
            links: vec![Vec::new(); items],
            totals: vec![0; items],
        }
    }

    /// Insert a path of item ranks in ascending rank order (most frequent first).
    fn insert(&mut self, path: &[u32], count: u64) {
        let mut at = ROOT;
        for &item in path {
            let next = self.nodes[at as usize]
                .children
                .iter()
                .find(|(i, _)| *i == item)
                .map(|&(_, n)| n);
            at = match next {
                Some(n) => {
                    self.nodes[n as usize].count += count;
                    n
                }
                None => {
                    let n = self.nodes.len() as u32;
                    self.nodes.push(Node {
                        item,
                        count,
                        children: Vec::new(),
                    });
                    self.up.push((at, item));
                    self.nodes[at as usize].children.push((item, n));
                    self.links[item as usize].push(n);
                    n
                }
            };
            self.totals[item as usize] += count;
        }
    }

    /// The items on the single path from the root, if the tree is one path.
    fn single_path(&self) -> Option<Vec<(u32, u64)>> {
        let mut path = Vec::new();
        let mut at = ROOT;
        loop {
            match self.nodes[at as usize].children.as_slice() {
                [] => return Some(path),
                [(_, n)] => {
                    at = *n;
                    path.push((self.nodes[at as usize].item, self.nodes[at as usize].count));
                }
                _ => return None,
            }
        }
    }

    /// The conditional FP-tree of `item`, built straight from this tree (no pattern base
    /// is materialised): the items above `item`'s nodes with count ≥ `min_count` in its
    /// prefix paths, re-ranked by that count. Returns the tree and, per rank of the new
    /// tree, the rank in this one.
    fn conditional(&self, item: u32, min_count: u64) -> (Tree, Vec<u32>) {
        // Paths are stored in ascending rank, so every ancestor ranks below `item`.
        let mut counts = vec![0u64; item as usize];
        for &n in &self.links[item as usize] {
            let c = self.nodes[n as usize].count;
            let mut at = self.up[n as usize].0;
            while at != ROOT {
                let (parent, it) = self.up[at as usize];
                counts[it as usize] += c;
                at = parent;
            }
        }
        let mut frequent: Vec<u32> = (0..item)
            .filter(|&r| counts[r as usize] >= min_count)
            .collect();
        frequent.sort_by(|&a, &b| counts[b as usize].cmp(&counts[a as usize]).then(a.cmp(&b)));
        let mut rank_of = vec![u32::MAX; item as usize];
        for (r, &i) in frequent.iter().enumerate() {
            rank_of[i as usize] = r as u32;
        }
        let mut tree = Tree::new(frequent.len());
        if frequent.is_empty() {
            return (tree, frequent);
        }
        let mut path = Vec::new();
        for &n in &self.links[item as usize] {
            path.clear();
            let mut at = self.up[n as usize].0;
            while at != ROOT {
                let (parent, it) = self.up[at as usize];
                let r = rank_of[it as usize];
                if r != u32::MAX {
                    path.push(r);
                }
                at = parent;
            }
            if !path.is_empty() {
                path.sort_unstable();
                tree.insert(&path, self.nodes[n as usize].count);
            }
        }
        (tree, frequent)
    }
}

/// A weighted set of baskets over item codes `0..n_items`, ready to build a tree from:
/// infrequent items dropped, the rest ranked by descending count (ties by code).
struct Ranked {
    /// rank → the caller's item code.
    code_of_rank: Vec<u32>,
    tree: Tree,
}

fn build(baskets: &[(Vec<u32>, u64)], n_items: usize, min_count: u64) -> Ranked {
    let mut counts = vec![0u64; n_items];
    for (b, w) in baskets {
        for &i in b {
            counts[i as usize] += w;
        }
    }
    let mut frequent: Vec<u32> = (0..n_items as u32)
        .filter(|&i| counts[i as usize] >= min_count)
        .collect();
    frequent.sort_by(|&a, &b| counts[b as usize].cmp(&counts[a as usize]).then(a.cmp(&b)));
    let mut rank_of = vec![u32::MAX; n_items];
    for (r, &i) in frequent.iter().enumerate() {
        rank_of[i as usize] = r as u32;
    }
    let mut tree = Tree::new(frequent.len());
    let mut path = Vec::new();
    for (b, w) in baskets {
        path.clear();
        path.extend(
            b.iter()
                .map(|&i| rank_of[i as usize])
                .filter(|&r| r != u32::MAX),
        );
        path.sort_unstable();
        tree.insert(&path, *w);
    }
    Ranked {
        code_of_rank: frequent,
        tree,
    }
}

/// Every itemset with count ≥ `min_count` (and length ≤ `max_len`), singletons included,
/// sorted by items. `baskets` holds item codes below `n_items`; duplicates within a
/// basket are ignored.
pub fn frequent_itemsets(baskets: &[Vec<u32>], n_items: usize, params: MineParams) -> Vec<Itemset> {
    let mut merged: HashMap<Vec<u32>, u64> = HashMap::new();
    for b in baskets {
        let mut b = b.clone();
        b.sort_unstable();
        b.dedup();
        *merged.entry(b).or_default() += 1;
    }
    let mut weighted: Vec<(Vec<u32>, u64)> = merged.into_iter().collect();
    weighted.sort_unstable();
    mine_weighted(&weighted, n_items, params)
}

/// [`frequent_itemsets`] over baskets already merged into (distinct basket, weight).
pub fn mine_weighted(
    baskets: &[(Vec<u32>, u64)],
    n_items: usize,
    params: MineParams,
) -> Vec<Itemset> {
    if params.max_len == Some(0) {
        return Vec::new();
    }
    // Items below are ranks of this top-level tree; conditional trees re-rank their own
    // items but always report them in this space, translated to codes at the end.
    let ranked = build(baskets, n_items, params.min_count);
    let tree = &ranked.tree;
    let n = ranked.code_of_rank.len();
    let top: Vec<u32> = (0..n as u32).collect();
    let per_item: Vec<Vec<(Vec<u32>, u64)>> = (0..n as u32)
        .into_par_iter()
        .map(|item| {
            let prefix = vec![item];
            let mut found = vec![(prefix.clone(), tree.totals[item as usize])];
            if params.max_len.is_none_or(|m| m > 1) {
                let (cond, to_parent) = tree.conditional(item, params.min_count);
                let to_top: Vec<u32> = to_parent.iter().map(|&r| top[r as usize]).collect();
                grow(&cond, &to_top, &prefix, params, &mut found);
            }
            found
        })
        .collect();
    let mut out: Vec<Itemset> = per_item
        .into_iter()
        .flatten()
        .map(|(ranks, count)| {
            let mut items: Vec<u32> = ranks
                .iter()
                .map(|&r| ranked.code_of_rank[r as usize])
                .collect();
            items.sort_unstable();
            Itemset { items, count }
        })
        .collect();
    out.sort_unstable();
    out
}

/// Mine the conditional tree of `prefix` (`to_top` maps its ranks to the top-level
/// tree's ranks), appending every frequent extension to `found`.
fn grow(
    tree: &Tree,
    to_top: &[u32],
    prefix: &[u32],
    params: MineParams,
    found: &mut Vec<(Vec<u32>, u64)>,
) {
    if to_top.is_empty() {
        return;
    }
    let room = params.max_len.map_or(usize::MAX, |m| m - prefix.len());
    if room == 0 {
        return;
    }
    if let Some(path) = tree.single_path() {
        // Every non-empty combination of the path's items is frequent, with the count
        // of its deepest (least frequent) item.
        let path: Vec<(u32, u64)> = path
            .into_iter()
            .map(|(r, c)| (to_top[r as usize], c))
            .collect();
        let mut chosen: Vec<usize> = Vec::new();
        combinations(&path, 0, &mut chosen, room, prefix, found);
        return;
    }
    for item in (0..to_top.len() as u32).rev() {
        let mut next = prefix.to_vec();
        next.push(to_top[item as usize]);
        found.push((next.clone(), tree.totals[item as usize]));
        if room > 1 {
            let (cond, to_parent) = tree.conditional(item, params.min_count);
            let cond_top: Vec<u32> = to_parent.iter().map(|&r| to_top[r as usize]).collect();
            grow(&cond, &cond_top, &next, params, found);
        }
    }
}

fn combinations(
    path: &[(u32, u64)],
    start: usize,
    chosen: &mut Vec<usize>,
    room: usize,
    prefix: &[u32],
    found: &mut Vec<(Vec<u32>, u64)>,
) {
    for i in start..path.len() {
        chosen.push(i);
        let mut items = prefix.to_vec();
        items.extend(chosen.iter().map(|&k| path[k].0));
        // Counts only shrink down the path: the deepest chosen item's count.
        found.push((items, path[i].1));
        if chosen.len() < room {
            combinations(path, i + 1, chosen, room, prefix, found);
        }
        chosen.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Every itemset over `n_items` items, counted by scanning all baskets.
    fn brute_force(baskets: &[Vec<u32>], n_items: usize, params: MineParams) -> Vec<Itemset> {
        let sets: Vec<u64> = baskets
            .iter()
            .map(|b| b.iter().fold(0u64, |m, &i| m | (1 << i)))
            .collect();
        let mut out = Vec::new();
        for mask in 1u64..(1 << n_items) {
            let len = mask.count_ones() as usize;
            if params.max_len.is_some_and(|m| len > m) {
                continue;
            }
            let count = sets.iter().filter(|&&s| s & mask == mask).count() as u64;
            if count >= params.min_count {
                let items = (0..n_items as u32)
                    .filter(|i| mask & (1 << i) != 0)
                    .collect();
                out.push(Itemset { items, count });
            }
        }
        out.sort_unstable();
        out
    }

    #[test]
    fn matches_brute_force_on_random_baskets() {
        for seed in 0..60u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let n_items = rng.random_range(1..=12);
            let n_baskets = rng.random_range(1..=80);
            // Skewed item popularity and some repeated baskets, like real data.
            let baskets: Vec<Vec<u32>> = (0..n_baskets)
                .map(|_| {
                    let len = rng.random_range(0..=n_items);
                    (0..len)
                        .map(|_| (rng.random::<f64>().powi(2) * n_items as f64) as u32)
                        .collect()
                })
                .collect();
            for min_count in [1, 2, 3, 5, 10] {
                for max_len in [None, Some(1), Some(2), Some(3)] {
                    let params = MineParams { min_count, max_len };
                    let got = frequent_itemsets(&baskets, n_items, params);
                    let want = brute_force(&baskets, n_items, params);
                    assert_eq!(
                        got, want,
                        "seed {seed}, min_count {min_count}, max_len {max_len:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn textbook_example() {
        // Han et al.'s example: f c a m p / f c a b m / f b / c b p / f c a m p.
        let (f, c, a, b, m, p) = (0, 1, 2, 3, 4, 5);
        let baskets = vec![
            vec![f, c, a, m, p],
            vec![f, c, a, b, m],
            vec![f, b],
            vec![c, b, p],
            vec![f, c, a, m, p],
        ];
        let got = frequent_itemsets(
            &baskets,
            6,
            MineParams {
                min_count: 3,
                max_len: None,
            },
        );
        let has = |items: &[u32], count: u64| {
            got.contains(&Itemset {
                items: items.to_vec(),
                count,
            })
        };
        assert!(has(&[f, c, a, m], 3));
        assert!(has(&[c, p], 3));
        assert!(has(&[b], 3));
        assert!(!got.iter().any(|s| s.items == vec![b, p]));
        assert_eq!(
            got.len(),
            brute_force(
                &baskets,
                6,
                MineParams {
                    min_count: 3,
                    max_len: None
                }
            )
            .len()
        );
    }

    #[test]
    fn min_count_follows_the_support_fraction_convention() {
        assert_eq!(min_count_for(0.01, 9835), 99);
        assert_eq!(min_count_for(0.001, 9835), 10);
        assert_eq!(min_count_for(0.01, 100), 1);
        assert_eq!(min_count_for(0.5, 3), 2);
        assert_eq!(min_count_for(1.0, 7), 7);
    }

    #[test]
    fn a_five_thousand_item_basket_does_not_blow_up_the_mining() {
        // 200 small baskets over items 0..50 and one basket of 5,000 items: at a minimum
        // count of 2 the big basket only adds to items the small ones already have.
        let mut baskets: Vec<Vec<u32>> = (0..200).map(|i| vec![i % 50, (i + 1) % 50]).collect();
        baskets.push((0..5000).collect());
        let params = MineParams {
            min_count: 2,
            max_len: None,
        };
        let got = frequent_itemsets(&baskets, 5000, params);
        let small: Vec<Vec<u32>> = baskets[..200].to_vec();
        let without_big = frequent_itemsets(
            &small,
            5000,
            MineParams {
                min_count: 1,
                max_len: None,
            },
        );
        assert!(got.iter().all(|s| s.items.iter().all(|&i| i < 50)));
        assert_eq!(got.iter().filter(|s| s.items.len() == 1).count(), 50);
        assert!(got.len() <= without_big.len() + 50 * 49 / 2);
        // Two copies of a 300-item basket with a length limit: every pair, exactly once.
        let big: Vec<Vec<u32>> = vec![(0..300).collect(), (0..300).collect()];
        let pairs = frequent_itemsets(
            &big,
            300,
            MineParams {
                min_count: 2,
                max_len: Some(2),
            },
        );
        assert_eq!(pairs.len(), 300 + 300 * 299 / 2);
        assert!(pairs.iter().all(|s| s.count == 2));
    }
}
