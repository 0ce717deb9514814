//! Returns booked as negative lines (the UCI Online Retail layout: a cancellation invoice
//! whose lines carry negative quantities): lines of refunded or cancelled orders are
//! returns — counted as such, kept, never spend — while a negative line of a paid order is
//! still a bad row.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::TimestampMicrosecondArray;
use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};

use crate::common::*;

const AS_OF: &str = "2026-02-01";

/// One order with one line: (order id, member, status, quantity, unit price).
type Line = (String, i64, &'static str, i64, f64);

/// 100 paid orders of quantity 2 × 10.00 (members 1 and 2 in turn, through January
/// 2026), then `extra` orders.
fn export(dir: &Path, extra: &[Line]) {
    let mut lines: Vec<Line> = (0..100)
        .map(|i| (format!("o{i:03}"), 1 + i % 2, "paid", 2, 10.0))
        .collect();
    lines.extend(extra.iter().cloned());
    let members = batch(vec![
        (
            "member_id",
            Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef,
        ),
        (
            "joined_at",
            Arc::new(TimestampMicrosecondArray::from(vec![
                ts(
                    "2024-01-01 00:00:00"
                );
                3
            ])),
        ),
    ]);
    write_batch(&dir.join("members.parquet"), &members);
    let at: Vec<i64> = (0..lines.len())
        .map(|i| ts("2026-01-01 10:00:00") + i as i64 * 600_000_000)
        .collect();
    // Order totals are what the export states: positive, the sum of the goods (a
    // cancellation invoice's total as its absolute value).
    let total: Vec<f64> = lines.iter().map(|l| (l.3 as f64 * l.4).abs()).collect();
    let orders = batch(vec![
        (
            "order_id",
            Arc::new(StringArray::from_iter_values(lines.iter().map(|l| &l.0))) as ArrayRef,
        ),
        (
            "member_id",
            Arc::new(Int64Array::from_iter_values(lines.iter().map(|l| l.1))),
        ),
        ("ordered_at", Arc::new(TimestampMicrosecondArray::from(at))),
        (
            "channel",
            Arc::new(StringArray::from(vec!["store"; lines.len()])),
        ),
        ("gross_amount", Arc::new(Float64Array::from(total.clone()))),
        (
            "discount_amount",
            Arc::new(Float64Array::from(vec![0.0; lines.len()])),
        ),
        ("paid_amount", Arc::new(Float64Array::from(total))),
        (
            "status",
            Arc::new(StringArray::from_iter_values(lines.iter().map(|l| l.2))),
        ),
    ]);
    write_batch(&dir.join("orders.parquet"), &orders);
    let items = batch(vec![
        (
            "order_id",
            Arc::new(StringArray::from_iter_values(lines.iter().map(|l| &l.0))) as ArrayRef,
        ),
        (
            "product_id",
            Arc::new(StringArray::from(vec!["p1"; lines.len()])),
        ),
        (
            "quantity",
            Arc::new(Int64Array::from_iter_values(lines.iter().map(|l| l.3))),
        ),
        (
            "unit_price",
            Arc::new(Float64Array::from_iter_values(lines.iter().map(|l| l.4))),
        ),
        (
            "line_amount",
            Arc::new(Float64Array::from_iter_values(
                lines.iter().map(|l| l.3 as f64 * l.4),
            )),
        ),
    ]);
    write_batch(&dir.join("order_items.parquet"), &items);
    let products = batch(vec![
        (
            "product_id",
            Arc::new(StringArray::from(vec!["p1"])) as ArrayRef,
        ),
        ("name", Arc::new(StringArray::from(vec!["伊利 纯牛奶"]))),
        ("category", Arc::new(StringArray::from(vec!["乳品"]))),
        ("list_price", Arc::new(Float64Array::from(vec![10.0]))),
    ]);
    write_batch(&dir.join("products.parquet"), &products);
}

fn check_row<'a>(
    rows: &'a [std::collections::BTreeMap<String, String>],
    check: &str,
) -> &'a std::collections::BTreeMap<String, String> {
    rows.iter()
        .find(|r| r["table"] == "order_items" && r["check"] == check)
        .unwrap_or_else(|| panic!("no order_items/{check} row: {rows:?}"))
}

/// Three return lines (2.9 % of the lines: over the 1 % that fails a night) and one
/// negative line of a paid order: the night runs; data_quality counts 3 returns (kept)
/// and 1 bad row (removed); member 1's refund rate counts its refunded order and its spend
/// only its 50 paid orders.
#[test]
fn return_lines_of_refunded_and_cancelled_orders_are_returns_not_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    export(
        d,
        &[
            ("C001".into(), 1, "refunded", -2, 10.0),
            ("C002".into(), 1, "cancelled", -1, 10.0),
            ("C003".into(), 1, "cancelled", -3, 10.0),
            ("o100".into(), 3, "paid", -1, 10.0),
        ],
    );
    let features = run_nightly_table(d, AS_OF, "member_features", &[]);
    let quality = text_rows(&d.join(format!("out/nightly/as_of={AS_OF}/data_quality.parquet")));
    let returns = check_row(&quality, "return_line");
    assert_eq!(
        (
            returns["rows_affected"].as_str(),
            returns["rows_total"].as_str(),
            returns["action"].as_str()
        ),
        ("3", "104", "kept"),
        "{returns:?}"
    );
    let bad = check_row(&quality, "bad_quantity_or_amount");
    assert_eq!(
        (bad["rows_affected"].as_str(), bad["action"].as_str()),
        ("1", "removed"),
        "{bad:?}"
    );
    // Member 1: 50 paid orders of 20.00, 1 refunded, 2 cancelled (not settled):
    // refund_rate = 1 / 51, half up to 4 places = 0.0196.
    let m1 = &features["1"];
    assert_eq!(m1["refund_rate"], "0.0196", "{m1:?}");
    assert_eq!(m1["total_spend_365d"], "1000.0", "{m1:?}");
    assert_eq!(m1["frequency"], "50", "{m1:?}");
}

/// Negative lines of paid orders are bad rows, returns or not: 3 of 103 lines fail the
/// night (exit 3, the check named).
#[test]
fn negative_lines_of_paid_orders_still_fail_the_night() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    export(
        d,
        &[
            ("o100".into(), 1, "paid", -2, 10.0),
            ("o101".into(), 2, "paid", -1, 10.0),
            ("o102".into(), 3, "paid", -3, 10.0),
        ],
    );
    let job = repo().join("jobs/nightly.toml");
    let o = siyu(
        &[
            "run",
            job.to_str().unwrap(),
            "--as-of",
            AS_OF,
            "--input-dir",
            d.to_str().unwrap(),
            "--out",
            d.join("out").to_str().unwrap(),
            "--param",
            "stale_export_fail_days=100000",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("bad_quantity_or_amount"), "{}", text(&o));
}
