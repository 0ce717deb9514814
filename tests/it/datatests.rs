//! Data tests (`[tests]`, src/datatest.rs) end to end: every generic kind and a singular
//! test with their counts computed by hand on the tiny export, warn and error severities,
//! thresholds, an error that publishes nothing (exit 6) and leaves the previous night
//! untouched, and `siyu test` on a published night.
//!
//! The tiny export on 2026-02-01: members 1, 2, 3; member 1 has two paid orders (one of
//! them within 365 days), members 2 and 3 none. So member_features has 3 rows, 2 with a
//! null recency_days, and orders_all_time 2, 0, 0.

use std::path::{Path, PathBuf};

use crate::common::*;

const AS_OF: &str = "2026-02-01";

/// The tiny job with `tests` appended (a `[tests]` section), and `sql` as its singular
/// test directory's files.
fn job_with_tests(d: &Path, tests: &str, sql: &[(&str, &str)]) -> PathBuf {
    tiny_export(d);
    let job = tiny_job(d, None);
    let dir = d.join("tests_sql");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in sql {
        std::fs::write(dir.join(format!("{name}.sql")), text).unwrap();
    }
    let mut text = std::fs::read_to_string(&job).unwrap();
    text = text.replace(
        "tables = [\"member_features\"]",
        "tables = [\"member_features\", \"data_tests\"]",
    );
    text.push_str(&format!("\n[tests]\ndirs = [\"tests_sql\"]\n{tests}"));
    std::fs::write(&job, text).unwrap();
    job
}

fn run(d: &Path, job: &Path, extra: &[&str]) -> std::process::Output {
    let out = d.join("out");
    let mut args = vec![
        "run",
        job.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    siyu(&args, d)
}

fn night(d: &Path) -> PathBuf {
    d.join(format!("out/tiny/as_of={AS_OF}"))
}

const GENERIC: &str = r#"
[[tests.checks]]
test = "unique"
table = "member_features"
columns = ["member_id"]

[[tests.checks]]
test = "not_null"
table = "member_features"
column = "recency_days"
severity = "warn"

[[tests.checks]]
test = "accepted_values"
table = "member_features"
column = "orders_all_time"
values = ["0"]
severity = "warn"

[[tests.checks]]
test = "relationships"
table = "member_features"
column = "member_id"
to = "members.member_id"

[[tests.checks]]
name = "members_with_orders"
test = "relationships"
table = "member_features"
column = "member_id"
to = "orders.member_id"
warn_if = ">1"
error_if = ">3"

[[tests.checks]]
test = "row_count_change"
table = "member_features"
max_change = 0.1
severity = "warn"
"#;

/// A singular test with an `error_if` above its one failing row: it warns.
const BUYERS: &str = "-- Members who bought: one on the tiny export.\n-- error_if: >1\nSELECT member_id FROM member_features WHERE orders_all_time > 0\n";

#[test]
fn every_kind_counts_its_failing_rows_and_warnings_publish() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = job_with_tests(d, GENERIC, &[("buyers", BUYERS)]);
    let o = run(d, &job, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let rows = text_rows(&night(d).join("data_tests.parquet"));
    let got: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["test"].clone(),
                r["failures"].clone(),
                r["status"].clone(),
            )
        })
        .collect();
    let expect = |t: &str, f: &str, s: &str| (t.to_string(), f.to_string(), s.to_string());
    assert_eq!(
        got,
        vec![
            // Sorted by name (the table's key).
            expect(
                "accepted_values:member_features.orders_all_time",
                "1",
                "warn"
            ),
            expect("buyers", "1", "warn"),
            // Members 2 and 3 have no paid order: 2 failing rows, not above error_if >3.
            expect("members_with_orders", "2", "warn"),
            expect("not_null:member_features.recency_days", "2", "warn"),
            expect("relationships:member_features.member_id", "0", "pass"),
            // The first night has nothing to compare with.
            expect("row_count_change:member_features", "0", "pass"),
            expect("unique:member_features.member_id", "0", "pass"),
        ]
    );
    let buyers = rows.iter().find(|r| r["test"] == "buyers").unwrap();
    assert_eq!(buyers["sample"], "member_id=1");
    assert_eq!(buyers["kind"], "singular");
    assert_eq!(
        (buyers["warn_if"].as_str(), buyers["error_if"].as_str()),
        ("!=0", ">1")
    );
    // Relative to the job file: the same bytes from wherever the job is run.
    assert_eq!(buyers["source"], "tests_sql/buyers.sql");
    let nulls = rows
        .iter()
        .find(|r| r["test"].starts_with("not_null"))
        .unwrap();
    assert_eq!(nulls["severity"], "warn");
    assert_eq!(nulls["table_name"], "member_features");
    assert_eq!(nulls["column_name"], "recency_days");
    assert_eq!(nulls["as_of"], AS_OF);
    assert_eq!(nulls["source"], "tiny.toml");

    // Warnings are in the manifest's warnings and its step details, and in the report.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(night(d).join("_manifest.json")).unwrap())
            .unwrap();
    let warnings: Vec<&str> = manifest["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["message"].as_str())
        .filter(|m| m.starts_with("data test"))
        .collect();
    assert_eq!(warnings.len(), 4, "{warnings:?}");
    assert!(warnings.contains(&"data test buyers warns: 1 failing row (warn_if !=0)"));
    let step = manifest["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "data_tests")
        .expect("the data_tests step");
    assert_eq!(step["details"]["tests"].as_array().unwrap().len(), 7);
    let report = std::fs::read_to_string(night(d).join("report.html")).unwrap();
    assert!(
        report.contains("数据测试 Data tests"),
        "report has no data tests"
    );
    assert!(report.contains("members_with_orders"));

    // The same night again with a fourth member: 3 → 4 rows is +33 %, beyond ±10 %.
    let more = d.join("members4.parquet");
    write_members(
        &more,
        &[
            (1, "2024-01-01 10:00:00"),
            (2, "2025-06-01 10:00:00"),
            (3, "2025-12-01 10:00:00"),
            (4, "2026-01-05 10:00:00"),
        ],
    );
    let o = siyu(
        &[
            "run",
            job.to_str().unwrap(),
            "--as-of",
            "2026-02-02",
            "--out",
            d.join("out").to_str().unwrap(),
            "--input",
            &format!("members={}", more.display()),
        ],
        d,
    );
    assert!(o.status.success(), "{}", text(&o));
    let rows = text_rows(&d.join("out/tiny/as_of=2026-02-02/data_tests.parquet"));
    let change = rows
        .iter()
        .find(|r| r["test"] == "row_count_change:member_features")
        .unwrap();
    assert_eq!(
        (change["failures"].as_str(), change["status"].as_str()),
        ("1", "warn")
    );
    assert_eq!(change["message"], "3 → 4 rows (+33.3 %, limit ±10.0 %)");
}

/// Members (id, joined_at local time) with consent columns, for a second export.
fn write_members(path: &Path, members: &[(i64, &str)]) {
    use datafusion::arrow::array::{ArrayRef, Int64Array, TimestampMicrosecondArray};
    use std::sync::Arc;
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
    ]);
    write_batch(path, &b);
}

