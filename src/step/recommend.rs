//! The `recommend` step: per-member product (or category) recommendations from ranked
//! basket rules. See [`crate::rules::recommend`] for the scoring.
//!
//! ```toml
//! [[steps]]
//! type = "recommend"
//! rules = "basket_rules"              # antecedent, consequent (list<utf8>), confidence, lift, rank
//! history = "member_recent_items"     # one row per (member, item) bought in the window
//! member_column = "member_id"         # default
//! item_column = "item"                # default
//! consumables = "consumable_items"    # optional: items (column item_column) bought again and again
//! top_n = 5                           # default
//! min_confidence = 0.0                # default: every rule in the rules table
//! item_output_column = "product_id"   # default: the name of the item column written
//! output = "recommendations"          # default
//! ```
//!
//! Output: member_id, rank (1 = best), the item column, score (the confidence of the
//! rule behind it), lift, rule_rank (the rule's `rank` in the rules table), reason
//! ("bought A + B → C (conf 0.62, lift 2.40)", with names where the rules table has
//! `antecedent_names` / `consequent_names`), as_of. Members with no applicable rule get
//! no rows.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int32Array, Int64Array, ListArray, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::logical_expr::{cast, col, ident, lit};
use futures::FutureExt;
use futures::StreamExt;
use futures::future::BoxFuture;
use serde::Deserialize;

use super::{DeclaredStep, Step, StepContext, StepParams, check_identifiers, table_error};
use crate::columns::require_columns;
use crate::error::{Result, SiyuError};
use crate::held::{map_bytes, string_bytes, vec_bytes};
use crate::rules::recommend::{Recommender, ScoredRule};

const KIND: &str = "recommend";

/// A recommend step: its `[[steps]]` parameters (the module docs list them), checked once by
/// [`StepParams::validate`].
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecommendStep {
    rules: String,
    history: String,
    member_column: String,
    item_column: String,
    consumables: Option<String>,
    top_n: usize,
    min_confidence: f64,
    item_output_column: String,
    output: String,
}

impl Default for RecommendStep {
    fn default() -> Self {
        RecommendStep {
            rules: String::new(),
            history: String::new(),
            member_column: "member_id".into(),
            item_column: "item".into(),
            consumables: None,
            top_n: 5,
            min_confidence: 0.0,
            item_output_column: "product_id".into(),
            output: "recommendations".into(),
        }
    }
}

/// Columns of the output besides the item column.
const OUTPUT_COLUMNS: [&str; 7] = [
    "member_id",
    "rank",
    "score",
    "lift",
    "rule_rank",
    "reason",
    "as_of",
];

impl StepParams for RecommendStep {
    fn validate(&self) -> std::result::Result<(), String> {
        for (name, value) in [("rules", &self.rules), ("history", &self.history)] {
            if value.is_empty() {
                return Err(format!("missing field `{name}`"));
            }
        }
        if self.top_n == 0 {
            return Err("top_n must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.min_confidence) {
            return Err(format!(
                "min_confidence must be in [0, 1], found {}",
                self.min_confidence
            ));
        }
        check_identifiers([&self.output, &self.item_output_column])?;
        if OUTPUT_COLUMNS.contains(&self.item_output_column.as_str()) {
            return Err(format!(
                "item_output_column {:?} clashes with another output column",
                self.item_output_column
            ));
        }
        Ok(())
    }
}

const RULE_COLUMNS: [&str; 5] = ["antecedent", "consequent", "confidence", "lift", "rank"];

impl DeclaredStep for RecommendStep {
    const KIND: &'static str = KIND;
}

/// Rules over item codes, with the text that explains each one.
struct LoadedRules {
    rules: Vec<ScoredRule>,
    reasons: Vec<String>,
    codes: HashMap<String, u32>,
    labels: Vec<String>,
}

impl RecommendStep {
    fn schema(&self) -> SchemaRef {
        crate::outputs::recommendations(&self.item_output_column)
    }

    /// The step's `what` table lacks a column ("rules table x has no column y").
    fn missing(&self, what: &str, e: SiyuError) -> SiyuError {
        let message = format!("{what} {}", e.message);
        table_error(KIND, SiyuError { message, ..e })
    }

