//! Member tags against values computed by hand on small exports.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array, TimestampMicrosecondArray};

use crate::common::*;

const AS_OF: &str = "2026-07-01";

#[test]
fn orders_of_100_and_300_give_f_2_m_200_total_400() {
    let dir = tempfile::tempdir().unwrap();
    write_export(
        dir.path(),
        &[member(1), member(2)],
        &[
            paid(1, "2026-03-01 10:00:00", 100.0),
            paid(1, "2026-06-01 10:00:00", 300.0),
            paid(2, "2026-06-20 10:00:00", 50.0),
        ],
    );
    let t = run_nightly_table(dir.path(), AS_OF, "member_tags", &[]);
    let m = &t["1"];
    assert_eq!(m["frequency"], "2");
    assert_eq!(m["monetary_avg"], "200.0");
    assert_eq!(m["total_spend_365d"], "400.0");
    assert_eq!(m["recency_days"], "30");
    assert_eq!(m["orders_all_time"], "2");
    assert_eq!(m["aov"], "200.0");
    assert_eq!(m["tenure_days"], "912", "joined 2024-01-01");
    assert_eq!(m["refund_rate"], "0.0");
}

#[test]
fn a_member_whose_only_order_is_refunded_has_no_purchases() {
    let dir = tempfile::tempdir().unwrap();
    let mut refunded = paid(1, "2026-06-01 10:00:00", 100.0);
    refunded.status = "refunded";
    write_export(
        dir.path(),
        &[member(1), member(2)],
        &[refunded, paid(2, "2026-06-01 10:00:00", 10.0)],
    );
    let t = run_nightly_table(dir.path(), AS_OF, "member_tags", &[]);
    let m = &t["1"];
    assert_eq!(m["recency_days"], "null");
    assert_eq!(m["frequency"], "0");
    assert_eq!(m["total_spend_365d"], "0.0");
    assert_eq!(m["rfm_class"], "no_purchase");
    assert_eq!(m["rfm_r"], "null");
    assert_eq!(m["lifecycle_stage"], "prospect");
    assert_eq!(m["journey_stage"], "acquired");
    assert_eq!(m["churn_risk"], "none");
    assert_eq!(m["tier"], "regular");
    assert_eq!(m["pyramid_layer"], "non_buyer");
    assert_eq!(m["refund_rate"], "1.0");
    assert_eq!(m["aov"], "null");
}

#[test]
fn tier_cutoffs_split_100_members_5_15_80() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<Member> = (1..=100).map(member).collect();
    // Member i spends 10 × i: members 96–100 are the top 5, 81–95 the next 15.
    let orders: Vec<Order> = (1..=100)
        .map(|i| paid(i, "2026-05-01 10:00:00", 10.0 * i as f64))
        .collect();
    write_export(dir.path(), &members, &orders);
    let t = run_nightly_table(dir.path(), AS_OF, "member_tags", &[]);
    let count = |tier: &str| t.values().filter(|m| m["tier"] == tier).count();
    assert_eq!(
        (count("platinum"), count("gold"), count("regular")),
        (5, 15, 80)
    );
    for i in 1..=100 {
        let expected = match i {
            96..=100 => ("platinum", "白金卡"),
            81..=95 => ("gold", "金卡"),
            _ => ("regular", "普卡"),
        };
        let m = &t[&i.to_string()];
        assert_eq!(
            (m["tier"].as_str(), m["tier_label"].as_str()),
            expected,
            "member {i}"
        );
    }
    // Pyramid over the same 100 buyers: 2 / 3 / 5 / 5 / 5 / 80.
    let layer = |l: &str| t.values().filter(|m| m["pyramid_layer"] == l).count();
    assert_eq!(
        [
            layer("top_2"),
            layer("top_2_5"),
            layer("top_5_10"),
            layer("top_10_15"),
            layer("top_15_20"),
            layer("top_20_100")
        ],
        [2, 3, 5, 5, 5, 80]
    );
    assert_eq!(t["100"]["pyramid_layer"], "top_2");
    assert_eq!(t["97"]["pyramid_layer"], "top_2_5");
}

