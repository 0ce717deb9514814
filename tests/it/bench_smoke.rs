//! Quick runs of the benchmarks in `bench/`, so that a benchmark that stops running fails
//! the tests instead of rotting until someone needs its figures.
//!
//! They need Python with the peers (`pip install -r bench/requirements.txt`); `.ci/run`
//! installs what they need. Outside CI a machine without them skips with a note; in CI
//! (`CI` set) a missing peer fails.

use std::process::Command;

use crate::common::{repo, text};

/// Whether `python3` can import `module`; in CI it must.
fn python_has(module: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var_os("CI").is_some() {
        panic!("python3 cannot import {module}: .ci/run should have installed it");
    }
    if !ok {
        eprintln!(
            "skipped: python3 cannot import {module} (pip install -r bench/requirements.txt)"
        );
    }
    ok
}

/// `python3 bench/SCRIPT ARGS… --binary <this build's siyu>` from the repository root; its
/// log, after asserting it exited 0.
fn run_bench(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(repo().join("bench").join(script))
        .args(args)
        .args(["--binary", env!("CARGO_BIN_EXE_siyu")])
        .current_dir(repo())
        .output()
        .expect("run python3");
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    log
}

/// `bench/tags_vs_duckdb.py` on testdata/: it derives the SQL-only job from
/// `jobs/nightly.toml`, runs it in siyu and in DuckDB, and exits 1 unless every published
/// table is identical in both.
#[test]
fn tags_vs_duckdb_runs_and_both_engines_agree() {
    if !python_has("duckdb") {
        return;
    }
    let log = run_bench("tags_vs_duckdb.py", &["--data", "testdata", "--runs", "1"]);
    assert!(log.contains("ratio siyu/duckdb"), "{log}");
    for table in [
        "member_tags",
        "revenue_diagnosis",
        "group_health",
        "campaign_results",
    ] {
        let line = log
            .lines()
            .find(|l| l.trim_start().starts_with(table))
            .unwrap_or_else(|| panic!("no line for {table}\n{log}"));
        assert!(line.ends_with("rows differing: 0"), "{line}");
    }
}

/// `bench/segment_vs_sklearn.py --case wide`: 30,000 rows × 36 features, k = 5, 10 starts,
/// in siyu and scikit-learn; both must reach the same inertia (the ratio is printed, not
/// judged: a debug build's time says nothing).
#[test]
fn segment_vs_sklearn_wide_case_runs_and_both_reach_the_same_inertia() {
    if !python_has("sklearn") {
        return;
    }
    let log = run_bench("segment_vs_sklearn.py", &["--case", "wide", "--runs", "1"]);
    assert!(log.contains("ratio siyu/scikit-learn"), "{log}");
    assert!(log.contains("30,000 rows x 36 features"), "{log}");
    let diff: f64 = log
        .lines()
        .find_map(|l| l.split("siyu is ").nth(1))
        .and_then(|rest| rest.trim_end_matches('%').parse().ok())
        .unwrap_or_else(|| panic!("no inertia line\n{log}"));
    assert!(diff.abs() < 0.1, "inertia differs by {diff}%\n{log}");
}

/// `bench/clv_vs_lifetimes.py --case sim` on 5,000 simulated customers: siyu and lifetimes
/// fit the same members; it exits 1 unless the parameters agree to 1e-3 and P(alive) to
/// 1e-4 (the ratio is printed, not judged).
#[test]
fn clv_vs_lifetimes_runs_and_both_find_the_same_model() {
    if !python_has("lifetimes") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = run_bench(
        "clv_vs_lifetimes.py",
        &[
            "--case",
            "sim",
            "--customers",
            "5000",
            "--runs",
            "1",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
    );
    assert!(log.contains("ratio siyu/lifetimes"), "{log}");
    assert!(log.contains("5000 customers"), "{log}");
    assert!(log.contains("agreement: ok"), "{log}");
}

/// `bench/ballista.sh` on testdata/ (QUICK=1) with this build's siyu: local engine and a
/// local two-executor cluster; it exits 1 unless every published table is identical.
#[test]
fn ballista_bench_runs_and_the_engines_agree() {
    let out = Command::new("bash")
        .arg(repo().join("bench/ballista.sh"))
        .env("QUICK", "1")
        .env("SIYU", env!("CARGO_BIN_EXE_siyu"))
        .env_remove("RUST_LOG")
        .current_dir(repo())
        .output()
        .expect("run bash");
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("tables identical: yes"), "{log}");
    assert!(log.contains("ratio cluster / local"), "{log}");
    assert!(log.contains("N=8"), "{log}");
}

/// `bench/rss_by_step.py` over the nightly job on testdata/: it reports the process's
/// peak RSS and one row per step of the manifest, each with its RSS and pool peaks.
#[test]
fn rss_by_step_reports_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = Command::new("python3")
        .arg(repo().join("bench/rss_by_step.py"))
        .arg(&out_dir)
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_siyu"))
        .args(["--log-level", "warn", "run"])
        .arg(repo().join("jobs/nightly.toml"))
        .args(["--as-of", "2026-11-01", "--out"])
        .arg(&out_dir)
        .env_remove("RUST_LOG")
        .current_dir(repo())
        .output()
        .expect("run python3");
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    let peak: u64 = log
        .split("process peak RSS ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in {log}"));
    assert!(peak > 0, "{log}");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out_dir.join("nightly/as_of=2026-11-01/_manifest.json")).unwrap(),
    )
    .unwrap();
    let steps = manifest["steps"].as_array().unwrap();
    for s in steps {
        let name = s["name"].as_str().unwrap();
        let row = log
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row for {name} in {log}"));
        assert_eq!(row.split_whitespace().count(), 5, "{row}");
    }
}
