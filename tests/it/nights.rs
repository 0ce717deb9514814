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
        &["--keep-nights", "1", "--param", "frequency_window_days=notanumber"],
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
    std::fs::write(&job, text_of.replace("[publish]\n", "[publish]\nkeep_nights = 0\n")).unwrap();
    let o = siyu(&["check", job.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("keep_nights must be at least 1"), "{}", text(&o));

    // tiny_job rewrites the file on every run_on, so write the setting into a copy.
    let kept = dir.path().join("kept.toml");
    std::fs::write(&kept, text_of.replace("[publish]\n", "[publish]\nkeep_nights = 1\n")).unwrap();
    let out = dir.path().join("out");
    for d in ["2026-02-01", "2026-02-02"] {
        let o = siyu(
            &["run", kept.to_str().unwrap(), "--as-of", d, "--out", out.to_str().unwrap()],
            dir.path(),
        );
        assert!(o.status.success(), "{}", text(&o));
    }
    assert_eq!(nights(dir.path()), ["as_of=2026-02-02"]);
}
