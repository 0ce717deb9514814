//! SIGTERM and SIGINT stop a run cleanly: exit 143 / 130, nothing published, no staging
//! left, the previous night untouched; a second signal during the clean-up exits at once
//! (and the next run removes what was staged). The run is held between two SQL steps by a
//! pause point, so the signal lands at an exact place, not after a guessed delay.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

const AS_OF: &str = "2026-02-01";

fn run_args(job: &Path, out: &Path) -> Vec<String> {
    vec![
        "run".into(),
        job.display().to_string(),
        "--as-of".into(),
        AS_OF.into(),
        "--out".into(),
        out.display().to_string(),
    ]
}

/// A tiny export with one night already published for `AS_OF`; the job file's path.
fn published_night(d: &Path) -> PathBuf {
    tiny_export(d);
    let job = tiny_job(d, None);
    let args = run_args(&job, &d.join("out"));
    let o = siyu(&args.iter().map(String::as_str).collect::<Vec<_>>(), d);
    assert!(o.status.success(), "{}", text(&o));
    job
}

fn night(d: &Path) -> PathBuf {
    d.join(format!("out/tiny/as_of={AS_OF}"))
}

/// The run of `job`, paused at `points` (comma-separated) with `pause` as its pause file.
fn start_paused(d: &Path, job: &Path, points: &str, pause: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_siyu"))
        .args(run_args(job, &d.join("out")))
        .current_dir(d)
        .env("SIYU_PAUSEPOINT", points)
        .env("SIYU_PAUSE_FILE", pause)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait until the run is paused at `point` (the pause file names it). Not a timing
/// assumption: the bound only turns a run that never gets there into a failure.
fn wait_for(pause: &Path, point: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::read_to_string(pause).ok().as_deref() != Some(point) {
        assert!(Instant::now() < deadline, "the run never reached {point}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn send(child: &Child, signal: i32) {
    // SAFETY: kill(2) on the pid of a child we spawned and have not waited for.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
}

fn staging_dirs(d: &Path) -> Vec<String> {
    std::fs::read_dir(d.join("out/tiny"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".staging"))
        .collect()
}

fn stopped_by(signal: i32, name: &str, code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = published_night(d);
    let before = std::fs::read(night(d).join("member_features.parquet")).unwrap();
    let pause = d.join("paused");
    let child = start_paused(d, &job, "step_started:member_features", &pause);
    wait_for(&pause, "step_started:member_features");
    // The run is between its SQL steps with a staging directory of its own.
    assert_eq!(staging_dirs(d).len(), 1, "{:?}", staging_dirs(d));
    send(&child, signal);
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "{err}");
    assert!(
        err.contains(&format!("stopped by {name}")) && err.contains("nothing was published"),
        "{err}"
    );
    assert!(staging_dirs(d).is_empty(), "{:?}", staging_dirs(d));
    assert_eq!(
        std::fs::read(night(d).join("member_features.parquet")).unwrap(),
        before,
        "the previous night changed"
    );
    assert!(night(d).join("_SUCCESS").exists());
    // The lock is free: the next run publishes.
    let args = run_args(&job, &d.join("out"));
    let o = siyu(&args.iter().map(String::as_str).collect::<Vec<_>>(), d);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn sigterm_stops_a_run_with_exit_143_and_publishes_nothing() {
    stopped_by(libc::SIGTERM, "SIGTERM", 143);
}

#[test]
fn sigint_stops_a_run_with_exit_130_and_publishes_nothing() {
    stopped_by(libc::SIGINT, "SIGINT", 130);
}

/// The clean-up after the first signal is held at its pause point; the second signal
/// ends the process there, with the second signal's code. The staging it leaves is
/// hidden, never published, and removed by the next run.
#[test]
fn a_second_signal_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = published_night(d);
    let pause = d.join("paused");
    let child = start_paused(d, &job, "step_started:member_features,interrupted", &pause);
    wait_for(&pause, "step_started:member_features");
    send(&child, libc::SIGTERM);
    wait_for(&pause, "interrupted");
    send(&child, libc::SIGINT);
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("SIGINT again: exiting now"), "{err}");
    assert_eq!(staging_dirs(d).len(), 1, "the clean-up was skipped: {err}");
    assert!(night(d).join("_SUCCESS").exists());
    let args = run_args(&job, &d.join("out"));
    let o = siyu(&args.iter().map(String::as_str).collect::<Vec<_>>(), d);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("removed the staging directory"),
        "{}",
        text(&o)
    );
    assert!(staging_dirs(d).is_empty(), "{:?}", staging_dirs(d));
}

/// Inside a cgroup (a container) that allows 2 GiB, `--memory-limit 3G` is refused at
/// start (exit 2, naming the cgroup's file) instead of being OOM-killed later; 1G runs.
/// Needs a writable cgroup v1 memory hierarchy (root, as CI runs); where there is none,
/// the unit tests of `siyu::cgroup` stand alone.
#[test]
fn a_memory_limit_beyond_the_cgroup_is_refused_at_start() {
    let base = Path::new("/sys/fs/cgroup/memory");
    let group = base.join(format!("siyu-test-{}", std::process::id()));
    if std::fs::create_dir(&group).is_err() {
        eprintln!("no writable cgroup v1 memory hierarchy here: not checked end to end");
        return;
    }
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _cleanup = Remove(group.clone());
    std::fs::write(group.join("memory.limit_in_bytes"), "2147483648").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tiny_export(d);
    let job = tiny_job(d, None);
    let run_in_group = |limit: &str| {
        let mut args = run_args(&job, &d.join("out"));
        args.extend(["--memory-limit".to_string(), limit.to_string()]);
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "echo $$ > {}/cgroup.procs && exec \"$@\"",
                group.display()
            ))
            .arg("sh")
            .arg(env!("CARGO_BIN_EXE_siyu"))
            .args(&args)
            .current_dir(d)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let o = run_in_group("3G");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "--memory-limit 3072 MiB is more than this process may use: its cgroup allows 2048 MiB"
        ) && err.contains("memory.limit_in_bytes"),
        "{err}"
    );
    assert!(!night(d).exists());
    let o = run_in_group("1G");
    assert!(o.status.success(), "{}", text(&o));
}