#[test]
fn pyramid_cut_points_are_params_shared_by_every_pyramid() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<Member> = (1..=100).map(member).collect();
    let orders: Vec<Order> = (1..=100)
        .map(|i| paid(i, "2026-05-01 10:00:00", 10.0 * i as f64))
        .collect();
    write_export(dir.path(), &members, &orders);
    // Cut-points 4 / 5 / 10 / 15 / 30 %: positions 4, 5, 10, 15, 30 of 100 buyers.
    let t = run_nightly_table(
        dir.path(),
        AS_OF,
        "member_tags",
        &["pyramid_top_2_share=0.04", "pyramid_top_20_share=0.3"],
    );
    let layer = |l: &str| t.values().filter(|m| m["pyramid_layer"] == l).count();
    assert_eq!(
        [
            layer("top_2"),
            layer("top_2_5"),
            layer("top_5_10"),
            layer("top_10_15"),
            layer("top_15_20"),
            layer("top_20_100")
        ],
        [4, 1, 5, 5, 15, 70]
    );
    assert_eq!(t["97"]["pyramid_layer"], "top_2");
    assert_eq!(t["71"]["pyramid_layer"], "top_15_20");
    assert_eq!(t["70"]["pyramid_layer"], "top_20_100");
    // The 值 (valuable) journey stage is the pyramid's top layers: it moves with them.
    let valuable = t
        .values()
        .filter(|m| m["journey_stage"] == "valuable")
        .count();
    assert_eq!(valuable, 30);
}

#[test]
fn members_without_spend_are_never_above_regular() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<Member> = (1..=10).map(member).collect();
    write_export(
        dir.path(),
        &members,
        &[paid(3, "2026-05-01 10:00:00", 10.0)],
    );
    // Half the members would be platinum, but only member 3 has spend.
    let t = run_nightly_table(
        dir.path(),
        AS_OF,
        "member_tags",
        &["tier_platinum_share=0.5"],
    );
    assert_eq!(t["3"]["tier"], "platinum");
    assert!(
        t.iter()
            .filter(|(id, _)| *id != "3")
            .all(|(_, m)| m["tier"] == "regular")
    );
}

#[test]
fn rfm_scores_tie_equal_values_and_classes_compare_with_the_mean() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<Member> = (1..=5).map(member).collect();
    // Recency 10, 10, 40, 70, 100 days; one order each of 50, 50, 100, 200, 400.
    let orders = vec![
        paid(1, "2026-06-21 10:00:00", 50.0),
        paid(2, "2026-06-21 11:00:00", 50.0),
        paid(3, "2026-05-22 10:00:00", 100.0),
        paid(4, "2026-04-22 10:00:00", 200.0),
        paid(5, "2026-03-23 10:00:00", 400.0),
    ];
    write_export(dir.path(), &members, &orders);
    let t = run_nightly_table(dir.path(), AS_OF, "member_tags", &[]);
    // R ranks worst first: 100d→rank1 (score 1), 70d→2 (2), 40d→3 (3), 10d,10d→4 (4).
    let r: Vec<&str> = (1..=5)
        .map(|i| t[&i.to_string()]["rfm_r"].as_str())
        .collect();
    assert_eq!(r, ["4", "4", "3", "2", "1"]);
    // Frequency is 1 for everyone: all tie at rank 1, score 1.
    assert!(t.values().all(|m| m["rfm_f"] == "1"));
    let m: Vec<&str> = (1..=5)
        .map(|i| t[&i.to_string()]["rfm_m"].as_str())
        .collect();
    assert_eq!(m, ["1", "1", "3", "4", "5"]);
    // Means: recency 46, frequency 1 (nobody above), monetary 160.
    // Member 1: recent, low M → general_develop; member 5: not recent, high M → important_retain.
    assert_eq!(t["1"]["rfm_class"], "general_develop");
    assert_eq!(t["1"]["rfm_class_label"], "一般发展");
    assert_eq!(t["4"]["rfm_class"], "important_retain");
    assert_eq!(t["5"]["rfm_class_label"], "重要挽留");
}

