//! Frequent itemsets by FP-growth (Han, Pei & Yin, 2000).
//!
//! Baskets are lists of dense `u32` item codes, stored flat ([`Baskets`]), each with a
//! weight (how many identical baskets it stands for). Items below the minimum count are
//! dropped and the rest re-coded by descending frequency (*ranks*), so each basket
//! becomes a path of the FP-tree from its most frequent item, sharing prefixes with the
//! others. Mining walks the items from least to most frequent: an item's *conditional
//! tree* (the tree paths above its nodes, with the node counts, and only the items still
//! frequent there) is mined recursively with the item appended to the prefix. A tree that
//! is a single path is finished directly: every combination of its items is frequent with
//! the count of its deepest item.
//!
//! Building the tree. Each basket's path is keyed by its first two ranks (most baskets
//! have no more), the keys are radix-sorted and the few ties between longer paths sorted
//! by the rest. In sorted order each path shares its longest common prefix with the one
//! before, so only its new suffix needs nodes: no child lookups, and identical baskets
//! end up on the same nodes without being merged beforehand.
//!
//! Layout. A tree is flat arrays — per node its parent and item side by side, and its
//! count — with the nodes numbered by item: the root, then every node of rank 0, then of
//! rank 1, and so on. Ranks grow along every path, so a parent's id is always below its
//! children's and the nodes of one item are one contiguous range (no link lists).
//!
//! Conditional trees keep their parent's item order and are *projected* out of it rather
//! than rebuilt path by path. First the paths above the item's nodes are walked once to
//! count each rank there; when at most one rank is frequent (most projections deep in
//! the recursion, and in dense data) that is all the work. Otherwise walking up again
//! marks each ancestor once, however many paths share it; one pass over the marked nodes
//! from the deepest rank up adds the counts into the ancestors, and one pass down creates
//! the new tree's nodes, skipping the ranks no longer frequent and merging the siblings
//! that skipping brings together. That is linear in the marked nodes, with no child
//! lookups, no sorting and no allocation: every recursion level reuses its buffers from
//! one item to the next.
//!
//! The top-level items are independent, so they are mined in parallel with rayon; each
//! worker reads the shared tree with its own buffers. Results are collected in item
//! order and sorted, so the output does not depend on the number of threads. Memory is
//! the tree (at most one node per basket item), the sort keys while building it, one set
//! of per-node buffers per worker, and one conditional tree per recursion level and
//! worker: very long baskets lengthen paths but do not multiply them, and `max_len`
//! bounds the recursion depth.

use std::ops::Range;
use std::sync::Mutex;

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

const ROOT: u32 = 0;
const NONE: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Up {
    parent: u32,
    item: u32,
}

/// An FP-tree over item ranks `0..items`, nodes numbered by item (see the module docs).
#[derive(Default)]
struct Tree {
    /// Per node, its parent and item side by side: walking up a path reads one array.
    up: Vec<Up>,
    count: Vec<u64>,
    /// The nodes of rank `r` are `first[r]..first[r + 1]`.
    first: Vec<u32>,
    /// Per rank, its count in the tree (the sum of its nodes' counts).
    totals: Vec<u64>,
}

impl Tree {
    /// Heap bytes per node.
    const NODE_BYTES: usize = size_of::<Up>() + size_of::<u64>();

    /// Heap bytes the tree holds.
    fn heap_bytes(&self) -> usize {
        self.up.capacity() * size_of::<Up>()
            + self.count.capacity() * size_of::<u64>()
            + (self.first.capacity() + self.totals.capacity() * 2) * size_of::<u32>()
    }

    fn items(&self) -> usize {
        self.totals.len()
    }

    fn nodes(&self) -> usize {
        self.up.len()
    }

    fn nodes_of(&self, rank: u32) -> Range<usize> {
        self.first[rank as usize] as usize..self.first[rank as usize + 1] as usize
    }

    /// Empty the tree (keeping its buffers) and add the root.
    fn reset(&mut self) {
        self.up.clear();
        self.count.clear();
        self.first.clear();
        self.totals.clear();
        self.push(ROOT, NONE, 0);
    }

