//! Outputs a CRM syncs, on the shipped nightly job over testdata, two nights in a row:
//! `member_tag_changes` against a brute-force diff of `member_tag_long`, `tag_dictionary`
//! covering every column of `member_tags` (and a new column without an entry refused),
//! the outreach rows' `message_fields` of every shipped campaign against the tags they
//! come from, and the shipped data tests passing (in `data_tests`, the manifest, the
//! report).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::common::*;

fn run_night(dir: &Path, as_of: &str) -> PathBuf {
    let job = repo().join("jobs/nightly.toml");
    let out = dir.join("out");
    let o = siyu(
        &[
            "run",
            job.to_str().unwrap(),
            "--as-of",
            as_of,
            "--out",
            out.to_str().unwrap(),
        ],
        dir,
    );
    assert!(o.status.success(), "{}", text(&o));
    out.join(format!("nightly/as_of={as_of}"))
}

/// The tracked tags (tag_dictionary.tracks_changes) of a night.
fn tracked(night: &Path) -> BTreeSet<String> {
    text_rows(&night.join("tag_dictionary.parquet"))
        .into_iter()
        .filter(|r| r["tracks_changes"] == "true")
        .map(|r| r["tag"].clone())
        .collect()
}

/// (member, tag) → value of the tracked tags in a night's member_tag_long.
fn long_values(night: &Path, tags: &BTreeSet<String>) -> BTreeMap<(String, String), String> {
    text_rows(&night.join("member_tag_long.parquet"))
        .into_iter()
        .filter(|r| tags.contains(&r["tag"]))
        .map(|r| {
            (
                (r["member_id"].clone(), r["tag"].clone()),
                r["value"].clone(),
            )
        })
        .collect()
}

/// What member_tag_changes must hold, by brute force over the long tables.
fn expected_changes(
    before: &BTreeMap<(String, String), String>,
    after: &BTreeMap<(String, String), String>,
    members_before: &BTreeSet<String>,
    members_after: &BTreeSet<String>,
) -> BTreeSet<(String, String, String, String, String)> {
    let keys: BTreeSet<&(String, String)> = before.keys().chain(after.keys()).collect();
    let null = "null".to_string();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|(m, t)| {
            let change = if !members_before.contains(m) {
                "new"
            } else if !members_after.contains(m) {
                "removed"
            } else {
                "changed"
            };
            let k = (m.clone(), t.clone());
            (
                m.clone(),
                t.clone(),
                before.get(&k).unwrap_or(&null).clone(),
                after.get(&k).unwrap_or(&null).clone(),
                change.to_string(),
            )
        })
        .collect()
}

fn changes(night: &Path) -> BTreeSet<(String, String, String, String, String)> {
    text_rows(&night.join("member_tag_changes.parquet"))
        .into_iter()
        .map(|r| {
            (
                r["member_id"].clone(),
                r["tag"].clone(),
                r["old_value"].clone(),
                r["new_value"].clone(),
                r["change"].clone(),
            )
        })
        .collect()
}

fn members(night: &Path) -> BTreeSet<String> {
    text_rows(&night.join("member_tags.parquet"))
        .into_iter()
        .map(|r| r["member_id"].clone())
        .collect()
}

