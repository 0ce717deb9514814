//! Mining rules from a table of (basket, item) rows and turning them back into Arrow.
//! Shared by the `rules` step and the `siyu rules` command.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, ListBuilder, RecordBatch, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::functions_aggregate::count::count_all;
use datafusion::functions_aggregate::expr_fn::{array_agg, min};
use datafusion::functions_nested::expr_fn::array_sort;
use datafusion::logical_expr::{cast, ident, lit};
use datafusion::prelude::DataFrame;
use futures::StreamExt;

use super::assoc::{Rule, rank, rules};
use super::fpgrowth::{Baskets, Itemset, MineParams, min_count_for, mine_weighted_within};
use crate::error::{Result, SiyuError};
use crate::held::{Held, map_bytes, string_bytes, vec_bytes};

/// What to mine and how.
#[derive(Debug, Clone)]
pub struct RuleParams {
    /// Fraction of baskets, 0 < s ≤ 1.
    pub min_support: f64,
    pub min_confidence: f64,
    pub max_len: Option<usize>,
    pub multi_consequent: bool,
}

impl RuleParams {
    /// Check the parameters once, before any work.
    pub fn check(&self) -> std::result::Result<(), String> {
        if !(self.min_support > 0.0 && self.min_support <= 1.0) {
            return Err(format!(
                "min_support must be in (0, 1], found {}",
                self.min_support
            ));
        }
        if !(0.0..=1.0).contains(&self.min_confidence) {
            return Err(format!(
                "min_confidence must be in [0, 1], found {}",
                self.min_confidence
            ));
        }
        if self.max_len == Some(0) {
            return Err("max_len must be at least 1".to_string());
        }
        Ok(())
    }
}

/// Frequent itemsets and ranked rules over item labels.
pub struct Mined {
    pub baskets: u64,
    /// Item code → label (e.g. product_id).
    pub labels: Vec<String>,
    pub itemsets: Vec<Itemset>,
    pub rules: Vec<Rule>,
    /// Seconds spent reading and grouping the rows, mining itemsets, and deriving rules.
    pub seconds: [f64; 3],
}

/// Read (basket, item) rows, group them into baskets, mine.
///
/// The engine does the grouping — on a cluster, the executors: rows become baskets (each
/// basket's distinct items, sorted) and identical baskets one row with their count as
/// weight, so the client receives each distinct basket once, not every order (the
/// miner's input is weighted anyway). Each distinct basket also carries the smallest
/// basket key it stands for, and they arrive in that order: item codes, which break ties
/// between equally ranked rules, are then given in order of first appearance in
/// (basket, item) order — what the rows themselves would give — whatever the engine's
/// threads or partitions.
/// What the miner holds (the distinct baskets, the item labels, then the FP-tree) is
/// reserved in `held`'s memory pool as it grows.
pub async fn mine(
    df: DataFrame,
    basket: &str,
    item: &str,
    params: &RuleParams,
    held: &mut Held,
) -> Result<Mined> {
    params.check().map_err(SiyuError::config)?;
    let df = df
        .select(vec![
            cast(ident(basket), DataType::Utf8).alias("basket"),
            cast(ident(item), DataType::Utf8).alias("item"),
        ])?
        .filter(
            ident("basket")
                .is_not_null()
                .and(ident("item").is_not_null()),
        )?
        // Distinct rows first, then a plain array_agg: DataFusion's grouped accumulator
        // for it holds a basket's items in shared arrays (array_agg(DISTINCT) keeps a set
        // per basket and needs several times the memory).
        .distinct()?
        .aggregate(
            vec![ident("basket")],
            vec![array_agg(ident("item")).alias("items")],
        )?
        .aggregate(
            vec![array_sort(ident("items"), lit("ASC"), lit("NULLS LAST")).alias("items")],
            vec![
                count_all().alias("weight"),
                min(ident("basket")).alias("first_basket"),
            ],
        )?
        .sort(vec![ident("first_basket").sort(true, true)])?;
    let started = std::time::Instant::now();
    let mut stream = df.execute_stream().await?;
    let mut codes: HashMap<String, u32> = HashMap::new();
    let mut labels: Vec<String> = Vec::new();
    let mut stored = Baskets::new();
    let mut current: Vec<u32> = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let lists = batch.column(0).as_list::<i32>();
        let weights = batch.column(1).as_primitive::<Int64Type>();
        let items = lists.values().as_string::<i32>();
        let offsets = lists.value_offsets();
        for r in 0..batch.num_rows() {
            current.clear();
            for i in offsets[r] as usize..offsets[r + 1] as usize {
                let label = items.value(i);
                let code = match codes.get(label) {
                    Some(&c) => c,
                    None => {
                        let c = labels.len() as u32;
                        labels.push(label.to_string());
                        codes.insert(label.to_string(), c);
                        c
                    }
                };
                current.push(code);
            }
            stored.push(&current, weights.value(r) as u64);
        }
        held.set(stored.heap_bytes() + label_bytes(&labels, &codes))?;
    }
    let baskets = stored.total_weight();
    let mine_params = MineParams {
        min_count: min_count_for(params.min_support, baskets.max(1)),
        max_len: params.max_len,
    };
    let read = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let labels_held = label_bytes(&labels, &codes);
    drop(codes);
    held.set(stored.heap_bytes() + stored.build_bytes() + labels_held)?;
    let itemsets = tokio::task::block_in_place(|| {
        mine_weighted_within(stored, labels.len(), mine_params, |tree| {
            held.set(tree + labels_held)
        })
    })?;
    let mining = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let found = rank(rules(
        &itemsets,
        baskets.max(1),
        params.min_confidence,
        params.multi_consequent,
    ));
    Ok(Mined {
        baskets,
        labels,
        itemsets,
        rules: found,
        seconds: [read, mining, started.elapsed().as_secs_f64()],
    })
}

