#!/usr/bin/env python3
"""Predicted value: `siyu clv --summary` (BG/NBD + Gamma-Gamma, src/clv/) against the
Python `lifetimes` package on the same members, in one run.

    pip install -r bench/requirements.txt
    cargo build --release
    python3 bench/clv_vs_lifetimes.py --case scale --scale 1 [--runs 3]
    python3 bench/clv_vs_lifetimes.py --case scale --scale 10 --runs 3
    python3 bench/clv_vs_lifetimes.py --case sim --customers 1000000 --runs 3

Cases:
- `scale S`: the buyers of `siyu generate --scale S` (bench/data/scale-S, generated if
  missing), their histories computed by the nightly job's own SQL files
  (sql/features/paid_orders.sql, sql/value/member_purchase_days.sql) run in DuckDB as of
  2026-11-01: distinct purchase days, x = days − 1, t_x and T in days, monetary value =
  mean paid per repeat day.
- `sim N`: N customers drawn with numpy's seeded generator from the BG/NBD process
  (r 0.3, alpha 40 days, a 0.8, b 3; T uniform on 1..1100 whole days, t_x floored to a
  day) and the Gamma-Gamma (p 6, q 4, v 15): the shape of a 1M-member retailer.
Either is written once to bench/data/ as a lifetimes-style summary (member_id, frequency,
recency, T, monetary_value).

Timed — the same work on both sides, reading and writing files excluded:
- siyu: its own report of fitting both models and scoring every customer
  (`fit_seconds + score_seconds`: P(alive), expected orders, expected value per order and
  CLV); its whole-command wall time is printed too.
- lifetimes 0.11.3: `BetaGeoFitter().fit`, `GammaGammaFitter().fit` (customers with
  frequency > 0), `conditional_probability_alive`,
  `conditional_expected_number_of_purchases_up_to_time(360)`,
  `conditional_expected_average_profit` and `customer_lifetime_value(time=12, freq="D")`.
The horizon is 360 days (12 months of 30 days, lifetimes' unit for CLV) with a 10 %
annual discount taken monthly, so the CLVs are the same quantity.

Prints each run, the medians and the ratio siyu / lifetimes; the parameters of both and
their largest relative difference (target: equal to 3 significant figures, i.e. < 5e-4);
both BG/NBD log-likelihoods (lifetimes keeps the mean per customer in its scaled time:
turned into a total in days here); per-customer agreement (largest difference in P(alive), largest
relative difference in expected orders and CLV). `--pymc` adds PyMC-Marketing's
`BetaGeoModel` MAP fit (its default priors: a posterior mode, close to but not the
maximum-likelihood point; not in requirements.txt, it is heavy). Exits 1 if the parameters differ by
more than 1e-3 relative or P(alive) by more than 1e-4. `--max-lifetimes N` skips
lifetimes above N customers (its CLV is slow); the target of issue 17 is siyu's fit +
score of 1M customers in ≤ 5 s on this machine.

The test suite runs it once on a small sim case (tests/it/bench_smoke.rs), so it cannot rot.
"""

import argparse
import math
import os
import re
import statistics
import subprocess
import sys
import time

import duckdb
import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from tags_vs_duckdb import INPUT_VIEWS  # noqa: E402  (the same normalised orders)

AS_OF = "2026-11-01"
HORIZON_DAYS = 360.0
ANNUAL = 0.1
MONTHLY = (1 + ANNUAL) ** (1 / 12) - 1


def scale_summary(siyu, scale, path):
    data = os.path.join(ROOT, "bench", "data", f"scale-{scale}")
    if not os.path.isdir(data):
        subprocess.run([siyu, "generate", "--scale", str(scale), "--out", data, "--end-date", AS_OF],
                       check=True, stdout=subprocess.DEVNULL)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE VIEW orders AS {INPUT_VIEWS['orders']} "
                f"FROM read_parquet('{data}/orders/*.parquet')")
    for name, rel in [("paid_orders", "sql/features/paid_orders.sql"),
                      ("member_purchase_days", "sql/value/member_purchase_days.sql")]:
        with open(os.path.join(ROOT, rel)) as f:
            sql = re.sub(r"\$as_of\b", f"DATE '{AS_OF}'", f.read())
        con.execute(f"CREATE TABLE {name} AS {sql}")
    con.execute(f"""COPY (SELECT member_id, CAST(repeat_purchases AS DOUBLE) AS frequency,
        CAST(recency_days_model AS DOUBLE) AS recency, CAST(age_days AS DOUBLE) AS "T",
        COALESCE(CAST(repeat_value AS DOUBLE), 0) AS monetary_value
        FROM member_purchase_days ORDER BY member_id) TO '{path}' (FORMAT parquet)""")