#[test]
fn lifecycle_and_journey_stages_follow_their_rules() {
    let dir = tempfile::tempdir().unwrap();
    let mut members: Vec<Member> = (1..=6).map(member).collect();
    members.push(Member {
        id: 7,
        joined: "2025-01-01 00:00:00",
        referrer: Some(6),
    });
    let orders = vec![
        // 1: first order 20 days ago → new.
        paid(1, "2026-06-11 10:00:00", 10.0),
        // 2: ordered 150 and 30 days ago → active, sticky.
        paid(2, "2026-02-01 10:00:00", 10.0),
        paid(2, "2026-06-01 10:00:00", 10.0),
        // 3: came back 30 days ago after 300 days away → won_back.
        paid(3, "2025-01-01 10:00:00", 10.0),
        paid(3, "2025-08-05 10:00:00", 10.0),
        paid(3, "2026-06-01 10:00:00", 10.0),
        // 4: last order 120 days ago → silent.
        paid(4, "2025-01-01 10:00:00", 10.0),
        paid(4, "2026-03-03 10:00:00", 10.0),
        // 5: last order 400 days ago → churned.
        paid(5, "2025-05-27 10:00:00", 10.0),
        // 6: one order 200 days ago, and their invitee 7 bought → recommending.
        paid(6, "2025-12-13 10:00:00", 10.0),
        paid(7, "2025-06-01 10:00:00", 10.0),
    ];
    write_export(dir.path(), &members, &orders);
    let t = run_nightly_table(dir.path(), AS_OF, "member_tags", &["pyramid_window_days=1"]);
    let stage = |i: i64| t[&i.to_string()]["lifecycle_stage"].clone();
    assert_eq!(
        (1..=6).map(stage).collect::<Vec<_>>(),
        ["new", "active", "won_back", "silent", "churned", "churned"]
    );
    let journey = |i: i64| t[&i.to_string()]["journey_stage"].clone();
    assert_eq!(journey(1), "activated");
    assert_eq!(journey(2), "sticky");
    // 3: two of their three orders in the last 365 days (2025-08-05, 2026-06-01).
    assert_eq!(journey(3), "sticky");
    // 4: two orders, but only 2026-03-03 within 365 days: 粘 has decayed to 活.
    assert_eq!(journey(4), "activated");
    assert_eq!(journey(6), "recommending");
    // With a 600-day window 2025-01-01 counts again.
    let t = run_nightly_table(
        dir.path(),
        AS_OF,
        "member_tags",
        &["pyramid_window_days=1", "journey_sticky_days=600"],
    );
    assert_eq!(t["4"]["journey_stage"], "sticky");
}

#[test]
fn churn_risk_compares_recency_with_the_members_own_rhythm() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<Member> = (1..=3).map(member).collect();
    let orders = vec![
        // 1: every 30 days, last 30 days ago → on rhythm: none; next purchase due today.
        paid(1, "2026-04-02 10:00:00", 10.0),
        paid(1, "2026-05-02 10:00:00", 10.0),
        paid(1, "2026-06-01 10:00:00", 10.0),
        // 2: every 20 days, last 50 days ago → 2.5 × interval: moderate.
        paid(2, "2026-04-02 10:00:00", 10.0),
        paid(2, "2026-04-22 10:00:00", 10.0),
        paid(2, "2026-05-12 10:00:00", 10.0),
        // 3: every 10 days, last 40 days ago → 4 × interval: severe.
        paid(3, "2026-05-02 10:00:00", 10.0),
        paid(3, "2026-05-12 10:00:00", 10.0),
        paid(3, "2026-05-22 10:00:00", 10.0),
    ];
    write_export(dir.path(), &members, &orders);
    let t = run_nightly_table(dir.path(), AS_OF, "member_tags", &[]);
    assert_eq!(t["1"]["churn_risk"], "none");
    assert_eq!(t["1"]["interval_days"], "30.0");
    assert_eq!(t["1"]["next_purchase_expected_at"], "2026-07-01");
    assert_eq!(t["1"]["overdue_days"], "0");
    assert_eq!(t["2"]["churn_risk"], "moderate");
    assert_eq!(t["2"]["overdue_days"], "30");
    assert_eq!(t["3"]["churn_risk"], "severe");
}

/// The member's own rhythm first (issue 15, item 2). As of 2026-07-01 the current
/// window is [2026-01-02, 2026-07-01), the previous one [2025-07-06, 2026-01-02).
/// Repeat buyers' intervals are 365 (1), 100 (3) and 60 (4): median 100.
/// - 1 buys every 双11 (2024-11-11, 2025-11-11): 232 days since, 0.64 × its 365-day
///   interval → none. Its interval is not shorter than the 180-day window, so "bought
///   in the previous window, not in this one" does not apply (it said severe).
/// - 2 bought once (2025-11-01): no own interval, so the window rule applies → severe
///   (242 / 100 = 2.42 × the median would only be moderate).
/// - 3 every 100 days (2025-08-15, 2025-11-23), shorter than the window: two orders in
///   the previous window, none in this one → severe (220 / 100 = 2.2 alone: moderate).
/// - 4 every 60 days (2026-01-05, 2026-03-06): 117 / 60 = 1.95 → light.
#[test]
fn churn_uses_the_members_own_rhythm_before_the_window_rule() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<Member> = (1..=4).map(member).collect();
    let orders = vec![
        paid(1, "2024-11-11 10:00:00", 100.0),
        paid(1, "2025-11-11 10:00:00", 100.0),
        paid(2, "2025-11-01 10:00:00", 100.0),
        paid(3, "2025-08-15 10:00:00", 100.0),
        paid(3, "2025-11-23 10:00:00", 100.0),
        paid(4, "2026-01-05 10:00:00", 100.0),
        paid(4, "2026-03-06 10:00:00", 100.0),
    ];
    write_export(dir.path(), &members, &orders);
    let t = run_nightly_table(dir.path(), AS_OF, "member_tags", &[]);
    let risk = |i: &str| t[i]["churn_risk"].clone();
    assert_eq!(
        [risk("1"), risk("2"), risk("3"), risk("4")],
        ["none", "severe", "severe", "light"]
    );
    assert_eq!(t["1"]["interval_days"], "365.0");
    assert_eq!(t["1"]["next_purchase_expected_at"], "2026-11-11");
    assert_eq!(
        t["2"]["interval_days"], "100.0",
        "the median of repeat buyers"
    );
    // With a 400-day window the yearly buyer's interval is shorter than the window, so
    // the window rule applies to it too, and finds one order in each window: none.
    // Member 3's two orders are both in the current window: its ratio (2.2) decides.
    let wide = run_nightly_table(
        dir.path(),
        AS_OF,
        "member_tags",
        &["churn_compare_days=400"],
    );
    assert_eq!(wide["1"]["churn_risk"], "none");
    assert_eq!(
        wide["3"]["churn_risk"], "moderate",
        "both orders are current now"
    );
}

