//! Shared test fixtures: tiny hand-made exports whose outputs can be computed by hand,
//! and helpers to run the `siyu` binary.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

pub fn siyu(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_siyu"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .output()
        .expect("run siyu")
}

pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn write_batch(path: &Path, batch: &RecordBatch) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// Every row of a parquet file as one batch (with the file's schema, even when empty).
pub fn read_table(path: &Path) -> RecordBatch {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let schema = builder.schema().clone();
    let batches: Vec<RecordBatch> = builder.build().unwrap().map(|b| b.unwrap()).collect();
    datafusion::arrow::compute::concat_batches(&schema, &batches).unwrap()
}

pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

/// A batch of nullable columns named as given.
pub fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = cols
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        cols.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap()
}

/// Microseconds since the epoch of a naive local timestamp "YYYY-MM-DD HH:MM:SS".
pub fn ts(s: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .unwrap()
        .and_utc()
        .timestamp_micros()
}

/// A minimal export of the four required tables, as of 2026-02-01 (Asia/Shanghai):
/// - member 1: paid 100.00 ten days ago, paid 300.00 four hundred days ago, and a
///   refunded 50.00 order yesterday;
/// - member 2: never bought;
/// - member 3: one paid order of 80.00 stored in UTC at 2026-01-31T16:30Z, which is
///   2026-02-01 00:30 in Shanghai, i.e. on the run date itself and so not yet counted;
///   and one at 2026-01-31T15:30Z = 23:30 local on the 31st, which counts.
pub fn tiny_export(dir: &Path) {
    let members = batch(vec![
        (
            "member_id",
            Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef,
        ),
        (
            "joined_at",
            Arc::new(TimestampMicrosecondArray::from(vec![
                ts("2024-01-01 10:00:00"),
                ts("2025-06-01 10:00:00"),
                ts("2025-12-01 10:00:00"),
            ])),
        ),
        (
            "consent_sms",
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
        ),
    ]);
    write_batch(&dir.join("members.parquet"), &members);

    // Orders of member 3 are in a separate file with a zoned timestamp column: the
    // reader must convert UTC to Shanghai wall-clock time.
    let orders = batch(vec![
        (
            "order_id",
            Arc::new(StringArray::from(vec!["o1", "o2", "o3"])) as ArrayRef,
        ),
        ("member_id", Arc::new(Int64Array::from(vec![1, 1, 1]))),
        (
            "ordered_at",
            Arc::new(TimestampMicrosecondArray::from(vec![
                ts("2026-01-22 12:00:00"),
                ts("2024-12-28 12:00:00"),
                ts("2026-01-31 12:00:00"),
            ])),
        ),
        (
            "channel",
            Arc::new(StringArray::from(vec!["store", "online", "store"])),
        ),
        (
            "gross_amount",
            Arc::new(Float64Array::from(vec![120.0, 300.0, 50.0])),
        ),
        (
            "discount_amount",
            Arc::new(Float64Array::from(vec![20.0, 0.0, 0.0])),
        ),
        (
            "paid_amount",
            Arc::new(Float64Array::from(vec![100.0, 300.0, 50.0])),
        ),
        (
            "status",
            Arc::new(StringArray::from(vec!["paid", "paid", "refunded"])),
        ),
    ]);
    write_batch(&dir.join("orders/part-0.parquet"), &orders);
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let zoned =
        TimestampMicrosecondArray::from(vec![ts("2026-01-31 16:30:00"), ts("2026-01-31 15:30:00")])
            .with_timezone("UTC");
    assert_eq!(zoned.data_type(), &utc);
    let orders3 = batch(vec![
        (
            "order_id",
            Arc::new(StringArray::from(vec!["o4", "o5"])) as ArrayRef,
        ),
        ("member_id", Arc::new(Int64Array::from(vec![3, 3]))),
        ("ordered_at", Arc::new(zoned)),
        (
            "channel",
            Arc::new(StringArray::from(vec!["online", "online"])),
        ),
        (
            "gross_amount",
            Arc::new(Float64Array::from(vec![80.0, 80.0])),
        ),
        (
            "discount_amount",
            Arc::new(Float64Array::from(vec![0.0, 0.0])),
        ),
        (
            "paid_amount",
            Arc::new(Float64Array::from(vec![80.0, 80.0])),
        ),
        ("status", Arc::new(StringArray::from(vec!["paid", "paid"]))),
    ]);
    // A second file of the same table must store the same types: put member 3's
    // orders in their own table directory used by the timezone test only.
    write_batch(&dir.join("orders_utc/part-0.parquet"), &orders3);

    let items = batch(vec![
        (
            "order_id",
            Arc::new(StringArray::from(vec!["o1", "o2", "o3"])) as ArrayRef,
        ),
        (
            "product_id",
            Arc::new(StringArray::from(vec!["p1", "p2", "p1"])),
        ),
        ("quantity", Arc::new(Int64Array::from(vec![1, 3, 1]))),
        (
            "unit_price",
            Arc::new(Float64Array::from(vec![120.0, 100.0, 50.0])),
        ),
        (
            "line_amount",
            Arc::new(Float64Array::from(vec![120.0, 300.0, 50.0])),
        ),
    ]);
    write_batch(&dir.join("order_items.parquet"), &items);

    let products = batch(vec![
        (
            "product_id",
            Arc::new(StringArray::from(vec!["p1", "p2"])) as ArrayRef,
        ),
        (
            "name",
            Arc::new(StringArray::from(vec!["伊利 纯牛奶", "五常 大米"])),
        ),
        (
            "category",
            Arc::new(StringArray::from(vec!["乳品", "粮油调味"])),
        ),
        (
            "list_price",
            Arc::new(Float64Array::from(vec![120.0, 100.0])),
        ),
    ]);
    write_batch(&dir.join("products.parquet"), &products);
}