#[test]
fn an_error_publishes_nothing_and_leaves_the_previous_night() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A night that passes its tests is published.
    let job = job_with_tests(d, "", &[("buyers", BUYERS)]);
    let o = run(d, &job, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let before = std::fs::read(night(d).join("member_features.parquet")).unwrap();
    let manifest_before = std::fs::read(night(d).join("_manifest.json")).unwrap();

    // The same night with a failing error test: exit 6, the night as it was.
    let failing = "-- No member may lack a recency (fails on members 2 and 3).\nSELECT member_id FROM member_features WHERE recency_days IS NULL\n";
    let job = job_with_tests(d, "", &[("buyers", BUYERS), ("everyone_bought", failing)]);
    let o = run(d, &job, &[]);
    assert_eq!(o.status.code(), Some(6), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "1 data test failed: everyone_bought (2 failing rows; error_if !=0) e.g. member_id=2"
        ),
        "{err}"
    );
    assert!(err.contains("everyone_bought.sql"), "{err}");
    assert_eq!(
        std::fs::read(night(d).join("member_features.parquet")).unwrap(),
        before
    );
    assert_eq!(
        std::fs::read(night(d).join("_manifest.json")).unwrap(),
        manifest_before
    );
    let left: Vec<_> = std::fs::read_dir(d.join("out/tiny"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".staging"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // On a fresh output root nothing at all is published.
    let o = siyu(
        &[
            "run",
            job.to_str().unwrap(),
            "--as-of",
            AS_OF,
            "--out",
            d.join("fresh").to_str().unwrap(),
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(6), "{}", text(&o));
    assert!(!d.join(format!("fresh/tiny/as_of={AS_OF}")).exists());

    // The same test as a warning publishes, with the outcome in data_tests.
    let warn = format!("-- severity: warn\n{failing}");
    let job = job_with_tests(d, "", &[("buyers", BUYERS), ("everyone_bought", &warn)]);
    let o = run(d, &job, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let rows = text_rows(&night(d).join("data_tests.parquet"));
    let r = rows
        .iter()
        .find(|r| r["test"] == "everyone_bought")
        .unwrap();
    assert_eq!(
        (
            r["failures"].as_str(),
            r["status"].as_str(),
            r["severity"].as_str()
        ),
        ("2", "warn", "warn")
    );
    assert_eq!(r["sample"], "member_id=2\nmember_id=3");
}

#[test]
fn siyu_test_runs_the_tests_on_the_published_night() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = job_with_tests(d, GENERIC, &[("buyers", BUYERS)]);
    let out = d.join("out");
    let test = |job: &Path| {
        siyu(
            &[
                "test",
                job.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            d,
        )
    };
    // Nothing published yet: a clear error.
    let o = test(&job);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("no published night under"),
        "{}",
        text(&o)
    );

    assert!(run(d, &job, &[]).status.success());
    let o = test(&job);
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.starts_with(&format!("night as_of={AS_OF}")),
        "{stdout}"
    );
    assert!(
        stdout.contains("WARN  buyers  1 failing row (singular error, warn_if !=0, error_if >1)"),
        "{stdout}"
    );
    assert!(stdout.contains("        member_id=1"), "{stdout}");
    assert!(
        stdout.contains("PASS  unique:member_features.member_id  no failing rows"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("7 tests: 3 pass, 4 warn, 0 error\n"),
        "{stdout}"
    );

    // A test added after the night was published fails on it: exit 6, nothing written.
    let files_before: Vec<_> = std::fs::read_dir(night(d))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let job = job_with_tests(
        d,
        GENERIC,
        &[
            ("buyers", BUYERS),
            (
                "no_buyers",
                "SELECT member_id FROM member_features WHERE orders_all_time > 0",
            ),
        ],
    );
    let o = test(&job);
    assert_eq!(o.status.code(), Some(6), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("ERROR no_buyers  1 failing row"),
        "{}",
        text(&o)
    );
    let files_after: Vec<_> = std::fs::read_dir(night(d))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files_before, files_after);

    // With two nights published, the newest is tested.
    let run_on = |job: &Path, as_of: &str| {
        siyu(
            &[
                "run",
                job.to_str().unwrap(),
                "--as-of",
                as_of,
                "--out",
                out.to_str().unwrap(),
            ],
            d,
        )
    };
    let o = run_on(&job, "2026-02-03");
    assert_eq!(
        o.status.code(),
        Some(6),
        "no_buyers fails this night too: {}",
        text(&o)
    );
    let job = job_with_tests(d, GENERIC, &[("buyers", BUYERS)]);
    let o = run_on(&job, "2026-02-03");
    assert!(o.status.success(), "{}", text(&o));
    let o = test(&job);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("night as_of=2026-02-03"),
        "{}",
        text(&o)
    );
    let o = siyu(
        &[
            "test",
            job.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--as-of",
            AS_OF,
        ],
        d,
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with(&format!("night as_of={AS_OF}")),
        "{}",
        text(&o)
    );

    // A test reading a table the night did not publish is named.
    let job = job_with_tests(
        d,
        "",
        &[("paid", "SELECT * FROM paid_orders WHERE paid_amount < 0")],
    );
    let o = test(&job);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(
            "data test paid reads paid_orders, which night as_of=2026-02-03 did not publish"
        ),
        "{}",
        text(&o)
    );
}