/// One ranking base for tier and pyramid (issue 15, item 3): 40 buyers (member i
/// spends 10 × i) and 60 members without spend. Tiers rank the 40 buyers, as the
/// pyramid does: platinum round(40 × 5%) = 2 = the pyramid's top_2 (1) + top_2_5 (1);
/// gold up to round(40 × 20%) = 8, so gold + platinum = the top 20% (值, valuable).
/// Ranking all 100 members would have made 5 platinum and 20 gold + platinum.
#[test]
fn tier_and_pyramid_rank_the_same_buyers() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<Member> = (1..=100).map(member).collect();
    let orders: Vec<Order> = (1..=40)
        .map(|i| paid(i, "2026-05-01 10:00:00", 10.0 * i as f64))
        .collect();
    write_export(dir.path(), &members, &orders);
    let t = run_nightly_table(dir.path(), AS_OF, "member_tags", &[]);
    let with = |col: &str, v: &str| -> Vec<i64> {
        let mut ids: Vec<i64> = t
            .iter()
            .filter(|(_, m)| m[col] == v)
            .map(|(id, _)| id.parse().unwrap())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(with("tier", "platinum"), [39, 40]);
    assert_eq!(with("tier", "gold"), (33..=38).collect::<Vec<_>>());
    assert_eq!(with("pyramid_layer", "top_2"), [40]);
    assert_eq!(with("pyramid_layer", "top_2_5"), [39]);
    assert_eq!(
        with("journey_stage", "valuable"),
        (33..=40).collect::<Vec<_>>()
    );
    assert_eq!(with("tier", "regular").len(), 92);
    let tier = run_nightly_table(dir.path(), AS_OF, "member_tier", &[]);
    assert_eq!(tier["40"]["spend_rank"], "1");
    assert_eq!(tier["1"]["spend_rank"], "40");
    assert_eq!(tier["41"]["spend_rank"], "null", "no spend: not ranked");
}

#[test]
fn feb_29_birthdays_are_greeted_on_feb_28_in_non_leap_years() {
    let dir = tempfile::tempdir().unwrap();
    write_export(dir.path(), &[member(1)], &[]);
    write_members_with_birthdays(
        dir.path(),
        &[
            (1, "2020-02-29 10:00:00", Some("2000-02-29")),
            (2, "2026-03-01 10:00:00", Some("1990-12-31")),
            (3, "2025-02-27 10:00:00", None),
        ],
    );
    let t = run_nightly_table(dir.path(), "2027-02-25", "member_tags", &[]);
    assert_eq!(t["1"]["days_to_birthday"], "3", "2027 is not leap: Feb 28");
    assert_eq!(t["1"]["birthday_soon"], "true");
    // Joined on Feb 29 2020: the anniversary is Feb 28 2027, 7 years.
    assert_eq!(t["1"]["days_to_anniversary"], "3");
    assert_eq!(t["1"]["membership_years"], "7");
    assert_eq!(t["2"]["days_to_birthday"], "309");
    assert_eq!(t["2"]["birthday_soon"], "false");
    assert_eq!(t["3"]["days_to_birthday"], "null");
    assert_eq!(t["3"]["days_to_anniversary"], "2");
    assert_eq!(t["3"]["anniversary_soon"], "true");
    let t = run_nightly_table(dir.path(), "2028-02-25", "member_tags", &[]);
    assert_eq!(t["1"]["days_to_birthday"], "4", "2028 is leap: Feb 29");
}