#[test]
fn tag_changes_dictionary_message_fields_and_data_tests_over_two_nights() {
    let dir = tempfile::tempdir().unwrap();
    let first = run_night(dir.path(), "2026-11-01");
    let second = run_night(dir.path(), "2026-11-02");

    // The dictionary: one row per member_tags column but the keys, typed as published.
    let dictionary = text_rows(&first.join("tag_dictionary.parquet"));
    let tags_schema = read_parquet(&first.join("member_tags.parquet"))[0].schema();
    let columns: BTreeSet<String> = tags_schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|c| c != "member_id" && c != "as_of")
        .collect();
    let described: BTreeSet<String> = dictionary.iter().map(|r| r["tag"].clone()).collect();
    assert_eq!(described, columns);
    let tier = dictionary.iter().find(|r| r["tag"] == "tier").unwrap();
    assert_eq!(tier["data_type"], "utf8");
    assert!(
        tier["allowed_values"].contains("label_zh: 白金卡"),
        "{}",
        tier["allowed_values"]
    );
    assert_eq!(tier["sql_file"], "sql/tags/member_tier.sql");
    let top = dictionary
        .iter()
        .find(|r| r["tag"] == "top_categories")
        .unwrap();
    assert_eq!(top["data_type"], "list<utf8>");
    let recency = dictionary
        .iter()
        .find(|r| r["tag"] == "recency_days")
        .unwrap();
    assert_eq!(recency["tracks_changes"], "false");

    // First night: every tracked, non-null tag of every member is new.
    let tags = tracked(&first);
    assert!(tags.contains("tier") && !tags.contains("recency_days"));
    let (m1, m2) = (members(&first), members(&second));
    let none = BTreeMap::new();
    let v1 = long_values(&first, &tags);
    let got = changes(&first);
    assert_eq!(got.len(), v1.len());
    assert_eq!(got, expected_changes(&none, &v1, &BTreeSet::new(), &m1));
    assert!(got.iter().all(|c| c.4 == "new"));

    // Second night: exactly what differs from the first, by brute force.
    let v2 = long_values(&second, &tags);
    let got = changes(&second);
    let expect = expected_changes(&v1, &v2, &m1, &m2);
    // (testdata ends on 2026-10-31: what changes is what a day's passing changes —
    // birthdays coming up, lifecycle and churn windows, points expiring.)
    assert!(!expect.is_empty(), "nothing changed between the nights");
    assert_eq!(got, expect);
    assert!(
        got.len() < v2.len() / 10,
        "{} changes of {} values",
        got.len(),
        v2.len()
    );

    // The shipped data tests pass on testdata, and are reported.
    let tests = text_rows(&second.join("data_tests.parquet"));
    assert!(tests.len() >= 15, "{}", tests.len());
    for t in &tests {
        assert_eq!(t["status"], "pass", "{t:?}");
    }
    assert!(
        tests
            .iter()
            .any(|t| t["test"] == "outreach_consented_channel")
    );
    let report = std::fs::read_to_string(second.join("report.html")).unwrap();
    assert!(
        report.contains("数据测试 Data tests") && report.contains("outreach_consented_channel")
    );

    message_fields_of_every_campaign(&first);
}

/// Every shipped campaign's rows carry the message fields docs/outreach.md lists, with
/// the values of the tables they come from.
fn message_fields_of_every_campaign(night: &Path) {
    let list = text_rows(&night.join("outreach.parquet"));
    let tags: BTreeMap<String, BTreeMap<String, String>> =
        text_rows(&night.join("member_tags.parquet"))
            .into_iter()
            .map(|r| (r["member_id"].clone(), r))
            .collect();
    let product_names: BTreeMap<String, String> =
        text_rows(&repo().join("testdata/products/part-00000.parquet"))
            .into_iter()
            .map(|r| (r["product_id"].clone(), r["name"].clone()))
            .collect();
    let fields_of = |r: &BTreeMap<String, String>| parse_fields(&r["message_fields"]);
    let expected: &[(&str, &[&str])] = &[
        ("greeting", &["occasion", "days_to_occasion", "offer"]),
        (
            "reminder",
            &[
                "points_expiring",
                "points_expiring_at",
                "points_balance",
                "offer",
            ],
        ),
        (
            "winback",
            &["last_order_date", "days_since_last_order", "offer"],
        ),
        (
            "points_activation",
            &["points_balance", "points_threshold", "offer"],
        ),
        ("first_order", &["days_since_joined", "offer"]),
        (
            "second_order",
            &["first_order_date", "first_order_amount", "offer"],
        ),
        ("festival", &["festival", "festival_starts", "offer"]),
        ("upgrade", &["next_tier", "amount_to_next_tier", "offer"]),
        ("opportunity", &["category", "product_names", "offer"]),
        ("cross_sell", &["product_names", "offer"]),
        ("referral", &["invitees_converted", "offer"]),
    ];
    for (campaign, names) in expected {
        let rows: Vec<&BTreeMap<String, String>> =
            list.iter().filter(|r| r["campaign"] == *campaign).collect();
        assert!(
            !rows.is_empty(),
            "campaign {campaign} has no rows on testdata"
        );
        for r in rows {
            let f = fields_of(r);
            for n in *names {
                assert!(f.contains_key(*n), "{campaign}: no field {n} in {f:?}");
            }
            assert_eq!(f.get("offer"), Some(&r["offer"]), "{campaign}");
            let t = &tags[&r["member_id"]];
            // The stage and segment name columns come from member_tags.
            assert_eq!(r["lifecycle_stage"], t["lifecycle_stage"]);
            assert_eq!(r["journey_stage"], t["journey_stage"]);
            assert_eq!(r["segment_name"], t["segment_name"]);
            match *campaign {
                "reminder" => {
                    assert_eq!(f["points_expiring"], t["points_expiring"]);
                    assert_eq!(f["points_expiring_at"], t["points_expiring_at"]);
                    assert_eq!(f["points_balance"], t["points_balance"]);
                }
                "winback" => {
                    assert_eq!(f["last_order_date"], t["last_order_date"]);
                    assert_eq!(f["days_since_last_order"], t["recency_days"]);
                }
                "points_activation" => {
                    assert_eq!(f["points_balance"], t["points_balance"]);
                    let balance: i64 = t["points_balance"].parse().unwrap();
                    let threshold: i64 = f["points_threshold"].parse().unwrap();
                    if balance < threshold {
                        assert_eq!(f["points_to_threshold"], (threshold - balance).to_string());
                    }
                }
                "second_order" => assert_eq!(f["first_order_date"], t["last_order_date"]),
                "upgrade" => {
                    assert!(["金卡", "白金卡"].contains(&f["next_tier"].as_str()));
                    assert!(f["amount_to_next_tier"].parse::<i64>().unwrap() > 0);
                }
                "greeting" => {
                    let occasion = if t["birthday_soon"] == "true" {
                        "birthday"
                    } else {
                        "anniversary"
                    };
                    assert_eq!(f["occasion"], occasion);
                }
                "referral" => assert_eq!(f["invitees_converted"], t["invites_converted"]),
                "cross_sell" => {
                    // The names of the recommended products, in their order.
                    let ids: Vec<&str> = r["recommended_products"]
                        .trim_matches(|c| c == '[' || c == ']')
                        .split(", ")
                        .collect();
                    let names: Vec<&str> =
                        ids.iter().map(|id| product_names[*id].as_str()).collect();
                    assert_eq!(f["product_names"], names.join("、"));
                }
                _ => {}
            }
        }
    }
}