/// A job file over `tiny_export(dir)` using the project's SQL, written into `dir`.
pub fn tiny_job(dir: &Path, extra_sql_dir: Option<&Path>) -> PathBuf {
    let mut dirs = vec![format!(
        "{:?}",
        repo().join("sql/features").display().to_string()
    )];
    if let Some(d) = extra_sql_dir {
        dirs.push(format!("{:?}", d.display().to_string()));
    }
    let job = format!(
        r#"[job]
name = "tiny"
timezone = "Asia/Shanghai"

[inputs]
members = "members.parquet"
orders = "orders"
order_items = "order_items.parquet"
products = "products.parquet"

[params]
frequency_window_days = {{ type = "int", default = 365 }}
spend_window_days = {{ type = "int", default = 365 }}
max_bad_row_share = {{ type = "float", default = 0.01 }}

[sql]
dirs = [{}]

[publish]
tables = ["member_features"]
"#,
        dirs.join(", ")
    );
    let path = dir.join("tiny.toml");
    std::fs::write(&path, job).unwrap();
    path
}

/// A paid, refunded or cancelled order for [`write_export`].
pub struct Order {
    pub member: Option<i64>,
    /// Local time "YYYY-MM-DD HH:MM:SS".
    pub at: &'static str,
    pub paid: f64,
    pub discount: f64,
    pub status: &'static str,
}

pub fn paid(member: i64, at: &'static str, amount: f64) -> Order {
    Order {
        member: Some(member),
        at,
        paid: amount,
        discount: 0.0,
        status: "paid",
    }
}

/// A member for [`write_export`]: id, joined_at (local), referrer.
pub struct Member {
    pub id: i64,
    pub joined: &'static str,
    pub referrer: Option<i64>,
}

pub fn member(id: i64) -> Member {
    Member {
        id,
        joined: "2024-01-01 00:00:00",
        referrer: None,
    }
}

