//! `siyu rules` end to end on a small file with a known answer.

use std::sync::Arc;

use crate::common::*;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{Field, Schema};

#[test]
fn rules_command_writes_itemsets_and_ranked_rules() {
    let dir = tempfile::tempdir().unwrap();
    // Han et al.'s five baskets: f c a m p / f c a b m / f b / c b p / f c a m p.
    let baskets = ["fcamp", "fcabm", "fb", "cbp", "fcamp"];
    let (mut ids, mut items) = (Vec::new(), Vec::new());
    for (i, b) in baskets.iter().enumerate() {
        for c in b.chars() {
            ids.push(i as i64 + 100);
            items.push(c.to_string());
        }
    }
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new(
                "order_id",
                datafusion::arrow::datatypes::DataType::Int64,
                false,
            ),
            Field::new(
                "product",
                datafusion::arrow::datatypes::DataType::Utf8,
                false,
            ),
        ])),
        vec![
            Arc::new(Int64Array::from(ids)) as ArrayRef,
            Arc::new(StringArray::from(items)),
        ],
    )
    .unwrap();
    let input = dir.path().join("items.parquet");
    write_batch(&input, &batch);
    let (sets, rules) = (
        dir.path().join("sets.parquet"),
        dir.path().join("rules.parquet"),
    );
    let o = siyu(
        &[
            "rules",
            "--input",
            input.to_str().unwrap(),
            "--basket",
            "order_id",
            "--item",
            "product",
            "--min-support",
            "0.6",
            "--min-confidence",
            "0.9",
            "--itemsets",
            sets.to_str().unwrap(),
            "--out",
            rules.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("5 baskets, 6 items, 18 frequent itemsets"),
        "{}",
        text(&o)
    );
    let got: Vec<(Vec<String>, i64)> = read_parquet(&sets)
        .iter()
        .flat_map(|b| {
            let items = b.column(0).as_list::<i32>().clone();
            let counts = b
                .column(1)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .clone();
            (0..b.num_rows())
                .map(|r| {
                    let v = items.value(r);
                    let v = v.as_string::<i32>();
                    (
                        (0..v.len()).map(|k| v.value(k).to_string()).collect(),
                        counts.value(r),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(got.contains(&(vec!["a".into(), "c".into(), "f".into(), "m".into()], 3)));
    assert!(got.contains(&(vec!["b".into()], 3)));
    // Rules at confidence ≥ 0.9 with lift > 1, ranked: every rule's rank is its row.
    let b = &read_parquet(&rules)[0];
    let rank = b
        .column_by_name("rank")
        .unwrap()
        .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    assert!((0..b.num_rows()).all(|r| rank.value(r) == r as i64 + 1));
    assert!(b.num_rows() > 0);
    let bad = siyu(
        &[
            "rules",
            "--input",
            input.to_str().unwrap(),
            "--basket",
            "order_id",
            "--item",
            "product",
            "--min-support",
            "0",
        ],
        dir.path(),
    );
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("min_support must be in (0, 1]"));
}
