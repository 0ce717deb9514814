//! The nightly job on Apache DataFusion Ballista: in-process (`--engine standalone`) and
//! on a real local cluster — one `siyu cluster scheduler` and two `siyu cluster executor`
//! processes on 127.0.0.1, started by bench/local-cluster.sh — publishes the same bytes
//! as the local engine; a scheduler nobody listens on, paths executors cannot see and an
//! executor killed mid-run never give a half-published night.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

const AS_OF: &str = "2026-11-01";

/// A local cluster for one test, stopped when dropped.
struct Cluster {
    dir: PathBuf,
    url: String,
}

impl Cluster {
    fn start(dir: &Path) -> Cluster {
        let o = Command::new("bash")
            .arg(repo().join("bench/local-cluster.sh"))
            .args(["start", dir.to_str().unwrap()])
            .env("SIYU", env!("CARGO_BIN_EXE_siyu"))
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "local cluster did not start: {}",
            text(&o)
        );
        let url = String::from_utf8(o.stdout).unwrap().trim().to_string();
        assert!(url.starts_with("df://127.0.0.1:"), "{url}");
        Cluster {
            dir: dir.to_path_buf(),
            url,
        }
    }

    fn kill_scheduler(&self) {
        let o = Command::new("bash")
            .arg(repo().join("bench/local-cluster.sh"))
            .args(["kill-scheduler", self.dir.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }

    fn kill_executor(&self, n: usize) {
        let o = Command::new("bash")
            .arg(repo().join("bench/local-cluster.sh"))
            .args(["kill-executor", self.dir.to_str().unwrap(), &n.to_string()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo().join("bench/local-cluster.sh"))
            .args(["stop", self.dir.to_str().unwrap()])
            .output();
    }
}

/// `siyu run jobs/nightly.toml` on testdata (absolute paths) into `out`, plus `extra`.
fn nightly_args(out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "run".into(),
        repo().join("jobs/nightly.toml").display().to_string(),
        "--as-of".into(),
        AS_OF.into(),
        "--input-dir".into(),
        repo().join("testdata").display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

fn run_nightly(cwd: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    let args = nightly_args(out, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = siyu(&args, cwd);
    assert!(o.status.success(), "{}", text(&o));
    out.join(format!("nightly/as_of={AS_OF}"))
}

/// The shared directories of a test on one machine: its temp dir and the repository.
fn shared(dir: &Path) -> Vec<String> {
    vec![
        "--shared-dir".into(),
        dir.display().to_string(),
        "--shared-dir".into(),
        repo().display().to_string(),
    ]
}

/// `siyu check` of the nightly job on testdata against `url`, every path shared.
fn check_shared(d: &Path, url: &str) -> std::process::Output {
    let mut args = vec![
        "check".to_string(),
        repo().join("jobs/nightly.toml").display().to_string(),
        "--input-dir".into(),
        repo().join("testdata").display().to_string(),
        "--out".into(),
        d.join("out").display().to_string(),
        "--scheduler".into(),
        url.to_string(),
    ];
    args.extend(shared(d));
    siyu(&args.iter().map(String::as_str).collect::<Vec<_>>(), d)
}

fn parquet_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".parquet"))
        .collect();
    v.sort();
    v
}

fn assert_same_tables(expected: &Path, actual: &Path, how: &str) {
    let files = parquet_files(expected);
    assert!(files.len() >= 18, "{files:?}");
    assert_eq!(files, parquet_files(actual), "{how}: the tables published");
    for f in &files {
        assert!(
            std::fs::read(expected.join(f)).unwrap() == std::fs::read(actual.join(f)).unwrap(),
            "{how}: {f} differs from the local engine's"
        );
    }
}

fn manifest(night: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(night.join("_manifest.json")).unwrap()).unwrap()
}

#[test]
fn standalone_and_a_real_cluster_publish_the_local_engines_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let local = run_nightly(d, &d.join("local"), &[]);
    assert_eq!(manifest(&local)["engine"], "local");

    let standalone = run_nightly(d, &d.join("standalone"), &["--engine", "standalone"]);
    assert_same_tables(&local, &standalone, "standalone");
    assert_eq!(manifest(&standalone)["engine"], "standalone");

    let cluster = Cluster::start(&d.join("cluster"));
    let mut extra = vec!["--scheduler".to_string(), cluster.url.clone()];
    extra.extend(shared(d));
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let remote = run_nightly(d, &d.join("remote"), &extra);
    assert_same_tables(&local, &remote, "a 2-executor cluster");
    assert_eq!(manifest(&remote)["engine"], "ballista");
    // The executors did the work, both of them (tasks are spread round-robin).
    for n in 1..=2 {
        let log = std::fs::read_to_string(d.join(format!("cluster/executor-{n}.log"))).unwrap();
        assert!(
            log.contains("Finished task"),
            "executor {n} ran no task:\n{log}"
        );
    }
}

