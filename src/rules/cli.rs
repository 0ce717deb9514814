//! `siyu rules`: ad-hoc mining of one parquet file, outside any job.

use std::fmt::Write as _;
use std::path::Path;

use datafusion::arrow::array::RecordBatch;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use super::table::{RuleParams, itemsets_batch, mine, rules_batch};
use crate::error::{Result, SiyuError};
use crate::publish::{ParquetOptions, write_batches};

/// Mine `input` and write or print the results; returns the text to print.
pub async fn run(
    input: &str,
    basket: &str,
    item: &str,
    params: &RuleParams,
    itemsets: Option<&Path>,
    out: Option<&Path>,
) -> Result<String> {
    params.check().map_err(SiyuError::config)?;
    let ctx = SessionContext::new();
    let df = ctx
        .read_parquet(input, ParquetReadOptions::default())
        .await
        .map_err(|e| SiyuError::input(format!("cannot read parquet: {e}")).in_file(input))?;
    for c in [basket, item] {
        if df.schema().field_with_unqualified_name(c).is_err() {
            return Err(SiyuError::input(format!("no column {c}"))
                .in_file(input)
                .in_column(c));
        }
    }
    let started = std::time::Instant::now();
    let mut held = crate::held::Held::new(&ctx, "the baskets and the FP-tree");
    let mined = mine(df, basket, item, params, &mut held).await?;
    let seconds = started.elapsed().as_secs_f64();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{} baskets, {} items, {} frequent itemsets, {} rules (lift > 1) in {seconds:.3} s \
         (reading and grouping {:.3} s, itemsets {:.3} s, rules {:.3} s)",
        mined.baskets,
        mined.labels.len(),
        mined.itemsets.len(),
        mined.rules.len(),
        mined.seconds[0],
        mined.seconds[1],
        mined.seconds[2]
    );
    if let Some(path) = itemsets {
        write(path, &itemsets_batch(&mined)?)?;
    }
    let rules = rules_batch(&mined, None)?;
    match out {
        Some(path) => write(path, &rules)?,
        None => {
            for r in mined.rules.iter().take(20) {
                let names = |v: &[u32]| {
                    let mut n: Vec<&str> = v
                        .iter()
                        .map(|&i| mined.labels[i as usize].as_str())
                        .collect();
                    n.sort_unstable();
                    n.join(", ")
                };
                let _ = writeln!(
                    text,
                    "{{{}}} => {{{}}}  support {:.6}  confidence {:.6}  lift {:.6}",
                    names(&r.antecedent),
                    names(&r.consequent),
                    r.support,
                    r.confidence,
                    r.lift
                );
            }
        }
    }
    Ok(text)
}

fn write(path: &Path, batch: &RecordBatch) -> Result<()> {
    write_batches(
        path,
        batch.schema(),
        [batch],
        &ParquetOptions::working(Vec::new()),
    )
    .map(|_| ())
}
