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
            assert_eq!(q.checks.len(), 19);
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
    assert_eq!(names, ["data_quality", "paid_orders", "member_features"]);
    // paid_orders reads orders, which the data quality step replaces with its cleaned
    // rows: it is scheduled after it.
    assert_eq!(plan.steps[0].level, 1);
    assert_eq!(plan.steps[1].level, 2);
    assert_eq!(plan.steps[0].source, "built-in step data_quality");
    assert_eq!(plan.steps[2].published, ["member_features"]);
}
