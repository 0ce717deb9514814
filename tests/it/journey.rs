//! The member journey 进 → 活 → 粘 → 值 → 荐 as the books define it (issue 15): the
//! demographic, silent-buyer and replenishment tags, the campaigns that move members up
//! (first_order, second_order, points_activation, festival), win-back's early treatment,
//! each pinned on a hand-made export with exact expected rows; and five nights on
//! testdata in which first_order members become second_order members.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int32Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};

use crate::common::*;

/// The run date of the hand-made exports: inside 618's warm-up (2026-06-04 … 06-17).
const AS_OF: &str = "2026-06-10";

fn day(s: &str) -> i32 {
    (chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
        - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
    .num_days() as i32
}

/// A member with every column of the contract's members table; consents to WeChat only.
#[derive(Clone)]
struct Person {
    id: i64,
    joined: &'static str,
    birthday: Option<&'static str>,
    gender: Option<&'static str>,
    city: Option<&'static str>,
    city_tier: Option<i32>,
    channel: Option<&'static str>,
    home_store: Option<&'static str>,
}

fn person(id: i64) -> Person {
    Person {
        id,
        joined: "2024-01-01 00:00:00",
        birthday: None,
        gender: None,
        city: None,
        city_tier: None,
        channel: None,
        home_store: None,
    }
}

fn joined(id: i64, at: &'static str, channel: &'static str) -> Person {
    Person {
        joined: at,
        channel: Some(channel),
        ..person(id)
    }
}

fn write_people(dir: &Path, people: &[Person]) {
    let text = |f: &dyn Fn(&Person) -> Option<&'static str>| -> ArrayRef {
        Arc::new(StringArray::from(people.iter().map(f).collect::<Vec<_>>()))
    };
    let n = people.len();
    let b = batch(vec![
        (
            "member_id",
            Arc::new(Int64Array::from(
                people.iter().map(|p| p.id).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "joined_at",
            Arc::new(TimestampMicrosecondArray::from(
                people.iter().map(|p| ts(p.joined)).collect::<Vec<_>>(),
            )),
        ),
        (
            "birthday",
            Arc::new(Date32Array::from(
                people
                    .iter()
                    .map(|p| p.birthday.map(day))
                    .collect::<Vec<_>>(),
            )),
        ),
        ("gender", text(&|p| p.gender)),
        ("city", text(&|p| p.city)),
        (
            "city_tier",
            Arc::new(Int32Array::from(
                people.iter().map(|p| p.city_tier).collect::<Vec<_>>(),
            )),
        ),
        ("acquisition_channel", text(&|p| p.channel)),
        ("home_store_id", text(&|p| p.home_store)),
        ("consent_sms", Arc::new(BooleanArray::from(vec![None; n]))),
        (
            "consent_wechat",
            Arc::new(BooleanArray::from(vec![Some(true); n])),
        ),
        ("consent_email", Arc::new(BooleanArray::from(vec![None; n]))),
        (
            "consent_app_push",
            Arc::new(BooleanArray::from(vec![None; n])),
        ),
    ]);
    write_batch(&dir.join("members.parquet"), &b);
}

/// Run the shipped job on `dir` and return `table` keyed by member_id, with `params`.
fn tags(dir: &Path, params: &[&str]) -> BTreeMap<String, BTreeMap<String, String>> {
    run_nightly_table(dir, AS_OF, "member_tags", params)
}

/// The published outreach rows of the last run in `dir`: member_id → (campaign, row).
fn outreach(dir: &Path) -> BTreeMap<String, (String, BTreeMap<String, String>)> {
    text_rows(&dir.join(format!("out/nightly/as_of={AS_OF}/outreach.parquet")))
        .into_iter()
        .map(|r| (r["member_id"].clone(), (r["campaign"].clone(), r)))
        .collect()
}

fn score(row: &BTreeMap<String, String>) -> f64 {
    row["score"].parse().unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// Demographics (人口属性) and 静默下单, as of 2026-06-10:
/// - 1: born 1990-06-11 (turns 36 tomorrow) → 35, `35_39`; F; 上海 tier 1 → 一线; store S1;
///   in group G1 (joined), bought 2026-05-01, never spoke → silent_buyer;
/// - 2: born 1990-06-10 (today) → 36; gender "" → unknown; tier 6 → 五线及以下; in G1,
///   bought, posted a message → not silent;
/// - 3: born 2000-02-29 → 26, `25_29`; bought but in no group → not silent (not in the
///   community at all);
/// - 4: born 2010-01-01 → 16, `under_18`; in G1, never bought → not silent;
/// - 5: no birthday → age null, `unknown`; no city tier → label null.
#[test]
fn demographics_and_silent_buyers() {
    let dir = tempfile::tempdir().unwrap();
    write_export(
        dir.path(),
        &[member(1)],
        &[
            paid(1, "2026-05-01 10:00:00", 10.0),
            paid(2, "2026-05-01 10:00:00", 10.0),
            paid(3, "2026-05-01 10:00:00", 10.0),
        ],
    );
    write_people(
        dir.path(),
        &[
            Person {
                birthday: Some("1990-06-11"),
                gender: Some("F"),
                city: Some("上海"),
                city_tier: Some(1),
                home_store: Some("S1"),
                ..person(1)
            },
            Person {
                birthday: Some("1990-06-10"),
                gender: Some(""),
                city_tier: Some(6),
                ..person(2)
            },
            Person {
                birthday: Some("2000-02-29"),
                gender: Some("M"),
                city_tier: Some(3),
                ..person(3)
            },
            Person {
                birthday: Some("2010-01-01"),
                ..person(4)
            },
            person(5),
        ],
    );
    write_events(
        dir.path(),
        &[
            (1, "G1", "join", "2026-01-01 10:00:00", None),
            (2, "G1", "join", "2026-01-01 10:00:00", None),
            (2, "G1", "message", "2026-01-05 10:00:00", None),
            (4, "G1", "join", "2026-01-01 10:00:00", None),
        ],
    );
    let t = tags(dir.path(), &[]);
    let col = |c: &str| -> Vec<String> { (1..=5).map(|i| t[&i.to_string()][c].clone()).collect() };
    assert_eq!(col("age"), ["35", "36", "26", "16", "null"]);
    assert_eq!(
        col("age_band"),
        ["35_39", "35_39", "25_29", "under_18", "unknown"]
    );
    assert_eq!(col("gender"), ["F", "unknown", "M", "unknown", "unknown"]);
    assert_eq!(col("city"), ["上海", "null", "null", "null", "null"]);
    assert_eq!(
        col("city_tier_label"),
        ["一线", "五线及以下", "三线", "null", "null"]
    );
    assert_eq!(col("home_store_id"), ["S1", "null", "null", "null", "null"]);
    assert_eq!(
        col("silent_buyer"),
        ["true", "false", "false", "false", "false"]
    );
    // The long form carries them too, with their tag names.
    let long = text_rows(
        &dir.path()
            .join(format!("out/nightly/as_of={AS_OF}/member_tag_long.parquet")),
    );
    let tag = |m: &str, name: &str| {
        long.iter()
            .find(|r| r["member_id"] == m && r["tag"] == name)
            .map(|r| r["value"].clone())
    };
    assert_eq!(tag("1", "age_band").as_deref(), Some("35_39"));
    assert_eq!(tag("1", "silent_buyer").as_deref(), Some("true"));
    assert_eq!(tag("5", "city_tier_label"), None, "a null tag has no row");
}

/// Replenishment (补货) from the member's own interval per consumable, as of 2026-06-10:
/// member 1 bought consumable c1 on 05-01 and 05-21 (every 20 days → due 06-10) and
/// consumable c2 on 04-01, 05-01, 05-31 (every 30 → due 06-30); durable d1 twice (not a
/// consumable: no date). Earliest: c1 on 2026-06-10. Member 2 bought c1 once: no interval.
#[test]
fn next_replenishment_is_due_after_the_members_own_interval() {
    let dir = tempfile::tempdir().unwrap();
    let orders = vec![
        paid(1, "2026-05-01 10:00:00", 10.0), // o0: c1
        paid(1, "2026-05-21 10:00:00", 10.0), // o1: c1
        paid(1, "2026-04-01 10:00:00", 10.0), // o2: c2 + d1
        paid(1, "2026-05-01 12:00:00", 10.0), // o3: c2 (same day as o0: one day of c2)
        paid(1, "2026-05-31 10:00:00", 10.0), // o4: c2 + d1
        paid(2, "2026-05-01 10:00:00", 10.0), // o5: c1
    ];
    write_export(dir.path(), &[member(1), member(2)], &orders);
    let text = |v: Vec<&str>| Arc::new(StringArray::from(v)) as ArrayRef;
    let items = [
        ("o0", "c1"),
        ("o1", "c1"),
        ("o2", "c2"),
        ("o2", "d1"),
        ("o3", "c2"),
        ("o4", "c2"),
        ("o4", "d1"),
        ("o5", "c1"),
    ];
    write_batch(
        &dir.path().join("order_items.parquet"),
        &batch(vec![
            ("order_id", text(items.iter().map(|i| i.0).collect())),
            ("product_id", text(items.iter().map(|i| i.1).collect())),
            ("quantity", Arc::new(Int64Array::from(vec![1; items.len()]))),
            (
                "unit_price",
                Arc::new(datafusion::arrow::array::Float64Array::from(vec![
                    5.0;
                    items
                        .len()
                ])),
            ),
            (
                "line_amount",
                Arc::new(datafusion::arrow::array::Float64Array::from(vec![
                    5.0;
                    items
                        .len()
                ])),
            ),
        ]),
    );
    write_batch(
        &dir.path().join("products.parquet"),
        &batch(vec![
            ("product_id", text(vec!["c1", "c2", "d1"])),
            ("name", text(vec!["纸巾", "洗衣液", "电饭煲"])),
            ("category", text(vec!["日用百货", "家清", "家电"])),
            (
                "list_price",
                Arc::new(datafusion::arrow::array::Float64Array::from(vec![
                    5.0, 5.0, 5.0,
                ])),
            ),
            (
                "is_consumable",
                Arc::new(BooleanArray::from(vec![true, true, false])),
            ),
        ]),
    );
    let t = tags(dir.path(), &[]);
    assert_eq!(t["1"]["next_replenishment_at"], "2026-06-10");
    assert_eq!(t["1"]["next_replenishment_product"], "c1");
    assert_eq!(t["2"]["next_replenishment_at"], "null");
    // The per-product rows are published as member_replenishment.
    let rows = text_rows(&dir.path().join(format!(
        "out/nightly/as_of={AS_OF}/member_replenishment.parquet"
    )));
    let row = |p: &str| {
        let r = rows.iter().find(|r| r["product_id"] == p).unwrap();
        (
            r["member_id"].as_str(),
            r["purchases"].as_str(),
            r["interval_days"].as_str(),
            r["last_bought_on"].as_str(),
            r["next_replenishment_at"].as_str(),
        )
    };
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(row("c1"), ("1", "2", "20.0", "2026-05-21", "2026-06-10"));
    assert_eq!(row("c2"), ("1", "3", "30.0", "2026-05-31", "2026-06-30"));
    // With a 45-day window c2's 04-01 purchase falls out: 05-01 and 05-31, still 30 days.
    let narrow = tags(dir.path(), &["replenishment_window_days=45"]);
    assert_eq!(
        narrow["1"]["next_replenishment_at"], "2026-06-10",
        "c1 is still the earliest"
    );
}

/// The campaigns that move members up, as of 2026-06-10 (members consent to WeChat).
///
/// first_order (进 → 活): joined 3–180 days ago, never bought. The channel rates come from
/// members who joined 181–360 days ago: 3 (ad, never bought) → ad (0 + 1) / (1 + 2) =
/// 1/3; 5 (referral, bought 9 days after joining) → referral (1 + 1) / (1 + 2) = 2/3.
/// - 1 joined 06-01 via referral: 2/3 × (1 − 9/181);
/// - 4 joined 05-01 via ad: 1/3 × (1 − 40/181);
/// - 2 joined 06-08 (2 days): too soon; 3 joined 2025-11-01 (221 days): too long ago.
///
/// second_order (活 → 粘): exactly one paid order 7–60 days ago.
/// - 6 one order 05-20 (21 days, ¥100 < ¥150): small offer, ln(101) × (1 − 21/61);
/// - 9 one order 05-11 (30 days, ¥200): large offer, ln(201) × (1 − 30/61);
/// - 7 (5 days ago) and 8 (70 days ago) are outside the window; 10 has two orders.
///
/// points_activation: balance 1,200–1,499, and redeemers without an order since.
/// - 11 holds 1,300 → close, 1 + 1300/1500, "200 short";
/// - 12 holds 1,600 (can redeem) and 13 1,199 (not close): out;
/// - 14 redeemed on 06-01 (9 days ago), no order since → follow-up, 1 − 9/15;
/// - 15 redeemed on 06-01 and bought on 06-05 (too recent for second_order); 16 redeemed on 05-01 (40 > 14 days): out.
#[test]
fn first_order_second_order_and_points_activation_pick_exactly_these_members() {
    let dir = tempfile::tempdir().unwrap();
    let orders = vec![
        paid(5, "2025-10-10 10:00:00", 80.0),
        paid(6, "2026-05-20 10:00:00", 100.0),
        paid(7, "2026-06-05 10:00:00", 300.0),
        paid(8, "2026-04-01 10:00:00", 300.0),
        paid(9, "2026-05-11 10:00:00", 200.0),
        paid(10, "2025-06-10 10:00:00", 50.0),
        paid(10, "2026-06-01 10:00:00", 50.0),
        paid(15, "2026-06-05 10:00:00", 50.0),
    ];
    write_export(dir.path(), &[member(1)], &orders);
    let mut people = vec![
        joined(1, "2026-06-01 09:00:00", "referral"),
        joined(2, "2026-06-08 09:00:00", "referral"),
        joined(3, "2025-11-01 09:00:00", "ad"),
        joined(4, "2026-05-01 09:00:00", "ad"),
        joined(5, "2025-10-01 09:00:00", "referral"),
    ];
    people.extend((6..=16).map(person));
    write_people(dir.path(), &people);
    let later = Some("2027-06-01 00:00:00");
    write_points(
        dir.path(),
        &[
            (11, "2026-03-01 10:00:00", "earn", 1300, later),
            (12, "2026-03-01 10:00:00", "earn", 1600, later),
            (13, "2026-03-01 10:00:00", "earn", 1199, later),
            (14, "2026-03-01 10:00:00", "earn", 500, later),
            (14, "2026-06-01 10:00:00", "redeem", -300, None),
            (15, "2026-03-01 10:00:00", "earn", 500, later),
            (15, "2026-06-01 10:00:00", "redeem", -300, None),
            (16, "2026-03-01 10:00:00", "earn", 500, later),
            (16, "2026-05-01 10:00:00", "redeem", -300, None),
        ],
    );
    run_nightly_table(dir.path(), AS_OF, "member_tags", &[]);
    let o = outreach(dir.path());
    let in_campaign = |c: &str| -> Vec<i64> {
        o.iter()
            .filter(|(_, (campaign, _))| campaign == c)
            .map(|(id, _)| id.parse().unwrap())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    assert_eq!(in_campaign("first_order"), [1, 4], "{o:#?}");
    assert_eq!(in_campaign("second_order"), [6, 9], "{o:#?}");
    assert_eq!(in_campaign("points_activation"), [11, 14], "{o:#?}");

    let row = |m: &str| &o[m].1;
    assert!(close(score(row("1")), 2.0 / 3.0 * (1.0 - 9.0 / 181.0)));
    assert!(close(score(row("4")), 1.0 / 3.0 * (1.0 - 40.0 / 181.0)));
    assert_eq!(row("1")["rank"], "1");
    assert!(row("1")["reasons"].contains("joined 9 days ago via referral"));
    assert!(row("1")["reasons"].contains("first-order rate of referral members 67%"));
    assert_eq!(row("1")["offer"], "首单立减¥15 ¥15 off your first order");

    assert!(close(score(row("6")), 101f64.ln() * (1.0 - 21.0 / 61.0)));
    assert!(close(score(row("9")), 201f64.ln() * (1.0 - 30.0 / 61.0)));
    assert_eq!(row("6")["offer"], "满99减15 ¥15 off ¥99");
    assert_eq!(row("9")["offer"], "满199减30 ¥30 off ¥199");
    assert!(row("6")["reasons"].contains("one order, on 2026-05-20 (¥100)"));

    assert!(close(score(row("11")), 1.0 + 1300.0 / 1500.0));
    assert!(row("11")["reasons"].contains("200 short of the 1500-point threshold"));
    assert_eq!(
        row("11")["offer"],
        "积分+现金换购 points + cash to reach the threshold"
    );
    assert!(close(score(row("14")), 1.0 - 9.0 / 15.0));
    assert!(row("14")["reasons"].contains("redeemed points on 2026-06-01, no order since"));
}

/// The festival calendar is data (the job param). As of 2026-06-10, 618 (2026-06-18,
/// warm-up 14 days: from 06-04) is warming up; last year's 618 ran 2025-06-18 plus a
/// 2-day extension (to 06-20).
/// - 1 bought ¥500 on 2025-06-19 (in last year's 618) → ln(501);
/// - 2 bought on 2025-06-25 (after the extension) and only 乳品 → out;
/// - 3 buys 零食 (twice, so it is no second_order member), on promotion this 618 → 1.0;
/// - 4 both → ln(1 + 300) + 1.
///
/// On 2026-06-18 (the festival itself) nobody is listed: the warm-up is over.
#[test]
fn festival_warm_up_lists_last_years_buyers_and_promoted_categories() {
    let dir = tempfile::tempdir().unwrap();
    let orders = vec![
        paid(1, "2025-06-19 10:00:00", 500.0),
        paid(1, "2026-05-01 10:00:00", 500.0),
        paid(2, "2025-06-25 10:00:00", 500.0),
        paid(2, "2026-05-01 10:00:00", 500.0),
        paid(3, "2026-05-01 10:00:00", 100.0),
        paid(3, "2026-04-01 10:00:00", 100.0),
        paid(4, "2025-06-18 10:00:00", 300.0),
        paid(4, "2026-05-01 10:00:00", 300.0),
    ];
    write_export(dir.path(), &[member(1)], &orders);
    write_people(dir.path(), &(1..=4).map(person).collect::<Vec<_>>());
    write_items_and_products(
        dir.path(),
        &[
            ("o0", "p1", 500.0),
            ("o1", "p1", 500.0),
            ("o2", "p1", 500.0),
            ("o3", "p1", 500.0),
            ("o4", "s1", 100.0),
            ("o5", "s1", 100.0),
            ("o6", "p1", 300.0),
            ("o7", "s1", 300.0),
        ],
        &[
            ("p1", "伊利 纯牛奶", "乳品", None),
            ("s1", "三只松鼠 坚果", "零食", None),
        ],
    );
    let calendar = "festival_calendar=618, 2025-06-18, 2025-06-18, 14, 2, 零食, 618 满300减40\n\
                    # the retailer's own\n\
                    618, 2026-06-18, 2026-06-18, 14, 2, 零食/酒水饮料, 618 满300减40\n";
    run_nightly_table(dir.path(), AS_OF, "member_tags", &[calendar]);
    let o = outreach(dir.path());
    let festival: BTreeMap<&str, &BTreeMap<String, String>> = o
        .iter()
        .filter(|(_, (c, _))| c == "festival")
        .map(|(id, (_, r))| (id.as_str(), r))
        .collect();
    assert_eq!(
        festival.keys().copied().collect::<Vec<_>>(),
        ["1", "3", "4"],
        "{o:#?}"
    );
    assert!(close(score(festival["1"]), 501f64.ln()));
    assert!(close(score(festival["3"]), 1.0));
    assert!(close(score(festival["4"]), 301f64.ln() + 1.0));
    assert!(festival["1"]["reasons"].contains("bought ¥500 in 618 last year"));
    assert!(festival["3"]["reasons"].contains("buys 零食, on promotion in 618"));
    assert_eq!(festival["4"]["offer"], "618 满300减40");

    let on_the_day = tempfile::tempdir().unwrap();
    for f in ["members", "orders", "order_items", "products"] {
        std::fs::copy(
            dir.path().join(format!("{f}.parquet")),
            on_the_day.path().join(format!("{f}.parquet")),
        )
        .unwrap();
    }
    run_nightly_table(on_the_day.path(), "2026-06-18", "member_tags", &[calendar]);
    let listed = text_rows(
        &on_the_day
            .path()
            .join("out/nightly/as_of=2026-06-18/outreach.parquet"),
    );
    assert!(listed.iter().all(|r| r["campaign"] != "festival"));
}

/// 早期治疗: at equal value, light churn risk is treated before severe. Members 1 and 2
/// each have two ¥100 orders (value ln(1 + 200 / 2.4986 years)); 1 is light (every 60
/// days, 117 days since: 1.95×), 2 severe (every 100 days, two orders in the previous
/// window and none since). Weights 1.0 and 0.5.
#[test]
fn winback_treats_light_churn_before_severe_at_equal_value() {
    let dir = tempfile::tempdir().unwrap();
    let orders = vec![
        paid(1, "2026-01-05 10:00:00", 100.0),
        paid(1, "2026-03-06 10:00:00", 100.0),
        paid(2, "2025-08-15 10:00:00", 100.0),
        paid(2, "2025-11-23 10:00:00", 100.0),
    ];
    write_export(dir.path(), &[member(1)], &orders);
    write_people(dir.path(), &[person(1), person(2)]);
    let t = run_nightly_table(dir.path(), "2026-07-01", "member_tags", &[]);
    assert_eq!(t["1"]["churn_risk"], "light");
    assert_eq!(t["2"]["churn_risk"], "severe");
    let o: BTreeMap<String, BTreeMap<String, String>> = text_rows(
        &dir.path()
            .join("out/nightly/as_of=2026-07-01/outreach.parquet"),
    )
    .into_iter()
    .filter(|r| r["campaign"] == "winback")
    .map(|r| (r["member_id"].clone(), r))
    .collect();
    let value = (1.0f64 + 200.0 / (912.0 / 365.0)).ln();
    assert!(close(score(&o["1"]), value));
    assert!(close(score(&o["2"]), 0.5 * value));
    assert_eq!(
        (o["1"]["rank"].as_str(), o["2"]["rank"].as_str()),
        ("1", "2")
    );
}

/// Extra paid orders in the schema of testdata/orders, for simulated conversions.
fn write_orders_like_testdata(path: &Path, orders: &[(i64, i64, String, i64)]) {
    let money = |v: Vec<i128>| -> ArrayRef {
        Arc::new(
            Decimal128Array::from(v)
                .with_precision_and_scale(18, 2)
                .unwrap(),
        )
    };
    let n = orders.len();
    let cents: Vec<i128> = orders.iter().map(|o| o.3 as i128 * 100).collect();
    let b = batch(vec![
        (
            "order_id",
            Arc::new(Int64Array::from(
                orders.iter().map(|o| o.0).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "member_id",
            Arc::new(Int64Array::from(
                orders.iter().map(|o| Some(o.1)).collect::<Vec<_>>(),
            )),
        ),
        (
            "ordered_at",
            Arc::new(TimestampMicrosecondArray::from(
                orders.iter().map(|o| ts(&o.2)).collect::<Vec<_>>(),
            )),
        ),
        (
            "channel",
            Arc::new(StringArray::from(vec!["mini_program"; n])),
        ),
        (
            "store_id",
            Arc::new(StringArray::from(vec![None::<&str>; n])),
        ),
        ("gross_amount", money(cents.clone())),
        ("discount_amount", money(vec![0; n])),
        ("paid_amount", money(cents)),
        (
            "coupon_id",
            Arc::new(StringArray::from(vec![None::<&str>; n])),
        ),
        ("status", Arc::new(StringArray::from(vec!["paid"; n]))),
    ]);
    write_batch(path, &b);
}

/// A contact_history row: (member, campaign, channel, sent_at, holdout, converted_at).
type Sent = (String, String, String, String, bool, Option<String>);

fn write_history(path: &Path, rows: &[Sent]) {
    let text = |f: &dyn Fn(&Sent) -> String| {
        Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>())) as ArrayRef
    };
    let b = batch(vec![
        ("member_id", text(&|r| r.0.clone())),
        ("campaign", text(&|r| r.1.clone())),
        ("channel", text(&|r| r.2.clone())),
        (
            "sent_at",
            Arc::new(TimestampMicrosecondArray::from(
                rows.iter().map(|r| ts(&r.3)).collect::<Vec<_>>(),
            )),
        ),
        (
            "holdout",
            Arc::new(BooleanArray::from(
                rows.iter().map(|r| r.4).collect::<Vec<_>>(),
            )),
        ),
        (
            "converted_at",
            Arc::new(TimestampMicrosecondArray::from(
                rows.iter()
                    .map(|r| r.5.as_deref().map(ts))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "revenue",
            Arc::new(datafusion::arrow::array::Float64Array::from(
                rows.iter()
                    .map(|r| r.5.as_ref().map(|_| 88.0))
                    .collect::<Vec<_>>(),
            )),
        ),
    ]);
    write_batch(path, &b);
}

/// Five consecutive nights on testdata, each night's list fed back as contact_history.
/// Every contacted (not holdout) first_order member buys ¥88 that evening — the
/// conversion the coupon is for — and its contact records it. With the second-order
/// window opened to 1–60 days, those members come back on a later night as
/// second_order members (the quiet day after a contact keeps them off the very next
/// night), and never again as first_order: the journey moves 进 → 活 → (towards) 粘.
#[test]
fn five_nights_move_first_order_members_to_second_order() {
    let dir = tempfile::tempdir().unwrap();
    let orders = dir.path().join("orders");
    let history = dir.path().join("contact_history");
    std::fs::create_dir_all(&orders).unwrap();
    std::fs::create_dir_all(&history).unwrap();
    for f in std::fs::read_dir(repo().join("testdata/orders")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, orders.join(f.file_name().unwrap())).unwrap();
    }
    write_history(&history.join("start.parquet"), &[]);
    let job = repo().join("jobs/nightly.toml");
    let out = dir.path().join("out");
    let nights = [
        "2026-11-01",
        "2026-11-02",
        "2026-11-03",
        "2026-11-04",
        "2026-11-05",
    ];
    let mut first_order_on: BTreeMap<String, usize> = BTreeMap::new();
    let mut converted: BTreeSet<String> = BTreeSet::new();
    let mut moved: BTreeSet<String> = BTreeSet::new();
    for (n, night) in nights.iter().enumerate() {
        let o = siyu(
            &[
                "run",
                job.to_str().unwrap(),
                "--as-of",
                night,
                "--out",
                out.to_str().unwrap(),
                "--input",
                &format!("orders={}", orders.display()),
                "--input",
                &format!("contact_history={}", history.display()),
                "--param",
                "second_order_from_days=1",
            ],
            dir.path(),
        );
        assert!(o.status.success(), "{night}: {}", text(&o));
        let published = out.join(format!("nightly/as_of={night}"));
        let list = text_rows(&published.join("outreach.parquet"));
        let tags: BTreeMap<String, BTreeMap<String, String>> =
            text_rows(&published.join("member_tags.parquet"))
                .into_iter()
                .map(|r| (r["member_id"].clone(), r))
                .collect();
        let mut sent = Vec::new();
        let mut bought = Vec::new();
        for r in &list {
            let m = r["member_id"].clone();
            let hour = &r["send_window"][..2];
            let sent_at = format!("{night} {hour}:00:00");
            let mut conversion = None;
            match r["campaign"].as_str() {
                "first_order" => {
                    assert!(
                        !converted.contains(&m),
                        "{night}: member {m} bought and is still first_order"
                    );
                    assert_eq!(tags[&m]["orders_all_time"], "0");
                    first_order_on.entry(m.clone()).or_insert(n);
                    if r["holdout"] == "false" {
                        conversion = Some(format!("{night} 21:30:00"));
                        bought.push((
                            9_000_000_000 + (n as i64) * 100_000 + bought.len() as i64,
                            m.parse::<i64>().unwrap(),
                            format!("{night} 21:30:00"),
                            88,
                        ));
                        converted.insert(m.clone());
                    }
                }
                "second_order" if converted.contains(&m) => {
                    assert_eq!(tags[&m]["orders_all_time"], "1");
                    assert_ne!(tags[&m]["journey_stage"], "acquired", "{m} has bought");
                    assert!(first_order_on[&m] + 2 <= n, "{m}: quiet day respected");
                    moved.insert(m.clone());
                }
                _ => {}
            }
            sent.push((
                m,
                r["campaign"].clone(),
                r["channel"].clone(),
                sent_at,
                r["holdout"] == "true",
                conversion,
            ));
        }
        write_history(&history.join(format!("night_{n}.parquet")), &sent);
        write_orders_like_testdata(&orders.join(format!("night_{n}.parquet")), &bought);
    }
    assert!(
        !converted.is_empty(),
        "nobody was on a first_order list: the test shows nothing"
    );
    assert!(
        !moved.is_empty(),
        "none of the {} converted first_order members came back as second_order",
        converted.len()
    );
}
