//! Nights in a row (issue 18, part 2): `LATEST` names the newest complete night and
//! retention keeps the newest N, never the night just published or the only one.

use std::path::Path;

use crate::common::*;

fn run_on(dir: &Path, as_of: &str, extra: &[&str]) -> std::process::Output {
    let job = tiny_job(dir, None);
    let out = dir.join("out");
    let mut args = vec![
        "run",
        job.to_str().unwrap(),
        "--as-of",
        as_of,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    siyu(&args, dir)
}

fn nights(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir.join("out/tiny"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && n != "LATEST")
        .collect();
    n.sort();
    n
}

fn latest(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("out/tiny/LATEST")).unwrap()
}

#[test]
fn latest_names_the_newest_night_and_retention_keeps_the_newest_n() {
    let dir = tempfile::tempdir().unwrap();
    tiny_export(dir.path());
    for d in ["2026-02-01", "2026-02-02", "2026-02-03"] {
        let o = run_on(dir.path(), d, &["--keep-nights", "2"]);
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(latest(dir.path()), format!("as_of={d}\n"));
    }
    assert_eq!(nights(dir.path()), ["as_of=2026-02-02", "as_of=2026-02-03"]);

    // A night for an earlier date (a backfill) is kept until the next publish and does
    // not move LATEST back.
    let o = run_on(dir.path(), "2026-01-31", &["--keep-nights", "2"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        nights(dir.path()),
        ["as_of=2026-01-31", "as_of=2026-02-02", "as_of=2026-02-03"]
    );
    assert_eq!(latest(dir.path()), "as_of=2026-02-03\n");

    // Without --keep-nights (and none in the job) nothing is removed.
    let o = run_on(dir.path(), "2026-02-04", &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(nights(dir.path()).len(), 4);
    assert_eq!(latest(dir.path()), "as_of=2026-02-04\n");

    // keep 1: only the newest stays; rerunning it keeps it (never the only night).
    for _ in 0..2 {
        let o = run_on(dir.path(), "2026-02-04", &["--keep-nights", "1"]);
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(nights(dir.path()), ["as_of=2026-02-04"]);
        assert_eq!(latest(dir.path()), "as_of=2026-02-04\n");
    }
}

#[test]
fn a_failed_run_moves_neither_latest_nor_removes_nights() {
    let dir = tempfile::tempdir().unwrap();
    tiny_export(dir.path());
    let o = run_on(dir.path(), "2026-02-01", &[]);
    assert!(o.status.success(), "{}", text(&o));
    // A run whose SQL fails publishes nothing: LATEST and the night stay.
    let o = run_on(
        dir.path(),
        "2026-02-02",
        &[
            "--keep-nights",
            "1",
            "--param",
            "frequency_window_days=notanumber",
        ],
    );
    assert!(!o.status.success());
    assert_eq!(nights(dir.path()), ["as_of=2026-02-01"]);
    assert_eq!(latest(dir.path()), "as_of=2026-02-01\n");
}

#[test]
fn keep_nights_in_the_job_file_is_checked_and_used() {
    let dir = tempfile::tempdir().unwrap();
    tiny_export(dir.path());
    let job = tiny_job(dir.path(), None);
    let text_of = std::fs::read_to_string(&job).unwrap();
    std::fs::write(
        &job,
        text_of.replace("[publish]\n", "[publish]\nkeep_nights = 0\n"),
    )
    .unwrap();
    let o = siyu(&["check", job.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("keep_nights must be at least 1"),
        "{}",
        text(&o)
    );

    // tiny_job rewrites the file on every run_on, so write the setting into a copy.
    let kept = dir.path().join("kept.toml");
    std::fs::write(
        &kept,
        text_of.replace("[publish]\n", "[publish]\nkeep_nights = 1\n"),
    )
    .unwrap();
    let out = dir.path().join("out");
    for d in ["2026-02-01", "2026-02-02"] {
        let o = siyu(
            &[
                "run",
                kept.to_str().unwrap(),
                "--as-of",
                d,
                "--out",
                out.to_str().unwrap(),
            ],
            dir.path(),
        );
        assert!(o.status.success(), "{}", text(&o));
    }
    assert_eq!(nights(dir.path()), ["as_of=2026-02-02"]);
}

fn backfill(dir: &Path, job: &Path, from: &str, to: &str, extra: &[&str]) -> std::process::Output {
    let out = dir.join("out");
    let mut args = vec![
        "backfill",
        job.to_str().unwrap(),
        "--from",
        from,
        "--to",
        to,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    siyu(&args, dir)
}

fn manifest(dir: &Path, as_of: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(format!("out/tiny/as_of={as_of}/_manifest.json")))
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Three nights in order, each seeing the one before; run again, all are skipped; with
/// --force, or with another param, they run again.
#[test]
fn backfill_runs_in_order_resumes_and_forces() {
    let dir = tempfile::tempdir().unwrap();
    tiny_export(dir.path());
    let job = tiny_job(dir.path(), None);
    let o = backfill(dir.path(), &job, "2026-02-01", "2026-02-03", &[]);
    let log = text(&o);
    assert!(o.status.success(), "{log}");
    assert_eq!(log.matches("\tpublished ").count(), 3, "{log}");
    assert_eq!(nights(dir.path()).len(), 3);
    assert_eq!(latest(dir.path()), "as_of=2026-02-03\n");
    assert!(manifest(dir.path(), "2026-02-01")["previous_run"].is_null());
    assert_eq!(
        manifest(dir.path(), "2026-02-02")["previous_run"],
        "2026-02-01"
    );
    assert_eq!(
        manifest(dir.path(), "2026-02-03")["previous_run"],
        "2026-02-02"
    );
    let run_id = |d: &str| manifest(dir.path(), d)["run_id"].clone();
    let first = run_id("2026-02-02");

    // Resumed: the range extended by a night; the three published ones are skipped.
    let o = backfill(dir.path(), &job, "2026-02-01", "2026-02-04", &[]);
    let log = text(&o);
    assert!(o.status.success(), "{log}");
    assert_eq!(log.matches("\tskipped: ").count(), 3, "{log}");
    assert!(log.contains("as_of=2026-02-04\tpublished"), "{log}");
    assert_eq!(run_id("2026-02-02"), first);

    // Another param value is another night: rerun.
    let o = backfill(
        dir.path(),
        &job,
        "2026-02-02",
        "2026-02-02",
        &["--param", "frequency_window_days=30"],
    );
    assert!(
        text(&o).contains("as_of=2026-02-02\tpublished"),
        "{}",
        text(&o)
    );
    let second = run_id("2026-02-02");
    assert_ne!(second, first);
    // --force reruns a night that would be skipped.
    let o = backfill(
        dir.path(),
        &job,
        "2026-02-02",
        "2026-02-02",
        &["--param", "frequency_window_days=30", "--force"],
    );
    assert!(
        text(&o).contains("as_of=2026-02-02\tpublished"),
        "{}",
        text(&o)
    );
    assert_ne!(run_id("2026-02-02"), second);

    // --as-of does not go with a range.
    let o = backfill(
        dir.path(),
        &job,
        "2026-02-05",
        "2026-02-06",
        &["--as-of", "2026-02-05"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--as-of does not apply"), "{}", text(&o));
    assert!(!nights(dir.path()).contains(&"as_of=2026-02-05".to_string()));

    // Bad ranges are refused before anything runs.
    let o = backfill(dir.path(), &job, "2026-02-03", "2026-02-01", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--to 2026-02-01 is before --from 2026-02-03"));
}

/// A night that fails stops the backfill: the nights before it stay published, the
/// later ones are not run, and the exit code is the failure's.
#[test]
fn backfill_stops_at_the_first_failing_night() {
    let dir = tempfile::tempdir().unwrap();
    tiny_export(dir.path());
    let sql = dir.path().join("sql_extra");
    std::fs::create_dir_all(&sql).unwrap();
    // Fails on 2026-02-02 only: a division by zero in a query over member_features.
    std::fs::write(
        sql.join("boom.sql"),
        "SELECT member_id, 1 / CASE WHEN $as_of = DATE '2026-02-02' THEN 0 ELSE 1 END AS v FROM member_features",
    )
    .unwrap();
    let job = tiny_job(dir.path(), Some(&sql));
    let o = backfill(dir.path(), &job, "2026-02-01", "2026-02-03", &[]);
    let log = text(&o);
    assert!(!o.status.success(), "{log}");
    assert_ne!(o.status.code(), Some(1), "a failure, not a crash: {log}");
    assert!(
        log.contains("backfill stopped at as_of=2026-02-02 (1 night(s) published before it"),
        "{log}"
    );
    assert_eq!(nights(dir.path()), ["as_of=2026-02-01"]);
    assert_eq!(latest(dir.path()), "as_of=2026-02-01\n");
}