    fn push(&mut self, parent: u32, item: u32, count: u64) -> u32 {
        let id = self.up.len() as u32;
        self.up.push(Up { parent, item });
        self.count.push(count);
        id
    }

    /// One node per item, each the child of the one before: node `k` holds rank `k - 1`.
    fn is_single_path(&self) -> bool {
        self.nodes() == self.items() + 1
            && (1..self.nodes()).all(|k| self.up[k].parent as usize == k - 1)
    }

    /// Set `first` from the nodes, which must already be in rank order.
    fn index_items(&mut self, items: usize) {
        first_nodes(&self.up, items, &mut self.first);
    }
}

/// Per rank, the id its nodes start at once nodes are numbered by rank (`up` holds every
/// node, the root first; the root keeps id 0).
fn first_nodes(up: &[Up], items: usize, first: &mut Vec<u32>) {
    first.clear();
    first.resize(items + 1, 0);
    for node in &up[1..] {
        first[node.item as usize + 1] += 1;
    }
    first[0] = 1;
    for r in 0..items {
        first[r + 1] += first[r];
    }
}

/// Per-node buffers for projecting conditional trees out of one tree. Between
/// projections every slot is the default, so a projection only touches the nodes it
/// visits.
#[derive(Default)]
struct Scratch {
    node: Vec<Slot>,
    /// Marked nodes with their ranks, in the order found.
    seen: Vec<(u32, u32)>,
    start: Vec<u32>,
    /// Marked nodes with their parents, ordered by rank.
    order: Vec<(u32, u32)>,
    counts: Vec<u64>,
    new_rank: Vec<u32>,
    /// Per node of the tree being built: (rank, node) of its latest child.
    latest: Vec<(u32, u32)>,
}

/// Per node: the count accumulated below it, and a mark (`NONE` when not visited; once
/// visited, the node of the conditional tree it maps to).
#[derive(Clone, Copy)]
struct Slot {
    acc: u64,
    mark: u32,
}

impl Default for Slot {
    fn default() -> Slot {
        Slot { acc: 0, mark: NONE }
    }
}

impl Scratch {
    fn fit(&mut self, nodes: usize) {
        if self.node.len() < nodes {
            self.node.resize(nodes, Slot::default());
        }
    }
}

