//! End-to-end tests of `siyu run`, `check` and `plan` on hand-made exports.

use std::fs;
use std::path::Path;

use crate::common::*;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, Int64Type};

const AS_OF: &str = "2026-02-01";

fn run_tiny(dir: &Path, extra: &[&str]) -> std::process::Output {
    let job = tiny_job(dir, None);
    let mut args = vec!["run", job.to_str().unwrap(), "--as-of", AS_OF, "--out"];
    let out = dir.join("out");
    args.push(out.to_str().unwrap());
    args.extend_from_slice(extra);
    siyu(&args, dir)
}

fn published(dir: &Path) -> std::path::PathBuf {
    dir.join(format!("out/tiny/as_of={AS_OF}"))
}

/// (member_id, recency_days, frequency, total_spend_365d, orders_all_time) by member.
fn features(batches: &[RecordBatch]) -> Vec<(String, Option<i64>, i64, f64, i64)> {
    let mut rows = Vec::new();
    for b in batches {
        let id = b.column_by_name("member_id").unwrap().as_string::<i32>();
        let rec = b
            .column_by_name("recency_days")
            .unwrap()
            .as_primitive::<Int64Type>();
        let freq = b
            .column_by_name("frequency")
            .unwrap()
            .as_primitive::<Int64Type>();
        let spend = b
            .column_by_name("total_spend_365d")
            .unwrap()
            .as_primitive::<Float64Type>();
        let all = b
            .column_by_name("orders_all_time")
            .unwrap()
            .as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            rows.push((
                id.value(i).to_string(),
                rec.is_valid(i).then(|| rec.value(i)),
                freq.value(i),
                spend.value(i),
                all.value(i),
            ));
        }
    }
    rows
}

#[test]
fn member_features_match_hand_computed_values() {
    let dir = tempfile::tempdir().unwrap();
    tiny_export(dir.path());
    let o = run_tiny(dir.path(), &[]);
    assert!(o.status.success(), "{}", text(&o));
    let rows = features(&read_parquet(
        &published(dir.path()).join("member_features.parquet"),
    ));
    // Member 1: paid 100 on 2026-01-22 (10 days before as_of) and 300 on 2024-12-28
    // (400 days before, outside the 365-day window); the refunded order does not count.
    let b = &read_parquet(&published(dir.path()).join("member_features.parquet"))[0];
    let m = b
        .column_by_name("monetary_avg")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(
        (m.value(0), m.is_null(1)),
        (100.0, true),
        "M is per order, null without orders"
    );
    assert_eq!(
        rows,
        vec![
            ("1".into(), Some(10), 1, 100.0, 2),
            ("2".into(), None, 0, 0.0, 0),
            ("3".into(), None, 0, 0.0, 0),
        ]
    );
}

