//! The `rules` step: basket rules (购物篮规则) from a SQL table of (basket, item) rows.
//!
//! ```toml
//! [[steps]]
//! type = "rules"
//! baskets = "basket_items"      # a table with one row per (basket, item)
//! basket_column = "basket"      # default
//! item_column = "item"          # default
//! min_support = 0.001           # fraction of baskets, (0, 1]
//! min_confidence = 0.1          # default 0
//! max_len = 3                   # default: no limit
//! multi_consequent = false      # default: single-item consequents
//! names = "products"            # optional: label → name lookup for the *_names columns
//! names_key = "product_id"      # default
//! names_value = "name"          # default
//! output = "basket_rules"       # default
//! itemsets_output = "frequent_itemsets"  # optional
//! ```

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::lit;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Deserialize;

use super::{DeclaredStep, Step, StepContext, StepParams, check_identifiers, table_error};
use crate::columns::{require_columns, with_as_of};
use crate::error::Result;
use crate::manifest::{RulesDetails, StepDetails};
use crate::outputs;
use crate::rules::table::{RuleParams, itemsets_batch, mine, names, rules_batch};

const KIND: &str = "rules";

/// A rules step: its `[[steps]]` parameters (the module docs list them), checked once by
/// [`StepParams::validate`].
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesStep {
    baskets: String,
    basket_column: String,
    item_column: String,
    min_support: Option<f64>,
    min_confidence: f64,
    max_len: Option<usize>,
    multi_consequent: bool,
    names: Option<String>,
    names_key: String,
    names_value: String,
    output: String,
    itemsets_output: Option<String>,
}

impl Default for RulesStep {
    fn default() -> Self {
        RulesStep {
            baskets: String::new(),
            basket_column: "basket".into(),
            item_column: "item".into(),
            min_support: None,
            min_confidence: 0.0,
            max_len: None,
            multi_consequent: false,
            names: None,
            names_key: "product_id".into(),
            names_value: "name".into(),
            output: "basket_rules".into(),
            itemsets_output: None,
        }
    }
}

impl RulesStep {
    fn rule(&self) -> RuleParams {
        RuleParams {
            min_support: self.min_support.unwrap_or(f64::NAN),
            min_confidence: self.min_confidence,
            max_len: self.max_len,
            multi_consequent: self.multi_consequent,
        }
    }
}

impl StepParams for RulesStep {
    fn validate(&self) -> std::result::Result<(), String> {
        if self.baskets.is_empty() {
            return Err("missing field `baskets` (the table of (basket, item) rows)".into());
        }
        if self.min_support.is_none() {
            return Err("missing field `min_support`".into());
        }
        self.rule().check()?;
        check_identifiers(std::iter::once(&self.output).chain(&self.itemsets_output))
    }
}

impl DeclaredStep for RulesStep {
    const KIND: &'static str = KIND;
}

impl Step for RulesStep {
    fn name(&self) -> &str {
        &self.output
    }
    fn reads(&self) -> Vec<String> {
        let mut r = vec![self.baskets.clone()];
        r.extend(self.names.clone());
        r
    }
    fn writes(&self) -> Vec<String> {
        let mut w = vec![self.output.clone()];
        w.extend(self.itemsets_output.clone());
        w
    }

    fn plan<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Vec<(String, SchemaRef)>>> {
        async move {
            let baskets = ctx.table(&self.baskets).await?;
            require_columns(
                baskets.schema(),
                &self.baskets,
                &[&self.basket_column, &self.item_column],
            )
            .map_err(|e| table_error(KIND, e))?;
            if let Some(n) = &self.names {
                let t = ctx.table(n).await?;
                require_columns(t.schema(), n, &[&self.names_key, &self.names_value])
                    .map_err(|e| table_error(KIND, e.context("names")))?;
            }
            let mut out = vec![(self.output.clone(), with_as_of(&outputs::basket_rules()))];
            if let Some(i) = &self.itemsets_output {
                out.push((i.clone(), with_as_of(&outputs::itemsets())));
            }
            Ok(out)
        }
        .boxed()
    }

    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<()>> {
        async move {
            let baskets = ctx.table(&self.baskets).await?;
            let mut held = crate::held::Held::new(&ctx.session, "the baskets and the FP-tree");
            let mined = mine(
                baskets,
                &self.basket_column,
                &self.item_column,
                &self.rule(),
                &mut held,
            )
            .await?;
            // What stays is the rules: small beside the baskets.
            drop(held);
            crate::failpoint::hit("rules_mined");
            let lookup = match &self.names {
                Some(n) => {
                    Some(names(ctx.table(n).await?, &self.names_key, &self.names_value).await?)
                }
                None => None,
            };
            tracing::info!(
                step = %self.output,
                baskets = mined.baskets,
                items = mined.labels.len(),
                itemsets = mined.itemsets.len(),
                rules = mined.rules.len(),
                "mined"
            );
            ctx.detail(
                &self.output,
                StepDetails::Rules(RulesDetails {
                    baskets: mined.baskets,
                    items: mined.labels.len(),
                    itemsets: mined.itemsets.len(),
                    rules: mined.rules.len(),
                }),
            );
            let as_of = lit(ScalarValue::Date32(Some(ctx.as_of_date32())));
            let rules = ctx
                .batch_frame(rules_batch(&mined, lookup.as_ref())?)?
                .with_column("as_of", as_of.clone())?;
            ctx.write(&self.output, rules).await?;
            if let Some(i) = &self.itemsets_output {
                let sets = ctx
                    .batch_frame(itemsets_batch(&mined)?)?
                    .with_column("as_of", as_of)?;
                ctx.write(i, sets).await?;
            }
            Ok(())
        }
        .boxed()
    }
}