/// Project `tree`'s conditional tree of `rank` into `out`: the paths above the rank's
/// nodes with their counts, restricted to the ranks with count ≥ `min_count` there, in
/// the same order. `to_parent` receives, per rank of `out`, its rank in `tree`.
fn project(
    tree: &Tree,
    rank: u32,
    min_count: u64,
    s: &mut Scratch,
    out: &mut Tree,
    to_parent: &mut Vec<u32>,
) {
    // Count each rank above `rank`'s nodes by walking their paths: when none is frequent
    // (most projections deep in the recursion, and in dense data) the tree stays empty
    // and the walk was the only cost.
    s.counts.clear();
    s.counts.resize(rank as usize, 0);
    for n in tree.nodes_of(rank) {
        let c = tree.count[n];
        let mut p = tree.up[n].parent;
        while p != ROOT {
            let Up { parent, item } = tree.up[p as usize];
            s.counts[item as usize] += c;
            p = parent;
        }
    }
    to_parent.clear();
    s.new_rank.clear();
    for r in 0..rank {
        if s.counts[r as usize] >= min_count {
            s.new_rank.push(to_parent.len() as u32);
            to_parent.push(r);
        } else {
            s.new_rank.push(NONE);
        }
    }
    out.reset();
    if to_parent.len() <= 1 {
        // No tree, or one node holding the only frequent rank: no need to walk again.
        if let Some(&r) = to_parent.first() {
            out.push(ROOT, 0, s.counts[r as usize]);
            out.totals.push(s.counts[r as usize]);
        }
        out.index_items(to_parent.len());
        return;
    }
    s.fit(tree.nodes());
    // Mark every ancestor once; its paths' counts start at the parents of rank's nodes.
    s.seen.clear();
    for n in tree.nodes_of(rank) {
        let mut p = tree.up[n].parent;
        s.node[p as usize].acc += tree.count[n];
        while p != ROOT && s.node[p as usize].mark == NONE {
            s.node[p as usize].mark = ROOT;
            let Up { parent, item } = tree.up[p as usize];
            s.seen.push((p, item));
            p = parent;
        }
    }
    // Order the marked nodes by rank (a counting sort): parents before children.
    s.start.clear();
    s.start.resize(rank as usize + 1, 0);
    for &(_, r) in &s.seen {
        s.start[r as usize + 1] += 1;
    }
    for r in 0..rank as usize {
        s.start[r + 1] += s.start[r];
    }
    s.order.clear();
    s.order.resize(s.seen.len(), (ROOT, ROOT));
    for &(a, r) in &s.seen {
        let at = &mut s.start[r as usize];
        s.order[*at as usize] = (a, tree.up[a as usize].parent);
        *at += 1;
    }
    // Upwards: each node's accumulated count is the conditional count of its path.
    // After the placement `start[r]` is where rank r's nodes end and rank r + 1's begin.
    let bucket = |start: &[u32], r: usize| {
        (if r == 0 { 0 } else { start[r - 1] as usize })..start[r] as usize
    };
    for r in (0..rank as usize).rev() {
        for &(a, p) in &s.order[bucket(&s.start, r)] {
            let c = s.node[a as usize].acc;
            s.node[p as usize].acc += c;
        }
    }
    s.node[ROOT as usize].acc = 0;
    // Downwards: map each marked node to its node in `out` (an infrequent one to its
    // parent's), merging children of one parent that hold the same rank.
    s.latest.clear();
    s.latest.push((NONE, ROOT));
    for old_rank in 0..rank as usize {
        let r = s.new_rank[old_rank];
        for &(a, p) in &s.order[bucket(&s.start, old_rank)] {
            let up = if p == ROOT {
                ROOT
            } else {
                s.node[p as usize].mark
            };
            let c = std::mem::take(&mut s.node[a as usize].acc);
            s.node[a as usize].mark = if r == NONE {
                up
            } else {
                match s.latest[up as usize] {
                    (lr, node) if lr == r => {
                        out.count[node as usize] += c;
                        node
                    }
                    _ => {
                        let node = out.push(up, r, c);
                        s.latest.push((NONE, ROOT));
                        s.latest[up as usize] = (r, node);
                        node
                    }
                }
            };
        }
    }
    for &(a, _) in &s.seen {
        s.node[a as usize].mark = NONE;
    }
    out.index_items(to_parent.len());
    out.totals
        .extend(to_parent.iter().map(|&r| s.counts[r as usize]));
}

/// Baskets, each with a weight (how many identical baskets it stands for), stored flat:
/// one buffer of item codes and where each basket ends.
#[derive(Debug, Clone, Default)]
pub struct Baskets {
    items: Vec<u32>,
    ends: Vec<usize>,
    weights: Vec<u64>,
}

impl Baskets {
    pub fn new() -> Baskets {
        Baskets::default()
    }

    /// Add `weight` baskets holding `items` (in any order; an item listed twice counts
    /// once).
    pub fn push(&mut self, items: &[u32], weight: u64) {
        let start = self.items.len();
        self.items.extend_from_slice(items);
        let added = &mut self.items[start..];
        if !added.windows(2).all(|p| p[0] < p[1]) {
            // Sort and drop repeats in place.
            added.sort_unstable();
            let mut kept = 1;
            for k in 1..added.len() {
                if added[k] != added[kept - 1] {
                    added[kept] = added[k];
                    kept += 1;
                }
            }
            self.items.truncate(start + kept);
        }
        self.ends.push(self.items.len());
        self.weights.push(weight);
    }

    /// Number of baskets stored (not counting weights).
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Number of baskets, counting each distinct one `weight` times.
    pub fn total_weight(&self) -> u64 {
        self.weights.iter().sum()
    }

