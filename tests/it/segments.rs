//! Segments end to end: `siyu segment` on planted blobs and degenerate inputs, and the
//! nightly job's segment step keeping ids from one night to the next.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::common::*;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};

/// Rows (id, x, y, truth): 3 blobs of 60 around (0, 0), (0, 100), (1000, 0), with
/// deterministic jitter of ±5 and ±0.5 units.
fn blobs() -> (RecordBatch, HashMap<String, usize>) {
    let centres = [(0.0, 0.0), (0.0, 100.0), (1000.0, 0.0)];
    let (mut ids, mut xs, mut ys, mut truth) = (vec![], vec![], vec![], HashMap::new());
    for i in 0..180 {
        let c = (i * 7) % 3;
        let j = ((i * 37) % 11) as f64 / 11.0 - 0.5;
        let id = format!("m{i:04}");
        ids.push(id.clone());
        xs.push(centres[c].0 + 10.0 * j);
        ys.push(centres[c].1 + j);
        truth.insert(id, c);
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("member_id", DataType::Utf8, false),
        Field::new("x", DataType::Float64, true),
        Field::new("y", DataType::Float64, true),
    ]));
    let b = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(ids)) as ArrayRef,
            Arc::new(Float64Array::from(xs)),
            Arc::new(Float64Array::from(ys)),
        ],
    )
    .unwrap();
    (b, truth)
}

fn segments_of(path: &std::path::Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for b in read_parquet(path) {
        let (id, seg) = (
            b.column(0).as_string::<i32>(),
            b.column_by_name("segment_id").unwrap().as_string::<i32>(),
        );
        for r in 0..b.num_rows() {
            out.insert(id.value(r).to_string(), seg.value(r).to_string());
        }
    }
    out
}

#[test]
fn siyu_segment_recovers_planted_blobs_and_chooses_their_k() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (b, truth) = blobs();
    write_batch(&d.join("f.parquet"), &b);
    let out = d.join("seg.parquet");
    let o = siyu(
        &[
            "segment",
            "--input",
            "f.parquet",
            "--id",
            "member_id",
            "--features",
            "x,y",
            "--k-range",
            "2..6",
            "--transform",
            "zscore",
            "--n-runs",
            "3",
            "--out",
            out.to_str().unwrap(),
        ],
        d,
    );
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("180 rows, 2 features, k = 3,"), "{stdout}");
    let got = segments_of(&out);
    assert_eq!(got.len(), 180);
    let mut map: HashMap<&String, usize> = HashMap::new();
    for (id, seg) in &got {
        assert_eq!(*map.entry(seg).or_insert(truth[id]), truth[id], "{id}");
    }
    assert_eq!(map.len(), 3);
    // Same seed, same bytes.
    let again = d.join("again.parquet");
    let o = siyu(
        &[
            "segment",
            "--input",
            "f.parquet",
            "--id",
            "member_id",
            "--features",
            "x,y",
            "--k-range",
            "2..6",
            "--transform",
            "zscore",
            "--n-runs",
            "3",
            "--out",
            again.to_str().unwrap(),
        ],
        d,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
}

#[test]
fn siyu_segment_degenerate_inputs_give_a_message_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let schema = Arc::new(Schema::new(vec![
        Field::new("member_id", DataType::Utf8, false),
        Field::new("x", DataType::Float64, true),
    ]));
    let b = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["a", "b", "c"])) as ArrayRef,
            Arc::new(Float64Array::from(vec![Some(2.0), Some(2.0), None])),
        ],
    )
    .unwrap();
    write_batch(&d.join("same.parquet"), &b);
    let args = |k: &str| {
        vec![
            "segment".to_string(),
            "--input".into(),
            "same.parquet".into(),
            "--id".into(),
            "member_id".into(),
            "--features".into(),
            "x".into(),
            "--k".into(),
            k.into(),
            "--out".into(),
            "o.parquet".into(),
        ]
    };
    let run = |k: &str| {
        let a = args(k);
        siyu(&a.iter().map(String::as_str).collect::<Vec<_>>(), d)
    };
    // Every row equal (the null is imputed with the median 2): one segment, and the
    // constant feature is dropped rather than divided by zero.
    let o = run("3");
    assert!(o.status.success(), "{}", text(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("k = 1,"), "{s}");
    assert!(s.contains("dropped x"), "{s}");
    assert!(s.contains("x: 1 missing value(s) imputed"), "{s}");
    assert_eq!(segments_of(&d.join("o.parquet")).len(), 3);
    // k = 0 is a usage error (exit 2).
    let o = run("0");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("k must be at least 1"), "{}", text(&o));
}