/// Write the four required tables for the given members and orders (one item of
/// product p1 per order) into `dir/<table>.parquet`.
pub fn write_export(dir: &Path, members: &[Member], orders: &[Order]) {
    let m = batch(vec![
        (
            "member_id",
            Arc::new(Int64Array::from(
                members.iter().map(|m| m.id).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "joined_at",
            Arc::new(TimestampMicrosecondArray::from(
                members.iter().map(|m| ts(m.joined)).collect::<Vec<_>>(),
            )),
        ),
        (
            "referrer_id",
            Arc::new(Int64Array::from(
                members.iter().map(|m| m.referrer).collect::<Vec<_>>(),
            )),
        ),
    ]);
    write_batch(&dir.join("members.parquet"), &m);
    let ids: Vec<String> = (0..orders.len()).map(|i| format!("o{i}")).collect();
    let o = batch(vec![
        (
            "order_id",
            Arc::new(StringArray::from(ids.clone())) as ArrayRef,
        ),
        (
            "member_id",
            Arc::new(Int64Array::from(
                orders.iter().map(|o| o.member).collect::<Vec<_>>(),
            )),
        ),
        (
            "ordered_at",
            Arc::new(TimestampMicrosecondArray::from(
                orders.iter().map(|o| ts(o.at)).collect::<Vec<_>>(),
            )),
        ),
        (
            "channel",
            Arc::new(StringArray::from(vec!["store"; orders.len()])),
        ),
        (
            "gross_amount",
            Arc::new(Float64Array::from(
                orders
                    .iter()
                    .map(|o| o.paid + o.discount)
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "discount_amount",
            Arc::new(Float64Array::from(
                orders.iter().map(|o| o.discount).collect::<Vec<_>>(),
            )),
        ),
        (
            "paid_amount",
            Arc::new(Float64Array::from(
                orders.iter().map(|o| o.paid).collect::<Vec<_>>(),
            )),
        ),
        (
            "status",
            Arc::new(StringArray::from(
                orders.iter().map(|o| o.status).collect::<Vec<_>>(),
            )),
        ),
    ]);
    write_batch(&dir.join("orders.parquet"), &o);
    let i = batch(vec![
        ("order_id", Arc::new(StringArray::from(ids)) as ArrayRef),
        (
            "product_id",
            Arc::new(StringArray::from(vec!["p1"; orders.len()])),
        ),
        (
            "quantity",
            Arc::new(Int64Array::from(vec![1; orders.len()])),
        ),
        (
            "unit_price",
            Arc::new(Float64Array::from(
                orders
                    .iter()
                    .map(|o| o.paid + o.discount)
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "line_amount",
            Arc::new(Float64Array::from(
                orders
                    .iter()
                    .map(|o| o.paid + o.discount)
                    .collect::<Vec<_>>(),
            )),
        ),
    ]);
    write_batch(&dir.join("order_items.parquet"), &i);
    let p = batch(vec![
        (
            "product_id",
            Arc::new(StringArray::from(vec!["p1"])) as ArrayRef,
        ),
        ("name", Arc::new(StringArray::from(vec!["伊利 纯牛奶"]))),
        ("category", Arc::new(StringArray::from(vec!["乳品"]))),
        ("list_price", Arc::new(Float64Array::from(vec![10.0]))),
    ]);
    write_batch(&dir.join("products.parquet"), &p);
}

/// Run the shipped nightly job on `dir`'s export (via --input-dir) and return the
/// published `table` as member_id → column → value (as text; nulls as "null").
pub fn run_nightly_table(
    dir: &Path,
    as_of: &str,
    table: &str,
    params: &[&str],
) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>> {
    let job = repo().join("jobs/nightly.toml");
    let out = dir.join("out");
    let mut args = vec![
        "run",
        job.to_str().unwrap(),
        "--as-of",
        as_of,
        "--input-dir",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    // Hand-made exports are not tonight's exports: their newest order may be months
    // before the run date, so the stale-export guard is off.
    args.extend(["--param", "stale_export_fail_days=100000"]);
    for p in params {
        args.push("--param");
        args.push(p);
    }
    let o = siyu(&args, dir);
    assert!(o.status.success(), "{}", text(&o));
    text_rows(&out.join(format!("nightly/as_of={as_of}/{table}.parquet")))
        .into_iter()
        .map(|row| (row["member_id"].clone(), row))
        .collect()
}

/// Every row of a parquet file as column → value text (nulls as "null").
pub fn text_rows(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    use datafusion::arrow::util::display::array_value_to_string;
    let mut rows = Vec::new();
    for b in read_parquet(path) {
        for r in 0..b.num_rows() {
            let mut row = std::collections::BTreeMap::new();
            for (f, c) in b.schema().fields().iter().zip(b.columns()) {
                let v = if c.is_null(r) {
                    "null".to_string()
                } else {
                    array_value_to_string(c, r).unwrap()
                };
                row.insert(f.name().clone(), v);
            }
            rows.push(row);
        }
    }
    rows
}

/// Write `community_events.parquet`: (member, group, event_type, local time, target).
pub fn write_events(dir: &Path, events: &[(i64, &str, &str, &str, Option<i64>)]) {
    let b = batch(vec![
        (
            "member_id",
            Arc::new(Int64Array::from(
                events.iter().map(|e| e.0).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "group_id",
            Arc::new(StringArray::from(
                events.iter().map(|e| e.1).collect::<Vec<_>>(),
            )),
        ),
        (
            "event_type",
            Arc::new(StringArray::from(
                events.iter().map(|e| e.2).collect::<Vec<_>>(),
            )),
        ),
        (
            "occurred_at",
            Arc::new(TimestampMicrosecondArray::from(
                events.iter().map(|e| ts(e.3)).collect::<Vec<_>>(),
            )),
        ),
        (
            "target_member_id",
            Arc::new(Int64Array::from(
                events.iter().map(|e| e.4).collect::<Vec<_>>(),
            )),
        ),
    ]);
    write_batch(&dir.join("community_events.parquet"), &b);
}

/// Write `points_ledger.parquet`: (member, local time, kind, points, expires_at).
pub fn write_points(dir: &Path, rows: &[(i64, &str, &str, i64, Option<&str>)]) {
    let b = batch(vec![
        (
            "member_id",
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "occurred_at",
            Arc::new(TimestampMicrosecondArray::from(
                rows.iter().map(|r| ts(r.1)).collect::<Vec<_>>(),
            )),
        ),
        (
            "kind",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
        ),
        (
            "points",
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            )),
        ),
        (
            "expires_at",
            Arc::new(TimestampMicrosecondArray::from(
                rows.iter().map(|r| r.4.map(ts)).collect::<Vec<_>>(),
            )),
        ),
    ]);
    write_batch(&dir.join("points_ledger.parquet"), &b);
}

/// Rewrite `members.parquet` with birthdays (Date32, days since the epoch).
pub fn write_members_with_birthdays(dir: &Path, members: &[(i64, &str, Option<&str>)]) {
    use datafusion::arrow::array::Date32Array;
    let day = |s: &str| {
        (chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
            - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
        .num_days() as i32
    };
    let b = batch(vec![
        (
            "member_id",
            Arc::new(Int64Array::from(
                members.iter().map(|m| m.0).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "joined_at",
            Arc::new(TimestampMicrosecondArray::from(
                members.iter().map(|m| ts(m.1)).collect::<Vec<_>>(),
            )),
        ),
        (
            "birthday",
            Arc::new(Date32Array::from(
                members.iter().map(|m| m.2.map(day)).collect::<Vec<_>>(),
            )),
        ),
    ]);
    write_batch(&dir.join("members.parquet"), &b);
}

/// Replace `dir`'s order_items and products (as [`write_export`] wrote them) with these:
/// items are (order id, product id, line amount) with quantity 1; products are (id,
/// name, category, launched_at local time or none).
pub fn write_items_and_products(
    dir: &Path,
    items: &[(&str, &str, f64)],
    products: &[(&str, &str, &str, Option<&str>)],
) {
    let money = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
    let text = |v: Vec<&str>| Arc::new(StringArray::from(v)) as ArrayRef;
    write_batch(
        &dir.join("order_items.parquet"),
        &batch(vec![
            ("order_id", text(items.iter().map(|i| i.0).collect())),
            ("product_id", text(items.iter().map(|i| i.1).collect())),
            ("quantity", Arc::new(Int64Array::from(vec![1; items.len()]))),
            ("unit_price", money(items.iter().map(|i| i.2).collect())),
            ("line_amount", money(items.iter().map(|i| i.2).collect())),
        ]),
    );
    write_batch(
        &dir.join("products.parquet"),
        &batch(vec![
            ("product_id", text(products.iter().map(|p| p.0).collect())),
            ("name", text(products.iter().map(|p| p.1).collect())),
            ("category", text(products.iter().map(|p| p.2).collect())),
            ("list_price", money(vec![10.0; products.len()])),
            (
                "launched_at",
                Arc::new(TimestampMicrosecondArray::from(
                    products.iter().map(|p| p.3.map(ts)).collect::<Vec<_>>(),
                )),
            ),
        ]),
    );
}