    async fn load_rules(&self, ctx: &StepContext) -> Result<LoadedRules> {
        let df = ctx.table(&self.rules).await?;
        let has_names = ["antecedent_names", "consequent_names"]
            .iter()
            .all(|c| df.schema().field_with_unqualified_name(c).is_ok());
        let mut cols = vec![
            col("antecedent"),
            col("consequent"),
            cast(col("confidence"), DataType::Float64).alias("confidence"),
            cast(col("lift"), DataType::Float64).alias("lift"),
            cast(col("rank"), DataType::Int64).alias("rank"),
        ];
        if has_names {
            cols.push(col("antecedent_names"));
            cols.push(col("consequent_names"));
        }
        let df = df
            .filter(
                col("lift")
                    .gt(lit(1.0))
                    .and(col("confidence").gt_eq(lit(self.min_confidence))),
            )?
            .select(cols)?
            .sort(vec![col("rank").sort(true, true)])?;
        let mut loaded = LoadedRules {
            rules: Vec::new(),
            reasons: Vec::new(),
            codes: HashMap::new(),
            labels: Vec::new(),
        };
        let code = |loaded: &mut LoadedRules, label: &str| -> u32 {
            if let Some(&c) = loaded.codes.get(label) {
                return c;
            }
            let c = loaded.labels.len() as u32;
            loaded.labels.push(label.to_string());
            loaded.codes.insert(label.to_string(), c);
            c
        };
        let strings = |a: &ListArray, r: usize| -> Vec<Option<String>> {
            let v = a.value(r);
            let s = v.as_string::<i32>();
            (0..s.len())
                .map(|i| s.is_valid(i).then(|| s.value(i).to_string()))
                .collect()
        };
        for b in df.collect().await? {
            let (ante, cons) = (b.column(0).as_list::<i32>(), b.column(1).as_list::<i32>());
            let conf = b
                .column(2)
                .as_primitive::<datafusion::arrow::datatypes::Float64Type>();
            let lift = b
                .column(3)
                .as_primitive::<datafusion::arrow::datatypes::Float64Type>();
            let rank = b
                .column(4)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            for r in 0..b.num_rows() {
                let a: Vec<String> = strings(ante, r).into_iter().flatten().collect();
                let c: Vec<String> = strings(cons, r).into_iter().flatten().collect();
                if a.is_empty() || c.is_empty() || conf.is_null(r) || lift.is_null(r) {
                    continue;
                }
                let label = |ids: &[String], names: Option<Vec<Option<String>>>| -> String {
                    ids.iter()
                        .enumerate()
                        .map(|(i, id)| {
                            names
                                .as_ref()
                                .and_then(|n| n.get(i).cloned().flatten())
                                .unwrap_or_else(|| id.clone())
                        })
                        .collect::<Vec<_>>()
                        .join(" + ")
                };
                let (an, cn) = if has_names {
                    (
                        Some(strings(b.column(5).as_list::<i32>(), r)),
                        Some(strings(b.column(6).as_list::<i32>(), r)),
                    )
                } else {
                    (None, None)
                };
                let (cf, lf) = (conf.value(r), lift.value(r));
                loaded.reasons.push(format!(
                    "bought {} → {} (conf {cf:.2}, lift {lf:.2})",
                    label(&a, an),
                    label(&c, cn)
                ));
                let mut antecedent: Vec<u32> = a.iter().map(|s| code(&mut loaded, s)).collect();
                antecedent.sort_unstable();
                antecedent.dedup();
                let consequent: Vec<u32> = c.iter().map(|s| code(&mut loaded, s)).collect();
                loaded.rules.push(ScoredRule {
                    antecedent,
                    consequent,
                    confidence: cf,
                    lift: lf,
                    rank: if rank.is_null(r) {
                        i64::MAX
                    } else {
                        rank.value(r)
                    },
                });
            }
        }
        Ok(loaded)
    }

    /// Items of `table.column` that are known to the rules.
    async fn item_set(
        &self,
        ctx: &StepContext,
        table: &str,
        codes: &HashMap<String, u32>,
    ) -> Result<HashSet<u32>> {
        let df = ctx.table(table).await?.select(vec![
            cast(ident(&self.item_column), DataType::Utf8).alias("item"),
        ])?;
        let mut out = HashSet::new();
        for b in df.collect().await? {
            let s = b.column(0).as_string::<i32>();
            for r in 0..b.num_rows() {
                if s.is_valid(r)
                    && let Some(&c) = codes.get(s.value(r))
                {
                    out.insert(c);
                }
            }
        }
        Ok(out)
    }

    /// Each member's recent items that the rules know, sorted by member id.
    async fn histories(
        &self,
        ctx: &StepContext,
        codes: &HashMap<String, u32>,
    ) -> Result<(Vec<String>, Vec<Vec<u32>>)> {
        let df = ctx.table(&self.history).await?.select(vec![
            cast(ident(&self.member_column), DataType::Utf8).alias("member"),
            cast(ident(&self.item_column), DataType::Utf8).alias("item"),
        ])?;
        let mut at: HashMap<String, usize> = HashMap::new();
        let mut members: Vec<(String, Vec<u32>)> = Vec::new();
        let mut stream = df.execute_stream().await?;
        while let Some(b) = stream.next().await {
            let b = b?;
            let (m, i) = (
                b.column(0).as_string::<i32>(),
                b.column(1).as_string::<i32>(),
            );
            for r in 0..b.num_rows() {
                if m.is_null(r) || i.is_null(r) {
                    continue;
                }
                let Some(&c) = codes.get(i.value(r)) else {
                    continue;
                };
                let k = match at.get(m.value(r)) {
                    Some(&k) => k,
                    None => {
                        at.insert(m.value(r).to_string(), members.len());
                        members.push((m.value(r).to_string(), Vec::new()));
                        members.len() - 1
                    }
                };
                members[k].1.push(c);
            }
        }
        members.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let (ids, mut items): (Vec<String>, Vec<Vec<u32>>) = members.into_iter().unzip();
        for v in &mut items {
            v.sort_unstable();
            v.dedup();
        }
        Ok((ids, items))
    }
}

impl Step for RecommendStep {
    fn name(&self) -> &str {
        &self.output
    }
    fn reads(&self) -> Vec<String> {
        let mut r = vec![self.rules.clone(), self.history.clone()];
        r.extend(self.consumables.clone());
        r
    }
    fn writes(&self) -> Vec<String> {
        vec![self.output.clone()]
    }