    /// Heap bytes the baskets hold.
    pub fn heap_bytes(&self) -> usize {
        self.items.capacity() * size_of::<u32>()
            + self.ends.capacity() * size_of::<usize>()
            + self.weights.capacity() * size_of::<u64>()
    }

    /// What building the FP-tree holds at most beside the baskets: every basket's sort
    /// key twice (the radix sort's spare), the long baskets' tails, and a tree with a
    /// node per stored item.
    pub fn build_bytes(&self) -> usize {
        self.len() * 2 * size_of::<Keyed>()
            + self.items.len() * size_of::<u32>()
            + (self.items.len() + 1) * Tree::NODE_BYTES
    }

    fn iter(&self) -> impl Iterator<Item = (&[u32], u64)> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .zip(&self.weights)
            .map(|((start, &end), &w)| (&self.items[start..end], w))
    }
}

/// A basket's path for sorting: its first two ranks and whether it has more, packed in
/// `key`, and where the rest of it is. 16 bytes, so sorting tens of millions moves
/// little memory: a basket weighing more than `u32::MAX` is entered several times.
#[derive(Clone, Copy)]
struct Keyed {
    key: u64,
    weight: u32,
    tail: u32,
}

/// Sort by `key(x)`, an integer below `2^bits`, stably: a least-significant-digit radix
/// sort, 11 bits at a time, skipping the digits every key shares.
fn radix_sort<T: Copy>(v: &mut Vec<T>, key: impl Fn(&T) -> u64, bits: u32) {
    const DIGIT: u32 = 11;
    const BUCKETS: usize = 1 << DIGIT;
    let mut spare: Vec<T> = Vec::with_capacity(v.len());
    let mut count = vec![0usize; BUCKETS];
    let mut shift = 0;
    while shift < bits {
        let digit = |x: &T| (key(x) >> shift) as usize & (BUCKETS - 1);
        count.fill(0);
        for x in v.iter() {
            count[digit(x)] += 1;
        }
        if !count.contains(&v.len()) {
            let mut at = 0;
            for c in count.iter_mut() {
                let n = *c;
                *c = at;
                at += n;
            }
            spare.clear();
            spare.resize(v.len(), v[0]);
            for x in v.iter() {
                let d = digit(x);
                spare[count[d]] = *x;
                count[d] += 1;
            }
            std::mem::swap(v, &mut spare);
        }
        shift += DIGIT;
    }
}

