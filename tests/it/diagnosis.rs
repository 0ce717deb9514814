//! 数人头 revenue diagnosis against hand-computed fixtures.

use std::collections::BTreeMap;

use crate::common::*;
use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{Float64Type, Int64Type};

const AS_OF: &str = "2026-03-01";

/// Every member i in 1..=50 buys one order of 100 × i on the 10th of each month of 2025
/// and of January 2026; February 2026 is built by `february`.
fn history(february: impl Fn(i64) -> Vec<f64>) -> Vec<Order> {
    let months: Vec<&'static str> = vec![
        "2025-01-10 10:00:00",
        "2025-02-10 10:00:00",
        "2025-03-10 10:00:00",
        "2025-04-10 10:00:00",
        "2025-05-10 10:00:00",
        "2025-06-10 10:00:00",
        "2025-07-10 10:00:00",
        "2025-08-10 10:00:00",
        "2025-09-10 10:00:00",
        "2025-10-10 10:00:00",
        "2025-11-10 10:00:00",
        "2025-12-10 10:00:00",
        "2026-01-10 10:00:00",
    ];
    let mut orders = Vec::new();
    for i in 1..=50 {
        for m in &months {
            orders.push(paid(i, m, 100.0 * i as f64));
        }
        for amount in february(i) {
            orders.push(paid(i, "2026-02-10 10:00:00", amount));
        }
    }
    orders
}

struct Row {
    heads: i64,
    orders: i64,
    revenue: f64,
    delta: f64,
    heads_effect: f64,
    frequency_effect: f64,
    ticket_effect: f64,
}

/// revenue_diagnosis rows for February 2026 against January, by layer.
fn february_vs_january(orders: Vec<Order>) -> BTreeMap<String, Row> {
    february_vs_january_of(50, orders)
}

/// [`february_vs_january`] for members 1..=`members`.
fn february_vs_january_of(members: i64, orders: Vec<Order>) -> BTreeMap<String, Row> {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<Member> = (1..=members).map(member).collect();
    write_export(dir.path(), &members, &orders);
    run_nightly_table(dir.path(), AS_OF, "member_tags", &[]);
    let path = dir.path().join(format!(
        "out/nightly/as_of={AS_OF}/revenue_diagnosis.parquet"
    ));
    let mut rows = BTreeMap::new();
    for b in read_parquet(&path) {
        let col = |n: &str| b.column_by_name(n).unwrap().clone();
        let (period, comparison, layer) = (col("period"), col("comparison"), col("pyramid_layer"));
        let f = |n: &str| col(n).as_primitive::<Float64Type>().clone();
        let i = |n: &str| col(n).as_primitive::<Int64Type>().clone();
        for r in 0..b.num_rows() {
            let p = datafusion::arrow::util::display::array_value_to_string(&period, r).unwrap();
            if p != "2026-02-01" || comparison.as_string::<i32>().value(r) != "prev_month" {
                continue;
            }
            rows.insert(
                layer.as_string::<i32>().value(r).to_string(),
                Row {
                    heads: i("heads").value(r),
                    orders: i("orders").value(r),
                    revenue: f("revenue").value(r),
                    delta: f("revenue_delta").value(r),
                    heads_effect: f("heads_effect").value(r),
                    frequency_effect: f("frequency_effect").value(r),
                    ticket_effect: f("ticket_effect").value(r),
                },
            );
        }
    }
    rows
}

fn cents(x: f64) -> i64 {
    (x * 100.0).round() as i64
}

#[test]
fn a_drop_planted_in_one_layer_is_attributed_only_to_that_layer() {
    // Member 50, the top 2% of 50 buyers, does not buy in February.
    let rows = february_vs_january(history(|i| {
        if i == 50 {
            vec![]
        } else {
            vec![100.0 * i as f64]
        }
    }));
    let top = &rows["top_2"];
    assert_eq!((top.heads, top.orders, top.revenue), (0, 0, 0.0));
    assert_eq!(cents(top.delta), -500_000);
    assert_eq!(
        cents(top.heads_effect),
        -500_000,
        "the customer left: a heads effect"
    );
    assert_eq!(
        (cents(top.frequency_effect), cents(top.ticket_effect)),
        (0, 0)
    );
    for (layer, r) in &rows {
        if layer != "top_2" {
            assert_eq!(cents(r.delta), 0, "{layer}");
            assert_eq!(
                (
                    cents(r.heads_effect),
                    cents(r.frequency_effect),
                    cents(r.ticket_effect)
                ),
                (0, 0, 0),
                "{layer}"
            );
        }
    }
    // Layer sizes for 50 buyers: round(1) / round(2.5) / round(5) / round(7.5) / round(10).
    assert_eq!(rows["top_2_5"].heads, 2);
    assert_eq!(rows["top_5_10"].heads, 2);
    assert_eq!(rows["top_10_15"].heads, 3);
    assert_eq!(rows["top_15_20"].heads, 2);
    assert_eq!(rows["top_20_100"].heads, 40);
}

