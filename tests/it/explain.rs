//! `siyu explain`: a SQL step's substituted SQL and plans, and with `--analyze` its
//! executed plan on the job's real inputs, publishing nothing.

use std::process::Output;

use crate::common::{repo, siyu, text};

/// `siyu explain jobs/nightly.toml member_tier` for 2026-11-01 with `extra` arguments and
/// `--out` in a fresh directory: the output, and that directory (which must stay absent).
fn explain_member_tier(extra: &[&str]) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut args = vec![
        "explain",
        "jobs/nightly.toml",
        "member_tier",
        "--as-of",
        "2026-11-01",
    ];
    args.extend_from_slice(extra);
    args.extend(["--out", out.to_str().unwrap()]);
    let o = siyu(&args, &repo());
    assert!(!out.exists(), "explain wrote under --out");
    (o, dir)
}

#[test]
fn explain_prints_the_substituted_sql_and_both_plans() {
    let (o, _dir) = explain_member_tier(&["--param", "tier_platinum_share=0.07"]);
    let log = text(&o);
    assert!(o.status.success(), "{log}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.starts_with("-- member_tier: "), "{log}");
    // The params as the run would substitute them: the --param override, as_of.
    assert!(stdout.contains("ROUND(l.buyers * 0.07)"), "{log}");
    assert!(stdout.contains("DATE '2026-11-01'"), "{log}");
    assert!(!stdout.contains('$'), "{log}");
    assert!(stdout.contains("-- logical_plan\n"), "{log}");
    assert!(stdout.contains("-- physical_plan\n"), "{log}");
    assert!(!stdout.contains("Plan with Metrics"), "{log}");
}

#[test]
fn explain_analyze_runs_the_step_on_the_real_inputs() {
    let (o, _dir) = explain_member_tier(&["--analyze"]);
    let log = text(&o);
    assert!(o.status.success(), "{log}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let (_, executed) = stdout
        .split_once("-- Plan with Metrics\n")
        .unwrap_or_else(|| panic!("no executed plan\n{log}"));
    // The top operator produced one row per member of testdata/ (2,000): the steps it
    // reads (data quality, paid_orders) ran first, on the real exports.
    let top = executed.lines().next().unwrap();
    assert!(top.contains("output_rows=2.00 K"), "{top}");
    assert!(executed.contains("spilled_bytes="), "{log}");
}

#[test]
fn explain_names_what_it_cannot_explain() {
    let o = siyu(
        &[
            "explain",
            "jobs/nightly.toml",
            "nope",
            "--as-of",
            "2026-11-01",
        ],
        &repo(),
    );
    let log = text(&o);
    assert_eq!(o.status.code(), Some(2), "{log}");
    assert!(
        log.contains("the job has no step nope; its SQL steps are: "),
        "{log}"
    );
    assert!(log.contains("member_tier"), "{log}");

    let o = siyu(
        &[
            "explain",
            "jobs/nightly.toml",
            "member_segments",
            "--as-of",
            "2026-11-01",
        ],
        &repo(),
    );
    let log = text(&o);
    assert_eq!(o.status.code(), Some(2), "{log}");
    assert!(
        log.contains("step member_segments is a segment step, not a SQL job file"),
        "{log}"
    );
}