#[test]
fn zoned_timestamps_are_read_as_local_time_of_the_job() {
    let dir = tempfile::tempdir().unwrap();
    tiny_export(dir.path());
    let utc_orders = dir.path().join("orders_utc");
    let o = run_tiny(
        dir.path(),
        // Only member 3's orders: the other items point at orders not in this file,
        // which the data quality checks would otherwise refuse.
        &[
            "--input",
            &format!("orders={}", utc_orders.display()),
            "--param",
            "max_bad_row_share=1.0",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let rows = features(&read_parquet(
        &published(dir.path()).join("member_features.parquet"),
    ));
    // 16:30Z on Jan 31 is 00:30 on Feb 1 in Shanghai: the run date, so not counted;
    // 15:30Z is 23:30 on Jan 31: one day before as_of.
    assert_eq!(rows[2], ("3".into(), Some(1), 1, 80.0, 1));
}

#[test]
fn param_override_changes_the_window() {
    let dir = tempfile::tempdir().unwrap();
    tiny_export(dir.path());
    let o = run_tiny(dir.path(), &["--param", "spend_window_days=5"]);
    assert!(o.status.success(), "{}", text(&o));
    let rows = features(&read_parquet(
        &published(dir.path()).join("member_features.parquet"),
    ));
    assert_eq!(
        rows[0].3, 0.0,
        "the 100.00 order is 10 days old, outside 5 days"
    );
    let bad = run_tiny(dir.path(), &["--param", "spend_window_days=five"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("spend_window_days"));
}

#[test]
fn publishes_manifest_metadata_and_success_marker() {
    let dir = tempfile::tempdir().unwrap();
    tiny_export(dir.path());
    let o = run_tiny(dir.path(), &[]);
    assert!(o.status.success(), "{}", text(&o));
    let out = published(dir.path());
    let mut names: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "_SUCCESS",
            "_manifest.json",
            "member_features.parquet",
            "report.html"
        ]
    );
    assert_eq!(fs::metadata(out.join("_SUCCESS")).unwrap().len(), 0);

    let m: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("_manifest.json")).unwrap()).unwrap();
    assert_eq!(m["as_of"], AS_OF);
    assert_eq!(m["outputs"][0]["table"], "member_features");
    assert_eq!(m["outputs"][0]["rows"], 3);
    let absent: Vec<&str> = m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["absent"] == true)
        .map(|i| i["table"].as_str().unwrap())
        .collect();
    assert_eq!(
        absent,
        [
            "community_events",
            "points_ledger",
            "contact_history",
            "suppression"
        ]
    );
    assert_eq!(m["params"]["frequency_window_days"], 365);
    let steps: Vec<&str> = m["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "data_quality",
            "current_members",
            "paid_orders",
            "member_features"
        ]
    );

    let file = fs::File::open(out.join("member_features.parquet")).unwrap();
    let reader = datafusion::parquet::file::reader::SerializedFileReader::new(file).unwrap();
    use datafusion::parquet::file::reader::FileReader;
    let kv = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .clone();
    let get = |k: &str| kv.iter().find(|p| p.key == k).and_then(|p| p.value.clone());
    assert_eq!(get("siyu.job").as_deref(), Some("tiny"));
    assert_eq!(get("siyu.as_of").as_deref(), Some(AS_OF));
    assert_eq!(
        get("siyu.input_fingerprint"),
        m["input_fingerprint"].as_str().map(String::from)
    );
    // Every output carries as_of and Utf8 ids.
    let batches = read_parquet(&out.join("member_features.parquet"));
    let schema = batches[0].schema();
    assert_eq!(
        schema
            .field_with_name("member_id")
            .unwrap()
            .data_type()
            .to_string(),
        "Utf8"
    );
    assert!(schema.field_with_name("as_of").is_ok());
}

