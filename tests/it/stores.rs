//! Stores and shopping guides (issue 16): the service store, the `wecom` channel (a guide's
//! 1:1 message, only with a guide and WeCom consent), the guides' nightly capacity with
//! fallback to the campaign's next channel, and the store and guide on outreach rows.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};

use crate::common::*;

const AS_OF: &str = "2026-06-10";

/// (id, home store, guide, consent_wecom); every member consents to WeChat and joined on
/// 2024-01-01, except member 58, who joined on 2026-03-15.
type Who = (
    i64,
    Option<&'static str>,
    Option<&'static str>,
    Option<bool>,
);

fn write_members(dir: &Path, members: &[Who]) {
    let n = members.len();
    let text = |f: &dyn Fn(&Who) -> Option<&'static str>| -> ArrayRef {
        Arc::new(StringArray::from(members.iter().map(f).collect::<Vec<_>>()))
    };
    write_batch(
        &dir.join("members.parquet"),
        &batch(vec![
            (
                "member_id",
                Arc::new(Int64Array::from(
                    members.iter().map(|m| m.0).collect::<Vec<_>>(),
                )) as ArrayRef,
            ),
            (
                "joined_at",
                Arc::new(TimestampMicrosecondArray::from(
                    members
                        .iter()
                        .map(|m| {
                            ts(if m.0 == 58 {
                                "2026-03-15 12:00:00"
                            } else {
                                "2024-01-01 00:00:00"
                            })
                        })
                        .collect::<Vec<_>>(),
                )),
            ),
            ("home_store_id", text(&|m| m.1)),
            ("guide_id", text(&|m| m.2)),
            (
                "consent_wecom",
                Arc::new(BooleanArray::from(
                    members.iter().map(|m| m.3).collect::<Vec<_>>(),
                )),
            ),
            (
                "consent_wechat",
                Arc::new(BooleanArray::from(vec![Some(true); n])),
            ),
        ]),
    );
}

/// Paid orders (member, local time, amount, store), one item of p1 each.
fn write_orders(dir: &Path, orders: &[(i64, &str, f64, Option<&str>)]) {
    let ids: Vec<String> = (0..orders.len()).map(|i| format!("o{i}")).collect();
    let n = orders.len();
    let money = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
    write_batch(
        &dir.join("orders.parquet"),
        &batch(vec![
            (
                "order_id",
                Arc::new(StringArray::from(ids.clone())) as ArrayRef,
            ),
            (
                "member_id",
                Arc::new(Int64Array::from(
                    orders.iter().map(|o| o.0).collect::<Vec<_>>(),
                )),
            ),
            (
                "ordered_at",
                Arc::new(TimestampMicrosecondArray::from(
                    orders.iter().map(|o| ts(o.1)).collect::<Vec<_>>(),
                )),
            ),
            ("channel", Arc::new(StringArray::from(vec!["store"; n]))),
            (
                "store_id",
                Arc::new(StringArray::from(
                    orders.iter().map(|o| o.3).collect::<Vec<_>>(),
                )),
            ),
            ("gross_amount", money(orders.iter().map(|o| o.2).collect())),
            ("discount_amount", money(vec![0.0; n])),
            ("paid_amount", money(orders.iter().map(|o| o.2).collect())),
            ("status", Arc::new(StringArray::from(vec!["paid"; n]))),
        ]),
    );
    write_batch(
        &dir.join("order_items.parquet"),
        &batch(vec![
            ("order_id", Arc::new(StringArray::from(ids)) as ArrayRef),
            ("product_id", Arc::new(StringArray::from(vec!["p1"; n]))),
            ("quantity", Arc::new(Int64Array::from(vec![1; n]))),
            ("unit_price", money(orders.iter().map(|o| o.2).collect())),
            ("line_amount", money(orders.iter().map(|o| o.2).collect())),
        ]),
    );
    write_batch(
        &dir.join("products.parquet"),
        &batch(vec![
            (
                "product_id",
                Arc::new(StringArray::from(vec!["p1"])) as ArrayRef,
            ),
            ("name", Arc::new(StringArray::from(vec!["伊利 纯牛奶"]))),
            ("category", Arc::new(StringArray::from(vec!["乳品"]))),
            ("list_price", money(vec![10.0])),
        ]),
    );
}

