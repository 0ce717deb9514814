//! `[publish.keys]`: a published table sorted by its declared key, checked unique.

use std::fs;
use std::path::Path;

use datafusion::arrow::array::AsArray;

use crate::common::*;

const AS_OF: &str = "2026-02-01";

/// A job publishing `orders_out` (member_id, order_id, ordered_at, as_of) over
/// `tiny_export`, with `keys` as its `[publish.keys]` line.
fn job(dir: &Path, keys: &str) -> std::path::PathBuf {
    let sql_dir = dir.join("sql");
    fs::create_dir_all(&sql_dir).unwrap();
    fs::write(
        sql_dir.join("orders_out.sql"),
        "SELECT CAST(member_id AS VARCHAR) AS member_id, order_id, ordered_at, $as_of AS as_of FROM orders",
    )
    .unwrap();
    let job = format!(
        r#"[job]
name = "keys"

[inputs]
members = "members.parquet"
orders = "orders"
order_items = "order_items.parquet"
products = "products.parquet"

[sql]
dirs = [{:?}]

[publish]
tables = ["orders_out"]

[publish.keys]
{keys}
"#,
        sql_dir.display().to_string()
    );
    let path = dir.join("keys.toml");
    fs::write(&path, job).unwrap();
    path
}

fn run(dir: &Path, job: &Path) -> std::process::Output {
    siyu(
        &[
            "run",
            job.to_str().unwrap(),
            "--as-of",
            AS_OF,
            "--out",
            dir.join("out").to_str().unwrap(),
        ],
        dir,
    )
}

#[test]
fn a_declared_key_orders_the_table_instead_of_its_columns() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tiny_export(d);
    let o = run(d, &job(d, r#"orders_out = ["ordered_at", "order_id"]"#));
    assert!(o.status.success(), "{}", text(&o));
    let t = read_table(&d.join(format!("out/keys/as_of={AS_OF}/orders_out.parquet")));
    let ids: Vec<&str> = t
        .column_by_name("order_id")
        .unwrap()
        .as_string::<i32>()
        .iter()
        .map(|v| v.unwrap())
        .collect();
    // By time (o2 is member 1's oldest order), not by member_id then order_id (o1, o2,
    // o3, then member 3's): the key decides.
    let times = t
        .column_by_name("ordered_at")
        .unwrap()
        .as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>()
        .values()
        .to_vec();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{ids:?} {times:?}");
    assert_eq!(&ids[..3], &["o2", "o1", "o3"], "{ids:?}");
}

#[test]
fn two_rows_with_one_key_fail_the_run_and_publish_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tiny_export(d);
    // Member 1 has three orders: member_id alone is no key of this table.
    let o = run(d, &job(d, r#"orders_out = ["member_id"]"#));
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let msg = text(&o);
    assert!(
        msg.contains("the key declared in [publish] keys (member_id) is not unique: two rows have member_id=1"),
        "{msg}"
    );
    assert!(msg.contains("orders_out.parquet"), "{msg}");
    assert!(!d.join(format!("out/keys/as_of={AS_OF}")).exists());
}

#[test]
fn keys_are_checked_with_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tiny_export(d);
    for (keys, expect) in [
        (
            r#"orders_out = ["nope"]"#,
            "[publish] keys for orders_out names column nope, which orders_out does not have (its columns: member_id, order_id, ordered_at, as_of)",
        ),
        (
            r#"elsewhere = ["member_id"]"#,
            "[publish] keys names elsewhere, which is not in [publish] tables",
        ),
        (
            r#"orders_out = []"#,
            "[publish] keys for orders_out is empty",
        ),
        (
            r#"orders_out = ["order_id", "order_id"]"#,
            "[publish] keys for orders_out lists order_id twice",
        ),
    ] {
        let job = job(d, keys);
        let o = siyu(&["check", job.to_str().unwrap(), "--as-of", AS_OF], d);
        assert_eq!(o.status.code(), Some(2), "{keys}: {}", text(&o));
        assert!(text(&o).contains(expect), "{keys}: {}", text(&o));
    }
}
