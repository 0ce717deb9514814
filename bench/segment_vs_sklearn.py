#!/usr/bin/env python3
"""k-means segments: `siyu segment` (linfa) against scikit-learn's KMeans on the same file.

    pip install -r bench/requirements.txt
    cargo build --release
    python3 bench/segment_vs_sklearn.py [--scale 10] [--k 8] [--n-init 3] [--runs 3]
    python3 bench/segment_vs_sklearn.py --case wide [--runs 5]

Case `members` (the default). Data: `siyu generate --scale S` (scale 10 ≈ 1M members)
into bench/data/scale-S if missing; 8 member features computed from it with DuckDB into
bench/data/scale-S-features.parquet (recency, frequency, average and total spend,
tenure, discount share, all-time orders, community events — members who never bought
get recency = tenure and zeros).

Case `wide`: 30,000 rows × 36 features (bench/data/wide-30000x36.parquet, made once with
numpy's seeded generator: 5 overlapping Gaussian blobs of unequal spread, features of unequal scale),
k = 5, 10 starts, z-score — the shape of a wide feature table (many tags per member),
where the distance loop, not reading the file, is the work.

Both tools get the same transform — signed log1p, then z-score with the population
standard deviation — the same k, the same number of k-means++ starts and at most 300
Lloyd iterations. Tolerances are matched: scikit-learn stops when the squared centre
shift summed over centres is <= tol * mean feature variance = 1e-4 here; siyu's
`--tolerance` bounds the (unsquared) norm of the same shift, so 1e-2.

Timed: siyu's own report of the clustering (k-means++ starts and Lloyd iterations, the
same work as `KMeans.fit`), of the clustering plus sorting rows by id and scaling, and
its whole-command wall time (reading and writing parquet too); scikit-learn's
`KMeans.fit` on a float64 numpy array already transformed. The ratio uses the first. Inertia is the sum of squared distances to the
centroids in the standardised space for both. Prints each run, medians, the ratio
siyu / scikit-learn and the inertia difference. Threads: both use every core (rayon,
OpenMP).
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIYU = os.path.join(ROOT, "target/release/siyu")
AS_OF = "2026-11-01"
FEATURES = [
    "recency_days",
    "frequency",
    "monetary_avg",
    "total_spend_365d",
    "tenure_days",
    "discount_share",
    "orders_all_time",
    "community_events",
]

FEATURE_SQL = f"""
COPY (
WITH o AS (
    SELECT CAST(member_id AS VARCHAR) AS member_id, CAST(ordered_at AS DATE) AS d,
           CAST(paid_amount AS DOUBLE) AS paid, CAST(gross_amount AS DOUBLE) AS gross,
           CAST(discount_amount AS DOUBLE) AS discount
    FROM read_parquet('{{data}}/orders/*.parquet')
    WHERE status = 'paid' AND member_id IS NOT NULL AND ordered_at < DATE '{AS_OF}'
), per AS (
    SELECT member_id,
           MAX(d) AS last_d,
           COUNT(*) FILTER (WHERE d >= DATE '{AS_OF}' - 365) AS frequency,
           SUM(paid) FILTER (WHERE d >= DATE '{AS_OF}' - 365) AS spend_365,
           COUNT(*) AS orders_all_time,
           SUM(discount) / NULLIF(SUM(gross), 0) AS discount_share
    FROM o GROUP BY member_id
), ev AS (
    SELECT CAST(member_id AS VARCHAR) AS member_id, COUNT(*) AS n
    FROM read_parquet('{{data}}/community_events/*.parquet') GROUP BY 1
), m AS (
    SELECT CAST(member_id AS VARCHAR) AS member_id,
           CAST(to_timestamp(joined_at) AS DATE) AS joined
    FROM read_parquet('{{data}}/members/*.parquet')
)
SELECT m.member_id,
       CAST(COALESCE(DATE '{AS_OF}' - per.last_d, DATE '{AS_OF}' - m.joined) AS DOUBLE) AS recency_days,
       CAST(COALESCE(per.frequency, 0) AS DOUBLE) AS frequency,
       COALESCE(per.spend_365 / NULLIF(per.frequency, 0), 0) AS monetary_avg,
       COALESCE(per.spend_365, 0) AS total_spend_365d,
       CAST(DATE '{AS_OF}' - m.joined AS DOUBLE) AS tenure_days,
       COALESCE(per.discount_share, 0) AS discount_share,
       CAST(COALESCE(per.orders_all_time, 0) AS DOUBLE) AS orders_all_time,
       CAST(COALESCE(ev.n, 0) AS DOUBLE) AS community_events
FROM m LEFT JOIN per USING (member_id) LEFT JOIN ev USING (member_id)
ORDER BY m.member_id
) TO '{{out}}' (FORMAT parquet)
"""

SKLEARN = r"""
import sys, time, json
import numpy as np, pyarrow.parquet as pq
from sklearn.cluster import KMeans
path, k, n_init, seed, features, transform = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5].split(","), sys.argv[6]
t = pq.read_table(path, columns=features)
x = np.column_stack([t.column(f).to_numpy(zero_copy_only=False).astype(np.float64) for f in features])
if transform == "log1p_zscore":
    x = np.sign(x) * np.log1p(np.abs(x))
