//! Determinism of the whole nightly job: the same inputs give byte-identical outputs, and
//! inputs with their rows shuffled (and split differently into files) give the same
//! tables row for row.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::*;
use datafusion::arrow::array::{RecordBatch, UInt32Array};
use datafusion::arrow::compute::{concat_batches, take};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

const AS_OF: &str = "2026-11-01";

fn run_nightly(dir: &Path, out: &Path, input_dir: Option<&Path>) -> PathBuf {
    run_nightly_with(dir, out, input_dir, &[])
}

fn run_nightly_with(dir: &Path, out: &Path, input_dir: Option<&Path>, extra: &[&str]) -> PathBuf {
    let job = repo().join("jobs/nightly.toml");
    let mut args = vec![
        "run".to_string(),
        job.display().to_string(),
        "--as-of".into(),
        AS_OF.into(),
        "--out".into(),
        out.display().to_string(),
    ];
    if let Some(d) = input_dir {
        args.push("--input-dir".into());
        args.push(d.display().to_string());
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = siyu(&args, dir);
    assert!(o.status.success(), "{}", text(&o));
    out.join(format!("nightly/as_of={AS_OF}"))
}

fn parquet_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".parquet"))
        .collect();
    v.sort();
    v
}

/// Twice, and with steps one at a time and eight at once: steps run as soon as what
/// they read is written, in whatever order they finish, and the bytes must not care.
#[test]
fn same_inputs_twice_give_byte_identical_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let a = run_nightly(dir.path(), &dir.path().join("a"), None);
    let b = run_nightly(dir.path(), &dir.path().join("b"), None);
    let c = run_nightly_with(
        dir.path(),
        &dir.path().join("c"),
        None,
        &["--concurrent-steps", "1"],
    );
    let d = run_nightly_with(
        dir.path(),
        &dir.path().join("d"),
        None,
        &["--concurrent-steps", "8"],
    );
    let files = parquet_files(&a);
    assert!(files.len() >= 18, "{files:?}");
    for (other, how) in [
        (&b, "a second run"),
        (&c, "one step at a time"),
        (&d, "eight steps at once"),
    ] {
        assert_eq!(files, parquet_files(other));
        for f in &files {
            assert!(
                fs::read(a.join(f)).unwrap() == fs::read(other.join(f)).unwrap(),
                "{f} differs in {how}"
            );
        }
    }
}

#[test]
fn shuffled_input_rows_give_the_same_tables() {
    let dir = tempfile::tempdir().unwrap();
    let shuffled = dir.path().join("shuffled");
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    for t in siyu::contract::TABLES.iter().map(|t| t.name) {
        let src = repo().join("testdata").join(t);
        let mut batches = Vec::new();
        for f in fs::read_dir(&src).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "parquet") {
                batches.extend(read_parquet(&f));
            }
        }
        let all = concat_batches(&batches[0].schema(), &batches).unwrap();
        let mut order: Vec<u32> = (0..all.num_rows() as u32).collect();
        order.shuffle(&mut rng);
        let idx = UInt32Array::from(order);
        let columns = all
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &idx, None).unwrap())
            .collect();
        let permuted = RecordBatch::try_new(all.schema(), columns).unwrap();
        // Three files of uneven size instead of the original layout.
        let n = permuted.num_rows();
        let cuts = [0, n / 5, n / 2, n];
        for k in 0..3 {
            let part = permuted.slice(cuts[k], cuts[k + 1] - cuts[k]);
            write_batch(&shuffled.join(t).join(format!("part-{k}.parquet")), &part);
        }
    }
    let a = run_nightly(dir.path(), &dir.path().join("a"), None);
    let b = run_nightly(dir.path(), &dir.path().join("b"), Some(&shuffled));
    let files = parquet_files(&a);
    assert_eq!(files, parquet_files(&b));
    for f in &files {
        let (ta, tb) = (read_table(&a.join(f)), read_table(&b.join(f)));
        // The footers differ only in siyu.input_fingerprint (other files, other hashes).
        assert_eq!(ta.schema().fields(), tb.schema().fields(), "{f}");
        assert_eq!(ta.num_rows(), tb.num_rows(), "{f}");
        for (i, field) in ta.schema().fields().iter().enumerate() {
            assert!(
                ta.column(i) == tb.column(i),
                "{f}: column {} differs when the inputs are shuffled",
                field.name()
            );
        }
    }
}
