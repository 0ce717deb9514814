//! Outreach lists: every contact-policy rule pinned on hand-made exports, the frequency
//! cap across consecutive nights, campaign results on a planted contact history, and the
//! nightly job's lists on testdata/.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::common::*;
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::util::display::array_value_to_string;
use siyu::outreach::is_holdout;

/// The salt of jobs/nightly.toml's outreach step.
const SALT: &str = "siyu-nightly-1";

type Row = BTreeMap<String, String>;

fn rows(path: &Path) -> Vec<Row> {
    text_rows(path)
}

/// The shipped nightly job with its paths made absolute and `edit` applied to its text,
/// written into `dir`.
fn nightly_job(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("jobs/nightly.toml")).unwrap();
    let root = repo().display().to_string();
    let text = text
        .replace("\"../sql/", &format!("\"{root}/sql/"))
        .replace("\"../testdata/", &format!("\"{root}/testdata/"));
    let path = dir.join("nightly.toml");
    std::fs::write(&path, edit(text)).unwrap();
    path
}

/// Run `job` for `as_of` and return the published run directory.
fn run(job: &Path, as_of: &str, out: &Path, extra: &[&str]) -> PathBuf {
    let mut args = vec![
        "run",
        job.to_str().unwrap(),
        "--as-of",
        as_of,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = siyu(&args, out.parent().unwrap());
    assert!(o.status.success(), "{}", text(&o));
    out.join(format!("nightly/as_of={as_of}"))
}

fn day(s: &str) -> i32 {
    (chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
        - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
    .num_days() as i32
}

/// A member with consent flags in the contract's order: sms, wechat, email, app_push
/// (`None` = unknown, which is no consent).
struct M {
    id: i64,
    birthday: Option<&'static str>,
    consent: [Option<bool>; 4],
}

fn write_members(dir: &Path, members: &[M]) {
    let consent = |i: usize| -> ArrayRef {
        Arc::new(BooleanArray::from(
            members.iter().map(|m| m.consent[i]).collect::<Vec<_>>(),
        ))
    };
    let b = batch(vec![
        (
            "member_id",
            Arc::new(Int64Array::from(
                members.iter().map(|m| m.id).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "joined_at",
            Arc::new(TimestampMicrosecondArray::from(vec![
                ts(
                    "2024-01-01 00:00:00"
                );
                members.len()
            ])),
        ),
        (
            "birthday",
            Arc::new(Date32Array::from(
                members
                    .iter()
                    .map(|m| m.birthday.map(day))
                    .collect::<Vec<_>>(),
            )),
        ),
        ("consent_sms", consent(0)),
        ("consent_wechat", consent(1)),
        ("consent_email", consent(2)),
        ("consent_app_push", consent(3)),
    ]);
    write_batch(&dir.join("members.parquet"), &b);
}

/// contact_history rows: (member, campaign, channel, sent_at local, holdout,
/// converted_at local, revenue).
type Contact = (
    String,
    String,
    String,
    String,
    bool,
    Option<String>,
    Option<f64>,
);

fn write_contacts(path: &Path, contacts: &[Contact]) {
    let b = batch(vec![
        (
            "member_id",
            Arc::new(StringArray::from(
                contacts.iter().map(|c| c.0.clone()).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "campaign",
            Arc::new(StringArray::from(
                contacts.iter().map(|c| c.1.clone()).collect::<Vec<_>>(),
            )),
        ),
        (
            "channel",
            Arc::new(StringArray::from(
                contacts.iter().map(|c| c.2.clone()).collect::<Vec<_>>(),
            )),
        ),
        (
            "sent_at",
            Arc::new(TimestampMicrosecondArray::from(
                contacts.iter().map(|c| ts(&c.3)).collect::<Vec<_>>(),
            )),
        ),
        (
            "holdout",
            Arc::new(BooleanArray::from(
                contacts.iter().map(|c| c.4).collect::<Vec<_>>(),
            )),
        ),
        (
            "converted_at",
            Arc::new(TimestampMicrosecondArray::from(
                contacts
                    .iter()
                    .map(|c| c.5.as_deref().map(ts))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "revenue",
            Arc::new(Float64Array::from(
                contacts.iter().map(|c| c.6).collect::<Vec<_>>(),
            )),
        ),
    ]);
    write_batch(path, &b);
}

fn contact(member: i64, sent_at: &str) -> Contact {
    (
        member.to_string(),
        "earlier".into(),
        "sms".into(),
        sent_at.into(),
        false,
        None,
        None,
    )
}

fn write_suppression(dir: &Path, rows: &[(i64, Option<&str>)]) {
    let b = batch(vec![
        (
            "member_id",
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "reason",
            Arc::new(StringArray::from(vec!["unsubscribe"; rows.len()])),
        ),
        (
            "until",
            Arc::new(TimestampMicrosecondArray::from(
                rows.iter().map(|r| r.1.map(ts)).collect::<Vec<_>>(),
            )),
        ),
    ]);
    write_batch(&dir.join("suppression.parquet"), &b);
}

const AS_OF: &str = "2026-07-01";
const ALL: [Option<bool>; 4] = [Some(true); 4];

/// Eleven members, all with points expiring within the month (so all eligible for the
/// reminder campaign), none with orders (so no other campaign wants them except the
/// birthday greeting for member 1):
///
/// | member | consent | other | expected |
/// |---|---|---|---|
/// | 1 | wechat | birthday in 3 days, 900 pts | greeting (priority 90 beats reminder's 80) |
/// | 2 | sms, app_push | 800 pts | reminder via app_push (first of app_push, wechat, sms) |
/// | 3 | none (nulls) | 950 pts | removed: no consent |
/// | 4 | email only | 990 pts | removed: no consent on a reminder channel |
/// | 5 | all | suppressed forever, 980 pts | removed: suppressed |
/// | 6 | all | suppression ended yesterday, 700 pts | reminder |
/// | 7 | all | suppressed until tomorrow, 970 pts | removed: suppressed |
/// | 8 | all | contacted 3 and 5 days ago, 960 pts | removed: 2 contacts in 7 days |
/// | 9 | all | contacted yesterday, 940 pts | removed: quiet period |
/// | 10 | all | contacted 7 and 8 days ago (outside the window), 600 pts | reminder |
/// | 11 | all | 500 pts | removed: budget (3 in the test job; 2, 6, 10 score higher) |
fn policy_export(dir: &Path, member2_consent: [Option<bool>; 4]) {
    write_export(dir, &[member(1)], &[]);
    let none = [None; 4];
    let only = |i: usize| {
        let mut c = [Some(false); 4];
        c[i] = Some(true);
        c
    };
    let m = |id, consent| M {
        id,
        birthday: None,
        consent,
    };
    write_members(
        dir,
        &[
            M {
                id: 1,
                birthday: Some("1990-07-04"),
                consent: only(1),
            },
            m(2, member2_consent),
            m(3, none),
            m(4, only(2)),
            m(5, ALL),
            m(6, ALL),
            m(7, ALL),
            m(8, ALL),
            m(9, ALL),
            m(10, ALL),
            m(11, ALL),
        ],
    );
    let points = [
        (1, 900),
        (2, 800),
        (3, 950),
        (4, 990),
        (5, 980),
        (6, 700),
        (7, 970),
        (8, 960),
        (9, 940),
        (10, 600),
        (11, 500),
    ];
    let ledger: Vec<(i64, &str, &str, i64, Option<&str>)> = points
        .iter()
        .map(|&(id, p)| {
            (
                id,
                "2026-06-01 10:00:00",
                "earn",
                p,
                Some("2026-07-15 00:00:00"),
            )
        })
        .collect();
    write_points(dir, &ledger);
    write_suppression(
        dir,
        &[
            (5, None),
            (6, Some("2026-06-30 12:00:00")),
            (7, Some("2026-07-02 00:00:00")),
        ],
    );
    write_contacts(
        &dir.join("contact_history.parquet"),
        &[
            contact(8, "2026-06-28 10:00:00"),
            contact(8, "2026-06-26 10:00:00"),
            contact(9, "2026-06-30 20:00:00"),
            contact(10, "2026-06-24 10:00:00"),
            contact(10, "2026-06-23 10:00:00"),
            contact(10, "2026-06-23 11:00:00"),
        ],
    );
}

/// The nightly job with the reminder campaign's budget cut to 3.
fn budget_job(dir: &Path) -> PathBuf {
    nightly_job(dir, |t| {
        let at = t.find("name = \"reminder\"").unwrap();
        let budget = at + t[at..].find("budget = 100000").unwrap();
        format!("{}budget = 3{}", &t[..budget], &t[budget + 15..])
    })
}

fn policy_run(dir: &Path, member2_consent: [Option<bool>; 4]) -> (Vec<Row>, Vec<Row>) {
    policy_export(dir, member2_consent);
    let job = budget_job(dir);
    let out = dir.join("out");
    let published = run(&job, AS_OF, &out, &["--input-dir", dir.to_str().unwrap()]);
    (
        rows(&published.join("outreach.parquet")),
        rows(&published.join("outreach_summary.parquet")),
    )
}

fn find<'a>(rows: &'a [Row], key: &str, value: &str) -> &'a Row {
    rows.iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("no row with {key} = {value} in {rows:#?}"))
}

#[test]
fn every_policy_rule_on_a_hand_made_export() {
    let dir = tempfile::tempdir().unwrap();
    // member 2 consents to sms and app_push
    let (outreach, summary) = policy_run(dir.path(), [Some(true), Some(false), None, Some(true)]);
    let listed: BTreeSet<(String, String)> = outreach
        .iter()
        .map(|r| (r["member_id"].clone(), r["campaign"].clone()))
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("1", "greeting"),
        ("10", "reminder"),
        ("2", "reminder"),
        ("6", "reminder"),
    ]
    .iter()
    .map(|(m, c)| (m.to_string(), c.to_string()))
    .collect();
    assert_eq!(listed, expected, "{outreach:#?}");

    let reminder = find(&summary, "campaign", "reminder");
    for (column, value) in [
        ("eligible", "11"),
        ("removed_no_consent", "2"),
        ("removed_suppressed", "2"),
        ("removed_frequency_cap", "2"),
        ("removed_priority", "1"),
        ("removed_budget", "1"),
        ("selected", "3"),
    ] {
        assert_eq!(reminder[column], value, "reminder {column}: {reminder:#?}");
    }
    let greeting = find(&summary, "campaign", "greeting");
    assert_eq!(greeting["eligible"], "1");
    assert_eq!(greeting["selected"], "1");

    let m1 = find(&outreach, "member_id", "1");
    assert_eq!(m1["channel"], "wechat");
    assert_eq!(m1["contact_type"], "greeting");
    assert_eq!(m1["reasons"], "[birthday in 3 days, tier=regular]");
    assert_eq!(
        m1["offer"], "生日券¥10 ¥10 birthday voucher",
        "regular tier's offer"
    );
    assert_eq!(
        m1["send_window"], "09:00-10:00",
        "no purchase hour: the first send hour"
    );

    let by_member: HashMap<&str, &Row> = outreach
        .iter()
        .filter(|r| r["campaign"] == "reminder")
        .map(|r| (r["member_id"].as_str(), r))
        .collect();
    assert_eq!(by_member["2"]["channel"], "app_push");
    assert_eq!(by_member["6"]["channel"], "app_push");
    // Rank by points expiring: 800, 700, 600.
    assert_eq!(by_member["2"]["rank"], "1");
    assert_eq!(by_member["6"]["rank"], "2");
    assert_eq!(by_member["10"]["rank"], "3");
    assert_eq!(by_member["2"]["score"], "800.0");
    assert_eq!(
        by_member["2"]["reasons"],
        "[800 points expire on 2026-07-15, points_band=D (balance 800)]"
    );
    assert_eq!(by_member["2"]["offer"], "消费赚积分 earn before they lapse");
    for (id, row) in &by_member {
        let expected = is_holdout(SALT, "reminder", id, 0.1);
        assert_eq!(row["holdout"], expected.to_string(), "member {id}");
    }
}

#[test]
fn a_members_offer_does_not_depend_on_the_channel() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    // Member 2 reached by app push one night, by SMS only the other.
    let (with_push, _) = policy_run(a.path(), [Some(true), Some(false), None, Some(true)]);
    let (sms_only, _) = policy_run(b.path(), [Some(true), Some(false), None, Some(false)]);
    let a2 = find(&with_push, "member_id", "2");
    let b2 = find(&sms_only, "member_id", "2");
    assert_eq!(a2["channel"], "app_push");
    assert_eq!(b2["channel"], "sms");
    for column in [
        "campaign",
        "offer",
        "score",
        "rank",
        "holdout",
        "reasons",
        "send_window",
    ] {
        assert_eq!(a2[column], b2[column], "{column}");
    }
}

/// A contact_history row: (member, channel, sent_at local, holdout, converted_at local).
fn sent(member: i64, channel: &str, at: &str, holdout: bool, converted: Option<&str>) -> Contact {
    (
        member.to_string(),
        "earlier".into(),
        channel.into(),
        at.into(),
        holdout,
        converted.map(str::to_string),
        None,
    )
}

/// The nightly job resting members by `member_fatigue`, capping app push at one contact
/// per member per 7 days, and the greeting campaign's offer by price sensitivity (the
/// discount offer from 0.5).
fn fatigue_caps_price_job(dir: &Path) -> PathBuf {
    // The shipped job rests fatigued members already; this test caps app push instead of
    // SMS and moves the price cut to 0.5.
    nightly_job(dir, |t| {
        for line in [
            "fatigue = \"member_fatigue\"\n",
            "channel_caps = { sms = 1 }\n",
            "price_sensitive_from = 0.3\n",
            "send_hours = [9, 12]\n",
        ] {
            assert!(t.contains(line), "{line}");
        }
        t.replacen(
            "channel_caps = { sms = 1 }\n",
            "channel_caps = { app_push = 1 }\n",
            1,
        )
        .replacen(
            "price_sensitive_from = 0.3\n",
            "price_sensitive_from = 0.5\n",
            1,
        )
        .replacen(
            "send_hours = [9, 12]\n",
            "send_hours = [9, 12]\noffers_by_price = { price_sensitive = \"满99减20 ¥20 off ¥99\", \
                 full_price = \"赠品 gift with purchase\" }\n",
            1,
        )
    })
}

/// Fatigue (member_fatigue: 3 contacts sent ≥ 14 days ago, none converted within 14
/// days, rest 30 days from when the last one's window closed), the app push cap, and
/// offers by price sensitivity, as of 2026-07-01. Members 1-9 have 900 points expiring
/// on 07-15 (the reminder campaign: channels app_push, wechat, sms), all consents unless
/// said; 20-23 have a birthday in 3 days (greeting, offers by price) and consent to wechat.
///
/// | member | history / orders | expected |
/// |---|---|---|
/// | 1 | sms 05-01, 05-10, 05-20, none converted | removed_fatigue (rested until 07-03) |
/// | 2 | as 1, but 05-01 converted on 05-05 | reminder, app_push |
/// | 3 | sms 03-01, 03-10, 03-20, none converted | reminder, app_push (rest ended 05-03) |
/// | 4 | app_push 06-28 | reminder, wechat (app push full) |
/// | 5 | app_push 06-28; consents to app push only | removed_channel_cap |
/// | 6 | sms 06-28; consents to app push only | reminder, app_push (the SMS is another channel) |
/// | 7 | app_push 06-26, 06-28 | removed_frequency_cap (before the channel cap) |
/// | 8 | app_push 07-01 (tonight: ignored) | reminder, app_push |
/// | 9 | holdout row, app_push 06-28 | reminder, wechat (holdout rows count) |
/// | 99 | as 1, not a member | ignored |
/// | 20 | paid 100 with a discount, 100 without: 0.50 | greeting, discount offer |
/// | 21 | paid 190 without, 10 with: 0.05 | greeting, full-price offer |
/// | 22 | paid 70 without, 30 with: 0.30 | greeting, full-price offer |
/// | 23 | no orders: unknown | greeting, the regular tier's offer |
/// | 30 | an order yesterday (a fresh export), no consent | nothing |
#[test]
fn fatigue_channel_caps_and_offers_by_price_on_a_hand_made_export() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let discounted = |member, at, amount, discount| Order {
        discount,
        ..paid(member, at, amount)
    };
    let orders = [
        discounted(20, "2026-03-01 10:00:00", 100.0, 10.0),
        paid(20, "2026-03-15 10:00:00", 100.0),
        paid(21, "2026-03-01 10:00:00", 190.0),
        discounted(21, "2026-03-15 10:00:00", 10.0, 5.0),
        paid(22, "2026-03-01 10:00:00", 70.0),
        discounted(22, "2026-03-15 10:00:00", 30.0, 3.0),
        // A bystander without consent keeps the export fresh.
        paid(30, "2026-06-30 10:00:00", 50.0),
    ];
    write_export(d, &[member(1)], &orders);
    let app_push_only = [Some(false), Some(false), Some(false), Some(true)];
    let wechat_only = [Some(false), Some(true), Some(false), Some(false)];
    let mut members: Vec<M> = (1..=9)
        .map(|id| M {
            id,
            birthday: None,
            consent: if id == 5 || id == 6 {
                app_push_only
            } else {
                ALL
            },
        })
        .collect();
    members.extend((20..=23).map(|id| M {
        id,
        birthday: Some("1990-07-04"),
        consent: wechat_only,
    }));
    members.push(M {
        id: 30,
        birthday: None,
        consent: [Some(false); 4],
    });
    write_members(d, &members);
    let ledger: Vec<(i64, &str, &str, i64, Option<&str>)> = (1..=9)
        .map(|id| {
            (
                id,
                "2026-06-01 10:00:00",
                "earn",
                900,
                Some("2026-07-15 00:00:00"),
            )
        })
        .collect();
    write_points(d, &ledger);
    write_suppression(d, &[]);
    let ignored = |m| {
        [
            sent(m, "sms", "2026-05-01 10:00:00", false, None),
            sent(m, "sms", "2026-05-10 10:00:00", false, None),
            sent(m, "sms", "2026-05-20 10:00:00", false, None),
        ]
    };
    let mut contacts: Vec<Contact> = [ignored(1), ignored(99)].concat();
    contacts.extend([
        sent(
            2,
            "sms",
            "2026-05-01 10:00:00",
            false,
            Some("2026-05-05 12:00:00"),
        ),
        sent(2, "sms", "2026-05-10 10:00:00", false, None),
        sent(2, "sms", "2026-05-20 10:00:00", false, None),
        sent(3, "sms", "2026-03-01 10:00:00", false, None),
        sent(3, "sms", "2026-03-10 10:00:00", false, None),
        sent(3, "sms", "2026-03-20 10:00:00", false, None),
        sent(4, "app_push", "2026-06-28 10:00:00", false, None),
        sent(5, "app_push", "2026-06-28 10:00:00", false, None),
        sent(6, "sms", "2026-06-28 10:00:00", false, None),
        sent(7, "app_push", "2026-06-26 10:00:00", false, None),
        sent(7, "app_push", "2026-06-28 10:00:00", false, None),
        sent(8, "app_push", "2026-07-01 10:00:00", false, None),
        sent(9, "app_push", "2026-06-28 10:00:00", true, None),
    ]);
    write_contacts(&d.join("contact_history.parquet"), &contacts);
    let job = fatigue_caps_price_job(d);
    let published = run(
        &job,
        AS_OF,
        &d.join("out"),
        &["--input-dir", d.to_str().unwrap()],
    );
    let outreach = rows(&published.join("outreach.parquet"));
    let summary = rows(&published.join("outreach_summary.parquet"));

    let reminder: BTreeMap<&str, &str> = outreach
        .iter()
        .filter(|r| r["campaign"] == "reminder")
        .map(|r| (r["member_id"].as_str(), r["channel"].as_str()))
        .collect();
    let expected: BTreeMap<&str, &str> = [
        ("2", "app_push"),
        ("3", "app_push"),
        ("4", "wechat"),
        ("6", "app_push"),
        ("8", "app_push"),
        ("9", "wechat"),
    ]
    .into_iter()
    .collect();
    assert_eq!(reminder, expected, "{outreach:#?}");
    let s = find(&summary, "campaign", "reminder");
    for (column, value) in [
        ("eligible", "9"),
        ("removed_no_consent", "0"),
        ("removed_suppressed", "0"),
        ("removed_fatigue", "1"),
        ("removed_frequency_cap", "1"),
        ("removed_channel_cap", "1"),
        ("removed_priority", "0"),
        ("removed_budget", "0"),
        ("selected", "6"),
    ] {
        assert_eq!(s[column], value, "reminder {column}: {s:#?}");
    }

    let greeting: HashMap<&str, &Row> = outreach
        .iter()
        .filter(|r| r["campaign"] == "greeting")
        .map(|r| (r["member_id"].as_str(), r))
        .collect();
    for (id, offer, reason) in [
        (
            "20",
            "满99减20 ¥20 off ¥99",
            Some("price_sensitivity 0.50 ≥ 0.50: discount offer"),
        ),
        (
            "21",
            "赠品 gift with purchase",
            Some("price_sensitivity 0.05 < 0.50: full-price offer"),
        ),
        (
            "22",
            "赠品 gift with purchase",
            Some("price_sensitivity 0.30 < 0.50: full-price offer"),
        ),
        ("23", "生日券¥10 ¥10 birthday voucher", None),
    ] {
        let r = greeting
            .get(id)
            .unwrap_or_else(|| panic!("member {id} not greeted: {outreach:#?}"));
        assert_eq!(r["offer"], offer, "member {id}: {r:#?}");
        let reasons = &r["reasons"];
        match reason {
            Some(reason) => assert!(
                reasons.ends_with(&format!(", {reason}]")),
                "member {id}: {reasons}"
            ),
            None => assert!(!reasons.contains("price_sensitivity"), "{reasons}"),
        }
    }

    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(published.join("_manifest.json")).unwrap())
            .unwrap();
    let details = manifest["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|s| s["details"].get("campaigns").map(|_| &s["details"]))
        .expect("the outreach step's details");
    assert_eq!(details["members_fatigued"], 1, "member 99 is not a member");
    let record = details["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["campaign"] == "reminder")
        .unwrap();
    assert_eq!(record["removed_fatigue"], 1);
    assert_eq!(record["removed_channel_cap"], 1);
}

#[test]
fn bad_fatigue_channel_cap_and_price_offer_settings_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    // The shipped job declares fatigue, channel_caps and price_sensitive_from: each case
    // replaces the shipped line.
    let cases: [(&str, &str, &str); 7] = [
        (
            "channel_caps = { sms = 1 }\n",
            "channel_caps = { fax = 1 }\n",
            "unknown variant `fax`",
        ),
        (
            "channel_caps = { sms = 1 }\n",
            "channel_caps = { sms = 0 }\n",
            "channel_caps: sms must be at least 1",
        ),
        (
            "fatigue = \"member_fatigue\"\n",
            "fatigue = \"Member-Fatigue\"\n",
            "\"Member-Fatigue\" must be lowercase letters, digits and _",
        ),
        (
            "fatigue = \"member_fatigue\"\n",
            "fatigue = \"no_such_table\"\n",
            "reads unknown table no_such_table",
        ),
        (
            "price_sensitive_from = 0.3\n",
            "price_sensitive_from = 1.5\n",
            "price_sensitive_from must be in [0, 1], found 1.5",
        ),
        (
            "send_hours = [9, 12]\n",
            "send_hours = [9, 12]\noffers_by_price = { price_sensitive = \"a\" }\n",
            "campaign \"greeting\": offers_by_price: missing key \"full_price\"",
        ),
        (
            "send_hours = [9, 12]\n",
            "send_hours = [9, 12]\noffers_by_price = { price_sensitive = \"a\", full_price = \"b\", \
             thrifty = \"c\" }\n",
            "campaign \"greeting\": offers_by_price: unknown key \"thrifty\"",
        ),
    ];
    for (from, to, message) in cases {
        let job = nightly_job(dir.path(), |t| {
            assert!(t.contains(from), "{from}");
            t.replacen(from, to, 1)
        });
        let o = siyu(
            &["check", job.to_str().unwrap(), "--as-of", "2026-11-01"],
            dir.path(),
        );
        assert_eq!(o.status.code(), Some(2), "{to}: {}", text(&o));
        assert!(text(&o).contains(message), "{to}: {}", text(&o));
    }
}

#[test]
fn frequency_cap_quiet_period_and_holdouts_hold_across_consecutive_nights() {
    // Five nights on testdata; each night's list (holdouts included, as the policy
    // counts them) is appended to contact_history before the next night runs. (The
    // testdata history is weeks older than the cap window, so it starts empty here.)
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("contact_history");
    write_contacts(&history.join("start.parquet"), &[]);
    let job = nightly_job(dir.path(), |t| t);
    let input = format!("contact_history={}", history.display());
    let nights = [
        "2026-11-01",
        "2026-11-02",
        "2026-11-03",
        "2026-11-04",
        "2026-11-05",
    ];
    let mut contacts: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    let mut sms: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    let mut holdout: HashMap<(String, String), String> = HashMap::new();
    let mut capped = 0u64;
    for (n, night) in nights.iter().enumerate() {
        let out = dir.path().join("out");
        let published = run(&job, night, &out, &["--input", &input]);
        let list = rows(&published.join("outreach.parquet"));
        assert!(!list.is_empty(), "{night}: empty list");
        for r in &list {
            contacts
                .entry(r["member_id"].clone())
                .or_default()
                .push(day(night));
            if r["channel"] == "sms" {
                sms.entry(r["member_id"].clone())
                    .or_default()
                    .push(day(night));
            }
            let key = (r["member_id"].clone(), r["campaign"].clone());
            if let Some(before) = holdout.insert(key.clone(), r["holdout"].clone()) {
                assert_eq!(
                    before, r["holdout"],
                    "{key:?} changed holdout group on {night}"
                );
            }
        }
        for s in rows(&published.join("outreach_summary.parquet")) {
            capped += s["removed_frequency_cap"].parse::<u64>().unwrap();
        }
        let sent: Vec<Contact> = list
            .iter()
            .map(|r| {
                let hour = &r["send_window"][..2];
                (
                    r["member_id"].clone(),
                    r["campaign"].clone(),
                    r["channel"].clone(),
                    format!("{night} {hour}:00:00"),
                    r["holdout"] == "true",
                    None,
                    None,
                )
            })
            .collect();
        write_contacts(&history.join(format!("night_{n}.parquet")), &sent);
    }
    assert!(capped > 0, "the cap never bound: the test shows nothing");
    let mut repeated = 0;
    for (member, days) in &contacts {
        let mut days = days.clone();
        days.sort();
        for (i, d) in days.iter().enumerate() {
            // max_contacts = 2 per rolling 7 days, tonight included.
            let in_window = days[..=i].iter().filter(|&&x| x > d - 7).count();
            assert!(in_window <= 2, "member {member}: {days:?}");
            // quiet_days = 1: never on two nights in a row.
            if i > 0 {
                assert!(*d - days[i - 1] != 1, "member {member}: {days:?}");
            }
        }
        if days.len() > 1 {
            repeated += 1;
        }
    }
    assert!(repeated > 0, "nobody came back: the test shows nothing");
    // channel_caps = { sms = 1 }: at most one SMS per member per rolling 7 days.
    for (member, days) in &sms {
        assert!(
            days.windows(2).all(|w| w[1] - w[0] >= 7),
            "member {member}: SMS on {days:?}"
        );
    }
    assert!(!sms.is_empty(), "no SMS at all: the cap shows nothing");
}

#[test]
fn campaign_results_measure_uplift_against_the_holdout() {
    // Campaign c1 (sent 2026-06-01): 200 contacted, 40 converted within 14 days and 10
    // more after 20 days (not attributed); 100 holdout, 10 converted. Every attributed
    // conversion brought 100.00.
    //   p_c = 0.2, p_h = 0.1, uplift = 0.1,
    //   se = sqrt(0.2·0.8/200 + 0.1·0.9/100) = sqrt(0.0017) = 0.0412311,
    //   interval = 0.1 ± 1.96·se = [0.019187, 0.180813];
    //   revenue per member 20.00 vs 10.00.
    // Campaign c2: 20 contacted, 5 holdout: not enough data.
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<M> = (1..=325)
        .map(|id| M {
            id,
            birthday: None,
            consent: [Some(false); 4],
        })
        .collect();
    write_export(dir.path(), &[member(1)], &[]);
    write_members(dir.path(), &members);
    let mut contacts = Vec::new();
    let mut add = |id: i64, campaign: &str, holdout: bool, converted: Option<&str>| {
        contacts.push((
            id.to_string(),
            campaign.to_string(),
            "sms".to_string(),
            "2026-06-01 10:00:00".to_string(),
            holdout,
            converted.map(str::to_string),
            converted.map(|_| 100.0),
        ));
    };
    for id in 1..=200 {
        let converted = match id {
            1..=40 => Some("2026-06-05 12:00:00"),
            41..=50 => Some("2026-06-21 12:00:00"),
            _ => None,
        };
        add(id, "c1", false, converted);
    }
    for id in 201..=300 {
        add(id, "c1", true, (id <= 210).then_some("2026-06-10 09:00:00"));
    }
    for id in 301..=320 {
        add(
            id,
            "c2",
            false,
            (id <= 305).then_some("2026-06-02 09:00:00"),
        );
    }
    for id in 321..=325 {
        add(id, "c2", true, None);
    }
    write_contacts(&dir.path().join("contact_history.parquet"), &contacts);
    let job = nightly_job(dir.path(), |t| t);
    let published = run(
        &job,
        AS_OF,
        &dir.path().join("out"),
        &["--input-dir", dir.path().to_str().unwrap()],
    );
    let results = rows(&published.join("campaign_results.parquet"));
    let c1 = results
        .iter()
        .find(|r| r["campaign"] == "c1" && r["segment_id"] == "all")
        .unwrap();
    for (column, value) in [
        ("contacted", "200"),
        ("holdout", "100"),
        ("converted_contacted", "40"),
        ("converted_holdout", "10"),
        ("conversion_contacted", "0.2"),
        ("conversion_holdout", "0.1"),
        ("uplift", "0.1"),
        ("uplift_low", "0.019187"),
        ("uplift_high", "0.180813"),
        ("revenue_per_member_contacted", "20.0"),
        ("revenue_per_member_holdout", "10.0"),
        ("revenue_uplift_per_member", "10.0"),
        ("enough_data", "true"),
        ("window_complete", "true"),
    ] {
        assert_eq!(c1[column], value, "c1 {column}: {c1:#?}");
    }
    // Segment rows add up to the campaign's.
    let (mut contacted, mut held) = (0, 0);
    for r in results
        .iter()
        .filter(|r| r["campaign"] == "c1" && r["segment_id"] != "all")
    {
        contacted += r["contacted"].parse::<i64>().unwrap();
        held += r["holdout"].parse::<i64>().unwrap();
    }
    assert_eq!((contacted, held), (200, 100));
    let c2 = results
        .iter()
        .find(|r| r["campaign"] == "c2" && r["segment_id"] == "all")
        .unwrap();
    assert_eq!(c2["contacted"], "20");
    assert_eq!(c2["conversion_contacted"], "0.25");
    assert_eq!(c2["enough_data"], "false");
}

/// Channel preference order per campaign, from the shipped job file.
fn campaign_channels() -> HashMap<String, (Vec<String>, bool)> {
    let job: toml::Table = std::fs::read_to_string(repo().join("jobs/nightly.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let mut out = HashMap::new();
    for step in job["steps"].as_array().unwrap() {
        if step["type"].as_str() != Some("outreach") {
            continue;
        }
        for c in step["campaigns"].as_array().unwrap() {
            let channels = c["channels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            let exclusive = c.get("exclusive").and_then(|v| v.as_bool()).unwrap_or(true);
            out.insert(
                c["name"].as_str().unwrap().to_string(),
                (channels, exclusive),
            );
        }
    }
    out
}

#[test]
fn nightly_lists_on_testdata_honour_every_rule_and_match_hand_checked_members() {
    let dir = tempfile::tempdir().unwrap();
    let job = nightly_job(dir.path(), |t| t);
    let published = run(&job, "2026-11-01", &dir.path().join("out"), &[]);
    let outreach = rows(&published.join("outreach.parquet"));
    let summary = rows(&published.join("outreach_summary.parquet"));
    assert!(outreach.len() > 500, "{} rows", outreach.len());

    // Consent per member and channel, and tonight's suppressions, from the inputs.
    // WeCom also needs a shopping guide to send from.
    let mut consent: HashMap<(String, String), bool> = HashMap::new();
    let mut guide_of: HashMap<String, String> = HashMap::new();
    for b in read_parquet_dir(&repo().join("testdata/members")) {
        let id = b.column_by_name("member_id").unwrap();
        let guide = b.column_by_name("guide_id").unwrap();
        for r in 0..b.num_rows() {
            if guide.is_valid(r) {
                guide_of.insert(
                    array_value_to_string(id, r).unwrap(),
                    array_value_to_string(guide, r).unwrap(),
                );
            }
        }
        for channel in ["sms", "wechat", "email", "app_push", "wecom"] {
            let c = b.column_by_name(&format!("consent_{channel}")).unwrap();
            let c = c.as_any().downcast_ref::<BooleanArray>().unwrap();
            for r in 0..b.num_rows() {
                let yes = c.is_valid(r) && c.value(r) && (channel != "wecom" || guide.is_valid(r));
                consent.insert(
                    (array_value_to_string(id, r).unwrap(), channel.to_string()),
                    yes,
                );
            }
        }
    }
    assert!(consent.iter().any(|((_, ch), &yes)| ch == "wecom" && yes));
    let tonight = ts("2026-11-01 00:00:00");
    let mut suppressed = BTreeSet::new();
    for b in read_parquet_dir(&repo().join("testdata/suppression")) {
        let id = b.column_by_name("member_id").unwrap();
        let until = b.column_by_name("until").unwrap();
        let until = until
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        for r in 0..b.num_rows() {
            if until.is_null(r) || until.value(r) > tonight {
                suppressed.insert(array_value_to_string(id, r).unwrap());
            }
        }
    }
    assert!(!suppressed.is_empty());

    let campaigns = campaign_channels();
    // Tonight's WeCom rows per guide (at most guide_daily_capacity = 50 each, holdouts
    // included: they take the slot they would have taken) and sms rows per member (sms
    // is capped at one a night).
    let mut wecom_by_guide: HashMap<&str, usize> = HashMap::new();
    let mut sms_by_member: HashMap<&str, usize> = HashMap::new();
    for r in &outreach {
        match r["channel"].as_str() {
            "wecom" => {
                assert_eq!(r["guide_id"], guide_of[&r["member_id"]], "{r:#?}");
                *wecom_by_guide.entry(r["guide_id"].as_str()).or_default() += 1;
            }
            "sms" => *sms_by_member.entry(r["member_id"].as_str()).or_default() += 1,
            _ => {}
        }
    }
    assert!(!wecom_by_guide.is_empty());
    assert!(
        wecom_by_guide.values().all(|&n| n <= 50),
        "{wecom_by_guide:?}"
    );
    assert!(sms_by_member.values().all(|&n| n == 1));
    let mut exclusive_rows: HashMap<&str, usize> = HashMap::new();
    let mut per_campaign: HashMap<&str, (u64, u64)> = HashMap::new();
    for r in &outreach {
        let member = r["member_id"].as_str();
        let (channels, exclusive) = &campaigns[&r["campaign"]];
        // The first consented channel in the campaign's order with room tonight, and
        // only a consented one: a channel is passed over only for a guide at capacity
        // or the member's one sms of the night going elsewhere.
        let has_room = |ch: &str| match ch {
            "wecom" => wecom_by_guide.get(guide_of[member].as_str()) != Some(&50),
            "sms" => !sms_by_member.contains_key(member),
            _ => true,
        };
        let first = channels
            .iter()
            .find(|ch| {
                consent[&(member.to_string(), ch.to_string())]
                    && (ch.as_str() == r["channel"] || has_room(ch))
            })
            .expect("listed without consent");
        assert_eq!(&r["channel"], first, "{r:#?}");
        assert!(
            !suppressed.contains(member),
            "suppressed member listed: {r:#?}"
        );
        assert_eq!(
            r["holdout"],
            is_holdout(SALT, &r["campaign"], member, 0.1).to_string()
        );
        if *exclusive {
            *exclusive_rows.entry(member).or_default() += 1;
        }
        let e = per_campaign.entry(r["campaign"].as_str()).or_default();
        e.0 += 1;
        e.1 += u64::from(r["holdout"] == "true");
        for column in ["reasons", "offer", "segment_id", "tier", "send_window"] {
            assert_ne!(r[column], "null", "{column} in {r:#?}");
        }
        assert_ne!(r["reasons"], "[]", "{r:#?}");
    }
    assert!(
        exclusive_rows.values().all(|&n| n == 1),
        "two exclusive campaigns for a member"
    );
    // The summary adds up and agrees with the list.
    for s in &summary {
        let n = |c: &str| s[c].parse::<u64>().unwrap();
        assert_eq!(
            n("eligible"),
            n("removed_unknown_member")
                + n("removed_no_consent")
                + n("removed_suppressed")
                + n("removed_fatigue")
                + n("removed_frequency_cap")
                + n("removed_channel_cap")
                + n("removed_guide_capacity")
                + n("removed_priority")
                + n("removed_budget")
                + n("selected"),
            "{s:#?}"
        );
        let (listed, held) = per_campaign
            .get(s["campaign"].as_str())
            .copied()
            .unwrap_or_default();
        assert_eq!((n("selected"), n("holdout")), (listed, held), "{s:#?}");
        assert_eq!(n("contacted"), listed - held);
        assert!(
            n("selected") > 0,
            "campaign {} selected nobody",
            s["campaign"]
        );
    }

    // Member 1000022, checked by hand against testdata/: the ledger before 2026-11-01
    // sums to 1,509 points (band B: past the 1,500-point redemption threshold, below
    // 2,000 — a gift now, not points + cash); earns of 369 (expires
    // 2026-11-15) and 231 (2026-11-30) lapse within 30 days = 600 points; consent: sms
    // and wechat, not app push, so the reminder's order (app_push, wechat, sms) gives
    // wechat; 3 of their 7 paid orders in the last year were placed at 19:xx.
    let m = outreach
        .iter()
        .find(|r| r["member_id"] == "1000022")
        .unwrap();
    assert_eq!(m["campaign"], "reminder");
    assert_eq!(m["channel"], "wechat");
    assert_eq!(m["score"], "600.0");
    assert_eq!(
        m["reasons"],
        "[600 points expire on 2026-11-15, points_band=B (balance 1509)]"
    );
    assert_eq!(m["offer"], "积分兑礼 redeem a gift now");
    assert_eq!(m["send_window"], "19:00-20:00");
    assert_eq!(m["tier"], "regular");
    // Member 1000443: paid 2,568.04 in the year to 2026-11-01 (8 paid orders), rank 289
    // of the 1,368 buyers (guest orders without a member_id are no member's); tiers rank
    // buyers as the pyramid does, so platinum is ranks 1-68 (round(1,368 × 5%)), gold
    // 69-274 (round(1,368 × 20%)) and gold's lowest spend is 2,684.73 (member 1001249):
    // 116.69 short (shown rounded up, ¥117) at closeness 0.96 ≥ 0.7; consent on every
    // channel, so upgrade's first channel, wechat.
    let m = outreach
        .iter()
        .find(|r| r["member_id"] == "1000443")
        .unwrap();
    assert_eq!(m["campaign"], "upgrade");
    assert_eq!(m["channel"], "wechat");
    assert_eq!(
        m["reasons"],
        "[¥117 more to reach 金卡 (gold), spent ¥2568 of ¥2685 in 365 days, lifecycle=active]"
    );
    assert_eq!(m["offer"], "升金卡双倍积分 double points to gold");
    // Member 1000714: severe churn risk and 177 points expiring, but on the suppression
    // list with no end date: on no list. Member 1000027: severe churn risk, but no
    // consent on sms, wechat or app push: on no list.
    for id in ["1000714", "1000027"] {
        assert!(
            outreach.iter().all(|r| r["member_id"] != id),
            "member {id} listed"
        );
    }
}

/// Every batch of every parquet file in a directory.
fn read_parquet_dir(dir: &Path) -> Vec<RecordBatch> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    files.iter().flat_map(|f| read_parquet(f)).collect()
}

#[test]
fn bad_campaign_settings_are_config_errors_that_name_the_campaign() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str); 5] = [
        (
            "channels = [\"wecom\", \"wechat\", \"app_push\", \"sms\"]\npriority = 90",
            "channels = [\"wecom\", \"fax\"]\npriority = 90",
            "unknown variant `fax`",
        ),
        (
            "priority = 90\nbudget = 50000\nholdout = 0.1",
            "priority = 90\nbudget = 50000\nholdout = 1.5",
            "campaign \"greeting\": holdout must be in [0, 1), found 1.5",
        ),
        (
            "name = \"greeting\"",
            "name = \"greeting\"\ntable = \"campaign_nothing\"",
            "reads unknown table campaign_nothing",
        ),
        (
            "name = \"greeting\"",
            "name = \"greeting\"\ntable = \"member_tags\"",
            "campaign \"greeting\": table member_tags has no column score",
        ),
        (
            "send_hours = [9, 12]",
            "send_hours = [12, 9]",
            "send_hours must be [start, end) with 0 <= start < end <= 24, found [12, 9]",
        ),
    ];
    for (from, to, message) in cases {
        let job = nightly_job(dir.path(), |t| {
            assert!(t.contains(from), "{from}");
            t.replacen(from, to, 1)
        });
        let o = siyu(
            &["check", job.to_str().unwrap(), "--as-of", "2026-11-01"],
            dir.path(),
        );
        assert_eq!(o.status.code(), Some(2), "{to}: {}", text(&o));
        assert!(text(&o).contains(message), "{to}: {}", text(&o));
    }
}

#[test]
fn a_campaign_table_with_two_rows_for_a_member_fails_the_run_and_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // recommendations has member_id and score, but up to five rows per member.
    let job = nightly_job(dir.path(), |t| {
        t.replacen(
            "name = \"greeting\"",
            "name = \"greeting\"\ntable = \"recommendations\"",
            1,
        )
    });
    let out = dir.path().join("out");
    let o = siyu(
        &[
            "run",
            job.to_str().unwrap(),
            "--as-of",
            "2026-11-01",
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(
            "campaign \"greeting\": table recommendations has more than one row for member_id"
        ),
        "{}",
        text(&o)
    );
    assert!(!out.join("nightly/as_of=2026-11-01").exists());
}

/// campaign_opportunity by hand, as of 2026-02-01: 茶 has two new products (launched 12
/// and 7 days ago, 白茶 the newer), 零食 one, 乳品 none.
/// - member 1 spent 60.00 of 100.00 on 茶: share 0.6 ≥ 0.3 → offered 茶, score 0.6,
///   products newest first;
/// - member 2 spent 20.00 of 80.00 on 茶: share 0.25 < 0.3 → not eligible;
/// - member 3 bought only 乳品, but the category rules recommend 零食 at 0.45 → offered
///   零食 with the rule's reason;
/// - member 4's 茶 share is 0.5 and the rules also recommend 零食 at 0.45 → the stronger
///   signal (茶) wins.
#[test]
fn opportunity_offers_new_products_in_the_members_strongest_category() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let members: Vec<Member> = (1..=4).map(member).collect();
    let orders = [
        paid(1, "2026-01-26 10:00:00", 100.0),
        paid(2, "2026-01-27 10:00:00", 80.0),
        paid(3, "2026-01-28 10:00:00", 50.0),
        paid(4, "2026-01-29 10:00:00", 40.0),
    ];
    write_export(d, &members, &orders);
    // order, product, line amount: the orders' items by category.
    let items = [
        ("o0", "tea_old", 60.0),
        ("o0", "milk", 40.0),
        ("o1", "tea_old", 20.0),
        ("o1", "milk", 60.0),
        ("o2", "milk", 50.0),
        ("o3", "tea_old", 20.0),
        ("o3", "milk", 20.0),
    ];
    let products = [
        ("milk", "纯牛奶", "乳品", Some("2025-01-01 00:00:00")),
        ("tea_old", "红茶", "茶", Some("2025-01-01 00:00:00")),
        ("tea_new1", "龙井新茶", "茶", Some("2026-01-20 00:00:00")),
        ("tea_new2", "白茶", "茶", Some("2026-01-25 00:00:00")),
        ("nuts", "每日坚果", "零食", Some("2026-01-28 00:00:00")),
    ];
    write_items_and_products(d, &items, &products);
    // The campaign file and paid_orders alone, with a stand-in for the category recommendations the
    // rules and recommend steps would write, and a published copy of its result.
    let sql = d.join("sql");
    std::fs::create_dir_all(&sql).unwrap();
    for file in [
        "outreach/campaign_opportunity.sql",
        "tags/member_category_spend.sql",
        "features/paid_orders.sql",
    ] {
        let name = Path::new(file).file_name().unwrap();
        std::fs::copy(repo().join("sql").join(file), sql.join(name)).unwrap();
    }
    std::fs::write(
        sql.join("category_recommendations.sql"),
        "SELECT * FROM (VALUES ('3', '零食', 0.45, 'bought 乳品 → 零食'), \
         ('4', '零食', 0.45, 'bought 乳品 → 零食')) AS r(member_id, category, score, reason)",
    )
    .unwrap();
    std::fs::write(
        sql.join("opportunity.sql"),
        "SELECT member_id, score, reasons, recommended_products, $as_of AS as_of \
         FROM campaign_opportunity",
    )
    .unwrap();
    let job = d.join("job.toml");
    std::fs::write(
        &job,
        format!(
            r#"[job]
name = "opp"
timezone = "Asia/Shanghai"

[inputs]
members = "members.parquet"
orders = "orders.parquet"
order_items = "order_items.parquet"
products = "products.parquet"

[params]
preference_window_days = {{ type = "int", default = 365 }}
opportunity_new_days = {{ type = "int", default = 30 }}
opportunity_min_affinity = {{ type = "float", default = 0.3 }}
opportunity_products = {{ type = "int", default = 3 }}

[sql]
dirs = [{:?}]

[publish]
tables = ["opportunity"]
"#,
            sql.display().to_string()
        ),
    )
    .unwrap();
    let o = siyu(
        &[
            "run",
            job.to_str().unwrap(),
            "--as-of",
            "2026-02-01",
            "--out",
            "out",
        ],
        d,
    );
    assert!(o.status.success(), "{}", text(&o));
    let got: Vec<(String, String, String, String)> =
        rows(&d.join("out/opp/as_of=2026-02-01/opportunity.parquet"))
            .into_iter()
            .map(|r| {
                (
                    r["member_id"].clone(),
                    r["score"].clone(),
                    r["reasons"].clone(),
                    r["recommended_products"].clone(),
                )
            })
            .collect();
    let row = |m: &str, score: &str, reasons: &str, products: &str| {
        (
            m.to_string(),
            score.to_string(),
            reasons.to_string(),
            products.to_string(),
        )
    };
    assert_eq!(
        got,
        [
            row(
                "1",
                "0.6",
                "[buys 茶 (60% of spend), new in 茶: 白茶, 龙井新茶]",
                "[tea_new2, tea_new1]"
            ),
            row(
                "3",
                "0.45",
                "[bought 乳品 → 零食, new in 零食: 每日坚果]",
                "[nuts]"
            ),
            row(
                "4",
                "0.5",
                "[buys 茶 (50% of spend), new in 茶: 白茶, 龙井新茶]",
                "[tea_new2, tea_new1]"
            ),
        ]
    );
}

