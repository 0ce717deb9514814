//! An input rewritten while the run reads it: the run fails with exit 3 naming the file
//! and publishes nothing (the pause point holds the run between two steps while the test
//! rewrites the export).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

const AS_OF: &str = "2026-02-01";

/// Run the tiny job paused at `point` (SIYU_PAUSEPOINT); at the pause, call `during`,
/// then let the run go on. Returns the exit code and stderr.
fn run_paused(dir: &Path, point: &str, during: impl FnOnce()) -> (Option<i32>, String) {
    let job = tiny_job(dir, None);
    let pause = dir.join("paused");
    let child = Command::new(env!("CARGO_BIN_EXE_siyu"))
        .args([
            "run",
            job.to_str().unwrap(),
            "--as-of",
            AS_OF,
            "--out",
            dir.join("out").to_str().unwrap(),
        ])
        .env("SIYU_PAUSEPOINT", point)
        .env("SIYU_PAUSE_FILE", &pause)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Not a timing assumption: the wait ends when the run reaches the point; the bound
    // only turns a run that never gets there into a failure instead of a hang.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !pause.exists() {
        assert!(Instant::now() < deadline, "the run never reached {point}");
        std::thread::sleep(Duration::from_millis(20));
    }
    during();
    std::fs::remove_file(&pause).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_input_rewritten_during_the_run_fails_it_and_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tiny_export(d);
    // Members rewritten (same rows, a new file) after the SQL step read them.
    let members = d.join("members.parquet");
    let (code, stderr) = run_paused(d, "step_started:member_features", || {
        let batch = read_table(&members);
        std::fs::remove_file(&members).unwrap();
        write_batch(&members, &batch);
    });
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("input changed during the run"), "{stderr}");
    assert!(stderr.contains("members.parquet"), "{stderr}");
    assert!(!d.join(format!("out/tiny/as_of={AS_OF}")).exists());
    // A new file in an input's directory is a change too.
    let (code, stderr) = run_paused(d, "before_input_check", || {
        let orders = d.join("orders");
        let any = std::fs::read_dir(&orders)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::copy(&any, orders.join("late.parquet")).unwrap();
    });
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("late.parquet (new file of input orders)"),
        "{stderr}"
    );
    assert!(!d.join(format!("out/tiny/as_of={AS_OF}")).exists());
}

#[test]
fn a_paused_run_whose_inputs_stay_the_same_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tiny_export(d);
    let (code, stderr) = run_paused(d, "step_started:member_features", || {});
    assert_eq!(code, Some(0), "{stderr}");
    assert!(d.join(format!("out/tiny/as_of={AS_OF}/_SUCCESS")).exists());
}
