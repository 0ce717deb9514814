//! Predicted member value (issue 17): the `value` step's histories by hand, its
//! predictions against the library on the published parameters, how P(alive) joins
//! churn_risk, a night without a model, and `siyu clv`'s holdout counts.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate};

use siyu::clv::{BgNbd, Customer, GammaGamma};

use crate::common::*;

const AS_OF: &str = "2026-07-01";

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// (member, date, time, amount) of every paid order of the fixture. A population of 400
/// members (ids 1000…1399) drawn from the BG/NBD process itself (rate λ ~ Gamma(1, 30
/// days), drop-out p ~ Beta(1, 1), first purchase 60–700 days before the run date; each
/// with a spend level of their own) to fit the models on, and:
/// - 1 buys once a year: 2025-05-01 and 2026-05-01 (own interval 365 days);
/// - 2 every 20 days: 2026-05-12, 2026-06-01, 2026-06-21 (on rhythm);
/// - 3 once: 2026-06-15;
/// - 4 twice on 2026-03-01 (100 and 50) and twice on 2026-05-01 (80 and 20).
fn orders() -> Vec<(i64, NaiveDate, &'static str, f64)> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(17);
    let mut unit = move || 1.0 - rng.random::<f64>();
    let last_day = day(AS_OF) - Duration::days(1);
    let mut o = Vec::new();
    for id in 1000..1400_i64 {
        let big_t = 60.0 + (640.0 * unit()).floor();
        let first = last_day - Duration::days(big_t as i64);
        let lambda = -unit().ln() / 30.0;
        let p = unit();
        // Each member's own spend level, purchases scattered around it.
        let level = 50.0 / (0.2 + unit());
        let amount = |u: f64| (level * (0.5 + u)).round();
        o.push((id, first, "10:00:00", amount(unit())));
        let mut t = 0.0;
        loop {
            t += -unit().ln() / lambda;
            if t > big_t {
                break;
            }
            o.push((
                id,
                first + Duration::days(t as i64),
                "11:00:00",
                amount(unit()),
            ));
            if unit() < p {
                break;
            }
        }
    }
    for (id, d, at, amount) in [
        (1, "2025-05-01", "10:00:00", 100.0),
        (1, "2026-05-01", "10:00:00", 100.0),
        (2, "2026-05-12", "10:00:00", 60.0),
        (2, "2026-06-01", "10:00:00", 60.0),
        (2, "2026-06-21", "10:00:00", 60.0),
        (3, "2026-06-15", "10:00:00", 80.0),
        (4, "2026-03-01", "10:00:00", 100.0),
        (4, "2026-03-01", "15:00:00", 50.0),
        (4, "2026-05-01", "10:00:00", 80.0),
        (4, "2026-05-01", "18:00:00", 20.0),
    ] {
        o.push((id, day(d), at, amount));
    }
    o
}

fn write(dir: &std::path::Path) -> Vec<(i64, NaiveDate, &'static str, f64)> {
    let o = orders();
    let ids: BTreeSet<i64> = o.iter().map(|r| r.0).collect();
    let members: Vec<Member> = ids.iter().map(|&i| member(i)).collect();
    let rows: Vec<Order> = o
        .iter()
        .map(|&(id, d, at, amount)| {
            let text: &'static str = Box::leak(format!("{d} {at}").into_boxed_str());
            paid(id, text, amount)
        })
        .collect();
    write_export(dir, &members, &rows);
    o
}

fn table(dir: &std::path::Path, name: &str) -> Vec<BTreeMap<String, String>> {
    text_rows(&dir.join(format!("out/nightly/as_of={AS_OF}/{name}.parquet")))
}

fn num(v: &str) -> f64 {
    v.parse()
        .unwrap_or_else(|_| panic!("{v:?} is not a number"))
}