#[test]
fn nightly_segments_keep_their_ids_the_next_night() {
    let dir = tempfile::tempdir().unwrap();
    let job = repo().join("jobs/nightly.toml");
    let out = dir.path().join("out");
    for as_of in ["2026-10-31", "2026-11-01"] {
        let o = siyu(
            &[
                "run",
                job.to_str().unwrap(),
                "--as-of",
                as_of,
                "--out",
                out.to_str().unwrap(),
            ],
            dir.path(),
        );
        assert!(o.status.success(), "{}", text(&o));
    }
    let profiles = |as_of: &str| {
        let mut m = BTreeMap::new();
        for b in read_parquet(&out.join(format!("nightly/as_of={as_of}/segment_profiles.parquet")))
        {
            let id = b.column_by_name("segment_id").unwrap().as_string::<i32>();
            let name = b.column_by_name("segment_name").unwrap().as_string::<i32>();
            let new = b.column_by_name("is_new").unwrap().as_boolean();
            let dist = b
                .column_by_name("previous_distance")
                .unwrap()
                .as_primitive::<datafusion::arrow::datatypes::Float64Type>();
            for r in 0..b.num_rows() {
                m.insert(
                    id.value(r).to_string(),
                    (
                        name.value(r).to_string(),
                        new.value(r),
                        dist.is_valid(r).then(|| dist.value(r)),
                    ),
                );
            }
        }
        m
    };
    let (first, second) = (profiles("2026-10-31"), profiles("2026-11-01"));
    assert!(first.len() >= 4, "{first:?}");
    // One day later the data barely changed: the same segments, ids and names.
    assert_eq!(
        first
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect::<Vec<_>>(),
        second
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect::<Vec<_>>()
    );
    assert!(first.values().all(|v| v.1 && v.2.is_none()));
    assert!(
        second
            .values()
            .all(|v| !v.1 && v.2.is_some_and(|d| d < 0.5)),
        "{second:?}"
    );
    // Most members stay where they were.
    let a = segments_of(&out.join("nightly/as_of=2026-10-31/member_segments.parquet"));
    let b = segments_of(&out.join("nightly/as_of=2026-11-01/member_segments.parquet"));
    let same = a.iter().filter(|(m, s)| b.get(*m) == Some(s)).count();
    assert!(same as f64 > 0.95 * a.len() as f64, "{same} of {}", a.len());
    // The migration table adds up, and member_tags carries the segment.
    let mut migrated = 0;
    for batch in read_parquet(&out.join("nightly/as_of=2026-11-01/segment_migration.parquet")) {
        migrated += batch
            .column_by_name("members")
            .unwrap()
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .iter()
            .map(|v| v.unwrap())
            .sum::<i64>();
    }
    // Every member of either night once (a full outer join): testdata's member who
    // joined on 2026-10-31 is a member only from the second night.
    let either: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    assert_eq!((a.len(), b.len()), (1999, 2000));
    assert_eq!(migrated as usize, either.len());
    let tags = segments_of(&out.join("nightly/as_of=2026-11-01/member_tags.parquet"));
    assert_eq!(tags, b);
}