#[test]
fn a_scheduler_nobody_listens_on_fails_with_exit_4_and_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The previous night, published locally.
    let previous = {
        let (job, testdata, out) = (
            repo().join("jobs/nightly.toml"),
            repo().join("testdata"),
            d.join("out"),
        );
        let args = [
            "run",
            job.to_str().unwrap(),
            "--as-of",
            "2026-10-31",
            "--input-dir",
            testdata.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        let o = siyu(&args, d);
        assert!(o.status.success(), "{}", text(&o));
        d.join("out/nightly/as_of=2026-10-31")
    };
    let before = std::fs::read(previous.join("member_tags.parquet")).unwrap();
    // A port that was free a moment ago: nothing answers there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("df://127.0.0.1:{port}");
    let mut extra = vec!["--scheduler".to_string(), url.clone()];
    extra.extend(shared(d));
    let args = nightly_args(
        &d.join("out"),
        &extra.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = siyu(&args, d);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("cannot reach the Ballista scheduler at {url}")),
        "{err}"
    );
    assert!(!d.join(format!("out/nightly/as_of={AS_OF}")).exists());
    let left: Vec<_> = std::fs::read_dir(d.join("out/nightly"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".staging"))
        .collect();
    assert!(left.is_empty(), "staging left behind: {left:?}");
    assert_eq!(
        std::fs::read(previous.join("member_tags.parquet")).unwrap(),
        before
    );

    // `check` names the scheduler too (exit 4: nothing is wrong with the job itself).
    let o = check_shared(d, &url);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains(&url), "{}", text(&o));
}