/// The top-level tree of weighted baskets over item codes `0..n_items`: infrequent items
/// dropped, the rest ranked by descending count (ties by code). Returns the tree and, per
/// rank, the item code.
///
/// Each basket becomes its path of ranks and the paths are sorted; the nodes, made in
/// depth-first order, are then renumbered by rank.
fn build(baskets: Baskets, n_items: usize, min_count: u64) -> (Tree, Vec<u32>) {
    let mut counts = vec![0u64; n_items];
    for (b, w) in baskets.iter() {
        for &i in b {
            counts[i as usize] += w;
        }
    }
    let mut code_of_rank: Vec<u32> = (0..n_items as u32)
        .filter(|&i| counts[i as usize] >= min_count)
        .collect();
    code_of_rank.sort_by(|&a, &b| counts[b as usize].cmp(&counts[a as usize]).then(a.cmp(&b)));
    let mut rank_of = vec![NONE; n_items];
    for (r, &i) in code_of_rank.iter().enumerate() {
        rank_of[i as usize] = r as u32;
    }
    let items = code_of_rank.len();
    // Each basket's path, keyed by its first two ranks and whether it goes on: sorting
    // is then a radix sort of integers, and a path of one or two items (most baskets)
    // is never looked at again. Ranks beyond the second go to `tails`, each run of them
    // after its length.
    let wide = items as u64 + 1;
    let mut keyed: Vec<Keyed> = Vec::with_capacity(baskets.len());
    let mut tails: Vec<u32> = Vec::new();
    let mut path = Vec::new();
    for (b, weight) in baskets.iter() {
        path.clear();
        path.extend(
            b.iter()
                .map(|&i| rank_of[i as usize])
                .filter(|&r| r != NONE),
        );
        if path.is_empty() {
            continue;
        }
        path.sort_unstable();
        let second = path.get(1).map_or(0, |&r| u64::from(r) + 1);
        let long = path.len() > 2;
        let tail = tails.len() as u32;
        if long {
            tails.push((path.len() - 2) as u32);
            tails.extend_from_slice(&path[2..]);
            assert!(
                tails.len() < NONE as usize,
                "more than 2^32 ranks in long baskets"
            );
        }
        let key = ((u64::from(path[0]) * wide + second) << 1) | u64::from(long);
        let mut left = weight;
        while left > 0 {
            let part = left.min(u64::from(u32::MAX));
            keyed.push(Keyed {
                key,
                weight: part as u32,
                tail,
            });
            left -= part;
        }
    }
    drop(baskets);
    let bits = 64 - (items as u64 * wide + wide).leading_zeros() + 1;
    radix_sort(&mut keyed, |k| k.key, bits);
    // Long paths sharing their first two ranks: order them by the rest.
    let tail_of = |k: &Keyed| {
        if k.key & 1 == 0 {
            return &tails[..0];
        }
        let at = k.tail as usize;
        &tails[at + 1..at + 1 + tails[at] as usize]
    };
    for run in keyed.chunk_by_mut(|a, b| a.key == b.key) {
        if run.len() > 1 && run[0].key & 1 == 1 {
            run.sort_unstable_by(|a, b| tail_of(a).cmp(tail_of(b)));
        }
    }
    // Each path shares its longest common prefix with the one before: only its new
    // suffix needs nodes, and no child is ever looked up.
    let mut grown = Tree::default();
    grown.reset();
    let mut stack: Vec<u32> = Vec::new();
    let mut previous: Vec<u32> = Vec::new();
    for k in &keyed {
        path.clear();
        let (first, second) = ((k.key >> 1) / wide, (k.key >> 1) % wide);
        path.push(first as u32);
        if second > 0 {
            path.push(second as u32 - 1);
        }
        path.extend_from_slice(tail_of(k));
        let common = path
            .iter()
            .zip(&previous)
            .take_while(|(a, b)| a == b)
            .count();
        stack.truncate(common);
        for &r in &path[common..] {
            let parent = stack.last().copied().unwrap_or(ROOT);
            stack.push(grown.push(parent, r, 0));
        }
        for &node in &stack {
            grown.count[node as usize] += u64::from(k.weight);
        }
        std::mem::swap(&mut previous, &mut path);
    }
    drop(keyed);
    drop(tails);
    assert!(grown.nodes() < NONE as usize, "more than 2^32 tree nodes");
    // Renumber the nodes by rank (a counting sort, stable within a rank).
    let mut tree = Tree::default();
    first_nodes(&grown.up, items, &mut tree.first);
    let mut next = tree.first.clone();
    let mut new_id = vec![ROOT; grown.nodes()];
    for (old, up) in grown.up.iter().enumerate().skip(1) {
        new_id[old] = next[up.item as usize];
        next[up.item as usize] += 1;
    }
    let n = grown.nodes();
    tree.up = vec![
        Up {
            parent: ROOT,
            item: NONE
        };
        n
    ];
    tree.count = vec![0; n];
    for old in 1..n {
        let id = new_id[old] as usize;
        tree.up[id] = Up {
            parent: new_id[grown.up[old].parent as usize],
            item: grown.up[old].item,
        };
        tree.count[id] = grown.count[old];
    }
    tree.totals = code_of_rank.iter().map(|&i| counts[i as usize]).collect();
    (tree, code_of_rank)
}

/// Itemsets found by one worker, flat: `sets` holds (length, count) and `items` the
/// concatenated items (top-level ranks, in the order they were added to the prefix).
#[derive(Default)]
struct Found {
    items: Vec<u32>,
    sets: Vec<(u32, u64)>,
}

