//! The synthetic data generator: deterministic, sized by scale, and true to the contract.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::Path;

use crate::common::read_parquet;
use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{
    Date32Type, Decimal128Type, Float64Type, Int64Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampSecondType,
};
use siyu::generate::{GenerateParams, generate, member_count, planted_bundles};

const END: &str = "2026-11-01";

fn params(scale: f64, seed: u64) -> GenerateParams {
    GenerateParams {
        scale,
        seed,
        end_date: NaiveDate::parse_from_str(END, "%Y-%m-%d").unwrap(),
    }
}

fn table(dir: &Path, name: &str) -> Vec<RecordBatch> {
    let mut files: Vec<_> = fs::read_dir(dir.join(name))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().flat_map(|f| read_parquet(f)).collect()
}

fn rows(summary: &siyu::generate::GenerateSummary, name: &str) -> u64 {
    summary
        .tables
        .iter()
        .find(|t| t.table == name)
        .unwrap()
        .rows
}

fn all_bytes(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for t in fs::read_dir(dir).unwrap() {
        let t = t.unwrap().path();
        for f in fs::read_dir(&t).unwrap() {
            let f = f.unwrap().path();
            out.insert(
                f.strip_prefix(dir).unwrap().display().to_string(),
                fs::read(&f).unwrap(),
            );
        }
    }
    out
}

#[test]
fn same_seed_gives_identical_files_and_another_seed_differs() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    generate(&params(0.03, 7), a.path()).unwrap();
    generate(&params(0.03, 7), b.path()).unwrap();
    generate(&params(0.03, 8), c.path()).unwrap();
    let (fa, fb, fc) = (
        all_bytes(a.path()),
        all_bytes(b.path()),
        all_bytes(c.path()),
    );
    assert_eq!(fa.len(), 8);
    assert!(fa == fb, "same seed, same bytes");
    assert_ne!(
        fa["orders/part-00000.parquet"],
        fc["orders/part-00000.parquet"]
    );
    // Regenerating into the same directory replaces the parts rather than adding to them.
    generate(&params(0.03, 7), a.path()).unwrap();
    assert!(all_bytes(a.path()) == fb);
}

#[test]
fn row_counts_scale_linearly() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let s1 = generate(&params(0.04, 1), a.path()).unwrap();
    let s2 = generate(&params(0.1, 1), b.path()).unwrap();
    assert_eq!(rows(&s1, "members"), 4_000);
    assert_eq!(rows(&s2, "members"), 10_000);
    assert_eq!(member_count(0.02), 2_000);
    // Targets per 100k members: ~1M orders, ~3M items, ~2M community events.
    for (s, scale) in [(&s1, 0.04), (&s2, 0.1)] {
        let per = |t: &str| rows(s, t) as f64 / scale / 1e6;
        assert!(
            (0.8..1.25).contains(&per("orders")),
            "orders {}",
            per("orders")
        );
        assert!(
            (2.4..3.7).contains(&per("order_items")),
            "items {}",
            per("order_items")
        );
        assert!(
            (1.2..3.0).contains(&per("community_events")),
            "events {}",
            per("community_events")
        );
    }
    let ratio = rows(&s2, "orders") as f64 / rows(&s1, "orders") as f64;
    assert!(
        (2.2..2.8).contains(&ratio),
        "orders grow with scale: {ratio}"
    );
}

