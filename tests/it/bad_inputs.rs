//! Bad inputs, one case each: the error class (exit code), what the message names, and
//! that a failed run publishes nothing and leaves the previous night's output untouched.
//! Cases that are repaired instead (rows removed and counted) show the counts in
//! `data_quality`. docs/operations.md lists the same cases.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::common::*;
use datafusion::arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};

const AS_OF: &str = "2026-02-01";
const MEMBERS: i64 = 150;

fn members(ids: &[Option<i64>]) -> RecordBatch {
    batch(vec![
        (
            "member_id",
            Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef,
        ),
        (
            "joined_at",
            Arc::new(TimestampMicrosecondArray::from(vec![
                ts(
                    "2024-01-01 00:00:00"
                );
                ids.len()
            ])),
        ),
        (
            "consent_sms",
            Arc::new(BooleanArray::from(vec![Some(true); ids.len()])),
        ),
    ])
}

/// (order_id, member_id, local time, paid)
type O = (Option<String>, Option<i64>, i64, f64);

fn orders(rows: &[O]) -> RecordBatch {
    batch(vec![
        (
            "order_id",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "member_id",
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
        ),
        (
            "ordered_at",
            Arc::new(TimestampMicrosecondArray::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
        ),
        (
            "channel",
            Arc::new(StringArray::from(vec!["store"; rows.len()])),
        ),
        (
            "gross_amount",
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            )),
        ),
        (
            "discount_amount",
            Arc::new(Float64Array::from(vec![0.0; rows.len()])),
        ),
        (
            "paid_amount",
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            )),
        ),
        (
            "status",
            Arc::new(StringArray::from(vec!["paid"; rows.len()])),
        ),
    ])
}

/// (order_id, product_id, quantity, amount)
type I = (Option<String>, Option<String>, i64, f64);

fn items(rows: &[I]) -> RecordBatch {
    batch(vec![
        (
            "order_id",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "product_id",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
            )),
        ),
        (
            "quantity",
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
        ),
        (
            "unit_price",
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            )),
        ),
        (
            "line_amount",
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            )),
        ),
    ])
}

fn products(rows: &[(Option<&str>, &str)]) -> RecordBatch {
    batch(vec![
        (
            "product_id",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "name",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
        ),
        (
            "category",
            Arc::new(StringArray::from(vec!["乳品"; rows.len()])),
        ),
        (
            "list_price",
            Arc::new(Float64Array::from(vec![10.0; rows.len()])),
        ),
    ])
}

fn good_orders() -> Vec<O> {
    (1..=MEMBERS)
        .map(|m| {
            (
                Some(format!("o{m}")),
                Some(m),
                ts("2026-01-30 12:00:00"),
                100.0,
            )
        })
        .collect()
}

fn good_items() -> Vec<I> {
    (1..=MEMBERS)
        .map(|m| (Some(format!("o{m}")), Some("p1".to_string()), 1, 100.0))
        .collect()
}

/// A clean export of 150 members with one order of one item each, into `dir/in`.
fn export(dir: &Path) -> PathBuf {
    let d = dir.join("in");
    let ids: Vec<Option<i64>> = (1..=MEMBERS).map(Some).collect();
    write_batch(&d.join("members.parquet"), &members(&ids));
    write_batch(&d.join("orders.parquet"), &orders(&good_orders()));
    write_batch(&d.join("order_items.parquet"), &items(&good_items()));
    write_batch(
        &d.join("products.parquet"),
        &products(&[(Some("p1"), "伊利 纯牛奶"), (Some("p2"), "蒙牛 酸奶")]),
    );
    d
}

/// A job over the project's feature SQL plus `product_names` (names passed through).
fn job(dir: &Path) -> PathBuf {
    let extra = dir.join("sql");
    fs::create_dir_all(&extra).unwrap();
    fs::write(
        extra.join("product_names.sql"),
        "SELECT product_id, name, $as_of AS as_of FROM products",
    )
    .unwrap();
    let job = format!(
        r#"[job]
name = "bad"
timezone = "Asia/Shanghai"

[params]
frequency_window_days = {{ type = "int", default = 365 }}
spend_window_days = {{ type = "int", default = 365 }}
max_bad_row_share = {{ type = "float", default = 0.01 }}

[sql]
dirs = [{:?}, {:?}]

[publish]
tables = ["member_features", "product_names", "data_quality"]
"#,
        repo().join("sql/features").display().to_string(),
        extra.display().to_string()
    );
    let path = dir.join("bad.toml");
    fs::write(&path, job).unwrap();
    path
}