#[test]
fn check_refuses_a_misspelt_test_and_a_bad_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = job_with_tests(
        d,
        "[[tests.checks]]\ntest = \"not_null\"\ntable = \"member_features\"\ncolumn = \"recency\"\n",
        &[("bad", "-- warn_if: more than 3\nSELECT 1 AS x")],
    );
    let o = siyu(&["check", job.to_str().unwrap(), "--as-of", AS_OF], d);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("bad.sql") && out.contains("threshold \"more than 3\""),
        "{out}"
    );
    let job = job_with_tests(
        d,
        "[[tests.checks]]\ntest = \"not_null\"\ntable = \"member_features\"\ncolumn = \"recency\"\n",
        &[],
    );
    let o = siyu(&["check", job.to_str().unwrap(), "--as-of", AS_OF], d);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("data test not_null:member_features.recency"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("recency"), "{}", text(&o));
    // A table nothing provides is named at the test that reads it.
    let job = job_with_tests(d, "", &[("ghost", "SELECT * FROM no_such_table")]);
    let o = siyu(&["check", job.to_str().unwrap(), "--as-of", AS_OF], d);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(
            "data test ghost reads no_such_table, which is neither an input nor written by any step"
        ),
        "{}",
        text(&o)
    );
    let job = job_with_tests(
        d,
        "[[tests.checks]]\ntest = \"row_count_change\"\ntable = \"paid_orders\"\nmax_change = 0.5\n",
        &[],
    );
    let o = siyu(&["check", job.to_str().unwrap(), "--as-of", AS_OF], d);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("previous_paid_orders exists for a table in [publish] tables only"),
        "{}",
        text(&o)
    );
}