/// The bands against the book's redemption threshold (临界点, 1,500 points): one point
/// either side of each cut, by hand — 1,199 D; 1,200 and 1,499 C (close: points + cash
/// to get there); 1,500 and 1,999 B (can redeem: a gift now); 2,000 A (the second band:
/// a larger gift). Each member's whole balance expires within the 30-day window, so each
/// is on tonight's reminder list with the band's offer; moving the threshold moves B.
#[test]
fn points_bands_cut_at_the_redemption_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let balances = [
        (1, 1199),
        (2, 1200),
        (3, 1499),
        (4, 1500),
        (5, 1999),
        (6, 2000),
    ];
    let members: Vec<_> = balances.iter().map(|&(id, _)| member(id)).collect();
    write_export(dir.path(), &members, &[]);
    // The same members, consenting to WeChat, so the reminder can reach them.
    let ids: Vec<i64> = balances.iter().map(|&(id, _)| id).collect();
    write_batch(
        &dir.path().join("members.parquet"),
        &batch(vec![
            (
                "member_id",
                Arc::new(Int64Array::from(ids.clone())) as ArrayRef,
            ),
            (
                "joined_at",
                Arc::new(TimestampMicrosecondArray::from(vec![
                    ts(
                        "2024-01-01 00:00:00"
                    );
                    ids.len()
                ])),
            ),
            (
                "consent_wechat",
                Arc::new(BooleanArray::from(vec![true; ids.len()])),
            ),
        ]),
    );
    // Earned 2025-07-20 without expires_at: expires 365 days later, 2026-07-20, inside
    // (2026-07-01, 2026-07-31].
    let rows: Vec<_> = balances
        .iter()
        .map(|&(id, points)| (id, "2025-07-20 12:00:00", "earn", points, None))
        .collect();
    write_points(dir.path(), &rows);
    let t = run_nightly_table(dir.path(), AS_OF, "member_tags", &[]);
    let band = |id: &str| t[id]["points_band"].clone();
    assert_eq!(
        ["1", "2", "3", "4", "5", "6"].map(band),
        ["D", "C", "C", "B", "B", "A"]
    );
    let outreach = run_nightly_table(dir.path(), AS_OF, "outreach", &[]);
    let offer = |id: &str| {
        assert_eq!(outreach[id]["campaign"], "reminder", "{:?}", outreach[id]);
        outreach[id]["offer"].clone()
    };
    assert_eq!(offer("1"), "消费赚积分 earn before they lapse");
    assert_eq!(offer("2"), "积分+现金换购 points + cash");
    assert_eq!(offer("3"), "积分+现金换购 points + cash");
    assert_eq!(offer("4"), "积分兑礼 redeem a gift now");
    assert_eq!(offer("5"), "积分兑礼 redeem a gift now");
    assert_eq!(offer("6"), "积分兑大礼 redeem a larger gift");
    // The threshold is a param: at 1,300 the 1,499-point member can redeem.
    let t = run_nightly_table(
        dir.path(),
        AS_OF,
        "member_tags",
        &["points_redeem_threshold=1300"],
    );
    assert_eq!(t["2"]["points_band"], "C");
    assert_eq!(t["3"]["points_band"], "B");
}

/// A backfill over today's export: a member who joined after the run date is not a
/// member yet — in no member-level table, and not counted where members are ranked.
#[test]
fn members_who_joined_after_the_run_date_are_not_members_yet() {
    let dir = tempfile::tempdir().unwrap();
    let later = Member {
        joined: "2026-07-01 00:00:01",
        ..member(2)
    };
    write_export(
        dir.path(),
        &[member(1), later, member(3)],
        &[paid(1, "2026-06-01 10:00:00", 100.0)],
    );
    let t = run_nightly_table(dir.path(), AS_OF, "member_tags", &[]);
    assert_eq!(t.keys().collect::<Vec<_>>(), ["1", "3"], "{t:?}");
    let tier = run_nightly_table(dir.path(), AS_OF, "member_tier", &[]);
    assert_eq!(tier.keys().collect::<Vec<_>>(), ["1", "3"], "{tier:?}");
    // The day after, member 2 has joined.
    let t = run_nightly_table(dir.path(), "2026-07-02", "member_tags", &[]);
    assert_eq!(t.keys().collect::<Vec<_>>(), ["1", "2", "3"]);
}