fn run(dir: &Path, extra: &[&str]) -> std::process::Output {
    let job = job(dir);
    let out = dir.join("out");
    let input = dir.join("in");
    let mut args = vec![
        "run",
        job.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--out",
        out.to_str().unwrap(),
        "--input-dir",
        input.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    siyu(&args, dir)
}

fn published(dir: &Path) -> PathBuf {
    dir.join(format!("out/bad/as_of={AS_OF}"))
}

/// A fresh directory with a clean export that has been published once.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    export(dir.path());
    let o = run(dir.path(), &[]);
    assert!(o.status.success(), "{}", text(&o));
    dir
}

/// The run fails with `code`, its stderr (or stdout for `check`) names every `expect`,
/// and the previous output is exactly as it was.
fn assert_fails(dir: &Path, extra: &[&str], code: i32, expect: &[&str]) {
    let before: Vec<(String, Vec<u8>)> = fs::read_dir(published(dir))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    let o = run(dir, extra);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(code), "{all}");
    for e in expect {
        assert!(all.contains(e), "expected {e:?} in:\n{all}");
    }
    for (name, bytes) in before {
        assert_eq!(
            fs::read(published(dir).join(&name)).unwrap(),
            bytes,
            "{name} changed"
        );
    }
    let hidden: Vec<_> = fs::read_dir(dir.join("out/bad"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".staging") || n.starts_with(".replaced"))
        .collect();
    assert!(hidden.is_empty(), "left behind: {hidden:?}");
}

fn input(dir: &Path, table: &str) -> PathBuf {
    dir.join("in").join(format!("{table}.parquet"))
}

/// data_quality's rows_affected for (table, check).
fn quality(dir: &Path, table: &str, check: &str) -> String {
    use datafusion::arrow::util::display::array_value_to_string;
    for b in read_parquet(&published(dir).join("data_quality.parquet")) {
        for r in 0..b.num_rows() {
            let v = |c: &str| array_value_to_string(b.column_by_name(c).unwrap(), r).unwrap();
            if v("table") == table && v("check") == check {
                return v("rows_affected");
            }
        }
    }
    panic!("no data_quality row for {table}.{check}");
}

// ---- files ------------------------------------------------------------------------

#[test]
fn file_level_problems_are_input_errors_naming_the_file() {
    let dir = setup();
    let d = dir.path();
    let good = fs::read(input(d, "members")).unwrap();

    // 1. missing file
    fs::rename(input(d, "orders"), d.join("orders.bak")).unwrap();
    assert_fails(d, &[], 3, &["orders", "required"]);
    fs::rename(d.join("orders.bak"), input(d, "orders")).unwrap();
    // 2. empty file
    fs::write(input(d, "members"), b"").unwrap();
    assert_fails(d, &[], 3, &["members.parquet", "0 bytes"]);
    // 3. truncated parquet
    fs::write(input(d, "members"), &good[..good.len() / 2]).unwrap();
    assert_fails(
        d,
        &[],
        3,
        &["members.parquet", "not a readable parquet file"],
    );
    // 4. corrupt parquet: right magic, garbage inside
    let mut junk = b"PAR1".to_vec();
    junk.extend(std::iter::repeat_n(0xAB, 64));
    junk.extend(b"\x10\x00\x00\x00PAR1");
    fs::write(input(d, "members"), &junk).unwrap();
    assert_fails(
        d,
        &[],
        3,
        &["members.parquet", "not a readable parquet file"],
    );
    fs::write(input(d, "members"), &good).unwrap();
    // 5. a glob that matches nothing
    let glob = format!("orders={}/nothing/*.parquet", d.display());
    assert_fails(d, &["--input", &glob], 3, &["glob matched no file"]);
}