x = (x - x.mean(axis=0)) / x.std(axis=0)
started = time.perf_counter()
km = KMeans(n_clusters=k, n_init=n_init, init="k-means++", algorithm="lloyd", max_iter=300, tol=1e-4, random_state=seed).fit(x)
print(json.dumps({"seconds": time.perf_counter() - started, "inertia": float(km.inertia_), "iterations": int(km.n_iter_)}))
"""


WIDE_ROWS, WIDE_FEATURES = 30_000, 36


def wide_data(path):
    """The wide case's table, made once: seeded, so every machine benchmarks the same rows."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(20261201)
    centres = rng.normal(0.0, 0.5, (5, WIDE_FEATURES))
    spread = rng.uniform(0.5, 2.0, 5)
    scale = rng.uniform(0.1, 100.0, WIDE_FEATURES)
    label = rng.integers(0, 5, WIDE_ROWS)
    x = (centres[label] + rng.normal(0.0, 1.0, (WIDE_ROWS, WIDE_FEATURES)) * spread[label, None]) * scale
    cols = {"member_id": pa.array([f"w{i:06d}" for i in range(WIDE_ROWS)])}
    for f in range(WIDE_FEATURES):
        cols[f"f{f + 1:02d}"] = pa.array(x[:, f])
    pq.write_table(pa.table(cols), path)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", choices=["members", "wide"], default="members")
    ap.add_argument("--scale", default="10", help="members case: the generated scale")
    ap.add_argument("--k", type=int, help="default 8 (members), 5 (wide)")
    ap.add_argument("--n-init", type=int, help="default 3 (members), 10 (wide)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--binary", default=SIYU, help="the siyu executable (default target/release/siyu)")
    a = ap.parse_args()
    siyu = a.binary
    if not os.path.exists(siyu):
        sys.exit("build first: cargo build --release")
    os.makedirs(os.path.join(ROOT, "bench/data"), exist_ok=True)
    if a.case == "wide":
        a.k, a.n_init = a.k or 5, a.n_init or 10
        features = [f"f{f + 1:02d}" for f in range(WIDE_FEATURES)]
        transform = "zscore"
        feats = os.path.join(ROOT, "bench/data", f"wide-{WIDE_ROWS}x{WIDE_FEATURES}.parquet")
        if not os.path.exists(feats):
            wide_data(feats)
    else:
        a.k, a.n_init = a.k or 8, a.n_init or 3
        features, transform = FEATURES, "log1p_zscore"
        data = os.path.join(ROOT, "bench/data", f"scale-{a.scale}")
        if not os.path.isdir(data):
            print(f"generating scale {a.scale} into {data}", flush=True)
            run([siyu, "generate", "--scale", a.scale, "--out", data, "--end-date", AS_OF])
        feats = os.path.join(ROOT, "bench/data", f"scale-{a.scale}-features.parquet")
        if not os.path.exists(feats):
            import duckdb

            duckdb.sql(FEATURE_SQL.format(data=data, out=feats))
    import pyarrow.parquet as pq

    rows = pq.read_metadata(feats).num_rows
    print(f"case {a.case}: {rows:,} rows x {len(features)} features, k = {a.k}, n_init = {a.n_init}, "
          f"{transform}, {a.runs} runs each")
    out = os.path.join(ROOT, "bench/data", "segments.parquet")
    siyu_fit, siyu_prep, siyu_wall, sk_fit = [], [], [], []
    siyu_inertia = sk_inertia = None
    for i in range(a.runs):
        t = time.perf_counter()
        r = run([siyu, "segment", "--input", feats, "--id", "member_id", "--features",
                 ",".join(features), "--k", str(a.k), "--n-runs", str(a.n_init),
                 "--transform", transform, "--tolerance", "1e-2",
                 "--max-iterations", "300", "--seed", str(a.seed), "--out", out])
        siyu_wall.append(time.perf_counter() - t)
        m = re.search(r"inertia = ([0-9.]+), converged = (\w+), ([0-9.]+) s \(k-means ([0-9.]+) s", r.stdout)
        siyu_inertia, converged, prep, fit = float(m.group(1)), m.group(2), float(m.group(3)), float(m.group(4))
        siyu_fit.append(fit)
        siyu_prep.append(prep)
        r = run([sys.executable, "-c", SKLEARN, feats, str(a.k), str(a.n_init), str(a.seed),
                 ",".join(features), transform])
        import json

        sk = json.loads(r.stdout)
        sk_fit.append(sk["seconds"])
        sk_inertia = sk["inertia"]
        print(f"run {i + 1}: siyu {fit:.3f} s (with id sort and scaling {prep:.3f} s, whole command "
              f"{siyu_wall[-1]:.3f} s, converged {converged}), "
              f"scikit-learn {sk['seconds']:.3f} s ({sk['iterations']} iterations)", flush=True)
    ms, mw, mk = statistics.median(siyu_fit), statistics.median(siyu_wall), statistics.median(sk_fit)
    mp = statistics.median(siyu_prep)
    print(f"median: siyu {ms:.3f} s (with id sort and scaling {mp:.3f} s, whole command {mw:.3f} s), "
          f"scikit-learn {mk:.3f} s, "
          f"ratio siyu/scikit-learn {ms / mk:.2f}")
    print(f"inertia: siyu {siyu_inertia:.1f}, scikit-learn {sk_inertia:.1f}, "
          f"siyu is {100 * (siyu_inertia - sk_inertia) / sk_inertia:+.2f}%")


if __name__ == "__main__":
    main()