#[test]
fn points_expiring_exactly_on_the_window_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    write_export(dir.path(), &[member(1), member(2)], &[]);
    // As of 2026-07-01 with a 30-day window: (2026-07-01, 2026-07-31].
    write_points(
        dir.path(),
        &[
            (
                1,
                "2025-07-31 12:00:00",
                "earn",
                100,
                Some("2026-07-31 00:00:00"),
            ),
            (
                1,
                "2025-07-01 12:00:00",
                "earn",
                50,
                Some("2026-07-01 00:00:00"),
            ),
            (
                1,
                "2025-08-01 12:00:00",
                "earn",
                70,
                Some("2026-08-01 00:00:00"),
            ),
            (1, "2026-06-01 12:00:00", "redeem", -20, None),
            // Member 2: an earn row without expires_at expires 365 days after its day.
            (2, "2025-07-20 12:00:00", "earn", 1600, None),
        ],
    );
    let t = run_nightly_table(dir.path(), AS_OF, "member_tags", &[]);
    assert_eq!(t["1"]["points_balance"], "200");
    assert_eq!(
        t["1"]["points_expiring"], "100",
        "only the 2026-07-31 expiry is inside"
    );
    assert_eq!(t["1"]["points_expiring_at"], "2026-07-31");
    assert_eq!(t["1"]["points_band"], "D");
    assert_eq!(t["2"]["points_expiring"], "1600");
    assert_eq!(t["2"]["points_expiring_at"], "2026-07-20");
    assert_eq!(t["2"]["points_band"], "B");
    let t = run_nightly_table(
        dir.path(),
        AS_OF,
        "member_tags",
        &["points_expiry_policy=year_end"],
    );
    assert_eq!(
        t["2"]["points_expiring"], "0",
        "year_end: it expired on 2026-01-01"
    );
}

#[test]
fn community_roles_rank_members_within_their_group() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<Member> = (1..=32).map(member).collect();
    write_export(
        dir.path(),
        &members,
        &[paid(31, "2026-02-01 10:00:00", 10.0)],
    );
    // Group G1: member i (1..=30) posts 31 - i messages in the window; member 30 posts
    // 1; member 32 only joined; member 29 posted, then left. Member 31 is in no group.
    let mut events = Vec::new();
    for i in 1..=30i64 {
        for _ in 0..(31 - i) {
            events.push((i, "G1", "message", "2026-06-15 10:00:00", None));
        }
    }
    events.push((32, "G1", "join", "2026-06-15 10:00:00", None));
    events.push((29, "G1", "join", "2026-01-02 10:00:00", None));
    events.push((29, "G1", "leave", "2026-06-20 10:00:00", None));
    // Member 1 invited 31 (whose first order came 17 days later) and 32 (who did not buy).
    events.push((1, "G1", "invite", "2026-01-15 10:00:00", Some(31)));
    events.push((1, "G1", "invite", "2026-01-15 11:00:00", Some(32)));
    write_events(dir.path(), &events);
    let t = run_nightly_table(
        dir.path(),
        AS_OF,
        "member_tags",
        &["community_fan_share=0.5"],
    );
    let role = |i: i64| t[&i.to_string()]["community_role"].clone();
    assert_eq!((role(1), role(2)), ("top".into(), "top".into()));
    assert!((3..=10).all(|i| role(i) == "organiser"));
    // 30 members in the group (29 posters and 32; 29 left): fans are the next
    // round(30 × 0.5) = 15 ranks beyond the 10 top and organisers, ranks 11–25.
    assert!(
        (11..=25).all(|i| role(i) == "fan"),
        "{:?}",
        (11..=25).map(role).collect::<Vec<_>>()
    );
    assert!((26..=28).all(|i| role(i) == "base"));
    assert_eq!(role(30), "base", "rank 29 of 30 once 29 left");
    assert_eq!(role(32), "base");
    assert_eq!(role(31), "none");
    assert_eq!(role(29), "none", "left its only group");
    assert_eq!(
        t["29"]["community_messages"], "2",
        "its own activity still counts"
    );
    assert_eq!(t["1"]["community_messages"], "30");
    assert_eq!(
        t["1"]["community_invites"], "0",
        "the invites are older than 90 days"
    );
    assert_eq!(t["1"]["invites_converted"], "1");
}