#[test]
fn schema_problems_name_the_table_column_and_expected_type() {
    let dir = setup();
    let d = dir.path();
    // 6. wrong column type: quantity as text
    let b = items(&good_items());
    let mut cols = b.columns().to_vec();
    cols[2] = Arc::new(StringArray::from(vec!["1"; MEMBERS as usize]));
    let mut fields: Vec<Field> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[2] = Field::new("quantity", DataType::Utf8, true);
    let bad = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
    write_batch(&input(d, "order_items"), &bad);
    assert_fails(
        d,
        &[],
        3,
        &[
            "order_items.quantity",
            "stored as Utf8",
            "expected an integer",
        ],
    );
    write_batch(&input(d, "order_items"), &items(&good_items()));
    // 7. missing required column
    let p = products(&[(Some("p1"), "x")]).project(&[0, 1, 3]).unwrap();
    write_batch(&input(d, "products"), &p);
    assert_fails(d, &[], 3, &["products.category", "missing"]);
    // 8. non-UTF-8 bytes: a binary name column is refused (string columns must be UTF-8)
    let p = batch(vec![
        (
            "product_id",
            Arc::new(StringArray::from(vec!["p1"])) as ArrayRef,
        ),
        (
            "name",
            Arc::new(BinaryArray::from(vec![&b"\xff\xfe milk"[..]])),
        ),
        ("category", Arc::new(StringArray::from(vec!["乳品"]))),
        ("list_price", Arc::new(Float64Array::from(vec![1.0]))),
    ]);
    write_batch(&input(d, "products"), &p);
    assert_fails(d, &[], 3, &["products.name", "Binary", "expected a string"]);
    // 9. mixed timezones between the files of one table
    fs::remove_file(input(d, "orders")).unwrap();
    let zoned = |tz: &str, id: &str| {
        batch(vec![
            (
                "order_id",
                Arc::new(StringArray::from(vec![id])) as ArrayRef,
            ),
            ("member_id", Arc::new(Int64Array::from(vec![1]))),
            (
                "ordered_at",
                Arc::new(
                    TimestampMicrosecondArray::from(vec![ts("2026-01-10 12:00:00")])
                        .with_timezone(tz),
                ),
            ),
            ("channel", Arc::new(StringArray::from(vec!["store"]))),
            ("gross_amount", Arc::new(Float64Array::from(vec![1.0]))),
            ("discount_amount", Arc::new(Float64Array::from(vec![0.0]))),
            ("paid_amount", Arc::new(Float64Array::from(vec![1.0]))),
            ("status", Arc::new(StringArray::from(vec!["paid"]))),
        ])
    };
    write_batch(&d.join("in/orders/a.parquet"), &zoned("UTC", "o1"));
    write_batch(
        &d.join("in/orders/b.parquet"),
        &zoned("Asia/Shanghai", "o2"),
    );
    let _ = TimeUnit::Microsecond;
    assert_fails(
        d,
        &[],
        3,
        &[
            "orders/a.parquet",
            "orders/b.parquet",
            "ordered_at",
            "must agree",
        ],
    );
}

// ---- rows ---------------------------------------------------------------------------

#[test]
fn broken_keys_are_refused_with_the_first_offending_id() {
    let dir = setup();
    let d = dir.path();
    let mut ids: Vec<Option<i64>> = (1..=MEMBERS).map(Some).collect();
    // 10. duplicate member_id
    ids.push(Some(7));
    write_batch(&input(d, "members"), &members(&ids));
    assert_fails(
        d,
        &[],
        3,
        &[
            "members",
            "duplicate_member_id",
            "2 rows",
            "first member_id: \"7\"",
        ],
    );
    // 11. zero members
    write_batch(&input(d, "members"), &members(&[]));
    assert_fails(
        d,
        &[],
        3,
        &["members", "no_rows", "the members table has no rows"],
    );
    ids.pop();
    write_batch(&input(d, "members"), &members(&ids));
    // 12. duplicate order_id
    let mut o = good_orders();
    o.push(o[3].clone());
    write_batch(&input(d, "orders"), &orders(&o));
    assert_fails(
        d,
        &[],
        3,
        &["orders", "duplicate_order_id", "first order_id: \"o4\""],
    );
    write_batch(&input(d, "orders"), &orders(&good_orders()));
    // 13. duplicate product_id
    write_batch(
        &input(d, "products"),
        &products(&[(Some("p1"), "a"), (Some("p1"), "b")]),
    );
    assert_fails(
        d,
        &[],
        3,
        &[
            "products",
            "duplicate_product_id",
            "first product_id: \"p1\"",
        ],
    );
}