#[test]
fn two_runs_give_byte_identical_outputs() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for d in [&a, &b] {
        tiny_export(d.path());
        let o = run_tiny(d.path(), &[]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let fa = fs::read(published(a.path()).join("member_features.parquet")).unwrap();
    let fb = fs::read(published(b.path()).join("member_features.parquet")).unwrap();
    assert_eq!(fa, fb);
    // Rerunning the same date in place replaces the output with identical bytes.
    let o = run_tiny(a.path(), &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        fs::read(published(a.path()).join("member_features.parquet")).unwrap(),
        fa
    );
}

/// A contract violation: exit code 3, a message naming what is wrong, nothing published
/// and the previous night's output untouched.
fn assert_input_error(dir: &Path, extra: &[&str], expect: &[&str]) {
    let before = fs::read(published(dir).join("member_features.parquet")).unwrap();
    let o = run_tiny(dir, extra);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    for e in expect {
        assert!(err.contains(e), "expected {e:?} in:\n{err}");
    }
    assert_eq!(
        fs::read(published(dir).join("member_features.parquet")).unwrap(),
        before
    );
    let hidden: Vec<_> = fs::read_dir(dir.join("out/tiny"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".staging") || n.starts_with(".replaced"))
        .collect();
    assert!(hidden.is_empty(), "left behind: {hidden:?}");
}

#[test]
fn contract_violations_name_the_problem_and_publish_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tiny_export(d);
    assert!(run_tiny(d, &[]).status.success());

    // Missing required table file.
    assert_input_error(
        d,
        &[
            "--input",
            &format!("products={}", d.join("nope.parquet").display()),
        ],
        &["nope.parquet", "no such file"],
    );

    // Missing required column: products without `category`.
    let p = d.join("bad/products.parquet");
    let b = read_parquet(&d.join("products.parquet"))[0].clone();
    let b = b.project(&[0, 1, 3]).unwrap();
    write_batch(&p, &b);
    assert_input_error(
        d,
        &["--input", &format!("products={}", p.display())],
        &["bad/products.parquet", "products.category", "missing"],
    );

    // Wrong type: order_items.quantity stored as a string.
    let items = read_parquet(&d.join("order_items.parquet"))[0].clone();
    let mut cols = items.columns().to_vec();
    cols[2] = std::sync::Arc::new(datafusion::arrow::array::StringArray::from(vec![
        "1", "3", "1",
    ]));
    let mut fields: Vec<_> = items
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[2] = datafusion::arrow::datatypes::Field::new(
        "quantity",
        datafusion::arrow::datatypes::DataType::Utf8,
        true,
    );
    let bad = RecordBatch::try_new(
        std::sync::Arc::new(datafusion::arrow::datatypes::Schema::new(fields)),
        cols,
    )
    .unwrap();
    let p = d.join("bad/order_items.parquet");
    write_batch(&p, &bad);
    assert_input_error(
        d,
        &["--input", &format!("order_items={}", p.display())],
        &[
            "order_items.quantity",
            "stored as Utf8",
            "expected an integer",
        ],
    );

    // Unreadable parquet: a truncated file.
    let good = fs::read(d.join("members.parquet")).unwrap();
    let p = d.join("bad/members.parquet");
    fs::write(&p, &good[..good.len() / 2]).unwrap();
    assert_input_error(
        d,
        &["--input", &format!("members={}", p.display())],
        &["bad/members.parquet", "not a readable parquet file"],
    );

    // Empty file.
    let p = d.join("bad/empty.parquet");
    fs::write(&p, b"").unwrap();
    assert_input_error(
        d,
        &["--input", &format!("members={}", p.display())],
        &["empty.parquet", "0 bytes"],
    );

    // A glob that matches nothing.
    assert_input_error(
        d,
        &[
            "--input",
            &format!("orders={}/nothing/*.parquet", d.display()),
        ],
        &["glob matched no file"],
    );
}