/// A job whose segment step fits on `fit_sample` of testdata's 2000 members (recency,
/// frequency and spend from sql/features; `extra_sql` may add a features table of its
/// own, `features_table` names the one clustered).
fn sampled_job(
    d: &std::path::Path,
    fit_sample: usize,
    features_table: &str,
    extra_sql: &str,
) -> std::path::PathBuf {
    let sql = d.join("sql");
    std::fs::create_dir_all(&sql).unwrap();
    if !extra_sql.is_empty() {
        std::fs::write(sql.join(format!("{features_table}.sql")), extra_sql).unwrap();
    }
    let input = |t: &str| {
        format!(
            "{t} = {:?}\n",
            repo().join("testdata").join(t).display().to_string()
        )
    };
    let job = format!(
        "[job]\nname = \"sampled\"\n\n[inputs]\n{}{}{}{}\n[params]\nfrequency_window_days = {{ type = \"int\", default = 365 }}\nspend_window_days = {{ type = \"int\", default = 365 }}\n\n[sql]\ndirs = [{:?}, {:?}]\n\n\
         [[steps]]\ntype = \"segment\"\nfeatures_table = \"{features_table}\"\nfeatures = [\"recency_days\", \"frequency\", \"total_spend_365d\"]\nk = 4\nn_runs = 2\nfit_sample = {fit_sample}\nrevenue_column = \"total_spend_365d\"\n\n\
         [publish]\ntables = [\"member_segments\", \"segment_profiles\"]\n",
        input("members"),
        input("orders"),
        input("order_items"),
        input("products"),
        repo().join("sql/features").display().to_string(),
        sql.display().to_string(),
    );
    let path = d.join("sampled.toml");
    std::fs::write(&path, job).unwrap();
    path
}

/// Fitted on 300 of 2000 members, the step still assigns every member — in SQL — to
/// the nearest of the published centroids (checked here from the published scaling, for
/// every member with all three features), and the profiles count all of them.
#[test]
fn a_segment_fitted_on_a_sample_assigns_every_member_to_its_nearest_centroid() {
    use datafusion::arrow::datatypes::{Float64Type, Int64Type};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = sampled_job(d, 300, "member_features", "");
    let out = d.join("out");
    let o = siyu(
        &[
            "run",
            job.to_str().unwrap(),
            "--as-of",
            "2026-11-01",
            "--out",
            out.to_str().unwrap(),
        ],
        d,
    );
    assert!(o.status.success(), "{}", text(&o));
    let night = out.join("sampled/as_of=2026-11-01");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(night.join("_manifest.json")).unwrap()).unwrap();
    let details = manifest["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "member_segments")
        .unwrap()["details"]
        .clone();
    assert_eq!(details["fit_rows"], 300, "{details}");
    assert_eq!(details["members"], 2000, "{details}");

    // The published centroids and scaling.
    let mut centroids: Vec<(String, Vec<f64>)> = Vec::new();
    let (mut center, mut spread, mut transforms) = (vec![], vec![], vec![]);
    let mut sizes = 0;
    for b in read_parquet(&night.join("segment_profiles.parquet")) {
        let id = b.column_by_name("segment_id").unwrap().as_string::<i32>();
        let list = |name: &str, r: usize| -> Vec<f64> {
            let l = b.column_by_name(name).unwrap().as_list::<i32>().value(r);
            l.as_primitive::<Float64Type>().values().to_vec()
        };
        for r in 0..b.num_rows() {
            centroids.push((id.value(r).to_string(), list("centroid_z", r)));
            center = list("scale_center", r);
            spread = list("scale_spread", r);
            let t = b
                .column_by_name("transforms")
                .unwrap()
                .as_list::<i32>()
                .value(r);
            transforms = (0..t.len())
                .map(|i| t.as_string::<i32>().value(i).to_string())
                .collect();
            sizes += b
                .column_by_name("members")
                .unwrap()
                .as_primitive::<Int64Type>()
                .value(r);
        }
    }
    assert_eq!(centroids.len(), 4);
    assert_eq!(sizes, 2000);
    assert_eq!(transforms, vec!["log1p_zscore"; 3]);
    // Every member with its features present: the nearest published centroid.
    let assigned = segments_of(&night.join("member_segments.parquet"));
    assert_eq!(assigned.len(), 2000);
    let work = {
        // member_features is intermediate; recompute the three features from a run that
        // publishes it.
        let job2 = d.join("features.toml");
        let text_job = std::fs::read_to_string(&job).unwrap().replace(
            "tables = [\"member_segments\", \"segment_profiles\"]",
            "tables = [\"member_segments\", \"segment_profiles\", \"member_features\"]",
        );
        std::fs::write(&job2, text_job).unwrap();
        let out2 = d.join("out2");
        let o = siyu(
            &[
                "run",
                job2.to_str().unwrap(),
                "--as-of",
                "2026-11-01",
                "--out",
                out2.to_str().unwrap(),
            ],
            d,
        );
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(
            std::fs::read(out2.join("sampled/as_of=2026-11-01/member_segments.parquet")).unwrap(),
            std::fs::read(night.join("member_segments.parquet")).unwrap(),
            "publishing one more table changed the segments"
        );
        out2.join("sampled/as_of=2026-11-01/member_features.parquet")
    };
    let slog1p = |x: f64| x.signum() * x.abs().ln_1p();
    let mut checked = 0;
    for b in read_parquet(&work) {
        let id = b.column_by_name("member_id").unwrap().as_string::<i32>();
        let cols: Vec<Vec<Option<f64>>> = ["recency_days", "frequency", "total_spend_365d"]
            .iter()
            .map(|c| {
                let a = datafusion::arrow::compute::cast(
                    b.column_by_name(c).unwrap(),
                    &DataType::Float64,
                )
                .unwrap();
                a.as_primitive::<Float64Type>().iter().collect()
            })
            .collect();
        for r in 0..b.num_rows() {
            let Some(x) = cols.iter().map(|c| c[r]).collect::<Option<Vec<f64>>>() else {
                continue;
            };
            let z: Vec<f64> = (0..3)
                .map(|f| (slog1p(x[f]) - center[f]) / spread[f])
                .collect();
            let mut best: Option<(f64, &str)> = None;
            for (sid, c) in &centroids {
                let s: f64 = (0..3).map(|f| (z[f] - c[f]) * (z[f] - c[f])).sum();
                if best.is_none_or(|(bs, _)| s < bs) {
                    best = Some((s, sid));
                }
            }
            assert_eq!(
                assigned[id.value(r)],
                best.unwrap().1,
                "member {}",
                id.value(r)
            );
            checked += 1;
        }
    }
    assert!(checked > 1000, "{checked} members checked");
}

