//! Crash safety of the whole nightly job: SIGKILL at several points of a run — in the
//! middle of the SQL steps, right after mining, after writing a table, before the
//! manifest, just before the swap — leaves readers the previous complete output (every
//! file byte for byte, `_SUCCESS` present), and the next run succeeds and publishes.
//! The points are failpoints (`SIYU_FAILPOINT`, src/failpoint.rs), not timers.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use crate::common::*;

const AS_OF: &str = "2026-11-01";

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn nightly(dir: &Path, failpoint: Option<&str>, param: &str) -> std::process::Output {
    let job = repo().join("jobs/nightly.toml");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_siyu"));
    cmd.args([
        "run",
        job.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--out",
        dir.join("out").to_str().unwrap(),
        "--param",
        param,
    ])
    .current_dir(dir)
    .env_remove("RUST_LOG");
    if let Some(p) = failpoint {
        cmd.env("SIYU_FAILPOINT", p);
    }
    cmd.output().unwrap()
}

#[test]
fn sigkill_anywhere_in_the_nightly_job_leaves_the_previous_output_whole() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = nightly(d, None, "recommend_window_days=90");
    assert!(o.status.success(), "{}", text(&o));
    let published = d.join(format!("out/nightly/as_of={AS_OF}"));
    let before = files(&published);
    assert!(before.contains_key("_SUCCESS"));

    // Each attempt would publish different tables (another recommendation window).
    for point in [
        "step_started:member_tags",
        "rules_mined",
        "step_started:outreach",
        "table_written",
        "before_success",
        "before_swap",
    ] {
        let o = nightly(d, Some(point), "recommend_window_days=60");
        assert_eq!(o.status.signal(), Some(9), "{point}: {}", text(&o));
        assert_eq!(
            files(&published),
            before,
            "{point}: the published run changed"
        );
        let visible: Vec<String> = fs::read_dir(d.join("out/nightly"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.') && n != "LATEST")
            .collect();
        assert_eq!(visible, [format!("as_of={AS_OF}")], "{point}");
        assert_eq!(
            fs::read_to_string(d.join("out/nightly/LATEST")).unwrap(),
            format!("as_of={AS_OF}\n"),
            "{point}: LATEST still names the published night"
        );
    }

    // The next run cleans up and publishes the new output whole.
    let o = nightly(d, None, "recommend_window_days=60");
    assert!(o.status.success(), "{}", text(&o));
    let after = files(&published);
    assert!(after.contains_key("_SUCCESS"));
    assert_ne!(
        after["recommendations.parquet"],
        before["recommendations.parquet"]
    );
    let hidden: Vec<String> = fs::read_dir(d.join("out/nightly"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n != ".lock" && !n.starts_with(".siyu"))
        .collect();
    assert!(hidden.is_empty(), "left behind: {hidden:?}");
}