#[test]
fn generated_data_keeps_the_contract_invariants() {
    let dir = tempfile::tempdir().unwrap();
    generate(&params(0.05, 3), dir.path()).unwrap();
    let end_micros = NaiveDate::parse_from_str(END, "%Y-%m-%d")
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_micros();

    // Members: unique ids, referrers joined before their referees, Feb 29 birthdays.
    let mut joined = HashMap::new();
    let mut referrals = Vec::new();
    let mut feb29 = 0;
    for b in table(dir.path(), "members") {
        let id = b
            .column_by_name("member_id")
            .unwrap()
            .as_primitive::<Int64Type>();
        let at = b
            .column_by_name("joined_at")
            .unwrap()
            .as_primitive::<TimestampSecondType>();
        let referrer = b
            .column_by_name("referrer_id")
            .unwrap()
            .as_primitive::<Int64Type>();
        let bday = b
            .column_by_name("birthday")
            .unwrap()
            .as_primitive::<Date32Type>();
        for r in 0..b.num_rows() {
            assert!(
                joined.insert(id.value(r), at.value(r)).is_none(),
                "duplicate member"
            );
            if referrer.is_valid(r) {
                referrals.push((referrer.value(r), id.value(r)));
            }
            if bday.is_valid(r) {
                let d = bday.value_as_date(r).unwrap();
                if d.format("%m-%d").to_string() == "02-29" {
                    feb29 += 1;
                }
            }
        }
    }
    assert!(feb29 > 0, "Feb 29 birthdays exist");
    assert!(!referrals.is_empty());
    for (referrer, referee) in &referrals {
        assert!(
            joined[referrer] <= joined[referee],
            "referrer {referrer} joined after {referee}"
        );
    }

    // Orders: unique ids, paid = gross − discount ≥ 0, nothing at or after the end date,
    // gross = Σ line amounts.
    let mut gross_of = HashMap::new();
    let mut statuses: HashMap<String, usize> = HashMap::new();
    let mut guests = 0;
    for b in table(dir.path(), "orders") {
        let id = b
            .column_by_name("order_id")
            .unwrap()
            .as_primitive::<Int64Type>();
        let member = b.column_by_name("member_id").unwrap();
        let at = b
            .column_by_name("ordered_at")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        let money = |c: &str| {
            b.column_by_name(c)
                .unwrap()
                .as_primitive::<Decimal128Type>()
                .clone()
        };
        let (gross, discount, paid) = (
            money("gross_amount"),
            money("discount_amount"),
            money("paid_amount"),
        );
        let status = b.column_by_name("status").unwrap().as_string::<i32>();
        for r in 0..b.num_rows() {
            assert!(
                gross_of.insert(id.value(r), gross.value(r)).is_none(),
                "duplicate order"
            );
            assert_eq!(paid.value(r), gross.value(r) - discount.value(r));
            assert!(paid.value(r) >= 0 && discount.value(r) >= 0);
            assert!(at.value(r) < end_micros, "order at or after the end date");
            guests += member.is_null(r) as usize;
            *statuses.entry(status.value(r).to_string()).or_default() += 1;
        }
    }
    let total = gross_of.len() as f64;
    assert!(
        (0.03..0.12).contains(&(guests as f64 / total)),
        "guest share"
    );
    assert!(
        (0.9..0.97).contains(&(statuses["paid"] as f64 / total)),
        "paid share"
    );
    assert!(statuses["refunded"] > 0 && statuses["cancelled"] > 0);

    let mut lines: HashMap<i64, i128> = HashMap::new();
    let mut baskets: HashMap<i64, HashSet<String>> = HashMap::new();
    for b in table(dir.path(), "order_items") {
        let order = b
            .column_by_name("order_id")
            .unwrap()
            .as_primitive::<Int64Type>();
        let product = b.column_by_name("product_id").unwrap().as_string::<i32>();
        let line = b
            .column_by_name("line_amount")
            .unwrap()
            .as_primitive::<Float64Type>();
        for r in 0..b.num_rows() {
            *lines.entry(order.value(r)).or_default() += (line.value(r) * 100.0).round() as i128;
            baskets
                .entry(order.value(r))
                .or_default()
                .insert(product.value(r).to_string());
        }
    }
    for (order, gross) in &gross_of {
        assert_eq!(
            lines.get(order).copied().unwrap_or(0),
            *gross,
            "order {order}: gross = Σ lines"
        );
    }

    // Planted bundles co-occur far above chance: P(B | A) ≥ 0.5 while P(B) is small.
    let n = baskets.len() as f64;
    for bundle in planted_bundles(0.05) {
        let (a, b) = (&bundle[0], &bundle[1]);
        let with_a = baskets.values().filter(|s| s.contains(a)).count() as f64;
        let with_both = baskets
            .values()
            .filter(|s| s.contains(a) && s.contains(b))
            .count() as f64;
        let with_b = baskets.values().filter(|s| s.contains(b)).count() as f64;
        assert!(with_a > 20.0, "{a} is popular enough to mine");
        let lift = (with_both / with_a) / (with_b / n);
        assert!(
            with_both / with_a > 0.5 && lift > 2.0,
            "{a} ⇒ {b}: conf {} lift {lift}",
            with_both / with_a
        );
    }

    // Community events are in UTC and before the end date; a few members are very active.
    let mut per_member: HashMap<i64, usize> = HashMap::new();
    for b in table(dir.path(), "community_events") {
        let m = b
            .column_by_name("member_id")
            .unwrap()
            .as_primitive::<Int64Type>();
        let at = b
            .column_by_name("occurred_at")
            .unwrap()
            .as_primitive::<TimestampMillisecondType>();
        for r in 0..b.num_rows() {
            assert!(
                at.value(r) * 1000 < end_micros - 8 * 3_600_000_000 + 1,
                "event after the end"
            );
            *per_member.entry(m.value(r)).or_default() += 1;
        }
    }
    let mut counts: Vec<usize> = per_member.values().copied().collect();
    counts.sort_unstable();
    let median = counts[counts.len() / 2];
    assert!(
        counts[counts.len() - 1] > 20 * median.max(1),
        "heavy-tailed activity"
    );
}