/// As of 2026-06-10, with the shipped job (second_order: channels wecom, wechat, …;
/// guide_daily_capacity = 50):
/// - members 1–52 share guide G1, consent to WeCom, home store S1, and each bought once
///   on 2026-05-20 (21 days ago, in the second-order window) for ¥(100 + i): second_order
///   scores rise with i, so G1's 50 messages go to members 3–52 and members 1 and 2
///   fall back to WeChat — nobody is removed;
/// - 53 has guide G2 but no WeCom consent, 54 consents to WeCom without a guide: WeChat;
/// - service store: 1–52 their home store S1; 55 (no home store) bought twice in S2 and
///   once later in S3 → S2 (most orders); 56 once in S2, then once in S3 → S3 (a tie:
///   the latest); 57 only online (no store) → none; 58 (home store S2) joined on
///   2026-03-15 and never bought. 53 and 54 have no home store but bought in S1: S1.
///
/// The stores' morning tables, by hand:
/// - store_outreach, second_order: S1 lists members 1–54 (50 on WeCom by G1 — G2's member
///   53 has no WeCom consent, so one guide — and 4 on WeChat); holdouts as the list says.
///   S1 serves 54 members, S2 two (55, 58), S3 one (56);
/// - store_kpis (the 24 complete months to May 2026): S1 in May 2026 — 54 members served,
///   54 buyers, 54 orders, revenue Σ(100 + i, i = 1..54) = ¥6,885, ticket ¥127.50; April
///   had nothing, so the whole ¥6,885 is a heads effect. S2 in February 2026 — member 55
///   alone: one order of ¥20 after January's two of ¥20 (¥40): −¥20, all of it frequency
///   (heads 1 → 1, ticket 20 → 20): L·ln(1/2) with L = −20 / ln(20/40) = 28.854 → −¥20.00.
///   S2 in March 2026: member 58 joins — 2 served, 1 new, no buyer, buyer share 0; April:
///   2 served, 0 new. S3 in March: nothing bought, ¥20 less than February, all heads.
#[test]
fn guides_send_up_to_their_capacity_and_rows_carry_store_and_guide() {
    let dir = tempfile::tempdir().unwrap();
    let mut members: Vec<Who> = (1..=52)
        .map(|i| (i, Some("S1"), Some("G1"), Some(true)))
        .collect();
    members.extend([
        (53, None, Some("G2"), Some(false)),
        (54, None, None, Some(true)),
        (55, None, None, None),
        (56, None, None, None),
        (57, None, None, None),
        (58, Some("S2"), None, None),
    ]);
    write_members(dir.path(), &members);
    let amounts: Vec<f64> = (1..=54).map(|i| 100.0 + i as f64).collect();
    let mut orders: Vec<(i64, &str, f64, Option<&str>)> = (1..=54)
        .map(|i| {
            (
                i,
                "2026-05-20 10:00:00",
                amounts[i as usize - 1],
                Some("S1"),
            )
        })
        .collect();
    orders.extend([
        (55, "2026-01-01 10:00:00", 20.0, Some("S2")),
        (55, "2026-01-02 10:00:00", 20.0, Some("S2")),
        (55, "2026-02-01 10:00:00", 20.0, Some("S3")),
        (56, "2026-01-01 10:00:00", 20.0, Some("S2")),
        (56, "2026-02-01 10:00:00", 20.0, Some("S3")),
        (57, "2026-02-01 10:00:00", 20.0, None),
    ]);
    write_orders(dir.path(), &orders);
    let tags = run_nightly_table(dir.path(), AS_OF, "member_tags", &[]);
    let store = |i: i64| tags[&i.to_string()]["service_store_id"].clone();
    assert_eq!(
        [store(1), store(55), store(56), store(57)],
        ["S1", "S2", "S3", "null"]
    );
    assert_eq!(tags["1"]["guide_id"], "G1");
    assert_eq!(tags["54"]["guide_id"], "null");

    let out = text_rows(
        &dir.path()
            .join(format!("out/nightly/as_of={AS_OF}/outreach.parquet")),
    );
    let second: BTreeMap<i64, &BTreeMap<String, String>> = out
        .iter()
        .filter(|r| r["campaign"] == "second_order")
        .map(|r| (r["member_id"].parse().unwrap(), r))
        .collect();
    assert_eq!(second.len(), 54, "{out:#?}");
    let on = |ch: &str| -> Vec<i64> {
        second
            .iter()
            .filter(|(_, r)| r["channel"] == ch)
            .map(|(id, _)| *id)
            .collect()
    };
    assert_eq!(on("wecom"), (3..=52).collect::<Vec<_>>());
    assert_eq!(on("wechat"), [1, 2, 53, 54]);
    assert_eq!(second[&1]["store_id"], "S1");
    assert_eq!(second[&1]["guide_id"], "G1");
    assert_eq!(second[&54]["guide_id"], "null");
    let summary = text_rows(&dir.path().join(format!(
        "out/nightly/as_of={AS_OF}/outreach_summary.parquet"
    )));
    let s = summary
        .iter()
        .find(|r| r["campaign"] == "second_order")
        .unwrap();
    assert_eq!(s["removed_guide_capacity"], "0");
    assert_eq!(s["selected"], "54");

    let published = dir.path().join(format!("out/nightly/as_of={AS_OF}"));
    let store_outreach = text_rows(&published.join("store_outreach.parquet"));
    let s1 = store_outreach
        .iter()
        .find(|r| r["store_id"] == "S1" && r["campaign"] == "second_order")
        .unwrap();
    let held = |ch: &str| {
        second
            .values()
            .filter(|r| r["holdout"] == "true" && (ch.is_empty() || r["channel"] == ch))
            .count()
    };
    assert!(held("") > 0, "the fixture should hold some members out");
    assert_eq!(s1["listed"], "54");
    assert_eq!(s1["holdout"], held("").to_string());
    assert_eq!(s1["contacted"], (54 - held("")).to_string());
    assert_eq!(s1["wecom_sent"], (50 - held("wecom")).to_string());
    assert_eq!(s1["wechat_sent"], (4 - held("wechat")).to_string());
    assert_eq!((s1["sms_sent"].as_str(), s1["guides"].as_str()), ("0", "1"));
    assert_eq!(s1["members_served"], "54");
    let served: BTreeMap<&str, &str> = store_outreach
        .iter()
        .map(|r| (r["store_id"].as_str(), r["members_served"].as_str()))
        .collect();
    assert_eq!(served.get("S1"), Some(&"54"));
    // S2's two members are both on a list tonight: 58 (joined 87 days ago, never bought)
    // for a first order, 55 (three orders by 2026-02-01, then 129 days of nothing) for
    // win-back.
    let s2: Vec<_> = store_outreach
        .iter()
        .filter(|r| r["store_id"] == "S2")
        .map(|r| {
            (
                r["campaign"].as_str(),
                r["listed"].as_str(),
                r["members_served"].as_str(),
            )
        })
        .collect();
    assert_eq!(s2, [("first_order", "1", "2"), ("winback", "1", "2")]);

    let kpis: BTreeMap<(String, String), BTreeMap<String, String>> =
        text_rows(&published.join("store_kpis.parquet"))
            .into_iter()
            .map(|r| ((r["store_id"].clone(), r["period"].clone()), r))
            .collect();
    // Every store with a member, in every one of the 24 months.
    assert_eq!(kpis.len(), 3 * 24);
    let k = |store: &str, month: &str, cols: &[&str]| -> Vec<String> {
        let row = &kpis[&(store.to_string(), month.to_string())];
        cols.iter().map(|c| row[*c].clone()).collect()
    };
    assert_eq!(
        k(
            "S1",
            "2026-05-01",
            &[
                "members_served",
                "new_members",
                "active_buyers",
                "buyer_share",
                "orders",
                "revenue",
                "frequency",
                "ticket"
            ]
        ),
        ["54", "0", "54", "1.0", "54", "6885.0", "1.0", "127.5"]
    );
    assert_eq!(
        k(
            "S1",
            "2026-05-01",
            &[
                "revenue_base",
                "revenue_delta",
                "heads_effect",
                "frequency_effect",
                "ticket_effect"
            ]
        ),
        ["0.0", "6885.0", "6885.0", "0.0", "0.0"]
    );
    assert_eq!(
        k(
            "S2",
            "2026-02-01",
            &[
                "active_buyers",
                "orders",
                "revenue",
                "revenue_base",
                "revenue_delta",
                "heads_effect",
                "frequency_effect",
                "ticket_effect"
            ]
        ),
        ["1", "1", "20.0", "40.0", "-20.0", "0.0", "-20.0", "0.0"]
    );
    assert_eq!(
        k(
            "S2",
            "2026-03-01",
            &[
                "members_served",
                "new_members",
                "active_buyers",
                "buyer_share",
                "frequency"
            ]
        ),
        ["2", "1", "0", "0.0", "null"]
    );
    assert_eq!(
        k("S2", "2026-04-01", &["members_served", "new_members"]),
        ["2", "0"]
    );
    assert_eq!(
        k(
            "S3",
            "2026-03-01",
            &["revenue", "revenue_delta", "heads_effect"]
        ),
        ["0.0", "-20.0", "-20.0"]
    );

    // A capacity of 100 lets everyone with a guide and consent get WeCom.
    let job = std::fs::read_to_string(repo().join("jobs/nightly.toml"))
        .unwrap()
        .replace("guide_daily_capacity = 50", "guide_daily_capacity = 100")
        .replace("\"../", &format!("\"{}/", repo().display()));
    let job_path = dir.path().join("roomy.toml");
    std::fs::write(&job_path, job).unwrap();
    let roomy_out = dir.path().join("roomy");
    let o = siyu(
        &[
            "run",
            job_path.to_str().unwrap(),
            "--as-of",
            AS_OF,
            "--input-dir",
            dir.path().to_str().unwrap(),
            "--out",
            roomy_out.to_str().unwrap(),
            "--param",
            "stale_export_fail_days=100000",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let roomy = text_rows(&roomy_out.join(format!("nightly/as_of={AS_OF}/outreach.parquet")));
    let wecom = roomy
        .iter()
        .filter(|r| r["campaign"] == "second_order" && r["channel"] == "wecom")
        .count();
    assert_eq!(wecom, 52);
}
