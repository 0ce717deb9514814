//! The run record as a contract: `_manifest.json` and `siyu plan --format json` are the
//! serialisation of the `siyu::manifest` types, and `docs/*.schema.json` is their JSON
//! Schema — generated from the types and honoured by what a real run writes.

use std::fs;

use crate::common::*;
use siyu::manifest::{MANIFEST_VERSION, Manifest, Plan, StepDetails, schema_json};

const AS_OF: &str = "2026-02-01";

fn schema_file(name: &str) -> serde_json::Value {
    let text = fs::read_to_string(repo().join("docs").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn schemas_in_docs_are_the_ones_generated_from_the_types() {
    for (file, generated) in [
        ("manifest.schema.json", schema_json::<Manifest>()),
        ("plan.schema.json", schema_json::<Plan>()),
    ] {
        let committed = fs::read_to_string(repo().join("docs").join(file)).unwrap();
        assert!(
            committed == generated,
            "docs/{file} is not what the types generate; regenerate it with \
             `cargo run -- schema {}` > docs/{file}",
            file.trim_end_matches(".schema.json")
        );
    }
    // The command prints the same text.
    let o = siyu(&["schema", "manifest"], &repo());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        schema_json::<Manifest>()
    );
}

#[test]
fn a_real_runs_manifest_validates_against_the_schema_and_reads_back_as_the_types() {
    let dir = tempfile::tempdir().unwrap();
    tiny_export(dir.path());
    let job = tiny_job(dir.path(), None);
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
    let path = out.join(format!("tiny/as_of={AS_OF}/_manifest.json"));
    let value: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();

    let validator = jsonschema::validator_for(&schema_file("manifest.schema.json")).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");

    let m: Manifest = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(m.manifest_version, MANIFEST_VERSION);
    assert_eq!(m.as_of.to_string(), AS_OF);
    assert_eq!(m.outputs[0].table, "member_features");
    let quality = m
        .steps
        .iter()
        .find(|s| s.plan.name == "data_quality")
        .unwrap();
    match &quality.details {
        Some(StepDetails::DataQuality(q)) => {
            assert_eq!(q.checks.len(), 20);
            // The tiny export's newest order is at noon the day before the run date.
            assert_eq!(
                q.newest_order.map(|d| d.to_string()).as_deref(),
                Some("2026-01-31")
            );
            assert_eq!(q.export_age_days, Some(1));
        }
        other => panic!("data_quality details: {other:?}"),
    }
    // Steps carry a timeline: each starts after the run did and within it.
    for s in &m.steps {
        assert!(s.start_seconds >= 0.0 && s.start_seconds + s.seconds <= m.seconds + 0.01);
    }

    // A record that breaks the schema is caught: the validator is not a formality.
    let mut broken = value;
    broken["outputs"][0]["rows"] = serde_json::json!("three");
    assert!(!validator.is_valid(&broken));
}

#[test]
fn plan_json_is_the_plan_type_and_validates_against_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    tiny_export(dir.path());
    let job = tiny_job(dir.path(), None);
    let o = siyu(
        &[
            "plan",
            job.to_str().unwrap(),
            "--as-of",
            AS_OF,
            "--format",
            "json",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let value: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let validator = jsonschema::validator_for(&schema_file("plan.schema.json")).unwrap();
    assert!(validator.is_valid(&value), "{value:#}");
    let plan: Plan = serde_json::from_value(value).unwrap();
    let names: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "data_quality",
            "current_members",
            "paid_orders",
            "member_features"
        ]
    );
    // paid_orders reads orders, which the data quality step replaces with its cleaned
    // rows: it is scheduled after it.
    assert_eq!(plan.steps[0].level, 1);
    assert_eq!(plan.steps[1].level, 2);
    assert_eq!(plan.steps[0].source, "built-in step data_quality");
    assert_eq!(plan.steps[3].published, ["member_features"]);
}

/// Each step's peak reservation in the memory pool and the bytes its query spilled are in
/// the run record: a sort over ~700k rows under a 24 MiB budget spills, the same job
/// without a budget does not, and a step that holds nothing in the pool reports 0.
#[test]
fn manifest_records_each_steps_peak_memory_and_spill() {
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("sql");
    fs::create_dir_all(&sql).unwrap();
    fs::write(
        sql.join("big_sort.sql"),
        "SELECT o.order_id, o.ordered_at, m.member_id FROM orders o \
         CROSS JOIN (SELECT member_id FROM members ORDER BY member_id LIMIT 40) m \
         ORDER BY o.ordered_at DESC, o.order_id, m.member_id",
    )
    .unwrap();
    fs::write(sql.join("one_row.sql"), "SELECT 1 AS one").unwrap();
    let data = repo().join("testdata");
    let job = dir.path().join("mem.toml");
    fs::write(
        &job,
        format!(
            "[job]\nname = \"mem\"\n\n[inputs]\nmembers = {:?}\norders = {:?}\norder_items = {:?}\nproducts = {:?}\n\n[sql]\ndirs = [{:?}]\n",
            data.join("members").display().to_string(),
            data.join("orders").display().to_string(),
            data.join("order_items").display().to_string(),
            data.join("products").display().to_string(),
            sql.display().to_string()
        ),
    )
    .unwrap();
    let steps = |limit: Option<&str>| {
        let out = dir.path().join(format!("out-{}", limit.unwrap_or("none")));
        let mut args = vec![
            "run",
            job.to_str().unwrap(),
            "--as-of",
            "2026-11-01",
            "--out",
            out.to_str().unwrap(),
        ];
        if let Some(l) = limit {
            args.extend(["--memory-limit", l]);
        }
        let o = siyu(&args, dir.path());
        assert!(o.status.success(), "{}", text(&o));
        let manifest: Manifest = serde_json::from_str(
            &fs::read_to_string(out.join("mem/as_of=2026-11-01/_manifest.json")).unwrap(),
        )
        .unwrap();
        manifest.steps
    };
    let step = |steps: &[siyu::manifest::StepRecord], name: &str| {
        let s = steps.iter().find(|s| s.plan.name == name).unwrap();
        (s.peak_memory_bytes, s.spilled_bytes)
    };

    let limited = steps(Some("24M"));
    let (peak, spilled) = step(&limited, "big_sort");
    assert!(spilled > 0, "no spill under 24M: {limited:#?}");
    assert!(peak > 0 && peak <= 24 << 20, "peak {peak}");
    assert_eq!(step(&limited, "one_row"), (0, 0));

    let unlimited = steps(None);
    let (peak_free, spilled_free) = step(&unlimited, "big_sort");
    assert_eq!(spilled_free, 0);
    assert!(
        peak_free > peak,
        "unlimited peak {peak_free} <= limited {peak}"
    );
}
