//! Security: SQL job files read only the declared inputs and write nothing; outputs stay
//! under --out; published tables carry no personal-data columns unless the job opts in.

use std::fs;
use std::path::Path;

use crate::common::*;

const AS_OF: &str = "2026-02-01";

fn job_with(dir: &Path, sql: &[(&str, &str)], publish: &str, extra: &str) -> std::path::PathBuf {
    let sql_dir = dir.join("sql");
    let _ = fs::remove_dir_all(&sql_dir);
    fs::create_dir_all(&sql_dir).unwrap();
    for (n, t) in sql {
        fs::write(sql_dir.join(n), t).unwrap();
    }
    let job = format!(
        r#"[job]
name = "sec"

[inputs]
members = "members.parquet"
orders = "orders"
order_items = "order_items.parquet"
products = "products.parquet"

[sql]
dirs = [{:?}]

[publish]
tables = [{publish}]
{extra}
"#,
        sql_dir.display().to_string()
    );
    let path = dir.join("sec.toml");
    fs::write(&path, job).unwrap();
    path
}

fn check(dir: &Path, job: &Path) -> std::process::Output {
    siyu(&["check", job.to_str().unwrap(), "--as-of", AS_OF], dir)
}

#[test]
fn sql_cannot_read_files_or_write_anything() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tiny_export(d);
    let secret = d.join("secret.csv");
    fs::write(&secret, "phone\n13800000000\n").unwrap();
    let members = d.join("members.parquet");
    for (name, sql, expect) in [
        (
            "by_path.sql",
            format!("SELECT * FROM '{}'", secret.display()),
            "by_path.sql",
        ),
        (
            "parquet_path.sql",
            format!("SELECT * FROM '{}'", members.display()),
            "parquet_path.sql",
        ),
        (
            "table_function.sql",
            format!("SELECT * FROM read_csv('{}')", secret.display()),
            "table_function.sql",
        ),
        (
            "external.sql",
            format!(
                "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '{}'",
                secret.display()
            ),
            "only queries are allowed",
        ),
        (
            "copy.sql",
            "COPY (SELECT 1) TO '/tmp/siyu-escape.csv'".to_string(),
            "only queries are allowed",
        ),
    ] {
        let job = job_with(d, &[(name, &sql)], "", "");
        let o = check(d, &job);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", text(&o));
        assert!(text(&o).contains(expect), "{name}: {}", text(&o));
        assert!(!text(&o).contains("13800000000"), "{name} read the file");
    }
    assert!(!Path::new("/tmp/siyu-escape.csv").exists());
}

#[test]
fn outputs_stay_under_out() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tiny_export(d);
    let ok = "SELECT member_id, $as_of AS as_of FROM members";
    // Table and job names are identifiers: no path separators, no `..`.
    let job = job_with(d, &[("t.sql", ok)], "\"../escape\"", "");
    let o = check(d, &job);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("must be lowercase letters, digits and _"),
        "{}",
        text(&o)
    );
    let text_job = fs::read_to_string(job_with(d, &[("t.sql", ok)], "\"t\"", "")).unwrap();
    for bad in ["../up", "/abs", "a/b"] {
        let p = d.join("named.toml");
        fs::write(
            &p,
            text_job.replace("name = \"sec\"", &format!("name = {bad:?}")),
        )
        .unwrap();
        let o = check(d, &p);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o));
        assert!(text(&o).contains("[job] name"), "{bad}: {}", text(&o));
    }
    // A symlinked job directory (or run directory) would write elsewhere: refused.
    let elsewhere = d.join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    let out = d.join("out");
    fs::create_dir_all(&out).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("sec")).unwrap();
    let job = job_with(d, &[("t.sql", ok)], "\"t\"", "");
    let o = siyu(
        &[
            "run",
            job.to_str().unwrap(),
            "--as-of",
            AS_OF,
            "--out",
            out.to_str().unwrap(),
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(text(&o).contains("symbolic link"), "{}", text(&o));
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
    fs::remove_file(out.join("sec")).unwrap();
    fs::create_dir_all(out.join("sec")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join(format!("sec/as_of={AS_OF}"))).unwrap();
    let o = siyu(
        &[
            "run",
            job.to_str().unwrap(),
            "--as-of",
            AS_OF,
            "--out",
            out.to_str().unwrap(),
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[test]
fn personal_columns_are_not_published_unless_the_job_opts_in() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tiny_export(d);
    for (sql, column) in [
        (
            "SELECT member_id, '138' AS phone, $as_of AS as_of FROM members",
            "phone",
        ),
        (
            "SELECT member_id, 'Li Lei' AS name, $as_of AS as_of FROM members",
            "name",
        ),
        (
            "SELECT member_id, 'x' AS home_address, $as_of AS as_of FROM members",
            "home_address",
        ),
        (
            "SELECT member_id, 'a@b.c' AS email, $as_of AS as_of FROM members",
            "email",
        ),
        (
            "SELECT member_id, 'o1' AS wechat_openid, $as_of AS as_of FROM members",
            "wechat_openid",
        ),
    ] {
        let job = job_with(d, &[("leak.sql", sql)], "\"leak\"", "");
        let o = check(d, &job);
        assert_eq!(o.status.code(), Some(2), "{column}: {}", text(&o));
        assert!(
            text(&o).contains(&format!(
                "published table leak has column {column}, which looks like personal data"
            )),
            "{}",
            text(&o)
        );
        // Explicitly allowed, it is published.
        let job = job_with(
            d,
            &[("leak.sql", sql)],
            "\"leak\"",
            &format!("personal_columns = [\"leak.{column}\"]"),
        );
        let o = check(d, &job);
        assert!(o.status.success(), "{column}: {}", text(&o));
    }
    // Product names and consent flags are not personal data.
    let job = job_with(
        d,
        &[
            (
                "product_names.sql",
                "SELECT product_id, name, $as_of AS as_of FROM products",
            ),
            (
                "consents.sql",
                "SELECT member_id, consent_email, $as_of AS as_of FROM members",
            ),
        ],
        "\"product_names\", \"consents\"",
        "",
    );
    let o = check(d, &job);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn the_shipped_nightly_job_publishes_no_personal_column() {
    let o = siyu(
        &[
            "check",
            repo().join("jobs/nightly.toml").to_str().unwrap(),
            "--as-of",
            "2026-11-01",
        ],
        &repo(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let text = fs::read_to_string(repo().join("jobs/nightly.toml")).unwrap();
    assert!(!text.contains("personal_columns"));
}