impl Found {
    fn add(&mut self, items: &[u32], count: u64) {
        self.items.extend_from_slice(items);
        self.sets.push((items.len() as u32, count));
    }
}

/// The buffers of one recursion level: the conditional tree being mined there, the
/// scratch for projecting out of it, and the map of its ranks to top-level ranks.
#[derive(Default)]
struct Level {
    tree: Tree,
    scratch: Scratch,
    to_parent: Vec<u32>,
    to_top: Vec<u32>,
}

/// One worker's buffers: scratch for the shared top-level tree and one [`Level`] per
/// recursion depth, reused from one item to the next.
#[derive(Default)]
struct Workspace {
    top: Scratch,
    levels: Vec<Level>,
    prefix: Vec<u32>,
}

/// Every itemset with count ≥ `min_count` (and length ≤ `max_len`), singletons included,
/// sorted by items. `baskets` holds item codes below `n_items`; duplicates within a
/// basket are ignored.
pub fn frequent_itemsets(baskets: &[Vec<u32>], n_items: usize, params: MineParams) -> Vec<Itemset> {
    let mut flat = Baskets::new();
    for b in baskets {
        flat.push(b, 1);
    }
    mine_weighted(flat, n_items, params)
}

/// [`frequent_itemsets`] over [`Baskets`], where a basket may stand for several.
pub fn mine_weighted(baskets: Baskets, n_items: usize, params: MineParams) -> Vec<Itemset> {
    let unlimited = |_| Ok::<(), std::convert::Infallible>(());
    match mine_weighted_within(baskets, n_items, params, unlimited) {
        Ok(found) => found,
        Err(never) => match never {},
    }
}

/// [`mine_weighted`], telling `hold` how many bytes the mining holds once the FP-tree
/// is built (the tree and each worker's scratch for it, beside the baskets, which are
/// given back by then): an error from `hold` stops it before the workers allocate.
pub fn mine_weighted_within<E>(
    baskets: Baskets,
    n_items: usize,
    params: MineParams,
    mut hold: impl FnMut(usize) -> Result<(), E>,
) -> Result<Vec<Itemset>, E> {
    if params.max_len == Some(0) {
        return Ok(Vec::new());
    }
    // Items below are ranks of the top-level tree, translated to codes at the end.
    let (tree, code_of_rank) = build(baskets, n_items, params.min_count);
    hold(tree.heap_bytes() + rayon::current_num_threads() * tree.nodes() * size_of::<Slot>())?;
    let depth = params.max_len.unwrap_or(usize::MAX).min(tree.items());
    let new_workspace = || Workspace {
        levels: (0..depth).map(|_| Level::default()).collect(),
        ..Workspace::default()
    };
    // Item codes in ascending order, as reported.
    let to_itemsets = |found: Found| -> Vec<Itemset> {
        let mut at = 0;
        let mut out = Vec::with_capacity(found.sets.len());
        for &(len, count) in &found.sets {
            let ranks = &found.items[at..at + len as usize];
            at += len as usize;
            let mut items: Vec<u32> = ranks.iter().map(|&r| code_of_rank[r as usize]).collect();
            items.sort_unstable();
            out.push(Itemset { items, count });
        }
        out
    };
    let per_item: Vec<Vec<Itemset>> = if tree.is_single_path() {
        let mut found = Found::default();
        let top: Vec<u32> = (0..tree.items() as u32).collect();
        let mut ws = new_workspace();
        grow(
            &tree,
            &mut ws.top,
            &top,
            &mut ws.levels,
            &mut ws.prefix,
            params,
            &mut found,
        );
        vec![to_itemsets(found)]
    } else {
        // One workspace per rayon worker: the per-node scratch of the top-level tree is
        // as large as the tree, so it is made once per thread rather than per item.
        let workspaces: Vec<Mutex<Option<Workspace>>> = (0..rayon::current_num_threads())
            .map(|_| Mutex::new(None))
            .collect();
        (0..tree.items() as u32)
            .into_par_iter()
            .map(|rank| {
                let slot = rayon::current_thread_index().unwrap_or(0) % workspaces.len();
                let mut guard = workspaces[slot].lock().unwrap_or_else(|e| e.into_inner());
                let ws = guard.get_or_insert_with(new_workspace);
                let mut found = Found::default();
                mine_item(&tree, rank, ws, params, &mut found);
                drop(guard);
                to_itemsets(found)
            })
            .collect()
    };
    let mut out: Vec<Itemset> = per_item.into_iter().flatten().collect();
    out.par_sort_unstable();
    Ok(out)
}