#[test]
fn member_value_counts_purchase_days_and_matches_the_models() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path());
    let value = run_nightly_table(dir.path(), AS_OF, "member_value", &[]);
    // Member 4: purchase days 2026-03-01 and 2026-05-01 → x = 1, t_x = 61,
    // T = 2026-06-30 − 2026-03-01 = 121; repeat value (80 + 20) / 1 = 100.
    let m4 = &value["4"];
    assert_eq!(
        (
            m4["repeat_purchases"].as_str(),
            m4["recency_days_model"].as_str(),
            m4["age_days"].as_str()
        ),
        ("1", "61", "121")
    );
    assert_eq!(
        (
            value["3"]["repeat_purchases"].as_str(),
            value["3"]["age_days"].as_str()
        ),
        ("0", "15")
    );
    assert_eq!(value.len(), 404, "one row per buyer");

    let model = table(dir.path(), "clv_model");
    assert_eq!(model.len(), 2);
    let (bg_row, gg_row) = (&model[0], &model[1]);
    assert_eq!(bg_row["model"], "bgnbd");
    assert_eq!(bg_row["converged"], "true", "{bg_row:?}");
    assert_eq!(gg_row["converged"], "true", "{gg_row:?}");
    assert_eq!(bg_row["members_fitted"], "404");
    let bg = BgNbd {
        r: num(&bg_row["r"]),
        alpha: num(&bg_row["alpha"]),
        a: num(&bg_row["a"]),
        b: num(&bg_row["b"]),
    };
    let gg = GammaGamma {
        p: num(&gg_row["p"]),
        q: num(&gg_row["q"]),
        v: num(&gg_row["v"]),
    };
    // The Gamma-Gamma is fitted on the repeat buyers (x > 0) only.
    let repeat = value
        .values()
        .filter(|r| r["repeat_purchases"] != "0")
        .count();
    assert_eq!(num(&gg_row["members_fitted"]) as usize, repeat);
    // Every prediction is the library's on the published parameters.
    for (id, r) in &value {
        let c = Customer {
            x: num(&r["repeat_purchases"]),
            t_x: num(&r["recency_days_model"]),
            t: num(&r["age_days"]),
        };
        let p = bg.p_alive(&c);
        assert!(
            (num(&r["p_alive"]) - p).abs() <= 1e-12,
            "{id}: {r:?} vs {p}"
        );
        let n = bg.conditional_expected_purchases(365.0, &c);
        assert!(
            (num(&r["expected_orders"]) - n).abs() <= 1e-9 * n.max(1.0),
            "{id}: {r:?} vs {n}"
        );
    }
    let ev = gg.conditional_expected_value(1.0, 100.0);
    assert!(
        (num(&m4["expected_order_value"]) - ev).abs() <= 1e-9 * ev,
        "{m4:?} vs {ev}"
    );
    // Bands by CLV: ⌊0.2 × 404⌋ = 80 high, ⌊0.5 × 404⌋ − 80 = 122 medium, 202 low.
    let count = |band: &str| value.values().filter(|r| r["value_band"] == band).count();
    assert_eq!(
        (count("high"), count("medium"), count("low")),
        (80, 122, 202)
    );
    let flagged = value
        .values()
        .filter(|r| r["high_potential"] == "true")
        .count();
    assert_eq!(flagged, 80);
    assert_eq!(
        value.values().find(|r| r["value_band"] == "high").unwrap()["value_band_label"],
        "高价值 high value"
    );
    // member_tags carries the same values.
    let tags = table(dir.path(), "member_tags");
    let t4 = tags.iter().find(|r| r["member_id"] == "4").unwrap();
    for c in [
        "p_alive",
        "expected_orders",
        "clv",
        "value_band",
        "high_potential",
    ] {
        assert_eq!(t4[c], m4[c], "{c}");
    }
}

/// P(alive) joins churn_risk only where the window rules apply: thresholds above 1 make
/// every such member `severe` (P(alive) ≤ 1), while the yearly buyer (own interval 365 ≥
/// the 180-day window) is still judged by its rhythm alone, and a night without a model
/// changes nothing.
#[test]
fn p_alive_grades_churn_only_where_the_window_rules_apply() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path());
    let risk = |t: &BTreeMap<String, BTreeMap<String, String>>| {
        ["1", "2", "3"].map(|m| t[m]["churn_risk"].clone())
    };
    let plain = run_nightly_table(dir.path(), AS_OF, "member_tags", &[]);
    assert_eq!(risk(&plain), ["none", "none", "none"]);
    assert!(num(&plain["2"]["p_alive"]) > 0.5, "{:?}", plain["2"]);
    assert_eq!(
        plain["3"]["p_alive"], "1.0",
        "no repeat purchase: alive by the model"
    );

    let high = [
        "churn_p_alive_light=1.01",
        "churn_p_alive_moderate=1.01",
        "churn_p_alive_severe=1.01",
    ];
    let graded = run_nightly_table(dir.path(), AS_OF, "member_tags", &high);
    assert_eq!(risk(&graded), ["none", "severe", "severe"]);

    let mut no_model = high.to_vec();
    no_model.push("clv_min_repeat_buyers=100000");
    let without = run_nightly_table(dir.path(), AS_OF, "member_tags", &no_model);
    assert_eq!(risk(&without), ["none", "none", "none"]);
    assert!(
        without
            .values()
            .all(|r| r["p_alive"] == "null" && r["clv"] == "null")
    );
}