#[test]
fn stores_have_guides_and_members_their_own_guide_and_wecom_consent() {
    let dir = tempfile::tempdir().unwrap();
    generate(&params(0.05, 11), dir.path()).unwrap();

    // Paid orders per member and members active in community groups, to stand in for the
    // personas the tables do not show.
    let mut paid_orders: HashMap<i64, usize> = HashMap::new();
    for b in table(dir.path(), "orders") {
        let m = b
            .column_by_name("member_id")
            .unwrap()
            .as_primitive::<Int64Type>();
        let status = b.column_by_name("status").unwrap().as_string::<i32>();
        for r in 0..b.num_rows() {
            if m.is_valid(r) && status.value(r) == "paid" {
                *paid_orders.entry(m.value(r)).or_default() += 1;
            }
        }
    }
    let mut in_community = HashSet::new();
    for b in table(dir.path(), "community_events") {
        let m = b
            .column_by_name("member_id")
            .unwrap()
            .as_primitive::<Int64Type>();
        in_community.extend((0..b.num_rows()).map(|r| m.value(r)));
    }

    struct Member {
        id: i64,
        store: Option<String>,
        guide: Option<String>,
        wecom: Option<bool>,
    }
    let mut members = Vec::new();
    for b in table(dir.path(), "members") {
        let id = b
            .column_by_name("member_id")
            .unwrap()
            .as_primitive::<Int64Type>();
        let store = b
            .column_by_name("home_store_id")
            .unwrap()
            .as_string::<i32>();
        let guide = b.column_by_name("guide_id").unwrap().as_string::<i32>();
        let wecom = b.column_by_name("consent_wecom").unwrap().as_boolean();
        let text = |a: &datafusion::arrow::array::StringArray, r: usize| {
            a.is_valid(r).then(|| a.value(r).to_string())
        };
        for r in 0..b.num_rows() {
            members.push(Member {
                id: id.value(r),
                store: text(store, r),
                guide: text(guide, r),
                wecom: wecom.is_valid(r).then(|| wecom.value(r)),
            });
        }
    }
    let n = members.len() as f64;
    let stores: HashSet<&str> = members.iter().filter_map(|m| m.store.as_deref()).collect();
    assert_eq!(stores.len(), 60, "every store has members");

    // Guides belong to a store (`S017-G03`); a member's guide is at their home store, and
    // members without a home store rarely have one.
    let mut guides_of: HashMap<&str, HashSet<&str>> = HashMap::new();
    let mut guided = 0;
    let (mut homeless, mut homeless_guided) = (0, 0);
    for m in &members {
        if m.store.is_none() {
            homeless += 1;
        }
        let Some(g) = &m.guide else { continue };
        guided += 1;
        let (store, number) = g.split_once("-G").expect("guide id S<store>-G<n>");
        assert!(stores.contains(store), "guide {g} of an unknown store");
        assert!(number.parse::<u32>().is_ok_and(|n| n >= 1), "guide {g}");
        match &m.store {
            Some(home) => assert_eq!(home, store, "member {}: guide of another store", m.id),
            None => homeless_guided += 1,
        }
        guides_of.entry(store).or_default().insert(g);
    }
    let share = guided as f64 / n;
    assert!(
        (0.22..0.42).contains(&share),
        "members with a guide: {share}"
    );
    let homeless_share = homeless_guided as f64 / homeless as f64;
    assert!(
        homeless_guided > 0 && homeless_share < 0.1,
        "members without a home store with a guide: {homeless_share}"
    );

    // Stores differ in size: a few flagships with many guides, most with one or two.
    let mut sizes: Vec<usize> = guides_of.values().map(HashSet::len).collect();
    sizes.sort_unstable();
    assert_eq!(sizes.len(), 60, "every store has a guide");
    assert!(sizes[59] >= 8, "largest store's guides: {sizes:?}");
    assert!(
        sizes[30] <= 2,
        "most stores have one or two guides: {sizes:?}"
    );
    // Larger stores give more of their members a guide.
    let coverage = |keep: &dyn Fn(usize) -> bool| {
        let of_store: Vec<&Member> = members
            .iter()
            .filter(|m| m.store.as_deref().is_some_and(|s| keep(guides_of[s].len())))
            .collect();
        of_store.iter().filter(|m| m.guide.is_some()).count() as f64 / of_store.len() as f64
    };
    let (large, small) = (coverage(&|g| g >= 4), coverage(&|g| g == 1));
    assert!(large > small + 0.05, "coverage large {large} small {small}");
    // Engaged members (vip) have a guide more often: guided members buy more.
    let mean_orders = |with_guide: bool| {
        let ms: Vec<&Member> = members
            .iter()
            .filter(|m| m.store.is_some() && m.guide.is_some() == with_guide)
            .collect();
        ms.iter()
            .map(|m| paid_orders.get(&m.id).copied().unwrap_or(0))
            .sum::<usize>() as f64
            / ms.len() as f64
    };
    let (with, without) = (mean_orders(true), mean_orders(false));
    assert!(
        with > 1.1 * without,
        "paid orders with a guide {with}, without {without}"
    );

    // WeCom consent only with a guide; community members add their guide more often.
    for m in &members {
        assert!(
            m.guide.is_some() || m.wecom.is_none(),
            "member {}: consent_wecom without a guide",
            m.id
        );
    }
    let wecom_rate = |community: bool| {
        let ms: Vec<&Member> = members
            .iter()
            .filter(|m| m.guide.is_some() && in_community.contains(&m.id) == community)
            .collect();
        ms.iter().filter(|m| m.wecom == Some(true)).count() as f64 / ms.len() as f64
    };
    let (community, others) = (wecom_rate(true), wecom_rate(false));
    assert!(
        (0.35..0.85).contains(&others) && community > others + 0.05,
        "WeCom consent: community members {community}, others {others}"
    );
    let refused = members.iter().filter(|m| m.wecom == Some(false)).count();
    let empty = members
        .iter()
        .filter(|m| m.guide.is_some() && m.wecom.is_none())
        .count();
    assert!(
        refused > 0 && empty > 0,
        "some refuse, some exports leave it empty"
    );
}