/// A member whose first order is in February has no reference spend: they are counted
/// in the `new_or_returning` layer (the month's new and returning buyers), not in a
/// layer named for people who do not buy.
#[test]
fn buyers_without_reference_spend_are_new_or_returning() {
    let mut orders = history(|i| vec![100.0 * i as f64]);
    orders.push(paid(51, "2026-02-12 10:00:00", 70.0));
    orders.push(paid(51, "2026-02-20 10:00:00", 30.0));
    let rows = february_vs_january_of(51, orders);
    assert!(!rows.contains_key("non_buyer"), "{:?}", rows.keys());
    let r = &rows["new_or_returning"];
    assert_eq!((r.heads, r.orders, cents(r.revenue)), (1, 2, 10_000));
    // Nobody was new in January: the whole change is a heads effect.
    assert_eq!((cents(r.delta), cents(r.heads_effect)), (10_000, 10_000));
    assert_eq!(rows["top_20_100"].heads, 40);
}

#[test]
fn heads_frequency_and_ticket_effects_add_up_to_the_change_to_the_cent() {
    // Layer top_20_100 is members 1–40. In February members 31–40 stop, and members
    // 1–30 split the same spend over two orders.
    let rows = february_vs_january(history(|i| match i {
        1..=30 => vec![50.0 * i as f64, 50.0 * i as f64],
        31..=40 => vec![],
        _ => vec![100.0 * i as f64],
    }));
    for (layer, r) in &rows {
        assert_eq!(
            cents(r.heads_effect) + cents(r.frequency_effect) + cents(r.ticket_effect),
            cents(r.delta),
            "{layer}"
        );
    }
    let r = &rows["top_20_100"];
    let (r1, r0) = (46_500.0_f64, 82_000.0_f64); // 100 × (1+…+30), 100 × (1+…+40)
    assert_eq!((r.heads, r.orders, cents(r.revenue)), (30, 60, cents(r1)));
    let l = (r1 - r0) / (r1.ln() - r0.ln());
    assert_eq!(cents(r.heads_effect), cents(l * (30.0_f64 / 40.0).ln()));
    assert_eq!(cents(r.frequency_effect), cents(l * 2.0_f64.ln()));
    // Ticket: 775 per order now, 2050 before.
    let ticket = r1
        - r0
        - (l * (30.0_f64 / 40.0).ln() * 100.0).round() / 100.0
        - (l * 2.0_f64.ln() * 100.0).round() / 100.0;
    assert_eq!(cents(r.ticket_effect), cents(ticket));
    assert!((r.ticket_effect - l * (775.0_f64 / 2050.0).ln()).abs() < 0.02);
}

#[test]
fn decliners_list_the_biggest_drops_with_their_frozen_layer() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<Member> = (1..=50).map(member).collect();
    let orders = history(|i| {
        if i == 50 || i == 10 {
            vec![]
        } else {
            vec![100.0 * i as f64]
        }
    });
    write_export(dir.path(), &members, &orders);
    let t = run_nightly_table(
        dir.path(),
        AS_OF,
        "revenue_decliners",
        &["decliner_window_days=30"],
    );
    // Current: Jan 30 – Feb 28 (February orders); previous: Dec 31 – Jan 29 (January).
    assert_eq!(t.len(), 2, "{t:?}");
    assert_eq!(t["50"]["pyramid_layer"], "top_2");
    assert_eq!(t["50"]["spend_delta"], "-5000.0");
    assert_eq!(t["10"]["pyramid_layer"], "top_20_100");
    assert_eq!(t["10"]["spend_previous"], "1000.0");
    assert_eq!(t["10"]["rank_in_layer"], "1");
}