/// Only real fission counts (裂变): a conversion is an invitee's first paid order after
/// their first invitation, within `invite_conversion_days` (90), credited to that first
/// inviter. By hand, as of 2026-07-01: member 1 invites 2 (first order 10 days later:
/// converted), 3 (had bought before the invite: no), itself (no), 5 (after member 4
/// had: credited to 4) and 6 (first order 120 days later: no). So member 1 converted
/// one, member 4 one; both are 荐 (recommending), and group G1's February E counts 1.
#[test]
fn only_real_fission_counts_as_converted_invites() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<Member> = (1..=6).map(member).collect();
    write_export(
        dir.path(),
        &members,
        &[
            paid(2, "2026-02-11 10:00:00", 10.0),
            paid(3, "2026-01-05 10:00:00", 10.0),
            paid(3, "2026-02-20 10:00:00", 10.0),
            paid(1, "2026-02-25 10:00:00", 10.0),
            paid(5, "2026-02-15 10:00:00", 10.0),
            paid(6, "2026-05-31 10:00:00", 10.0),
        ],
    );
    write_events(
        dir.path(),
        &[
            (1, "G1", "message", "2026-02-01 09:00:00", None),
            (1, "G1", "invite", "2026-02-01 10:00:00", Some(2)),
            (1, "G1", "invite", "2026-02-01 10:00:00", Some(3)),
            (1, "G1", "invite", "2026-02-01 10:00:00", Some(1)),
            (4, "G2", "invite", "2026-01-20 10:00:00", Some(5)),
            (1, "G1", "invite", "2026-02-02 10:00:00", Some(5)),
            (1, "G1", "invite", "2026-01-31 10:00:00", Some(6)),
        ],
    );
    let t = run_nightly_table(dir.path(), AS_OF, "member_tags", &[]);
    let converted = |i: i64| t[&i.to_string()]["invites_converted"].clone();
    assert_eq!(
        (1..=6).map(converted).collect::<Vec<_>>(),
        ["1", "0", "0", "1", "0", "0"]
    );
    assert_eq!(t["1"]["journey_stage"], "recommending");
    assert_eq!(t["4"]["journey_stage"], "recommending");
    assert_eq!(t["2"]["journey_stage"], "activated");
    // With a 150-day window member 6 converts too.
    let t = run_nightly_table(
        dir.path(),
        AS_OF,
        "member_tags",
        &["invite_conversion_days=150"],
    );
    assert_eq!(t["1"]["invites_converted"], "2");
    // group_health's E for G1 in February 2026: (0 shares + 1 converted invite — of 2;
    // 3 had bought before, 1 is a self-invite, 5 was 4's in G2) / 1 message.
    let rows = text_rows(
        &dir.path()
            .join(format!("out/nightly/as_of={AS_OF}/group_health.parquet")),
    );
    let feb = rows
        .iter()
        .find(|r| r["group_id"] == "G1" && r["period"] == "2026-02-01")
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(feb["e"], "1.0", "{feb:?}");
}

#[test]
fn price_sensitivity_and_peak_times() {
    let dir = tempfile::tempdir().unwrap();
    let mut discounted = paid(1, "2026-06-28 20:00:00", 100.0);
    discounted.discount = 20.0;
    // 2026-06-28 is a Sunday.
    write_export(
        dir.path(),
        &[member(1)],
        &[
            discounted,
            paid(1, "2026-06-28 20:30:00", 300.0),
            paid(1, "2026-06-24 09:00:00", 50.0),
        ],
    );
    let t = run_nightly_table(dir.path(), AS_OF, "member_tags", &[]);
    assert_eq!(
        t["1"]["price_sensitivity"], "0.2222",
        "100 of 450 paid on discount"
    );
    assert_eq!(t["1"]["peak_hour"], "20");
    assert_eq!(t["1"]["peak_weekday"], "7");
    assert_eq!(t["1"]["preferred_channel"], "store");
    assert_eq!(t["1"]["top_categories"], "[乳品]");
}

#[test]
fn tier_change_compares_with_the_previous_published_run() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<Member> = (1..=20).map(member).collect();
    let mut orders: Vec<Order> = (1..=20)
        .map(|i| paid(i, "2026-01-10 10:00:00", 10.0 * i as f64))
        .collect();
    write_export(dir.path(), &members, &orders);
    let first = run_nightly_table(dir.path(), "2026-02-01", "member_tags", &[]);
    assert!(
        first.values().all(|m| m["tier_change"] == "null"),
        "no previous run"
    );
    assert_eq!(first["20"]["tier"], "platinum");
    assert_eq!(first["1"]["tier"], "regular");

    // A month later member 1 spends the most and member 21 joins.
    let mut members = members;
    members.push(member(21));
    orders.push(paid(1, "2026-02-15 10:00:00", 5000.0));
    write_export(dir.path(), &members, &orders);
    let second = run_nightly_table(dir.path(), "2026-03-01", "member_tags", &[]);
    assert_eq!(second["1"]["tier"], "platinum");
    assert_eq!(second["1"]["tier_change"], "upgrade");
    assert_eq!(second["20"]["tier_change"], "downgrade");
    assert_eq!(second["5"]["tier_change"], "same");
    assert_eq!(second["21"]["tier_change"], "new");
}