/// A member listed twice is refused (exit 3, the id named) even when the fit's sample
/// does not hold it: the ids of the rows outside the sample are checked too.
#[test]
fn a_repeated_id_outside_the_fit_sample_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = sampled_job(
        d,
        2,
        "twice",
        "SELECT * FROM member_features UNION ALL SELECT * FROM member_features WHERE member_id = '1000777'\n",
    );
    let o = siyu(
        &[
            "run",
            job.to_str().unwrap(),
            "--as-of",
            "2026-11-01",
            "--out",
            d.join("out").to_str().unwrap(),
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("\"1000777\" appears more than once"),
        "{}",
        text(&o)
    );
    assert!(!d.join("out/sampled/as_of=2026-11-01").exists());
}

/// The fit's rows are reserved from `--memory-limit` like the queries' memory: a fit
/// that does not fit stops with exit 4 naming the step and what it holds, publishing
/// nothing — and the same job runs under a limit that has room for it.
#[test]
fn a_fit_larger_than_the_memory_limit_stops_naming_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 300,000 rows: their ids, features, matrix and labels hold about 40 MB.
    let job = sampled_job(
        d,
        1_000_000,
        "many",
        "SELECT CAST(v AS VARCHAR) AS member_id, CAST(v % 97 AS DOUBLE) AS recency_days, \
         CAST(v % 13 AS DOUBLE) AS frequency, CAST(v % 1009 AS DOUBLE) AS total_spend_365d \
         FROM (SELECT unnest(range(300000)) AS v)\n",
    );
    let run = |limit: &str, out: &str| {
        siyu(
            &[
                "run",
                job.to_str().unwrap(),
                "--as-of",
                "2026-11-01",
                "--out",
                d.join(out).to_str().unwrap(),
                "--memory-limit",
                limit,
            ],
            d,
        )
    };
    let o = run("32M", "small");
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("step member_segments")
            && t.contains("out of memory budget: holding the segment fit's rows needs"),
        "{t}"
    );
    assert!(!d.join("small/sampled/as_of=2026-11-01").exists(), "{t}");
    let o = run("256M", "large");
    assert!(o.status.success(), "{}", text(&o));
    let segments = read_table(&d.join("large/sampled/as_of=2026-11-01/member_segments.parquet"));
    assert_eq!(segments.num_rows(), 300_000);
}