/// Heap bytes of the item labels and their codes (each label is stored twice).
fn label_bytes(labels: &Vec<String>, codes: &HashMap<String, u32>) -> usize {
    2 * string_bytes(labels) + vec_bytes(labels) + map_bytes::<String, u32>(codes.capacity())
}

fn list_of(
    labels: &[String],
    rows: &[&[u32]],
    names: Option<&HashMap<String, String>>,
) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for row in rows {
        for &i in *row {
            let label = &labels[i as usize];
            match names {
                Some(n) => b.values().append_option(n.get(label)),
                None => b.values().append_value(label),
            }
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

fn labelled(mined: &Mined, items: &[u32]) -> Vec<u32> {
    let mut v = items.to_vec();
    v.sort_by(|&a, &b| mined.labels[a as usize].cmp(&mined.labels[b as usize]));
    v
}

/// The ranked rules as a `basket_rules` batch; `names` maps labels to display names.
pub fn rules_batch(mined: &Mined, names: Option<&HashMap<String, String>>) -> Result<RecordBatch> {
    let ante: Vec<Vec<u32>> = mined
        .rules
        .iter()
        .map(|r| labelled(mined, &r.antecedent))
        .collect();
    let cons: Vec<Vec<u32>> = mined
        .rules
        .iter()
        .map(|r| labelled(mined, &r.consequent))
        .collect();
    let a: Vec<&[u32]> = ante.iter().map(|v| v.as_slice()).collect();
    let c: Vec<&[u32]> = cons.iter().map(|v| v.as_slice()).collect();
    let f = |g: fn(&Rule) -> f64| {
        Arc::new(Float64Array::from_iter_values(mined.rules.iter().map(g))) as ArrayRef
    };
    let i = |g: fn(&Rule) -> u64| {
        Arc::new(Int64Array::from_iter_values(
            mined.rules.iter().map(|r| g(r) as i64),
        )) as ArrayRef
    };
    let empty = HashMap::new();
    RecordBatch::try_new(
        crate::outputs::basket_rules(),
        vec![
            Arc::new(Int64Array::from_iter_values(1..=mined.rules.len() as i64)),
            list_of(&mined.labels, &a, None),
            list_of(&mined.labels, &c, None),
            list_of(&mined.labels, &a, Some(names.unwrap_or(&empty))),
            list_of(&mined.labels, &c, Some(names.unwrap_or(&empty))),
            f(|r| r.support),
            f(|r| r.confidence),
            f(|r| r.lift),
            f(|r| r.leverage),
            f(|r| r.conviction),
            i(|r| r.antecedent_count),
            i(|r| r.consequent_count),
            i(|r| r.rule_count),
        ],
    )
    .map_err(|e| SiyuError::runtime(format!("building basket_rules: {e}")))
}

/// Every frequent itemset (items sorted by label), in a stable order: by length, then
/// items.
pub fn itemsets_batch(mined: &Mined) -> Result<RecordBatch> {
    let mut sets: Vec<(Vec<u32>, u64)> = mined
        .itemsets
        .iter()
        .map(|s| (labelled(mined, &s.items), s.count))
        .collect();
    sets.sort_by(|a, b| {
        a.0.len().cmp(&b.0.len()).then_with(|| {
            let la: Vec<&String> = a.0.iter().map(|&i| &mined.labels[i as usize]).collect();
            let lb: Vec<&String> = b.0.iter().map(|&i| &mined.labels[i as usize]).collect();
            la.cmp(&lb)
        })
    });
    let rows: Vec<&[u32]> = sets.iter().map(|(v, _)| v.as_slice()).collect();
    let n = mined.baskets.max(1) as f64;
    RecordBatch::try_new(
        crate::outputs::itemsets(),
        vec![
            list_of(&mined.labels, &rows, None),
            Arc::new(Int64Array::from_iter_values(
                sets.iter().map(|s| s.1 as i64),
            )),
            Arc::new(Float64Array::from_iter_values(
                sets.iter().map(|s| s.1 as f64 / n),
            )),
        ],
    )
    .map_err(|e| SiyuError::runtime(format!("building itemsets: {e}")))
}

/// A label → name map from two columns of a table (e.g. products' product_id → name).
pub async fn names(df: DataFrame, key: &str, value: &str) -> Result<HashMap<String, String>> {
    let df = df.select(vec![
        cast(ident(key), DataType::Utf8).alias("k"),
        cast(ident(value), DataType::Utf8).alias("v"),
    ])?;
    let mut out = HashMap::new();
    for b in df.collect().await? {
        let (k, v) = (
            b.column(0).as_string::<i32>(),
            b.column(1).as_string::<i32>(),
        );
        for r in 0..b.num_rows() {
            if k.is_valid(r) && v.is_valid(r) {
                out.insert(k.value(r).to_string(), v.value(r).to_string());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use datafusion::arrow::array::StringArray;
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::prelude::SessionContext;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::rules::fpgrowth::mine_weighted;

    /// What the engine's grouping must reproduce: rows grouped by basket in Rust, item
    /// codes by first appearance in (basket, item) order, every basket pushed once.
    fn by_hand(rows: &[(String, String)], params: &RuleParams) -> Mined {
        let mut baskets: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (b, i) in rows {
            baskets.entry(b).or_default().insert(i);
        }
        let (mut codes, mut labels) = (HashMap::new(), Vec::new());
        let mut stored = Baskets::new();
        for items in baskets.values() {
            let coded: Vec<u32> = items
                .iter()
                .map(|&i| {
                    *codes.entry(i).or_insert_with(|| {
                        labels.push(i.to_string());
                        labels.len() as u32 - 1
                    })
                })
                .collect();
            stored.push(&coded, 1);
        }
        let n = stored.total_weight();
        let mine_params = MineParams {
            min_count: min_count_for(params.min_support, n.max(1)),
            max_len: params.max_len,
        };
        let itemsets = mine_weighted(stored, labels.len(), mine_params);
        let found = rank(rules(&itemsets, n.max(1), params.min_confidence, false));
        Mined {
            baskets: n,
            labels,
            itemsets,
            rules: found,
            seconds: [0.0; 3],
        }
    }

    /// Baskets grouped by the engine — rows shuffled, repeated and split over two
    /// partitions — give the same item codes, itemsets and ranked rules (ties between
    /// equally ranked rules broken by those codes) as grouping the rows by hand.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn engine_grouped_baskets_mine_as_the_raw_rows() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let params = RuleParams {
            min_support: 0.05,
            min_confidence: 0.1,
            max_len: Some(3),
            multi_consequent: false,
        };
        for case in 0..6 {
            // Few items and many small baskets: identical baskets and tied rules abound.
            let items = rng.random_range(3..9);
            let mut rows: Vec<(String, String)> = Vec::new();
            for b in 0..rng.random_range(20..200) {
                for _ in 0..rng.random_range(1..5) {
                    let item = format!("p{}", rng.random_range(0..items));
                    rows.push((format!("o{:04}", (b * 7919) % 10_000), item));
                }
            }
            let mut shuffled = rows.clone();
            for i in (1..shuffled.len()).rev() {
                shuffled.swap(i, rng.random_range(0..=i));
            }
            let schema = Arc::new(Schema::new(vec![
                Field::new("order_id", DataType::Utf8, false),
                Field::new("product_id", DataType::Utf8, false),
            ]));
            let b = RecordBatch::try_new(
                schema,
                vec![
                    Arc::new(StringArray::from_iter_values(shuffled.iter().map(|r| &r.0))),
                    Arc::new(StringArray::from_iter_values(shuffled.iter().map(|r| &r.1))),
                ],
            )
            .unwrap();
            let ctx = SessionContext::new();
            let half = b.num_rows() / 2;
            ctx.register_batch("a", b.slice(0, half)).unwrap();
            ctx.register_batch("b", b.slice(half, b.num_rows() - half))
                .unwrap();
            let df = ctx
                .table("a")
                .await
                .unwrap()
                .union(ctx.table("b").await.unwrap())
                .unwrap();
            let mut held = Held::new(&ctx, "baskets");
            let got = mine(df, "order_id", "product_id", &params, &mut held)
                .await
                .unwrap();
            let want = by_hand(&rows, &params);
            assert_eq!(got.baskets, want.baskets, "case {case}");
            assert_eq!(got.labels, want.labels, "case {case}");
            let sets = |m: &Mined| -> Vec<(Vec<u32>, u64)> {
                let mut v: Vec<_> = m
                    .itemsets
                    .iter()
                    .map(|s| (s.items.clone(), s.count))
                    .collect();
                v.sort();
                v
            };
            assert_eq!(sets(&got), sets(&want), "case {case}");
            let ranked = |m: &Mined| -> Vec<(Vec<u32>, Vec<u32>, u64)> {
                m.rules
                    .iter()
                    .map(|r| (r.antecedent.clone(), r.consequent.clone(), r.rule_count))
                    .collect()
            };
            assert!(!want.rules.is_empty(), "case {case} has no rules");
            assert_eq!(ranked(&got), ranked(&want), "case {case}");
        }
    }
}