#[test]
fn member_tag_long_has_one_row_per_non_null_tag() {
    let dir = tempfile::tempdir().unwrap();
    write_export(
        dir.path(),
        &[member(1), member(2)],
        &[paid(1, "2026-06-01 10:00:00", 100.0)],
    );
    run_nightly_table(dir.path(), AS_OF, "member_tags", &[]);
    let dir_out = dir.path().join(format!("out/nightly/as_of={AS_OF}"));
    let mut long = std::collections::BTreeMap::new();
    for b in read_parquet(&dir_out.join("member_tag_long.parquet")) {
        use datafusion::arrow::array::AsArray;
        let (id, tag, value) = (
            b.column(0).as_string::<i32>(),
            b.column(2).as_string::<i32>(),
            b.column(3).as_string::<i32>(),
        );
        for r in 0..b.num_rows() {
            long.insert(
                (id.value(r).to_string(), tag.value(r).to_string()),
                value.value(r).to_string(),
            );
        }
    }
    let wide = run_nightly_table(dir.path(), AS_OF, "member_tags", &[]);
    for (id, cols) in &wide {
        for (col, v) in cols {
            if col == "member_id" || col == "as_of" {
                continue;
            }
            let key = (id.clone(), col.clone());
            match v.as_str() {
                "null" => assert!(!long.contains_key(&key), "{key:?}"),
                "[乳品]" => assert_eq!(long[&key], "乳品"),
                _ => assert_eq!(&long[&key], v, "{key:?}"),
            }
        }
    }
    // The only buyer equals the mean on R, F and M, so none of them is "high".
    assert_eq!(
        long[&("1".to_string(), "rfm_class".to_string())],
        "general_retain"
    );
}

/// refund_rate = refunded / (paid + refunded), all time, rounded half up to 4 places in
/// integers: member 1 refunded 1 of 3 (0.3333), member 2 2 of 3 (0.6667), member 3 19
/// of 160 — 0.11875 exactly, the half-way case a double rounds either way (siyu's
/// integer rounding gives 0.1188, as decimal arithmetic does).
#[test]
fn refund_rate_rounds_half_up_in_integers() {
    let dir = tempfile::tempdir().unwrap();
    let mut orders = Vec::new();
    let mut add = |member: i64, paid_orders: usize, refunded: usize| {
        for i in 0..paid_orders + refunded {
            let mut o = paid(member, "2026-06-01 10:00:00", 10.0 + i as f64);
            if i < refunded {
                o.status = "refunded";
            }
            orders.push(o);
        }
    };
    add(1, 2, 1);
    add(2, 1, 2);
    add(3, 141, 19);
    write_export(dir.path(), &[member(1), member(2), member(3)], &orders);
    let t = run_nightly_table(dir.path(), AS_OF, "member_tags", &[]);
    assert_eq!(t["1"]["refund_rate"], "0.3333");
    assert_eq!(t["2"]["refund_rate"], "0.6667");
    assert_eq!(t["3"]["refund_rate"], "0.1188");
}

/// top_categories: up to 3 categories by paid line amount, highest first, ties by name.
/// Member 1 spent 茶 50, 乳品 30, 零食 30, 酒 10 → [茶, 乳品, 零食] (乳品 before 零食 on the
/// tie); member 2 spent 零食 5 and 茶 15 → [茶, 零食]; member 3 only 酒 → [酒].
#[test]
fn top_categories_are_the_three_biggest_by_spend_ties_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_export(
        d,
        &[member(1), member(2), member(3)],
        &[
            paid(1, "2026-06-01 10:00:00", 120.0),
            paid(2, "2026-06-02 10:00:00", 20.0),
            paid(3, "2026-06-03 10:00:00", 7.0),
        ],
    );
    let items = [
        ("o0", "tea", 50.0),
        ("o0", "milk", 30.0),
        ("o0", "nuts", 30.0),
        ("o0", "wine", 10.0),
        ("o1", "nuts", 5.0),
        ("o1", "tea", 15.0),
        ("o2", "wine", 7.0),
    ];
    let products = [
        ("tea", "tea", "茶", None),
        ("milk", "milk", "乳品", None),
        ("nuts", "nuts", "零食", None),
        ("wine", "wine", "酒", None),
    ];
    write_items_and_products(d, &items, &products);
    let t = run_nightly_table(d, AS_OF, "member_tags", &[]);
    assert_eq!(t["1"]["top_categories"], "[茶, 乳品, 零食]");
    assert_eq!(t["2"]["top_categories"], "[茶, 零食]");
    assert_eq!(t["3"]["top_categories"], "[酒]");
}