    fn plan<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Vec<(String, SchemaRef)>>> {
        async move {
            let rules = ctx.table(&self.rules).await?;
            require_columns(rules.schema(), &self.rules, &RULE_COLUMNS)
                .map_err(|e| self.missing("rules", e))?;
            let history = ctx.table(&self.history).await?;
            require_columns(
                history.schema(),
                &self.history,
                &[&self.member_column, &self.item_column],
            )
            .map_err(|e| self.missing("history", e))?;
            if let Some(t) = &self.consumables {
                let df = ctx.table(t).await?;
                require_columns(df.schema(), t, &[&self.item_column])
                    .map_err(|e| self.missing("consumables", e))?;
            }
            Ok(vec![(self.output.clone(), self.schema())])
        }
        .boxed()
    }

    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<()>> {
        async move {
            let loaded = self.load_rules(ctx).await?;
            let consumable = match &self.consumables {
                Some(t) => self.item_set(ctx, t, &loaded.codes).await?,
                None => HashSet::new(),
            };
            let (ids, items) = self.histories(ctx, &loaded.codes).await?;
            // Held from here: the rules and their labels, each member's id and recent
            // items, then their picks and the output's columns.
            let mut held = crate::held::Held::new(&ctx.session, "the members' recent items");
            let index_bytes = vec_bytes(&loaded.rules)
                + string_bytes(&loaded.reasons)
                + 2 * string_bytes(&loaded.labels)
                + map_bytes::<String, u32>(loaded.codes.capacity());
            let history_bytes = string_bytes(&ids)
                + vec_bytes(&ids)
                + vec_bytes(&items)
                + items.iter().map(vec_bytes).sum::<usize>();
            held.set(index_bytes + history_bytes)?;
            let is_consumable = |i: u32| consumable.contains(&i);
            let picks = tokio::task::block_in_place(|| {
                Recommender::new(&loaded.rules, &is_consumable, self.top_n).for_all(&items)
            });
            let rows: usize = picks.iter().map(Vec::len).sum();
            // Picks, and the output's columns about to be built (ids and item codes of
            // about 8 bytes, reasons of about 48, four numbers).
            let picks_bytes = vec_bytes(&picks) + picks.iter().map(vec_bytes).sum::<usize>();
            held.set(
                index_bytes + history_bytes + picks_bytes + rows * (8 + 8 + 48 + 3 * 4 + 2 * 8 + 4),
            )?;
            tracing::info!(
                step = %self.output,
                rules = loaded.rules.len(),
                members_with_history = ids.len(),
                members_recommended = picks.iter().filter(|v| !v.is_empty()).count(),
                rows,
                "recommended"
            );
            let as_of = ctx.as_of_date32();
            let mut member = StringBuilder::with_capacity(rows, rows * 8);
            let mut item = StringBuilder::with_capacity(rows, rows * 8);
            let mut reason = StringBuilder::with_capacity(rows, rows * 48);
            let (mut rank, mut score, mut lift, mut rule_rank) = (
                Vec::with_capacity(rows),
                Vec::with_capacity(rows),
                Vec::with_capacity(rows),
                Vec::with_capacity(rows),
            );
            for (id, member_picks) in ids.iter().zip(&picks) {
                for (k, pick) in member_picks.iter().enumerate() {
                    let rule = &loaded.rules[pick.rule];
                    member.append_value(id);
                    item.append_value(&loaded.labels[pick.item as usize]);
                    reason.append_value(&loaded.reasons[pick.rule]);
                    rank.push(k as i32 + 1);
                    score.push(rule.confidence);
                    lift.push(rule.lift);
                    rule_rank.push(rule.rank);
                }
            }
            let batch = crate::columns::batch(
                self.schema(),
                vec![
                    Arc::new(member.finish()) as ArrayRef,
                    Arc::new(Int32Array::from(rank)),
                    Arc::new(item.finish()),
                    Arc::new(Float64Array::from(score)),
                    Arc::new(Float64Array::from(lift)),
                    Arc::new(Int64Array::from(rule_rank)),
                    Arc::new(reason.finish()),
                    crate::columns::as_of_column(as_of, rows),
                ],
                &self.output,
            )?;
            // Only the batch is needed now: the rest goes back before it is sorted and
            // written (the sort holds a sorted copy).
            drop((ids, items, picks, loaded));
            held.set(batch.get_array_memory_size())?;
            ctx.write_batch(&self.output, batch).await?;
            Ok(())
        }
        .boxed()
    }
}
