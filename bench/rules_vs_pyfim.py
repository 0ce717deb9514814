#!/usr/bin/env python3
"""Frequent-itemset mining: siyu against pyfim (Borgelt's C FP-growth) and mlxtend.

    pip install -r bench/requirements.txt
    cargo build --release
    python3 bench/rules_vs_pyfim.py [--scales 1 10] [--runs 3]

Cases: Groceries (../shared/datasets/groceries.csv, skipped if absent), the baskets
(order_items) of generated data at each scale (bench/data/scale-S, made by
`siyu generate` if missing), and a dense synthetic case. For each case and minimum
support it prints the median time of each tool (mining only: the baskets are already in
memory for the Python tools; siyu's is the itemset mining `siyu rules` reports, with its
whole run — reading the parquet, grouping, mining, rules — beside it), the ratios, the itemset counts (which must agree)
and peak memory (max RSS of each tool's own process). mlxtend is skipped where its dense
one-hot matrix would not fit (baskets × items > 2e8 cells).
"""

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIYU = os.path.join(ROOT, "target/release/siyu")

PEER = r"""
import json, resource, sys, time
tool, path, min_count, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
baskets = json.load(open(path))
times, count = [], None
for _ in range(runs):
    if tool == "pyfim":
        import fim
        t = time.perf_counter()
        r = fim.fpgrowth(baskets, target="s", supp=-min_count, zmin=1, report="a")
        times.append(time.perf_counter() - t)
        count = len(r)
    else:
        import pandas as pd
        from mlxtend.preprocessing import TransactionEncoder
        from mlxtend.frequent_patterns import fpgrowth
        te = TransactionEncoder()
        df = pd.DataFrame(te.fit(baskets).transform(baskets), columns=te.columns_)
        t = time.perf_counter()
        r = fpgrowth(df, min_support=min_count / len(baskets))
        times.append(time.perf_counter() - t)
        count = len(r)
print(json.dumps({"times": times, "count": count}))
"""


def peer(tool, baskets_json, min_count, runs):
    # Peak RSS from /usr/bin/time: getrusage in the child would report the parent's peak,
    # which Linux carries across fork and exec.
    out = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-c", PEER, tool, baskets_json,
                          str(min_count), str(runs)], capture_output=True, text=True)
    if out.returncode != 0:
        lines = out.stderr.strip().splitlines()
        return None, lines[-2] if len(lines) > 1 else "failed"
    r = json.loads(out.stdout)
    r["rss_mib"] = int(out.stderr.strip().splitlines()[-1]) / 1024
    return r, None


def siyu(parquet, basket, item, support, runs):
    times, totals, count, rss = [], [], None, 0
    for _ in range(runs):
        out = subprocess.run(["/usr/bin/time", "-f", "%M", SIYU, "--log-level", "error", "rules",
                              "--input", parquet, "--basket", basket, "--item", item,
                              "--min-support", repr(support), "--out", os.devnull],
                             capture_output=True, text=True, check=True)
        m = re.match(r"(\d+) baskets, (\d+) items, (\d+) frequent itemsets, \d+ rules .* in ([0-9.]+) s "
                     r"\(reading and grouping [0-9.]+ s, itemsets ([0-9.]+) s", out.stdout)
        totals.append(float(m.group(4)))
        times.append(float(m.group(5)))
        count = int(m.group(3))
        rss = max(rss, int(out.stderr.strip().splitlines()[-1]) / 1024)
    return {"times": times, "totals": totals, "count": count, "rss_mib": rss}