#[test]
fn kpis_count_new_members_buyers_repurchase_and_cohort_retention() {
    let dir = tempfile::tempdir().unwrap();
    let members = vec![
        Member {
            id: 1,
            joined: "2026-01-02 10:00:00",
            referrer: None,
        },
        Member {
            id: 2,
            joined: "2026-01-03 10:00:00",
            referrer: None,
        },
        Member {
            id: 3,
            joined: "2026-01-04 10:00:00",
            referrer: None,
        },
        Member {
            id: 4,
            joined: "2026-02-04 10:00:00",
            referrer: None,
        },
    ];
    let orders = vec![
        paid(1, "2026-01-10 10:00:00", 10.0),
        paid(1, "2026-02-10 10:00:00", 10.0),
        paid(1, "2026-04-10 10:00:00", 10.0),
        paid(2, "2026-01-15 10:00:00", 10.0),
        paid(2, "2026-01-28 10:00:00", 10.0),
        paid(3, "2026-02-20 10:00:00", 10.0),
        paid(3, "2026-03-05 10:00:00", 10.0),
        paid(4, "2026-02-25 10:00:00", 10.0),
    ];
    write_export(dir.path(), &members, &orders);
    write_points(
        dir.path(),
        &[
            (1, "2026-01-10 10:00:00", "earn", 100, None),
            (1, "2026-02-10 10:00:00", "redeem", -30, None),
            (1, "2026-03-10 10:00:00", "expire", -20, None),
        ],
    );
    run_nightly_table(dir.path(), "2026-05-01", "member_tags", &[]);
    let path = dir.path().join("out/nightly/as_of=2026-05-01/kpis.parquet");
    let mut by_month = BTreeMap::new();
    for row in text_rows(&path) {
        by_month.insert(row["period"].clone(), row);
    }
    assert_eq!(by_month.len(), 24, "the last 24 complete months");
    let get = |m: &str, c: &str| by_month[m][c].clone();
    assert_eq!(
        [
            "new_members",
            "first_time_buyers",
            "active_buyers",
            "repurchase_rate",
            "returning_buyer_share"
        ]
        .map(|c| get("2026-01-01", c)),
        // Member 2 bought twice in January: 1 of the 2 buyers repurchased (复购率).
        ["3", "2", "2", "0.5", "0.0"]
    );
    assert_eq!(
        [
            "new_members",
            "first_time_buyers",
            "active_buyers",
            "repurchase_rate",
            "returning_buyer_share"
        ]
        .map(|c| get("2026-02-01", c)),
        // One order each in February; member 1 had bought before (January).
        ["1", "2", "3", "0.0", "0.3333"]
    );
    assert_eq!(get("2026-03-01", "repurchase_rate"), "0.0");
    assert_eq!(get("2026-03-01", "returning_buyer_share"), "1.0");
    assert_eq!(
        [
            "retention_m1",
            "retention_m2",
            "retention_m3",
            "retention_m4"
        ]
        .map(|c| get("2026-01-01", c)),
        ["0.5", "0.0", "0.5", "null"]
    );
    assert_eq!(
        ["retention_m1", "retention_m2", "retention_m3"].map(|c| get("2026-02-01", c)),
        ["0.5", "0.0", "null"]
    );
    assert_eq!(get("2026-01-01", "points_issued"), "100");
    assert_eq!(get("2026-02-01", "points_redeemed"), "30");
    assert_eq!(get("2026-03-01", "points_expired"), "20");
    assert_eq!(get("2025-06-01", "active_buyers"), "0");
}

#[test]
fn group_health_multiplies_normalised_n_f_e_v() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<Member> = [1, 2, 3, 4, 9].into_iter().map(member).collect();
    write_export(
        dir.path(),
        &members,
        &[
            paid(1, "2026-06-05 10:00:00", 100.0),
            paid(2, "2026-06-06 10:00:00", 50.0),
            // After member 2 invited them (2026-06-10): a conversion.
            paid(9, "2026-06-12 10:00:00", 1.0),
        ],
    );
    let at = "2026-06-10 10:00:00";
    let mut events = vec![
        (1, "G1", "join", "2026-05-01 10:00:00", None),
        (2, "G1", "join", "2026-05-01 10:00:00", None),
        (3, "G1", "join", "2026-05-01 10:00:00", None),
        (4, "G2", "join", "2026-05-01 10:00:00", None),
    ];
    for _ in 0..4 {
        events.push((1, "G1", "message", at, None));
    }
    events.push((1, "G1", "share", at, None));
    events.push((2, "G1", "message", at, None));
    events.push((2, "G1", "message", at, None));
    events.push((2, "G1", "invite", at, Some(9)));
    events.push((4, "G2", "message", at, None));
    events.push((4, "G2", "message", at, None));
    write_events(dir.path(), &events);
    run_nightly_table(dir.path(), "2026-07-01", "member_tags", &[]);
    let path = dir
        .path()
        .join("out/nightly/as_of=2026-07-01/group_health.parquet");
    let mut rows = BTreeMap::new();
    for b in read_parquet(&path) {
        use datafusion::arrow::util::display::array_value_to_string;
        for r in 0..b.num_rows() {
            let mut row = BTreeMap::new();
            for (f, c) in b.schema().fields().iter().zip(b.columns()) {
                row.insert(f.name().clone(), array_value_to_string(c, r).unwrap());
            }
            rows.insert((row["group_id"].clone(), row["period"].clone()), row);
        }
    }
    let g1 = &rows[&("G1".to_string(), "2026-06-01".to_string())];
    assert_eq!(
        ["members", "n", "f", "e", "v", "cv", "interaction_effect"].map(|c| g1[c].as_str()),
        ["3", "2", "4.0", "0.3333", "150.0", "7.1111", "0.8889"]
    );
    let g2 = &rows[&("G2".to_string(), "2026-06-01".to_string())];
    assert_eq!(
        ["members", "n", "f", "e", "v", "cv"].map(|c| g2[c].as_str()),
        ["1", "1", "2.0", "0.0", "0.0", "0.0"]
    );
    // May had only joins: activity rows exist with n = 0.
    assert_eq!(
        rows[&("G1".to_string(), "2026-05-01".to_string())]["n"],
        "0"
    );
}