/// Too few repeat buyers: the run succeeds, every prediction is null, clv_model says
/// why, and the manifest carries the warning.
#[test]
fn a_night_without_a_model_publishes_nulls_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path());
    let value = run_nightly_table(
        dir.path(),
        AS_OF,
        "member_value",
        &["clv_min_repeat_buyers=100000"],
    );
    assert!(value.values().all(|r| {
        [
            "p_alive",
            "expected_orders",
            "clv",
            "value_band",
            "high_potential",
        ]
        .iter()
        .all(|c| r[*c] == "null")
    }));
    let model = table(dir.path(), "clv_model");
    assert!(
        model
            .iter()
            .all(|r| r["converged"] == "false" && r["r"] == "null" && r["p"] == "null")
    );
    assert!(
        model[0]["note"].contains("fewer than clv_min_repeat_buyers = 100000"),
        "{model:?}"
    );
    let manifest = std::fs::read_to_string(
        dir.path()
            .join(format!("out/nightly/as_of={AS_OF}/_manifest.json")),
    )
    .unwrap();
    assert!(manifest.contains("no value model tonight"), "{manifest}");
}

/// `siyu clv`: the holdout's actual repeat purchase days, counted here from the orders,
/// and its customers are those who bought by the end of the calibration period.
#[test]
fn clv_command_compares_predictions_with_the_holdout() {
    let dir = tempfile::tempdir().unwrap();
    let o = write(dir.path());
    let (cal, end) = (day("2026-03-31"), day("2026-06-30"));
    let customers: BTreeSet<i64> = o.iter().filter(|r| r.1 <= cal).map(|r| r.0).collect();
    let holdout_days: BTreeSet<(i64, NaiveDate)> = o
        .iter()
        .filter(|r| r.1 > cal && r.1 <= end && customers.contains(&r.0))
        .map(|r| (r.0, r.1))
        .collect();
    let out = siyu(
        &[
            "clv",
            "--input-dir",
            dir.path().to_str().unwrap(),
            "--calibration-end",
            "2026-03-31",
            "--holdout-end",
            "2026-06-30",
        ],
        dir.path(),
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("converged: true"), "{t}");
    let want = format!("holdout 91 days: {} customers, predicted ", customers.len());
    assert!(t.contains(&want), "{want}\n{t}");
    let actual = t
        .split(", actual ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap();
    assert_eq!(actual, holdout_days.len().to_string(), "{t}");
    // The rows by calibration purchases cover every customer once.
    let by_x: usize = t
        .lines()
        .skip_while(|l| !l.starts_with("calibration repeat purchases"))
        .skip(1)
        .take(8)
        .map(|l| {
            l.split_whitespace()
                .nth(1)
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert_eq!(by_x, customers.len(), "{t}");

    // A holdout that ends before the calibration does is refused (exit 2).
    let bad = siyu(
        &[
            "clv",
            "--input-dir",
            dir.path().to_str().unwrap(),
            "--calibration-end",
            "2026-03-31",
            "--holdout-end",
            "2026-03-01",
        ],
        dir.path(),
    );
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(
        text(&bad).contains("--holdout-end 2026-03-01 must be after --calibration-end 2026-03-31")
    );
}

/// `siyu clv --summary`: a lifetimes-style summary is fitted and scored (the scores are
/// the library's on the printed parameters), and a bad row is refused naming it.
#[test]
fn clv_summary_scores_a_summary_file_and_refuses_bad_rows() {
    use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let o = orders();
    // Summaries from the fixture's purchase days, as of 2026-07-01 (T to 2026-06-30).
    let mut days: BTreeMap<i64, BTreeSet<NaiveDate>> = BTreeMap::new();
    for r in &o {
        days.entry(r.0).or_default().insert(r.1);
    }
    let last = day("2026-06-30");
    let ids: Vec<String> = days.keys().map(|i| i.to_string()).collect();
    let x: Vec<f64> = days.values().map(|d| (d.len() - 1) as f64).collect();
    let t_x: Vec<f64> = days
        .values()
        .map(|d| (*d.last().unwrap() - *d.first().unwrap()).num_days() as f64)
        .collect();
    let t: Vec<f64> = days
        .values()
        .map(|d| (last - *d.first().unwrap()).num_days() as f64)
        .collect();
    let m: Vec<f64> = x
        .iter()
        .map(|&x| if x > 0.0 { 50.0 + x } else { 0.0 })
        .collect();
    let write = |path: &std::path::Path, t_x: &[f64]| {
        write_batch(
            path,
            &batch(vec![
                (
                    "member_id",
                    Arc::new(StringArray::from(ids.clone())) as ArrayRef,
                ),
                (
                    "frequency",
                    Arc::new(Float64Array::from(x.clone())) as ArrayRef,
                ),
                (
                    "recency",
                    Arc::new(Float64Array::from(t_x.to_vec())) as ArrayRef,
                ),
                ("T", Arc::new(Float64Array::from(t.clone())) as ArrayRef),
                (
                    "monetary_value",
                    Arc::new(Float64Array::from(m.clone())) as ArrayRef,
                ),
            ]),
        )
    };
    let good = dir.path().join("summary.parquet");
    write(&good, &t_x);
    let scores = dir.path().join("scores.parquet");
    let out = siyu(
        &[
            "clv",
            "--summary",
            good.to_str().unwrap(),
            "--out",
            scores.to_str().unwrap(),
        ],
        dir.path(),
    );
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    let line = log.lines().find(|l| l.starts_with("bgnbd ")).unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    let bg = BgNbd {
        r: num(f[2]),
        alpha: num(f[4]),
        a: num(f[6]),
        b: num(f[8]),
    };
    assert!(line.contains("converged true"), "{log}");
    let rows = text_rows(&scores);
    assert_eq!(rows.len(), ids.len());
    for (i, r) in rows.iter().enumerate() {
        let c = Customer {
            x: x[i],
            t_x: t_x[i],
            t: t[i],
        };
        // Printed to 9 decimals: the scores agree with the library to ~1e-7.
        assert!((num(&r["p_alive"]) - bg.p_alive(&c)).abs() < 1e-6, "{r:?}");
    }

    // Member 2's recency beyond its age: refused with the row named, exit 3.
    let mut bad_tx = t_x.clone();
    let row = ids.iter().position(|i| i == "2").unwrap();
    bad_tx[row] = t[row] + 5.0;
    let bad = dir.path().join("bad.parquet");
    write(&bad, &bad_tx);
    let out = siyu(&["clv", "--summary", bad.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("row {}:", row + 1)),
        "{}",
        text(&out)
    );
}

/// A value param out of range is a configuration error before anything runs: exit 2,
/// the param named, nothing published.
#[test]
fn a_bad_value_param_is_refused_and_nothing_is_published() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path());
    let out = dir.path().join("out");
    for (param, says) in [
        (
            "high_potential_share=1.5",
            "param high_potential_share must be a share in [0, 1]",
        ),
        (
            "clv_horizon_days=0",
            "param clv_horizon_days must be at least 1 day",
        ),
    ] {
        let o = siyu(
            &[
                "run",
                repo().join("jobs/nightly.toml").to_str().unwrap(),
                "--as-of",
                AS_OF,
                "--input-dir",
                dir.path().to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--param",
                "stale_export_fail_days=100000",
                "--param",
                param,
            ],
            dir.path(),
        );
        assert_eq!(o.status.code(), Some(2), "{param}: {}", text(&o));
        assert!(text(&o).contains(says), "{param}: {}", text(&o));
        assert!(
            !out.join(format!("nightly/as_of={AS_OF}")).exists(),
            "{param}"
        );
    }
}
