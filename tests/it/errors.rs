//! Errors carry their location as fields: text logs print it as a prefix,
//! `--log-format json` as separate JSON fields a scheduler or log collector can route on.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};

use crate::common::*;

const AS_OF: &str = "2026-02-01";

/// The JSON error events siyu wrote on stderr.
fn error_events(stderr: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["level"] == "ERROR")
        .collect()
}

fn tiny_with_sql(dir: &Path, file: &str, sql: &str) -> std::path::PathBuf {
    tiny_export(dir);
    let extra = dir.join("sql");
    std::fs::create_dir_all(&extra).unwrap();
    std::fs::write(extra.join(file), sql).unwrap();
    tiny_job(dir, Some(&extra))
}

#[test]
fn a_sql_syntax_error_has_file_line_and_column_fields_in_json_logs() {
    let dir = tempfile::tempdir().unwrap();
    let job = tiny_with_sql(
        dir.path(),
        "broken.sql",
        "SELECT member_id,\n  $as_of AS as_of\nFROM members WHERE > 1\n",
    );
    for command in ["check", "run"] {
        let out = dir.path().join("out");
        let o = siyu(
            &[
                "--log-format",
                "json",
                command,
                job.to_str().unwrap(),
                "--as-of",
                AS_OF,
                "--out",
                out.to_str().unwrap(),
            ][..if command == "check" { 6 } else { 8 }],
            dir.path(),
        );
        assert_eq!(o.status.code(), Some(2), "{command}: {}", text(&o));
        let events = error_events(&o.stderr);
        let e = events
            .iter()
            .find(|e| {
                e["file"]
                    .as_str()
                    .is_some_and(|f| f.ends_with("broken.sql"))
            })
            .unwrap_or_else(|| panic!("{command}: no event for broken.sql: {}", text(&o)));
        assert_eq!(e["line"], 3, "{e}");
        assert_eq!(e["column"], 20, "{e}");
        assert_eq!(e["class"], "config");
        assert_eq!(e["exit_code"], 2);
        let message = e["message"].as_str().unwrap();
        assert!(message.starts_with("SQL syntax error"), "{message}");
        // The location is a field, not glued into the message.
        assert!(!message.contains("broken.sql"), "{message}");
    }
    // Text logs print the same location as a prefix.
    let o = siyu(
        &["check", job.to_str().unwrap(), "--as-of", AS_OF],
        dir.path(),
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("broken.sql:3:20: SQL syntax error"),
        "{}",
        text(&o)
    );
}

#[test]
fn an_input_error_names_file_table_and_column_as_fields() {
    let dir = tempfile::tempdir().unwrap();
    tiny_export(dir.path());
    // orders with paid_amount stored as text
    let orders = batch(vec![
        (
            "order_id",
            Arc::new(StringArray::from(vec!["x1"])) as ArrayRef,
        ),
        ("member_id", Arc::new(Int64Array::from(vec![1]))),
        (
            "ordered_at",
            Arc::new(TimestampMicrosecondArray::from(vec![ts(
                "2026-01-30 10:00:00",
            )])),
        ),
        ("channel", Arc::new(StringArray::from(vec!["store"]))),
        ("gross_amount", Arc::new(Float64Array::from(vec![1.0]))),
        ("discount_amount", Arc::new(Float64Array::from(vec![0.0]))),
        ("paid_amount", Arc::new(StringArray::from(vec!["1.00"]))),
        ("status", Arc::new(StringArray::from(vec!["paid"]))),
    ]);
    std::fs::remove_dir_all(dir.path().join("orders")).unwrap();
    write_batch(&dir.path().join("orders/part-0.parquet"), &orders);
    let job = tiny_job(dir.path(), None);
    let o = siyu(
        &[
            "--log-format",
            "json",
            "check",
            job.to_str().unwrap(),
            "--as-of",
            AS_OF,
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let events = error_events(&o.stderr);
    let e = events
        .iter()
        .find(|e| e["column_name"] == "paid_amount")
        .unwrap_or_else(|| panic!("{}", text(&o)));
    assert_eq!(e["table"], "orders");
    assert!(
        e["file"]
            .as_str()
            .unwrap()
            .ends_with("orders/part-0.parquet"),
        "{e}"
    );
    assert_eq!(e["class"], "input");
}

#[test]
fn a_refused_duplicate_key_is_a_field_of_the_data_quality_error() {
    let dir = tempfile::tempdir().unwrap();
    tiny_export(dir.path());
    let members = batch(vec![
        (
            "member_id",
            Arc::new(Int64Array::from(vec![7, 7])) as ArrayRef,
        ),
        (
            "joined_at",
            Arc::new(TimestampMicrosecondArray::from(vec![
                ts("2024-01-01 10:00:00"),
                ts("2024-01-02 10:00:00"),
            ])),
        ),
    ]);
    write_batch(&dir.path().join("members.parquet"), &members);
    let job = tiny_job(dir.path(), None);
    let out = dir.path().join("out");
    let o = siyu(
        &[
            "--log-format",
            "json",
            "run",
            job.to_str().unwrap(),
            "--as-of",
            AS_OF,
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let events = error_events(&o.stderr);
    let e = events
        .iter()
        .find(|e| e["key"] == "7")
        .unwrap_or_else(|| panic!("{}", text(&o)));
    assert_eq!(e["table"], "members");
    assert_eq!(e["column_name"], "member_id");
    assert_eq!(e["step"], "data_quality");
    assert!(
        e["file"].as_str().unwrap().ends_with("members.parquet"),
        "{e}"
    );
}