/// Report the top-level item `rank` and mine its conditional tree.
fn mine_item(tree: &Tree, rank: u32, ws: &mut Workspace, params: MineParams, found: &mut Found) {
    let Workspace {
        top,
        levels,
        prefix,
    } = ws;
    prefix.clear();
    prefix.push(rank);
    found.add(prefix, tree.totals[rank as usize]);
    if params.max_len.is_none_or(|m| m > 1) {
        let (level, deeper) = levels.split_first_mut().expect("one level per depth");
        project(
            tree,
            rank,
            params.min_count,
            top,
            &mut level.tree,
            &mut level.to_parent,
        );
        level.to_top.clear();
        level.to_top.extend_from_slice(&level.to_parent);
        grow(
            &level.tree,
            &mut level.scratch,
            &level.to_top,
            deeper,
            prefix,
            params,
            found,
        );
    }
}

/// Mine `tree`, the conditional tree of `prefix` (`to_top` maps its ranks to top-level
/// ranks), appending every frequent extension to `found`. `levels` are the buffers of
/// the deeper recursion levels.
fn grow(
    tree: &Tree,
    scratch: &mut Scratch,
    to_top: &[u32],
    levels: &mut [Level],
    prefix: &mut Vec<u32>,
    params: MineParams,
    found: &mut Found,
) {
    if tree.items() == 0 {
        return;
    }
    let room = params.max_len.map_or(usize::MAX, |m| m - prefix.len());
    if room == 0 {
        return;
    }
    if tree.is_single_path() {
        // Every non-empty combination of the path's items is frequent, with the count
        // of its deepest (least frequent) item: node k + 1 holds rank k.
        combinations(to_top, &tree.count[1..], 0, room, prefix, found);
        return;
    }
    for rank in (0..tree.items() as u32).rev() {
        prefix.push(to_top[rank as usize]);
        found.add(prefix, tree.totals[rank as usize]);
        if room > 1 {
            let (level, deeper) = levels.split_first_mut().expect("one level per depth");
            project(
                tree,
                rank,
                params.min_count,
                scratch,
                &mut level.tree,
                &mut level.to_parent,
            );
            level.to_top.clear();
            level
                .to_top
                .extend(level.to_parent.iter().map(|&r| to_top[r as usize]));
            grow(
                &level.tree,
                &mut level.scratch,
                &level.to_top,
                deeper,
                prefix,
                params,
                found,
            );
        }
        prefix.pop();
    }
}