def min_count_for(support, n):
    c = max(1, -(-int(support * n * 1e9) // int(1e9)))
    while c > 1 and (c - 1) / n >= support:
        c -= 1
    while c / n < support:
        c += 1
    return c


def write_case(tmp, name, baskets):
    import pyarrow as pa
    import pyarrow.parquet as pq
    ids, items = [], []
    for i, b in enumerate(baskets):
        for it in b:
            ids.append(i)
            items.append(it)
    parquet = os.path.join(tmp, f"{name}.parquet")
    pq.write_table(pa.table({"basket": ids, "item": items}), parquet)
    js = os.path.join(tmp, f"{name}.json")
    with open(js, "w") as f:
        json.dump(baskets, f)
    return parquet, js


def generated(scale):
    import pyarrow.dataset as ds
    data = os.path.join(ROOT, f"bench/data/scale-{scale}")
    if not os.path.exists(os.path.join(data, "order_items")):
        subprocess.run([SIYU, "generate", "--scale", str(scale), "--out", data, "--end-date", "2026-11-01"],
                       check=True, stdout=subprocess.DEVNULL)
    t = ds.dataset(os.path.join(data, "order_items"), format="parquet").to_table(columns=["order_id", "product_id"])
    baskets = {}
    for o, p in zip(t.column(0).to_pylist(), t.column(1).to_pylist()):
        baskets.setdefault(o, []).append(p)
    return list(baskets.values())


def dense():
    # 2,000 baskets of ~40 of 60 items, with correlated blocks: many long itemsets.
    rng = random.Random(7)
    out = []
    for _ in range(2000):
        block = rng.randrange(3)
        out.append([f"i{k}" for k in range(60) if rng.random() < (0.9 if k // 20 == block else 0.5)])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scales", nargs="*", type=float, default=[1, 10])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="siyu-rules-bench-")
    cases = []
    groceries = os.path.join(ROOT, "../shared/datasets/groceries.csv")
    if os.path.exists(groceries):
        with open(groceries) as f:
            rows = [l.rstrip("\n").split(",") for l in f if l.strip()]
        cases.append(("groceries", lambda: rows, [0.01, 0.005, 0.001]))
    else:
        print(f"skipped groceries: {groceries} not found")
    for s in args.scales:
        cases.append((f"generated scale {s:g}", lambda s=s: generated(s), [0.01, 0.001, 0.0002]))
    cases.append(("dense", dense, [0.6, 0.5, 0.45]))

    print("times: itemset mining (siyu's own report; the peers' call on baskets already in memory);\n"
          "siyu total = reading the parquet, grouping baskets, mining, rules, writing them")
    print(f"{'case':<22} {'support':>8} {'baskets':>9} {'siyu s':>8} {'total s':>8} {'pyfim s':>8} {'mlxtend s':>9} "
          f"{'pyfim/siyu':>10} {'mlx/siyu':>9} {'itemsets':>9} {'agree':>5} {'siyu MiB':>8} {'pyfim MiB':>9} {'mlx MiB':>8}")
    ok = True
    for name, load, supports in cases:
        baskets = load()
        parquet, js = write_case(tmp, re.sub(r"\W", "_", name), baskets)
        cells = len(baskets) * len({i for b in baskets for i in b})
        for support in supports:
            mc = min_count_for(support, len(baskets))
            s = siyu(parquet, "basket", "item", support, args.runs)
            p, perr = peer("pyfim", js, mc, args.runs)
            m, merr = (None, "skipped: one-hot matrix too large") if cells > 2e8 else peer("mlxtend", js, mc, args.runs)
            med = lambda r: statistics.median(r["times"]) if r else float("nan")
            counts = {s["count"]} | ({p["count"]} if p else set()) | ({m["count"]} if m else set())
            agree = len(counts) == 1
            ok &= agree
            total = statistics.median(s["totals"])
            print(f"{name:<22} {support:>8g} {len(baskets):>9} {med(s):>8.3f} {total:>8.3f} {med(p):>8.3f} {med(m):>9.3f} "
                  f"{med(p) / med(s):>10.2f} {med(m) / med(s):>9.2f} {s['count']:>9} {'yes' if agree else 'NO':>5} "
                  f"{s['rss_mib']:>8.0f} {p['rss_mib'] if p else float('nan'):>9.0f} {m['rss_mib'] if m else float('nan'):>8.0f}",
                  flush=True)
            for err in (perr, merr):
                if err:
                    print(f"    {err}")
        del baskets
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
