//! The `recommend` step: hand-written rules and histories, recommendations worked out
//! by hand.

use std::collections::BTreeMap;

use crate::common::*;
use datafusion::arrow::util::display::array_value_to_string;

#[test]
fn recommendations_from_hand_written_rules_match_hand_computation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tiny_export(d);
    let sql = d.join("sql");
    std::fs::create_dir(&sql).unwrap();
    // Rank 6 has the best confidence but lift < 1: it must never be used.
    std::fs::write(
        sql.join("hand_rules.sql"),
        "SELECT * FROM (VALUES
            (make_array('milk', 'bread'), make_array('butter'), 0.8, 2.0, 1),
            (make_array('bread'), make_array('jam'), 0.6, 3.0, 2),
            (make_array('bread'), make_array('butter'), 0.6, 1.5, 3),
            (make_array('eggs'), make_array('milk'), 0.5, 1.2, 4),
            (make_array('butter'), make_array('eggs'), 0.4, 1.1, 5),
            (make_array('jam'), make_array('eggs'), 0.9, 0.9, 6)
         ) AS t(antecedent, consequent, confidence, lift, rank)",
    )
    .unwrap();
    std::fs::write(
        sql.join("hand_history.sql"),
        "SELECT * FROM (VALUES
            ('m1', 'milk'), ('m1', 'bread'),
            ('m2', 'bread'),
            ('m3', 'eggs'), ('m3', 'milk'),
            ('m4', 'bread'), ('m4', 'butter'), ('m4', 'eggs'),
            ('m5', 'jam'),
            ('m6', 'caviar')
         ) AS t(member_id, item)",
    )
    .unwrap();
    std::fs::write(sql.join("hand_consumables.sql"), "SELECT 'milk' AS item").unwrap();
    let job = tiny_job(d, Some(&sql));
    let text = std::fs::read_to_string(&job)
        .unwrap()
        .replace(r#"tables = ["member_features"]"#, r#"tables = ["recs"]"#)
        + r#"
[[steps]]
type = "recommend"
rules = "hand_rules"
history = "hand_history"
consumables = "hand_consumables"
top_n = 2
output = "recs"
"#;
    std::fs::write(&job, text).unwrap();
    let out = d.join("out");
    let o = siyu(
        &[
            "run",
            job.to_str().unwrap(),
            "--as-of",
            "2026-11-01",
            "--out",
            out.to_str().unwrap(),
            // The tiny export's orders end in January: not tonight's export.
            "--param",
            "stale_export_fail_days=1000",
        ],
        d,
    );
    assert!(o.status.success(), "{}", crate::common::text(&o));
    let mut got: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for b in read_parquet(&out.join("tiny/as_of=2026-11-01/recs.parquet")) {
        for r in 0..b.num_rows() {
            let v = |c: &str| array_value_to_string(b.column_by_name(c).unwrap(), r).unwrap();
            got.insert(
                (v("member_id"), v("rank")),
                vec![v("product_id"), v("score"), v("rule_rank"), v("reason")],
            );
        }
    }
    let row = |p: &str, s: &str, k: &str, reason: &str| {
        vec![
            p.to_string(),
            s.to_string(),
            k.to_string(),
            reason.to_string(),
        ]
    };
    let want: BTreeMap<(String, String), Vec<String>> = [
        // milk + bread: the two-item rule, then bread ⇒ jam.
        (
            ("m1", "1"),
            row(
                "butter",
                "0.8",
                "1",
                "bought milk + bread → butter (conf 0.80, lift 2.00)",
            ),
        ),
        (
            ("m1", "2"),
            row(
                "jam",
                "0.6",
                "2",
                "bought bread → jam (conf 0.60, lift 3.00)",
            ),
        ),
        // bread only: jam and butter tie on confidence; jam has the higher lift.
        (
            ("m2", "1"),
            row(
                "jam",
                "0.6",
                "2",
                "bought bread → jam (conf 0.60, lift 3.00)",
            ),
        ),
        (
            ("m2", "2"),
            row(
                "butter",
                "0.6",
                "3",
                "bought bread → butter (conf 0.60, lift 1.50)",
            ),
        ),
        // eggs + milk: milk is consumable, so it comes back.
        (
            ("m3", "1"),
            row(
                "milk",
                "0.5",
                "4",
                "bought eggs → milk (conf 0.50, lift 1.20)",
            ),
        ),
        // butter and eggs already bought and not consumable.
        (
            ("m4", "1"),
            row(
                "jam",
                "0.6",
                "2",
                "bought bread → jam (conf 0.60, lift 3.00)",
            ),
        ),
        (
            ("m4", "2"),
            row(
                "milk",
                "0.5",
                "4",
                "bought eggs → milk (conf 0.50, lift 1.20)",
            ),
        ),
        // m5: only a lift < 1 rule applies; m6: no rule knows caviar.
    ]
    .into_iter()
    .map(|((m, k), v)| ((m.to_string(), k.to_string()), v))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn a_recommend_step_with_a_missing_column_is_refused_by_check() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tiny_export(d);
    let sql = d.join("sql");
    std::fs::create_dir(&sql).unwrap();
    std::fs::write(
        sql.join("hand_rules.sql"),
        "SELECT make_array('a') AS antecedent, make_array('b') AS consequent, 0.5 AS confidence, 2.0 AS lift",
    )
    .unwrap();
    std::fs::write(
        sql.join("hand_history.sql"),
        "SELECT 'm1' AS member_id, 'a' AS item",
    )
    .unwrap();
    let job = tiny_job(d, Some(&sql));
    let text = std::fs::read_to_string(&job).unwrap()
        + "\n[[steps]]\ntype = \"recommend\"\nrules = \"hand_rules\"\nhistory = \"hand_history\"\ntop_n = 0\n";
    std::fs::write(&job, &text).unwrap();
    let o = siyu(&["check", job.to_str().unwrap()], d);
    assert_eq!(o.status.code(), Some(2), "{}", crate::common::text(&o));
    assert!(
        crate::common::text(&o).contains("top_n must be at least 1"),
        "{}",
        crate::common::text(&o)
    );
    std::fs::write(&job, text.replace("top_n = 0\n", "")).unwrap();
    let o = siyu(&["check", job.to_str().unwrap()], d);
    assert_eq!(o.status.code(), Some(2), "{}", crate::common::text(&o));
    assert!(
        crate::common::text(&o).contains("rules table hand_rules has no column rank"),
        "{}",
        crate::common::text(&o)
    );
}