#[test]
fn check_refuses_paths_executors_cannot_see() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cluster = Cluster::start(&d.join("cluster"));
    std::fs::create_dir_all(d.join("in")).unwrap();
    // Relative inputs (from the client's working directory) and a relative --out.
    let o = siyu(
        &[
            "check",
            repo().join("jobs/nightly.toml").to_str().unwrap(),
            "--input-dir",
            "testdata",
            "--out",
            "out",
            "--scheduler",
            &cluster.url,
        ],
        &repo(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("input orders: testdata/orders is a relative path"),
        "{out}"
    );
    assert!(out.contains("--out out is a relative path"), "{out}");
    // A directory outside the declared shared ones.
    let o = siyu(
        &[
            "check",
            repo().join("jobs/nightly.toml").to_str().unwrap(),
            "--input-dir",
            repo().join("testdata").to_str().unwrap(),
            "--out",
            d.join("out").to_str().unwrap(),
            "--scheduler",
            &cluster.url,
            "--shared-dir",
            d.to_str().unwrap(),
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("input members: ") && out.contains("is outside the shared directories"),
        "{out}"
    );
    // The same job with every path shared checks clean, and the local engine never
    // minds relative paths.
    let o = check_shared(d, &cluster.url);
    assert!(o.status.success(), "{}", text(&o));
    let o = siyu(
        &["check", "jobs/nightly.toml", "--input-dir", "testdata"],
        &repo(),
    );
    assert!(o.status.success(), "{}", text(&o));
}

/// The testdata nightly on `cluster` into `d/out`, held where member_tags is about to
/// start (between two SQL steps); returns the run and its pause file, which lets the run
/// go on when removed.
fn nightly_paused_at_member_tags(d: &Path, cluster: &Cluster) -> (std::process::Child, PathBuf) {
    let pause = d.join("paused");
    let mut extra = vec!["--scheduler".to_string(), cluster.url.clone()];
    extra.extend(shared(d));
    let args = nightly_args(
        &d.join("out"),
        &extra.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let child = Command::new(env!("CARGO_BIN_EXE_siyu"))
        .args(&args)
        .env("SIYU_PAUSEPOINT", "step_started:member_tags")
        .env("SIYU_PAUSE_FILE", &pause)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Not a timing assumption: the wait ends when the run reaches the point.
    let deadline = Instant::now() + Duration::from_secs(300);
    while !pause.exists() {
        assert!(
            Instant::now() < deadline,
            "the run never reached member_tags"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, pause)
}

/// An executor SIGKILLed while the run is between two steps: the next queries' tasks
/// cannot be launched on it, and the scheduler moves them to the other executor. The
/// run either finishes with the local engine's tables or fails with exit 4 and
/// publishes nothing — never half a night. (On Ballista 55 it finishes.)
#[test]
fn an_executor_killed_mid_run_never_gives_a_half_published_night() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let local = run_nightly(d, &d.join("local"), &[]);
    let cluster = Cluster::start(&d.join("cluster"));
    let (child, pause) = nightly_paused_at_member_tags(d, &cluster);
    cluster.kill_executor(1);
    std::fs::remove_file(&pause).unwrap();
    let o = child.wait_with_output().unwrap();
    let night = d.join(format!("out/nightly/as_of={AS_OF}"));
    match o.status.code() {
        Some(0) => assert_same_tables(&local, &night, "after an executor was killed"),
        Some(4) => assert!(
            !night.exists(),
            "a failed run published {}",
            night.display()
        ),
        other => panic!("exit {other:?}: {}", String::from_utf8_lossy(&o.stderr)),
    }
}

/// SIGTERM while a step waits for its cluster job: the client cancels the job on the
/// scheduler (which stops its tasks), exits 143 and publishes nothing. The job is a cross
/// join that would run for hours, so it is still running whenever the signal lands; the
/// test waits for the client's "cluster job accepted" line, not for a guessed delay.
#[test]
fn sigterm_cancels_the_running_cluster_job() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("sql")).unwrap();
    std::fs::write(
        d.join("sql/endless.sql"),
        "-- four copies of members crossed: ~10^13 rows, far longer than any test\n\
         SELECT MAX(concat(a.member_id, b.member_id, c.member_id, e.member_id)) AS m\n\
         FROM members a CROSS JOIN members b CROSS JOIN members c CROSS JOIN members e\n",
    )
    .unwrap();
    let job = d.join("endless.toml");
    let input = |t: &str| {
        format!(
            "{t} = {:?}\n",
            repo().join("testdata").join(t).display().to_string()
        )
    };
    std::fs::write(
        &job,
        format!(
            "[job]\nname = \"endless\"\n\n[inputs]\n{}{}{}{}\n[sql]\ndirs = [{:?}]\n",
            input("members"),
            input("orders"),
            input("order_items"),
            input("products"),
            d.join("sql").display().to_string(),
        ),
    )
    .unwrap();
    let cluster = Cluster::start(&d.join("cluster"));
    let mut args = vec![
        "run".to_string(),
        job.display().to_string(),
        "--as-of".into(),
        AS_OF.into(),
        "--out".into(),
        d.join("out").display().to_string(),
        "--scheduler".into(),
        cluster.url.clone(),
    ];
    args.extend(shared(d));
    let mut child = Command::new(env!("CARGO_BIN_EXE_siyu"))
        .args(&args)
        .current_dir(d)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    let job_id = loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).unwrap();
        assert!(
            n > 0,
            "the run ended before its cluster job started:\n{log}"
        );
        log.push_str(&line);
        if line.contains("cluster job accepted") && line.contains("siyu endless endless") {
            let at = line.find("job_id=").expect("job_id field") + "job_id=".len();
            break line[at..].split_whitespace().next().unwrap().to_string();
        }
    };
    // SAFETY: kill(2) on the pid of a child we spawned and have not waited for.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    log.push_str(&rest);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{log}");
    assert!(log.contains("cancelled the cluster job"), "{log}");
    assert!(
        log.contains("1 of 1 running cluster jobs cancelled"),
        "{log}"
    );
    assert!(!d.join(format!("out/endless/as_of={AS_OF}")).exists());
    // The scheduler fails the job (its event loop records the cancellation a moment
    // after answering): wait for that state, bounded.
    let endpoint = format!("http://{}", cluster.url.trim_start_matches("df://"));
    use ballista_core::serde::protobuf::job_status::Status;
    let status = tokio::runtime::Runtime::new().unwrap().block_on(async {
        use ballista_core::serde::protobuf::GetJobStatusParams;
        use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
        let mut client = SchedulerGrpcClient::connect(endpoint).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = client
                .get_job_status(GetJobStatusParams {
                    job_id: job_id.clone(),
                })
                .await
                .unwrap()
                .into_inner()
                .status
                .and_then(|s| s.status);
            if !matches!(status, Some(Status::Running(_)) | Some(Status::Queued(_)))
                || Instant::now() > deadline
            {
                break status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    match &status {
        Some(Status::Failed(f)) => assert!(f.error.contains("Cancelled"), "{f:?}"),
        other => panic!("job {job_id} after the client's SIGTERM: {other:?}\n{log}"),
    }
}

/// The scheduler SIGKILLed while the run is between two steps: its state (in memory) is
/// gone, the next query cannot be submitted, and the run fails with exit 4 naming the
/// step, publishing nothing and leaving no staging behind.
#[test]
fn a_scheduler_killed_mid_run_fails_the_run_and_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cluster = Cluster::start(&d.join("cluster"));
    let (child, pause) = nightly_paused_at_member_tags(d, &cluster);
    cluster.kill_scheduler();
    std::fs::remove_file(&pause).unwrap();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(err.contains("member_tags"), "{err}");
    assert!(!d.join(format!("out/nightly/as_of={AS_OF}")).exists());
    let left: Vec<_> = std::fs::read_dir(d.join("out/nightly"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".staging"))
        .collect();
    assert!(left.is_empty(), "staging left behind: {left:?}");
}