#[test]
fn bad_rows_over_the_threshold_fail_the_run_naming_table_check_and_row() {
    let dir = setup();
    let d = dir.path();
    // 14. null member ids: 5 of 155 rows = 3.2% > 1%
    let mut ids: Vec<Option<i64>> = (1..=MEMBERS).map(Some).collect();
    ids.extend([None; 5]);
    write_batch(&input(d, "members"), &members(&ids));
    assert_fails(
        d,
        &[],
        3,
        &[
            "members",
            "null_member_id",
            "5 rows of 155",
            "max_bad_row_share = 1.00%",
        ],
    );
    // ... and pass with the threshold raised for the night.
    let o = run(d, &["--param", "max_bad_row_share=0.05"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(quality(d, "members", "null_member_id"), "5");
    let ids: Vec<Option<i64>> = (1..=MEMBERS).map(Some).collect();
    write_batch(&input(d, "members"), &members(&ids));
    assert!(run(d, &[]).status.success());

    let bad_items = |rows: Vec<I>, expect: &[&str]| {
        let mut all = good_items();
        all.extend(rows);
        write_batch(&input(d, "order_items"), &items(&all));
        assert_fails(d, &[], 3, expect);
    };
    // 15. order items pointing at unknown orders
    bad_items(
        (0..5)
            .map(|k| (Some(format!("ghost{k}")), Some("p1".into()), 1, 1.0))
            .collect(),
        &[
            "order_items",
            "unknown_order",
            "5 rows of 155",
            "first order_id: \"ghost0\"",
        ],
    );
    // 16. ... and at unknown products
    bad_items(
        (0..5)
            .map(|k| (Some(format!("o{}", k + 1)), Some("nope".into()), 1, 1.0))
            .collect(),
        &[
            "order_items",
            "unknown_product",
            "first product_id: \"nope\"",
        ],
    );
    // 17. negative quantities
    bad_items(
        (0..5)
            .map(|k| (Some(format!("o{}", k + 1)), Some("p2".into()), -1, 1.0))
            .collect(),
        &["order_items", "bad_quantity_or_amount", "5 rows of 155"],
    );
    write_batch(&input(d, "order_items"), &items(&good_items()));
    // 18. negative amounts
    let mut o = good_orders();
    for r in o.iter_mut().take(5) {
        r.3 = -10.0;
    }
    write_batch(&input(d, "orders"), &orders(&o));
    assert_fails(
        d,
        &[],
        3,
        &[
            "orders",
            "negative_or_null_amount",
            "first order_id: \"o1\"",
        ],
    );
    // 19. timestamps before 1970
    let mut o = good_orders();
    for r in o.iter_mut().take(5) {
        r.2 = ts("1969-07-20 20:17:00");
    }
    write_batch(&input(d, "orders"), &orders(&o));
    assert_fails(d, &[], 3, &["orders", "bad_ordered_at", "before 1970"]);
}

#[test]
fn a_few_bad_rows_are_removed_and_counted() {
    let dir = setup();
    let d = dir.path();
    // 20. one order item of an unknown order and one null member id: under 1% each.
    let mut all = good_items();
    all.push((Some("ghost".into()), Some("p1".into()), 1, 1.0));
    write_batch(&input(d, "order_items"), &items(&all));
    let mut ids: Vec<Option<i64>> = (1..=MEMBERS).map(Some).collect();
    ids.push(None);
    write_batch(&input(d, "members"), &members(&ids));
    let o = run(d, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(quality(d, "order_items", "unknown_order"), "1");
    assert_eq!(quality(d, "members", "null_member_id"), "1");
    assert_eq!(quality(d, "orders", "duplicate_order_id"), "0");
    let manifest = fs::read_to_string(published(d).join("_manifest.json")).unwrap();
    assert!(
        manifest.contains("\"check\": \"unknown_order\""),
        "{manifest}"
    );
    assert!(
        text(&o).contains("data quality"),
        "a warning is logged: {}",
        text(&o)
    );
    // The removed member row is not in member_features.
    let rows: usize = read_parquet(&published(d).join("member_features.parquet"))
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, MEMBERS as usize);
}

#[test]
fn future_orders_are_kept_and_counted_and_windows_ignore_them() {
    let dir = setup();
    let d = dir.path();
    let before = fs::read(published(d).join("member_features.parquet")).unwrap();
    // 21. orders after as_of (a rerun of an earlier night with today's export)
    let mut o = good_orders();
    o.push((
        Some("late".into()),
        Some(1),
        ts("2026-03-01 10:00:00"),
        999.0,
    ));
    write_batch(&input(d, "orders"), &orders(&o));
    let mut i = good_items();
    i.push((Some("late".into()), Some("p1".into()), 1, 999.0));
    write_batch(&input(d, "order_items"), &items(&i));
    let o = run(d, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(quality(d, "orders", "after_as_of"), "1");
    // member_features is unchanged: no window reaches past the run date.
    let after = fs::read(published(d).join("member_features.parquet")).unwrap();
    let strip = |b: &[u8]| read_parquet_bytes(b);
    assert_eq!(strip(&before), strip(&after));
}

fn read_parquet_bytes(bytes: &[u8]) -> Vec<RecordBatch> {
    let f = tempfile::NamedTempFile::new().unwrap();
    fs::write(f.path(), bytes).unwrap();
    read_parquet(f.path())
}

#[test]
fn zero_orders_in_the_window_is_a_quiet_night_not_an_error() {
    let dir = setup();
    let d = dir.path();
    // 22. every order is older than every window: with today's date that is a stale
    // export (37 below); as a deliberate rerun of a quiet night it is zeros, not errors.
    let mut o = good_orders();
    for r in o.iter_mut() {
        r.2 = ts("2020-01-10 12:00:00");
    }
    write_batch(&input(d, "orders"), &orders(&o));
    let o = run(d, &["--param", "stale_export_fail_days=10000"]);
    assert!(o.status.success(), "{}", text(&o));
    for b in read_parquet(&published(d).join("member_features.parquet")) {
        let f = b.column_by_name("frequency").unwrap();
        let f = f.as_any().downcast_ref::<Int64Array>().unwrap();
        assert!(f.iter().all(|v| v == Some(0)));
    }
}

#[test]
fn mojibake_and_odd_characters_in_product_names_pass_through_untouched() {
    let dir = setup();
    let d = dir.path();
    // 23. names as upstream systems mangle them: double-encoded UTF-8, replacement
    // characters, control characters, emoji, full-width and RTL text.
    let names = [
        "ä¼Šåˆ© çº¯ç‰›å¥¶",
        "�� 牛奶 \u{0007}\t",
        "🥛 Ｍｉｌｋ עברית",
    ];
    write_batch(
        &input(d, "products"),
        &products(&[
            (Some("p1"), names[0]),
            (Some("p2"), names[1]),
            (Some("p3"), names[2]),
        ]),
    );
    let o = run(d, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let mut got = Vec::new();
    for b in read_parquet(&published(d).join("product_names.parquet")) {
        let n = b.column_by_name("name").unwrap();
        let n = n.as_any().downcast_ref::<StringArray>().unwrap();
        got.extend(n.iter().map(|v| v.unwrap().to_string()));
    }
    assert_eq!(got, names);
}

#[test]
fn a_basket_of_5000_items_is_mined_without_blowing_up() {
    // 24. one basket with 5,000 distinct items among 200 ordinary baskets: FP-growth
    // keeps one path for it; its items are each in one basket, below min support.
    let dir = tempfile::tempdir().unwrap();
    let mut basket = Vec::new();
    let mut item = Vec::new();
    for k in 0..5000 {
        basket.push(0i64);
        item.push(format!("big{k}"));
    }
    for b in 1..=200i64 {
        for it in ["milk", "bread"].iter().take(1 + (b % 2) as usize) {
            basket.push(b);
            item.push(it.to_string());
        }
    }
    let f = dir.path().join("baskets.parquet");
    write_batch(
        &f,
        &batch(vec![
            ("basket", Arc::new(Int64Array::from(basket)) as ArrayRef),
            ("item", Arc::new(StringArray::from(item))),
        ]),
    );
    let sets = dir.path().join("sets.parquet");
    let o = siyu(
        &[
            "rules",
            "--input",
            f.to_str().unwrap(),
            "--basket",
            "basket",
            "--item",
            "item",
            "--min-support",
            "0.01",
            "--itemsets",
            sets.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    // milk (200 baskets), bread (100), {bread, milk} (100).
    let n: usize = read_parquet(&sets).iter().map(|b| b.num_rows()).sum();
    assert_eq!(n, 3, "{}", text(&o));
}

// ---- job files and SQL ----------------------------------------------------------------

fn check_job(dir: &Path, job_text: &str, sql: &[(&str, &str)]) -> std::process::Output {
    let sql_dir = dir.join("case_sql");
    let _ = fs::remove_dir_all(&sql_dir);
    fs::create_dir_all(&sql_dir).unwrap();
    for (name, text) in sql {
        fs::write(sql_dir.join(name), text).unwrap();
    }
    let job = dir.join("case.toml");
    fs::write(
        &job,
        job_text.replace("SQL_DIR", &format!("{:?}", sql_dir.display().to_string())),
    )
    .unwrap();
    siyu(
        &[
            "check",
            job.to_str().unwrap(),
            "--as-of",
            AS_OF,
            "--input-dir",
            dir.join("in").to_str().unwrap(),
        ],
        dir,
    )
}

const JOB: &str = r#"[job]
name = "case"

[params]
days = { type = "int", default = 30 }

[sql]
dirs = [SQL_DIR]
"#;

#[test]
fn job_file_and_sql_mistakes_are_config_errors_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    export(d);
    let ok = "SELECT member_id, $as_of AS as_of FROM members";
    type Case<'a> = (String, Vec<(&'a str, &'a str)>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        // 25. unknown key in the job file
        (
            JOB.replace("[job]\n", "[job]\nnmae = \"x\"\n"),
            vec![("a.sql", ok)],
            vec!["unknown field `nmae`"],
        ),
        // 26. a param default of the wrong type
        (
            JOB.replace("default = 30", "default = \"thirty\""),
            vec![("a.sql", ok)],
            vec!["days", "int"],
        ),
        // 27. an unknown step type
        (
            format!("{JOB}\n[[steps]]\ntype = \"magic\"\n"),
            vec![("a.sql", ok)],
            vec![
                "unknown step type \"magic\"",
                "rules, recommend, segment, outreach",
            ],
        ),
        // 28. SQL syntax error: line and column
        (
            JOB.to_string(),
            vec![("broken.sql", "SELECT member_id,\n  COUNT(* FROM members")],
            vec!["broken.sql:2:"],
        ),
        // 29. a reference to a table that does not exist
        (
            JOB.to_string(),
            vec![("lost.sql", "SELECT * FROM no_such_table")],
            vec!["lost.sql", "no_such_table"],
        ),
        // 30. a dependency cycle
        (
            JOB.to_string(),
            vec![("x.sql", "SELECT * FROM y"), ("y.sql", "SELECT * FROM x")],
            vec!["dependency cycle", "x.sql", "y.sql"],
        ),
        // 31-33. DDL, DML and COPY
        (
            JOB.to_string(),
            vec![("ddl.sql", "CREATE TABLE t AS SELECT 1")],
            vec!["ddl.sql:1:", "only queries are allowed", "CREATE"],
        ),
        (
            JOB.to_string(),
            vec![("dml.sql", "INSERT INTO members VALUES (1)")],
            vec!["dml.sql:1:", "only queries are allowed"],
        ),
        (
            JOB.to_string(),
            vec![("copy.sql", "COPY members TO '/tmp/x.parquet'")],
            vec!["copy.sql:1:", "only queries are allowed"],
        ),
        // 34. min support out of range in a rules step
        (
            format!("{JOB}\n[[steps]]\ntype = \"rules\"\nbaskets = \"a\"\nmin_support = 0.0\n"),
            vec![(
                "a.sql",
                "SELECT order_id AS basket, product_id AS item FROM order_items",
            )],
            vec!["min_support"],
        ),
        (
            format!("{JOB}\n[[steps]]\ntype = \"rules\"\nbaskets = \"a\"\nmin_support = 1.5\n"),
            vec![(
                "a.sql",
                "SELECT order_id AS basket, product_id AS item FROM order_items",
            )],
            vec!["min_support"],
        ),
    ];
    for (job, sql, expect) in cases {
        let o = check_job(d, &job, &sql);
        let all = text(&o);
        assert_eq!(o.status.code(), Some(2), "{job}\n{all}");
        for e in expect {
            assert!(all.contains(e), "expected {e:?} for {sql:?}:\n{all}");
        }
    }
}

#[test]
fn min_support_and_k_out_of_range_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = d.join("b.parquet");
    write_batch(
        &f,
        &batch(vec![
            (
                "basket",
                Arc::new(Int64Array::from(vec![1, 1, 2])) as ArrayRef,
            ),
            ("item", Arc::new(StringArray::from(vec!["a", "b", "a"]))),
        ]),
    );
    // 35. min support 0 and above 1
    for s in ["0", "1.5"] {
        let o = siyu(
            &[
                "rules",
                "--input",
                f.to_str().unwrap(),
                "--basket",
                "basket",
                "--item",
                "item",
                "--min-support",
                s,
            ],
            d,
        );
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains("min-support") || text(&o).contains("min_support"),
            "{}",
            text(&o)
        );
    }
    // 36. k larger than the number of members: fewer segments, said so, not a failure.
    let g = d.join("f.parquet");
    write_batch(
        &g,
        &batch(vec![
            (
                "member_id",
                Arc::new(StringArray::from(vec!["a", "b", "c"])) as ArrayRef,
            ),
            ("x", Arc::new(Float64Array::from(vec![1.0, 5.0, 9.0]))),
        ]),
    );
    let out = d.join("seg.parquet");
    let o = siyu(
        &[
            "segment",
            "--input",
            g.to_str().unwrap(),
            "--id",
            "member_id",
            "--features",
            "x",
            "--k",
            "10",
            "--out",
            out.to_str().unwrap(),
        ],
        d,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("3 segment"), "{}", text(&o));
}

#[test]
fn a_stale_export_warns_and_then_fails_naming_the_newest_order() {
    let dir = setup();
    let d = dir.path();
    // 37. the export stopped updating: its newest order is 2025-12-31, 32 days before
    // the run date — more than stale_export_fail_days (14).
    let mut o = good_orders();
    for r in o.iter_mut() {
        r.2 = ts("2025-12-31 12:00:00");
    }
    write_batch(&input(d, "orders"), &orders(&o));
    assert_fails(
        d,
        &[],
        3,
        &[
            "stale export",
            "the newest order is from 2025-12-31, 32 days before the run date 2026-02-01",
            "stale_export_fail_days = 14",
            "orders.parquet",
        ],
    );
    // 38. within the fail threshold but past the warning one: published, with the
    // warning in the log and the manifest.
    let o = run(d, &["--param", "stale_export_fail_days=40"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("stale export?"), "{}", text(&o));
    let manifest: siyu::manifest::Manifest =
        serde_json::from_str(&fs::read_to_string(published(d).join("_manifest.json")).unwrap())
            .unwrap();
    let warning = manifest
        .warnings
        .iter()
        .find(|w| w.message.starts_with("stale export?"))
        .expect("a stale-export warning in the manifest");
    assert_eq!(warning.table.as_deref(), Some("orders"));
    // A deliberate rerun of that night is not stale.
    let job = job(d);
    let o = siyu(
        &[
            "run",
            job.to_str().unwrap(),
            "--as-of",
            "2026-01-01",
            "--out",
            d.join("out").to_str().unwrap(),
            "--input-dir",
            d.join("in").to_str().unwrap(),
        ],
        d,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("stale export"), "{}", text(&o));
}
