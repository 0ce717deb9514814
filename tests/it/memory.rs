//! Memory at scale 10 (1M members, 10M orders): without a limit the nightly job peaks
//! under 2.5 GiB RSS; under `--memory-limit 1G` it completes by spilling, its peak RSS
//! stays within the limit plus the documented overhead (docs/operations.md, "Memory"),
//! and it publishes byte-identical tables.
//!
//! It takes minutes in a release build, so it is not part of `cargo test`:
//!
//!     cargo test --release --test it memory:: -- --ignored --nocapture
//!
//! (`bash bench/memory_limit.sh 10 2G 1G` measures the same from the shell.) The small
//! version that runs in every `cargo test` is in tests/it/nightly.rs: testdata under a 64M
//! limit publishes byte-identical tables.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use crate::common::*;

const AS_OF: &str = "2026-11-01";
/// What siyu may hold beyond the DataFusion pool: the Rust steps' data (baskets for
/// mining, features for k-means, campaign candidates), parquet encoders and decoders,
/// and the binary itself. Measured at scale 10 and documented in docs/operations.md.
const OVERHEAD_MIB: u64 = 1024;
const LIMIT: &str = "1G";
const LIMIT_MIB: u64 = 1024;
/// The unconstrained peak the SQL-speed issue asks for at this scale.
const UNCONSTRAINED_MIB: u64 = 2560;

/// Run to completion and return (success, peak RSS in MiB) of that one child. The child
/// is reaped by `wait4` (which also reports its own peak RSS), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn run_measured(args: &[&str]) -> (bool, u64) {
    let child = Command::new(env!("CARGO_BIN_EXE_siyu"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for the child we own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid);
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (ok, usage.ru_maxrss as u64 / 1024)
}

#[test]
#[ignore = "scale 10 takes minutes in a release build: cargo test --release --test it memory:: -- --ignored"]
fn nightly_at_scale_10_fits_a_memory_limit_well_below_its_peak() {
    let data = repo().join("bench/data/scale-10");
    if !data.join(".complete").exists() {
        let (ok, _) = run_measured(&[
            "generate",
            "--scale",
            "10",
            "--out",
            data.to_str().unwrap(),
            "--end-date",
            AS_OF,
        ]);
        assert!(ok, "generate failed");
        fs::write(data.join(".complete"), "").unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let job = repo().join("jobs/nightly.toml");
    let run = |out: &PathBuf, limit: Option<&str>| {
        let mut args = vec![
            "--log-level",
            "warn",
            "run",
            job.to_str().unwrap(),
            "--input-dir",
            data.to_str().unwrap(),
            "--as-of",
            AS_OF,
            "--out",
            out.to_str().unwrap(),
        ];
        if let Some(l) = limit {
            args.extend(["--memory-limit", l]);
        }
        run_measured(&args)
    };
    let free = dir.path().join("free");
    let limited = dir.path().join("limited");
    let (ok, peak_free) = run(&free, None);
    assert!(ok, "the unconstrained run failed");
    let (ok, peak_limited) = run(&limited, Some(LIMIT));
    assert!(ok, "the run under --memory-limit {LIMIT} failed");
    println!("peak RSS: unconstrained {peak_free} MiB, --memory-limit {LIMIT} {peak_limited} MiB");
    assert!(
        peak_free <= UNCONSTRAINED_MIB,
        "unconstrained peak {peak_free} MiB > {UNCONSTRAINED_MIB} MiB"
    );
    assert!(
        peak_limited <= LIMIT_MIB + OVERHEAD_MIB,
        "{peak_limited} MiB > {LIMIT_MIB} MiB limit + {OVERHEAD_MIB} MiB overhead"
    );
    let a = free.join(format!("nightly/as_of={AS_OF}"));
    let b = limited.join(format!("nightly/as_of={AS_OF}"));
    for entry in fs::read_dir(&a).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !name.ends_with(".parquet") {
            continue;
        }
        assert!(
            fs::read(a.join(&name)).unwrap() == fs::read(b.join(&name)).unwrap(),
            "{name} differs under --memory-limit {LIMIT}"
        );
    }
}

/// The cheap version that runs in every `cargo test`: generated scale 0.3 (30,000
/// members, about 290,000 orders) under `--memory-limit 256M` completes, and the
/// process's peak RSS (the kernel's `ru_maxrss` for the child) stays within the limit
/// plus the overhead documented for it (docs/operations.md, "Memory": 256 MiB). The
/// scale-10 figures are measured by the ignored test above and bench/memory_limit.sh.
#[test]
fn scale_0_3_under_a_small_limit_stays_within_its_overhead() {
    const SMALL_LIMIT_MIB: u64 = 256;
    const SMALL_OVERHEAD_MIB: u64 = 256;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (ok, _) = run_measured(&[
        "--log-level",
        "warn",
        "generate",
        "--scale",
        "0.3",
        "--out",
        data.to_str().unwrap(),
        "--end-date",
        AS_OF,
    ]);
    assert!(ok, "generate failed");
    let out = dir.path().join("out");
    let job = repo().join("jobs/nightly.toml");
    let limit = format!("{SMALL_LIMIT_MIB}M");
    let (ok, peak) = run_measured(&[
        "--log-level",
        "warn",
        "run",
        job.to_str().unwrap(),
        "--input-dir",
        data.to_str().unwrap(),
        "--as-of",
        AS_OF,
        "--out",
        out.to_str().unwrap(),
        "--memory-limit",
        &limit,
    ]);
    assert!(ok, "the run under --memory-limit {limit} failed");
    assert!(out.join(format!("nightly/as_of={AS_OF}/_SUCCESS")).exists());
    assert!(
        peak <= SMALL_LIMIT_MIB + SMALL_OVERHEAD_MIB,
        "peak RSS {peak} MiB > {SMALL_LIMIT_MIB} MiB limit + {SMALL_OVERHEAD_MIB} MiB overhead"
    );
}