#[test]
fn input_dir_reads_tables_by_name_and_absent_optional_tables_are_empty() {
    let dir = tempfile::tempdir().unwrap();
    tiny_export(dir.path());
    let o = run_tiny(dir.path(), &["--input-dir", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let rows = features(&read_parquet(
        &published(dir.path()).join("member_features.parquet"),
    ));
    assert_eq!(rows.len(), 3);
}

#[test]
fn check_reports_sql_cycles_ddl_and_unknown_columns_with_file_names() {
    let dir = tempfile::tempdir().unwrap();
    tiny_export(dir.path());
    let sql = dir.path().join("extra_sql");
    fs::create_dir_all(&sql).unwrap();
    fs::write(sql.join("a.sql"), "SELECT * FROM b").unwrap();
    fs::write(sql.join("b.sql"), "SELECT * FROM a").unwrap();
    fs::write(sql.join("drop_it.sql"), "DROP TABLE members").unwrap();
    fs::write(
        sql.join("typo.sql"),
        "SELECT member_id,\n       membr_name\nFROM members",
    )
    .unwrap();
    let job = tiny_job(dir.path(), Some(&sql));
    let o = siyu(
        &["check", job.to_str().unwrap(), "--as-of", AS_OF],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("dependency cycle"), "{out}");
    assert!(out.contains("a.sql") && out.contains("b.sql"), "{out}");
    assert!(
        out.contains("drop_it.sql:1:1: only queries are allowed"),
        "{out}"
    );
    // The cycle stops ordering, so the column typo is found once the cycle is fixed.
    fs::remove_file(sql.join("b.sql")).unwrap();
    fs::write(sql.join("b.sql"), "SELECT * FROM members").unwrap();
    let o = siyu(
        &["check", job.to_str().unwrap(), "--as-of", AS_OF],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("typo.sql:2:8"), "{out}");
    assert!(out.contains("membr_name"), "{out}");
    assert!(!out.contains("a.sql"), "{out}");
    // `run` refuses the same job before writing anything.
    let o = siyu(
        &[
            "run",
            job.to_str().unwrap(),
            "--as-of",
            AS_OF,
            "--out",
            "out",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!dir.path().join(format!("out/tiny/as_of={AS_OF}")).exists());
}

#[test]
fn plan_lists_steps_in_order_as_json() {
    let dir = tempfile::tempdir().unwrap();
    tiny_export(dir.path());
    let sql = dir.path().join("extra_sql");
    fs::create_dir_all(&sql).unwrap();
    fs::write(
        sql.join("big_spenders.sql"),
        "SELECT member_id FROM member_features WHERE total_spend_365d > 50",
    )
    .unwrap();
    let job = tiny_job(dir.path(), Some(&sql));
    let o = siyu(
        &["plan", job.to_str().unwrap(), "--format", "json"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let steps = plan["steps"].as_array().unwrap();
    // The built-in data quality checks run first; every other step comes after them.
    assert_eq!(steps[0]["name"], "data_quality");
    assert_eq!(steps[0]["level"], 1);
    assert_eq!(steps[1]["name"], "current_members");
    assert_eq!(steps[1]["reads"], serde_json::json!(["members"]));
    assert_eq!(steps[2]["name"], "paid_orders");
    assert_eq!(steps[2]["reads"], serde_json::json!(["orders"]));
    assert_eq!(steps[3]["name"], "member_features");
    assert_eq!(
        steps[3]["reads"],
        serde_json::json!(["current_members", "orders", "paid_orders"])
    );
    assert_eq!(
        steps[3]["published"],
        serde_json::json!(["member_features"])
    );
    assert_eq!(steps[4]["name"], "big_spenders");
    assert_eq!(steps[4]["level"], 4);
    let o = siyu(
        &["plan", job.to_str().unwrap(), "--format", "table"],
        dir.path(),
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("member_features (published)"));
}

/// Kill the run with SIGKILL at `point`; the previous output must stay complete and
/// the next run must succeed and clean up.
fn crash_at(point: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tiny_export(d);
    assert!(run_tiny(d, &[]).status.success());
    let before = fs::read(published(d).join("member_features.parquet")).unwrap();
    let manifest_before = fs::read(published(d).join("_manifest.json")).unwrap();

    let job = tiny_job(d, None);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_siyu"))
        .args([
            "run",
            job.to_str().unwrap(),
            "--as-of",
            AS_OF,
            "--out",
            "out",
            "--param",
            "spend_window_days=5",
        ])
        .current_dir(d)
        .env("SIYU_FAILPOINT", point)
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(o.status.signal(), Some(9), "{point}: {}", text(&o));

    // Readers see the previous complete output, untouched.
    assert_eq!(
        fs::read(published(d).join("member_features.parquet")).unwrap(),
        before
    );
    assert_eq!(
        fs::read(published(d).join("_manifest.json")).unwrap(),
        manifest_before
    );
    assert!(published(d).join("_SUCCESS").exists());
    let visible: Vec<String> = fs::read_dir(d.join("out/tiny"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && n != "LATEST")
        .collect();
    assert_eq!(visible, [format!("as_of={AS_OF}")]);
    assert_eq!(
        fs::read_to_string(d.join("out/tiny/LATEST")).unwrap(),
        format!("as_of={AS_OF}\n"),
        "LATEST still names the published night"
    );

    // The next run succeeds, publishes the new output and removes the leftovers.
    let o = run_tiny(d, &["--param", "spend_window_days=5"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_ne!(
        fs::read(published(d).join("member_features.parquet")).unwrap(),
        before
    );
    let hidden: Vec<_> = fs::read_dir(d.join("out/tiny"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".staging") || n.starts_with(".replaced"))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

#[test]
fn killed_while_writing_a_table_leaves_the_previous_output() {
    crash_at("table_written");
}

#[test]
fn killed_before_the_manifest_leaves_the_previous_output() {
    crash_at("before_success");
}

#[test]
fn killed_just_before_the_swap_leaves_the_previous_output() {
    crash_at("before_swap");
}
