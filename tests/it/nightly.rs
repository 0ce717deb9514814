//! The shipped nightly job on the bundled `testdata/`, end to end through the CLI.

use std::fs;

use crate::common::*;

const AS_OF: &str = "2026-11-01";

#[test]
fn nightly_job_checks_plans_and_publishes_on_testdata() {
    let dir = tempfile::tempdir().unwrap();
    let job = repo().join("jobs/nightly.toml");
    let job = job.to_str().unwrap();

    let o = siyu(&["check", job, "--as-of", AS_OF], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("ok:"),
        "{}",
        text(&o)
    );

    let o = siyu(&["plan", job, "--format", "json"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "member_features")
    );

    let out = dir.path().join("out");
    let o = siyu(
        &[
            "--log-format",
            "json",
            "run",
            job,
            "--as-of",
            AS_OF,
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    // JSON logs: every stderr line is one JSON object with a level.
    for line in String::from_utf8_lossy(&o.stderr).lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string(), "{line}");
    }

    let published = out.join(format!("nightly/as_of={AS_OF}"));
    assert!(published.join("_SUCCESS").exists());
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(published.join("_manifest.json")).unwrap())
            .unwrap();
    let members = manifest["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["table"] == "members")
        .unwrap()["rows"]
        .as_u64()
        .unwrap();
    let features = read_parquet(&published.join("member_features.parquet"));
    let rows: usize = features.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows as u64, members, "one member_features row per member");
    assert!(
        manifest["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["absent"] == false)
    );
}

#[test]
fn a_memory_limit_changes_how_the_job_runs_not_what_it_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let job = repo().join("jobs/nightly.toml");
    let out = dir.path().join("out");
    let o = siyu(
        &[
            "run",
            job.to_str().unwrap(),
            "--as-of",
            AS_OF,
            "--out",
            out.to_str().unwrap(),
            "--memory-limit",
            "64M",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let unlimited = dir.path().join("unlimited");
    let o2 = siyu(
        &[
            "run",
            job.to_str().unwrap(),
            "--as-of",
            AS_OF,
            "--out",
            unlimited.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(o2.status.success(), "{}", text(&o2));
    // Every published table is byte-identical: the budget (and the different scheduling
    // it implies) changes how the job runs, not what it publishes.
    let dir_a = out.join(format!("nightly/as_of={AS_OF}"));
    let dir_b = unlimited.join(format!("nightly/as_of={AS_OF}"));
    let mut compared = 0;
    for entry in fs::read_dir(&dir_a).unwrap() {
        let name = entry.unwrap().file_name();
        if name.to_string_lossy().ends_with(".parquet") {
            assert_eq!(
                fs::read(dir_a.join(&name)).unwrap(),
                fs::read(dir_b.join(&name)).unwrap(),
                "{name:?}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 8, "compared {compared} tables");
}

#[test]
fn basket_rules_and_recommendations_on_testdata_find_the_planted_bundles() {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Float64Type;
    let dir = tempfile::tempdir().unwrap();
    let job = repo().join("jobs/nightly.toml");
    let out = dir.path().join("out");
    let o = siyu(
        &[
            "run",
            job.to_str().unwrap(),
            "--as-of",
            AS_OF,
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let mut single = std::collections::HashMap::new();
    // rank → (antecedent, consequent, confidence)
    let mut by_rank = std::collections::HashMap::new();
    for b in read_parquet(&out.join(format!("nightly/as_of={AS_OF}/basket_rules.parquet"))) {
        let rank = b
            .column_by_name("rank")
            .unwrap()
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let (a, c) = (
            b.column_by_name("antecedent").unwrap().as_list::<i32>(),
            b.column_by_name("consequent").unwrap().as_list::<i32>(),
        );
        let conf = b
            .column_by_name("confidence")
            .unwrap()
            .as_primitive::<Float64Type>();
        let lift = b
            .column_by_name("lift")
            .unwrap()
            .as_primitive::<Float64Type>();
        for r in 0..b.num_rows() {
            let (av, cv) = (a.value(r), c.value(r));
            let (av, cv) = (av.as_string::<i32>(), cv.as_string::<i32>());
            let strings = |a: &datafusion::arrow::array::StringArray| -> Vec<String> {
                (0..a.len()).map(|i| a.value(i).to_string()).collect()
            };
            by_rank.insert(rank.value(r), (strings(av), strings(cv), conf.value(r)));
            if av.len() == 1 {
                single.insert(
                    (av.value(0).to_string(), cv.value(0).to_string()),
                    (conf.value(r), lift.value(r)),
                );
            }
        }
    }
    // testdata is generate --scale 0.02: the bundles of that scale.
    let bundles = siyu::generate::planted_bundles(0.02);
    let found = bundles
        .iter()
        .filter(|b| {
            single
                .get(&(b[0].clone(), b[1].clone()))
                .is_some_and(|&(c, l)| c > 0.5 && l > 2.0)
        })
        .count();
    assert!(
        found >= 8,
        "{found} of {} planted bundles found as strong rules",
        bundles.len()
    );

    // Recommendations: at most 5 per member, ranked 1..n, each the consequent of the
    // rule it names, scored by that rule's confidence, best first.
    let mut per_member: std::collections::BTreeMap<String, Vec<(i32, f64)>> = Default::default();
    let mut bundle_recs = 0;
    for b in read_parquet(&out.join(format!("nightly/as_of={AS_OF}/recommendations.parquet"))) {
        let member = b.column_by_name("member_id").unwrap().as_string::<i32>();
        let product = b.column_by_name("product_id").unwrap().as_string::<i32>();
        let reason = b.column_by_name("reason").unwrap().as_string::<i32>();
        let rank = b
            .column_by_name("rank")
            .unwrap()
            .as_primitive::<datafusion::arrow::datatypes::Int32Type>();
        let rule = b
            .column_by_name("rule_rank")
            .unwrap()
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let score = b
            .column_by_name("score")
            .unwrap()
            .as_primitive::<Float64Type>();
        for r in 0..b.num_rows() {
            let (ante, cons, conf) = &by_rank[&rule.value(r)];
            assert!(cons.contains(&product.value(r).to_string()));
            assert_eq!(*conf, score.value(r));
            assert!(
                reason.value(r).starts_with("bought "),
                "{}",
                reason.value(r)
            );
            if bundles
                .iter()
                .any(|bd| ante == &vec![bd[0].clone()] && product.value(r) == bd[1])
            {
                bundle_recs += 1;
            }
            per_member
                .entry(member.value(r).to_string())
                .or_default()
                .push((rank.value(r), score.value(r)));
        }
    }
    assert!(
        per_member.len() > 100,
        "{} members recommended",
        per_member.len()
    );
    for (m, mut recs) in per_member {
        recs.sort_by_key(|x| x.0);
        assert!(recs.len() <= 5, "{m}: {recs:?}");
        for (k, w) in recs.windows(2).enumerate() {
            assert_eq!(w[0].0, k as i32 + 1, "{m}: {recs:?}");
            assert!(w[0].1 >= w[1].1, "{m}: {recs:?}");
        }
    }
    assert!(
        bundle_recs > 0,
        "no recommendation comes from a planted bundle"
    );
    let cats = read_parquet(&out.join(format!(
        "nightly/as_of={AS_OF}/category_recommendations.parquet"
    )));
    assert!(cats.iter().map(|b| b.num_rows()).sum::<usize>() > 0);
    assert!(cats[0].column_by_name("category").is_some());
}