/// `[{name: a, value: 1}, {name: b, value: x}]` (Arrow's display of the list of
/// structs) as a map.
fn parse_fields(text: &str) -> BTreeMap<String, String> {
    let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
    inner
        .split("}, {")
        .filter(|s| !s.trim().is_empty())
        .map(|entry| {
            let entry = entry.trim_matches(|c| c == '{' || c == '}');
            let (name, value) = entry
                .strip_prefix("name: ")
                .and_then(|e| e.split_once(", value: "))
                .unwrap_or_else(|| panic!("unexpected message field {entry:?}"));
            (name.to_string(), value.to_string())
        })
        .collect()
}

/// A member_tags column without a dictionary entry fails `siyu check` (and so every run
/// and the test suite), naming the column.
#[test]
fn a_new_tag_without_a_dictionary_entry_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy_dir(&repo().join("sql"), &d.join("sql"));
    copy_dir(&repo().join("jobs"), &d.join("jobs"));
    std::os::unix::fs::symlink(repo().join("testdata"), d.join("testdata")).unwrap();
    let tags = d.join("sql/tags/member_tags.sql");
    let sql = std::fs::read_to_string(&tags).unwrap().replacen(
        "    f.recency_days,",
        "    f.recency_days,\n    f.recency_days > 30 AS lapsed_month,",
        1,
    );
    std::fs::write(&tags, sql).unwrap();
    let job = d.join("jobs/nightly.toml");
    let o = siyu(
        &["check", job.to_str().unwrap(), "--as-of", "2026-11-01"],
        d,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o)
            .contains("member_tags has column lapsed_month with no entry in the tag dictionary"),
        "{}",
        text(&o)
    );
}

/// A campaign's message field named like personal data is refused: outreach carries
/// member ids, never phone numbers or names.
#[test]
fn a_message_field_with_personal_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy_dir(&repo().join("sql"), &d.join("sql"));
    copy_dir(&repo().join("jobs"), &d.join("jobs"));
    std::os::unix::fs::symlink(repo().join("testdata"), d.join("testdata")).unwrap();
    let referral = d.join("sql/outreach/campaign_referral.sql");
    let sql = std::fs::read_to_string(&referral).unwrap().replacen(
        "AS msg_invitees_converted",
        "AS msg_invitees_converted,\n    '13800000000' AS msg_phone",
        1,
    );
    std::fs::write(&referral, sql).unwrap();
    let job = d.join("jobs/nightly.toml");
    let o = siyu(
        &["check", job.to_str().unwrap(), "--as-of", "2026-11-01"],
        d,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(
            "column msg_phone of table campaign_referral would publish personal data in message_fields"
        ),
        "{}",
        text(&o)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}