/// campaign_cross_sell by hand, from a stand-in for the recommend step's table: the lists
/// are in rank order however the rows arrive (ranks 2 and 10 in number order, not text
/// order), ranks above `cross_sell_products` are left out, the score is the best
/// recommendation's, and the two control characters the file sorts with are spaces in a
/// value rather than cutting it in two.
#[test]
fn cross_sell_lists_follow_the_recommendation_ranks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let members: Vec<Member> = (1..=3).map(member).collect();
    write_export(d, &members, &[paid(1, "2026-01-26 10:00:00", 100.0)]);
    write_items_and_products(
        d,
        &[("o0", "milk", 100.0)],
        &[("milk", "纯牛奶", "乳品", None)],
    );
    let sql = d.join("sql");
    std::fs::create_dir_all(&sql).unwrap();
    std::fs::copy(
        repo().join("sql/outreach/campaign_cross_sell.sql"),
        sql.join("campaign_cross_sell.sql"),
    )
    .unwrap();
    std::fs::write(
        sql.join("recommendations.sql"),
        "SELECT * FROM (VALUES \
         ('1', 3, 'p3', 0.5, 'r3'), ('1', 11, 'p11', 0.1, 'r11'), ('1', 1, 'p1', 0.9, 'r1'), \
         ('1', 2, 'p2', 0.7, 'r2'), \
         ('2', 10, 'q10', 0.2, '10 items'), ('2', 2, 'q2', 0.6, '2 items'), \
         ('3', 1, 'x1', 0.3, 'a' || chr(30) || 'b' || chr(31) || 'c')) \
         AS r(member_id, rank, product_id, score, reason)",
    )
    .unwrap();
    std::fs::write(
        sql.join("cross_sell.sql"),
        "SELECT member_id, score, reasons, recommended_products, $as_of AS as_of \
         FROM campaign_cross_sell",
    )
    .unwrap();
    let job = d.join("job.toml");
    std::fs::write(
        &job,
        format!(
            r#"[job]
name = "xs"
timezone = "Asia/Shanghai"

[inputs]
members = "members.parquet"
orders = "orders.parquet"
order_items = "order_items.parquet"
products = "products.parquet"

[params]
cross_sell_products = {{ type = "int", default = 10 }}

[sql]
dirs = [{:?}]

[publish]
tables = ["cross_sell"]
"#,
            sql.display().to_string()
        ),
    )
    .unwrap();
    let o = siyu(
        &[
            "run",
            job.to_str().unwrap(),
            "--as-of",
            "2026-02-01",
            "--out",
            "out",
        ],
        d,
    );
    assert!(o.status.success(), "{}", text(&o));
    let got: Vec<[String; 4]> = rows(&d.join("out/xs/as_of=2026-02-01/cross_sell.parquet"))
        .into_iter()
        .map(|r| {
            [
                r["member_id"].clone(),
                r["score"].clone(),
                r["reasons"].clone(),
                r["recommended_products"].clone(),
            ]
        })
        .collect();
    let row = |m: &str, s: &str, r: &str, p: &str| [m, s, r, p].map(str::to_string);
    assert_eq!(
        got,
        [
            row("1", "0.9", "[r1, r2, r3]", "[p1, p2, p3]"),
            row("2", "0.6", "[2 items, 10 items]", "[q2, q10]"),
            row("3", "0.3", "[a b c]", "[x1]"),
        ]
    );
}
