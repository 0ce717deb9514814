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

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::lit;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Deserialize;

use super::{Step, StepContext};
use crate::error::{ErrorClass, Problem, Result, SiyuError};
use crate::rules::table::{
    RuleParams, itemsets_batch, itemsets_schema, mine, names, rules_batch, rules_schema,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    baskets: String,
    #[serde(default = "default_basket")]
    basket_column: String,
    #[serde(default = "default_item")]
    item_column: String,
    min_support: f64,
    #[serde(default)]
    min_confidence: f64,
    #[serde(default)]
    max_len: Option<usize>,
    #[serde(default)]
    multi_consequent: bool,
    #[serde(default)]
    names: Option<String>,
    #[serde(default = "default_names_key")]
    names_key: String,
    #[serde(default = "default_names_value")]
    names_value: String,
    #[serde(default = "default_output")]
    output: String,
    #[serde(default)]
    itemsets_output: Option<String>,
}

fn default_basket() -> String {
    "basket".into()
}
fn default_item() -> String {
    "item".into()
}
fn default_names_key() -> String {
    "product_id".into()
}
fn default_names_value() -> String {
    "name".into()
}
fn default_output() -> String {
    "basket_rules".into()
}

pub struct RulesStep {
    params: Params,
    rule: RuleParams,
    at: String,
}

impl RulesStep {
    /// Build from a `[[steps]]` entry, checking every parameter.
    pub fn build(table: &toml::Table, at: &str) -> std::result::Result<RulesStep, Problem> {
        let problem = |m: String| Problem::new(ErrorClass::Config, at, m);
        let params = Params::deserialize(toml::Value::Table(table.clone()))
            .map_err(|e| problem(format!("rules step: {}", e.message())))?;
        let rule = RuleParams {
            min_support: params.min_support,
            min_confidence: params.min_confidence,
            max_len: params.max_len,
            multi_consequent: params.multi_consequent,
        };
        rule.check()
            .map_err(|m| problem(format!("rules step: {m}")))?;
        for name in std::iter::once(&params.output).chain(params.itemsets_output.iter()) {
            if !crate::job::is_identifier(name) {
                return Err(problem(format!(
                    "rules step: output name {name:?} must be lowercase letters, digits and _"
                )));
            }
        }
        Ok(RulesStep {
            params,
            rule,
            at: at.to_string(),
        })
    }

    fn with_as_of(schema: &SchemaRef) -> SchemaRef {
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new("as_of", DataType::Date32, false));
        Arc::new(Schema::new(fields))
    }
}

impl Step for RulesStep {
    fn name(&self) -> &str {
        &self.params.output
    }
    fn kind(&self) -> &'static str {
        "rules"
    }
    fn source(&self) -> String {
        self.at.clone()
    }
    fn reads(&self) -> Vec<String> {
        let mut r = vec![self.params.baskets.clone()];
        r.extend(self.params.names.clone());
        r
    }
    fn writes(&self) -> Vec<String> {
        let mut w = vec![self.params.output.clone()];
        w.extend(self.params.itemsets_output.clone());
        w
    }

    fn plan<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Vec<(String, SchemaRef)>>> {
        async move {
            let p = &self.params;
            let baskets = ctx.table(&p.baskets).await?;
            for c in [&p.basket_column, &p.item_column] {
                if baskets.schema().field_with_unqualified_name(c).is_err() {
                    return Err(SiyuError::config(format!(
                        "{}: rules step: table {} has no column {c}",
                        self.at, p.baskets
                    )));
                }
            }
            if let Some(n) = &p.names {
                let t = ctx.table(n).await?;
                for c in [&p.names_key, &p.names_value] {
                    if t.schema().field_with_unqualified_name(c).is_err() {
                        return Err(SiyuError::config(format!(
                            "{}: rules step: names table {n} has no column {c}",
                            self.at
                        )));
                    }
                }
            }
            let mut out = vec![(p.output.clone(), Self::with_as_of(&rules_schema()))];
            if let Some(i) = &p.itemsets_output {
                out.push((i.clone(), Self::with_as_of(&itemsets_schema())));
            }
            Ok(out)
        }
        .boxed()
    }

    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<()>> {
        async move {
            let p = &self.params;
            let baskets = ctx.table(&p.baskets).await?;
            let mined = mine(baskets, &p.basket_column, &p.item_column, &self.rule).await?;
            crate::failpoint::hit("rules_mined");
            let lookup = match &p.names {
                Some(n) => Some(names(ctx.table(n).await?, &p.names_key, &p.names_value).await?),
                None => None,
            };
            tracing::info!(
                step = %p.output,
                baskets = mined.baskets,
                items = mined.labels.len(),
                itemsets = mined.itemsets.len(),
                rules = mined.rules.len(),
                "mined"
            );
            let as_of = lit(ScalarValue::Date32(Some(ctx.as_of_date32())));
            let rules = ctx
                .session
                .read_batch(rules_batch(&mined, lookup.as_ref())?)?
                .with_column("as_of", as_of.clone())?;
            ctx.write(&p.output, rules).await?;
            if let Some(i) = &p.itemsets_output {
                let sets = ctx
                    .session
                    .read_batch(itemsets_batch(&mined)?)?
                    .with_column("as_of", as_of)?;
                ctx.write(i, sets).await?;
            }
            Ok(())
        }
        .boxed()
    }
}
