//! Member tags against values computed by hand on small exports.

mod common;

use common::*;

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
    assert_eq!(journey(6), "recommending");
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