def sim_summary(n, path):
    rng = np.random.default_rng(17)
    r, alpha, a, b = 0.3, 40.0, 0.8, 3.0
    T = rng.integers(1, 1101, n).astype(float)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    x = np.zeros(n)
    tx = np.zeros(n)
    t = np.zeros(n)
    alive = np.ones(n, bool)
    while alive.any():
        idx = np.nonzero(alive)[0]
        t[idx] += rng.exponential(1 / lam[idx])
        over = t[idx] > T[idx]
        alive[idx[over]] = False
        buy = idx[~over]
        x[buy] += 1
        tx[buy] = t[buy]
        drop = rng.random(buy.size) < p[buy]
        alive[buy[drop]] = False
    tx = np.floor(tx)
    nu = rng.gamma(4.0, 1 / 15.0, n)
    m = np.where(x > 0, rng.gamma(6.0 * np.maximum(x, 1), 1 / (np.maximum(x, 1) * nu)), 0.0)
    ids = [f"{i:07d}" for i in range(n)]
    pd.DataFrame({"member_id": ids, "frequency": x, "recency": tx, "T": T,
                  "monetary_value": m}).to_parquet(path, index=False)


def run_siyu(siyu, summary, out):
    t = time.perf_counter()
    res = subprocess.run([siyu, "--log-level", "error", "clv", "--summary", summary,
                          "--horizon-days", str(HORIZON_DAYS), "--discount-rate-annual", str(ANNUAL),
                          "--out", out], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t
    text = res.stdout
    nums = lambda key: float(re.search(rf"\b{key} (\S+)", text).group(1))
    bg = re.search(r"^bgnbd (.*)$", text, re.M).group(1).split()
    gg = re.search(r"^gamma_gamma (.*)$", text, re.M).group(1).split()
    kv = lambda xs: {xs[i]: xs[i + 1] for i in range(0, len(xs) - 1, 2)}
    bg, gg = kv(bg), kv(gg)
    params = {k: float(bg[k]) for k in ("r", "alpha", "a", "b")}
    params.update({k: float(gg[k]) for k in ("p", "q", "v")})
    info = {"bg_ll": float(bg["log_likelihood"]), "gg_ll": float(gg["log_likelihood"]),
            "bg_iter": int(bg["iterations"]), "gg_iter": int(gg["iterations"]),
            "converged": bg["converged"] == "true" and gg["converged"] == "true"}
    return nums("fit_seconds") + nums("score_seconds"), wall, params, info


def run_lifetimes(df):
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    t = time.perf_counter()
    bgf = BetaGeoFitter(penalizer_coef=0.0).fit(df["frequency"], df["recency"], df["T"])
    rep = df[(df["frequency"] > 0) & (df["monetary_value"] > 0)]
    ggf = GammaGammaFitter(penalizer_coef=0.0).fit(rep["frequency"], rep["monetary_value"])
    p_alive = bgf.conditional_probability_alive(df["frequency"], df["recency"], df["T"])
    orders = bgf.conditional_expected_number_of_purchases_up_to_time(
        HORIZON_DAYS, df["frequency"], df["recency"], df["T"])
    value = ggf.conditional_expected_average_profit(df["frequency"], df["monetary_value"])
    clv = ggf.customer_lifetime_value(bgf, df["frequency"], df["recency"], df["T"],
                                      df["monetary_value"], time=12, discount_rate=MONTHLY, freq="D")
    seconds = time.perf_counter() - t
    params = {k: float(bgf.params_[k]) for k in ("r", "alpha", "a", "b")}
    params.update({k: float(ggf.params_[k]) for k in ("p", "q", "v")})
    # lifetimes keeps the mean negative log-likelihood per customer, in its scaled time
    # (t × _scale): a total in days differs by sum(x) × ln(_scale).
    bg_ll = float(-bgf._negative_log_likelihood_ * len(df) + df["frequency"].sum() * math.log(bgf._scale))
    return seconds, params, np.asarray(p_alive), np.asarray(orders), np.asarray(value), np.asarray(clv), bg_ll


def run_pymc(df):
    """PyMC-Marketing's BetaGeoModel fitted by MAP (its default priors, so a posterior
    mode, not the maximum-likelihood point: close, not equal)."""
    from pymc_marketing.clv import BetaGeoModel
    data = pd.DataFrame({"customer_id": np.arange(len(df)), "frequency": df["frequency"],
                         "recency": df["recency"], "T": df["T"]})
    t = time.perf_counter()
    model = BetaGeoModel(data=data)
    model.fit(method="map", progressbar=False)
    seconds = time.perf_counter() - t
    s = model.fit_summary()
    return seconds, {k: float(s[k]) for k in ("r", "alpha", "a", "b")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", choices=["scale", "sim"], default="sim")
    ap.add_argument("--scale", default="1")
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--max-lifetimes", type=int, default=2_000_000)
    ap.add_argument("--pymc", action="store_true",
                    help="also PyMC-Marketing's MAP fit of the BG/NBD (pip install pymc-marketing)")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/siyu"))
    ap.add_argument("--data-dir", default=os.path.join(ROOT, "bench", "data"))
    a = ap.parse_args()
    os.makedirs(a.data_dir, exist_ok=True)
    if a.case == "scale":
        summary = os.path.join(a.data_dir, f"scale-{a.scale}-clv-summary.parquet")
        if not os.path.exists(summary):
            scale_summary(a.binary, a.scale, summary)
    else:
        summary = os.path.join(a.data_dir, f"clv-sim-{a.customers}.parquet")
        if not os.path.exists(summary):
            sim_summary(a.customers, summary)
    df = pd.read_parquet(summary)
    n = len(df)
    out = summary.replace(".parquet", "-siyu-scores.parquet")
    run_lifetimes_too = n <= a.max_lifetimes
    siyu_t, walls, life_t = [], [], []
    life = None
    for i in range(a.runs):
        s, wall, params, info = run_siyu(a.binary, summary, out)
        siyu_t.append(s)
        walls.append(wall)
        line = f"run {i + 1}: siyu fit+score {s:.3f} s (command {wall:.2f} s)"
        if run_lifetimes_too:
            life = run_lifetimes(df)
            life_t.append(life[0])
            line += f", lifetimes {life[0]:.2f} s"
        print(line, flush=True)
    print(f"case {a.case} {a.scale if a.case == 'scale' else a.customers}: {n} customers, "
          f"{int((df['frequency'] > 0).sum())} with a repeat purchase; siyu converged {info['converged']}, "
          f"BG/NBD {info['bg_iter']} / Gamma-Gamma {info['gg_iter']} iterations, {os.cpu_count()} cores")
    ms = statistics.median(siyu_t)
    print(f"median siyu fit+score {ms:.3f} s (command {statistics.median(walls):.2f} s)")
    print("siyu      " + "  ".join(f"{k} {v:.6g}" for k, v in params.items())
          + f"  LL bgnbd {info['bg_ll']:.3f} gamma_gamma {info['gg_ll']:.3f}")
    if a.pymc:
        try:
            pt, pp = run_pymc(df)
            print(f"pymc-marketing MAP (default priors) {pt:.2f} s: "
                  + "  ".join(f"{k} {v:.6g}" for k, v in pp.items()))
        except ImportError as e:
            print(f"pymc-marketing skipped: {e}")
    if not run_lifetimes_too:
        print(f"lifetimes skipped: {n} customers > --max-lifetimes {a.max_lifetimes}")
        return 0
    _, lparams, p_alive, orders, value, clv, lll = life
    ml = statistics.median(life_t)
    print(f"median lifetimes {ml:.3f} s")
    print(f"ratio siyu/lifetimes {ms / ml:.4f} ({ml / ms:.1f}x faster)")
    print("lifetimes " + "  ".join(f"{k} {v:.6g}" for k, v in lparams.items())
          + (f"  LL bgnbd {lll:.3f}" if not math.isnan(lll) else ""))
    rel = {k: abs(params[k] - lparams[k]) / abs(lparams[k]) for k in params}
    worst = max(rel, key=rel.get)
    print("parameters: largest relative difference " + f"{rel[worst]:.2e} ({worst}); "
          + ", ".join(f"{k} {v:.1e}" for k, v in rel.items()))
    s = pd.read_parquet(out).set_index("member_id").loc[df["member_id"]]
    dp = np.max(np.abs(s["p_alive"].to_numpy() - p_alive))
    ro = np.max(np.abs(s["expected_orders"].to_numpy() - orders) / np.maximum(orders, 1e-9))
    rc = np.max(np.abs(s["clv"].to_numpy() - clv) / np.maximum(np.abs(clv), 1e-6))
    rv = np.max(np.abs(s["expected_order_value"].to_numpy() - value) / np.maximum(value, 1e-9))
    print(f"per customer: max |dP(alive)| {dp:.2e}, max rel d expected orders {ro:.2e}, "
          f"max rel d expected value {rv:.2e}, max rel d CLV {rc:.2e}")
    ok = rel[worst] <= 1e-3 and dp <= 1e-4
    print("agreement: " + ("ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