/// Every combination of the single path's `items[start..]` (at most `room` of them) after
/// `prefix`, with the count of its deepest item (`counts[i]` is `items[i]`'s).
fn combinations(
    items: &[u32],
    counts: &[u64],
    start: usize,
    room: usize,
    prefix: &mut Vec<u32>,
    found: &mut Found,
) {
    for i in start..items.len() {
        prefix.push(items[i]);
        // Counts only shrink down the path: the deepest chosen item's count.
        found.add(prefix, counts[i]);
        if room > 1 {
            combinations(items, counts, i + 1, room - 1, prefix, found);
        }
        prefix.pop();
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

    /// Every itemset of every basket, counted: exact for any number of items, as long as
    /// baskets are short.
    fn subsets_counted(baskets: &[(Vec<u32>, u64)], params: MineParams) -> Vec<Itemset> {
        let mut counts: std::collections::HashMap<Vec<u32>, u64> = Default::default();
        for (b, w) in baskets {
            let mut b = b.clone();
            b.sort_unstable();
            b.dedup();
            for mask in 1u32..(1 << b.len()) {
                let items: Vec<u32> = (0..b.len())
                    .filter(|k| mask & (1 << k) != 0)
                    .map(|k| b[k])
                    .collect();
                if params.max_len.is_none_or(|m| items.len() <= m) {
                    *counts.entry(items).or_default() += w;
                }
            }
        }
        let mut out: Vec<Itemset> = counts
            .into_iter()
            .filter(|(_, c)| *c >= params.min_count)
            .map(|(items, count)| Itemset { items, count })
            .collect();
        out.sort_unstable();
        out
    }

    #[test]
    fn matches_subset_counting_over_thousands_of_items_and_weights() {
        // Many items make sort keys wide (several radix passes) and conditional trees
        // sparse; weights stand for repeated baskets.
        for seed in 0..24u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let n_items = rng.random_range(2..=4000);
            let n_baskets = rng.random_range(1..=300);
            let popular = rng.random_range(2..=n_items.min(40));
            let baskets: Vec<(Vec<u32>, u64)> = (0..n_baskets)
                .map(|_| {
                    let len = rng.random_range(0..=8);
                    let items = (0..len)
                        .map(|_| {
                            if rng.random_bool(0.8) {
                                (rng.random::<f64>().powi(2) * popular as f64) as u32
                            } else {
                                rng.random_range(0..n_items as u32)
                            }
                        })
                        .collect();
                    (items, rng.random_range(1..=3))
                })
                .collect();
            let mut weighted = Baskets::new();
            for (b, w) in &baskets {
                weighted.push(b, *w);
            }
            for min_count in [1, 2, 4, 9] {
                for max_len in [None, Some(2), Some(3)] {
                    let params = MineParams { min_count, max_len };
                    let got = mine_weighted(weighted.clone(), n_items, params);
                    let want = subsets_counted(&baskets, params);
                    assert_eq!(
                        got, want,
                        "seed {seed}, {n_items} items, min_count {min_count}, max_len {max_len:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn same_itemsets_on_any_number_of_threads() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let baskets: Vec<Vec<u32>> = (0..2000)
            .map(|_| {
                let len = rng.random_range(1..=12);
                (0..len)
                    .map(|_| (rng.random::<f64>().powi(3) * 300.0) as u32)
                    .collect()
            })
            .collect();
        let params = MineParams {
            min_count: 5,
            max_len: None,
        };
        let on = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("thread pool")
                .install(|| frequent_itemsets(&baskets, 300, params))
        };
        let one = on(1);
        assert!(one.len() > 1000, "{} itemsets", one.len());
        assert_eq!(on(2), one);
        assert_eq!(on(5), one);
    }

    #[test]
    fn weights_beyond_u32_are_counted_whole() {
        let big = 5_000_000_000u64;
        let mut baskets = Baskets::new();
        baskets.push(&[2, 1, 2], big);
        baskets.push(&[2], 3);
        let got = mine_weighted(
            baskets,
            3,
            MineParams {
                min_count: 4,
                max_len: None,
            },
        );
        let set = |items: &[u32], count| Itemset {
            items: items.to_vec(),
            count,
        };
        assert_eq!(
            got,
            vec![set(&[1], big), set(&[1, 2], big), set(&[2], big + 3)]
        );
    }

    #[test]
    fn radix_sort_is_a_stable_sort() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for bits in [1, 5, 11, 12, 23, 40] {
            let mut v: Vec<(u64, u32)> = (0..5000u32)
                .map(|k| (rng.random::<u64>() >> (64 - bits), k))
                .collect();
            let mut want = v.clone();
            want.sort_by_key(|x| x.0);
            radix_sort(&mut v, |x| x.0, bits);
            assert_eq!(v, want, "{bits} bits");
        }
        let mut empty: Vec<(u64, u32)> = Vec::new();
        radix_sort(&mut empty, |x| x.0, 30);
        assert!(empty.is_empty());
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
