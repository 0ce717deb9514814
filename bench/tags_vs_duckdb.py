#!/usr/bin/env python3
"""The nightly job's SQL steps in siyu (DataFusion) and in DuckDB, on the same files.

    pip install -r bench/requirements.txt
    python3 bench/tags_vs_duckdb.py --data bench/data/scale-1 [--runs 3]

Generate the data first (`bash bench/nightly_timings.sh 1` does, or
`target/release/siyu generate --scale 1 --out bench/data/scale-1 --end-date 2026-11-01`).

siyu: `siyu run` of the nightly job reduced to its SQL job files (the Rust steps —
segments, rules, recommendations — removed, with a stand-in member_segments that both
engines run), `--input-dir DATA` (wall time of the whole run: input checks, every SQL
step, sorted zstd parquet for the published tables, manifest).
DuckDB: the same SQL files, in the order `siyu plan` prints, each as
`CREATE TABLE <name> AS <query>` over views that normalise the inputs the way siyu does
(string ids, local timestamps, decimal money), then `COPY` of the published tables to
zstd parquet sorted the same way. Params are substituted as literals. Prints each run,
the medians, the ratio siyu / DuckDB and the row counts of every published table in both
(which must match).
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib

import duckdb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

INPUT_VIEWS = {
    "members": """SELECT CAST(member_id AS VARCHAR) AS member_id, timezone('{tz}', to_timestamp(joined_at)) AS joined_at,
        birthday, gender, city, CAST(city_tier AS BIGINT) AS city_tier, acquisition_channel,
        CAST(referrer_id AS VARCHAR) AS referrer_id, CAST(home_store_id AS VARCHAR) AS home_store_id,
        consent_sms, consent_wechat, consent_email, consent_app_push""",
    "orders": """SELECT CAST(order_id AS VARCHAR) AS order_id, CAST(member_id AS VARCHAR) AS member_id,
        ordered_at, channel, CAST(store_id AS VARCHAR) AS store_id,
        CAST(gross_amount AS DECIMAL(18,2)) AS gross_amount, CAST(discount_amount AS DECIMAL(18,2)) AS discount_amount,
        CAST(paid_amount AS DECIMAL(18,2)) AS paid_amount, CAST(coupon_id AS VARCHAR) AS coupon_id, status""",
    "order_items": """SELECT CAST(order_id AS VARCHAR) AS order_id, CAST(product_id AS VARCHAR) AS product_id,
        CAST(quantity AS BIGINT) AS quantity, CAST(unit_price AS DECIMAL(18,2)) AS unit_price,
        CAST(line_amount AS DECIMAL(18,2)) AS line_amount""",
    "products": """SELECT CAST(product_id AS VARCHAR) AS product_id, name, category, subcategory, brand,
        CAST(list_price AS DECIMAL(18,2)) AS list_price, launched_at, is_consumable""",
    "community_events": """SELECT CAST(member_id AS VARCHAR) AS member_id, CAST(group_id AS VARCHAR) AS group_id,
        event_type, timezone('{tz}', CAST(occurred_at AS TIMESTAMPTZ)) AS occurred_at, CAST(target_member_id AS VARCHAR) AS target_member_id""",
    "points_ledger": """SELECT CAST(member_id AS VARCHAR) AS member_id, occurred_at, kind, CAST(points AS BIGINT) AS points, expires_at""",
    "contact_history": """SELECT CAST(member_id AS VARCHAR) AS member_id, campaign, channel, sent_at, holdout, converted_at,
        CAST(revenue AS DECIMAL(18,2)) AS revenue""",
    "suppression": """SELECT CAST(member_id AS VARCHAR) AS member_id, reason, until""",
}


def literal(value, ty):
    if ty == "date":
        return f"DATE '{value}'"
    if ty == "timestamp":
        return f"TIMESTAMP '{value}'"
    if ty == "string":
        return "'" + str(value).replace("'", "''") + "'"
    if ty == "bool":
        return "TRUE" if value else "FALSE"
    return repr(value)


def run_siyu(binary, job, data, as_of, out):
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    subprocess.run(
        [binary, "--log-level", "error", "run", job, "--input-dir", data, "--as-of", as_of, "--out", out],
        check=True, stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - t
    with open(os.path.join(out, "nightly", f"as_of={as_of}", "_manifest.json")) as f:
        manifest = json.load(f)
    return seconds, {o["table"]: o["rows"] for o in manifest["outputs"]}


def run_duckdb(plan, job, data, as_of, out):
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    params = {name: literal(p["default"], p["type"]) for name, p in job["params"].items()}
    params["as_of"] = literal(as_of, "date")
    params["as_of_ts"] = literal(as_of + " 00:00:00", "timestamp")
    names = sorted(params, key=len, reverse=True)
    publish = job["publish"]["tables"]
    tz = job["job"].get("timezone", "Asia/Shanghai")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    t = time.perf_counter()
    for table, select in INPUT_VIEWS.items():
        con.execute(f"CREATE VIEW {table} AS {select.format(tz=tz)} FROM read_parquet('{data}/{table}/*.parquet')")
    rows = {}
    for step in plan["steps"]:
        with open(step["source"]) as f:
            sql = f.read()
        for n in names:
            sql = re.sub(r"\$" + n + r"\b", params[n], sql)
        con.execute(f"CREATE TABLE {step['name']} AS {sql}")
        if step["name"] in publish:
            con.execute(f"CREATE TABLE previous_{step['name']} AS SELECT * FROM {step['name']} WHERE false")
            cols = [c[0] for c in con.execute(f"DESCRIBE {step['name']}").fetchall()
                    if not c[1].endswith("[]")]
            path = os.path.join(out, f"{step['name']}.parquet")
            con.execute(f"COPY (SELECT * FROM {step['name']} ORDER BY {', '.join(cols)}) TO '{path}' "
                        "(FORMAT parquet, COMPRESSION zstd)")
            rows[step["name"]] = con.execute(f"SELECT count(*) FROM {step['name']}").fetchone()[0]
    seconds = time.perf_counter() - t
    con.close()
    return seconds, rows


# Tables written by Rust steps (segments, rules, recommendations): DuckDB cannot run
# those, so the comparison is of the SQL job files only.
RUST_STEP_DIRS = ("sql/segments",)
STUB_SQL = {
    # member_tags joins the segment step's output; both engines get the same stand-in.
    "member_segments.sql": "SELECT member_id, CAST(NULL AS VARCHAR) AS segment_id, "
                           "CAST(NULL AS VARCHAR) AS segment_name FROM member_features",
}


def sql_only_job(path, tmp):
    """The job without its [[steps]] and the SQL that reads their outputs, with a stub for
    member_segments; paths made absolute; published tables limited to SQL ones."""
    with open(path, "rb") as f:
        job = tomllib.load(f)
    base = os.path.dirname(os.path.abspath(path))
    dirs = [os.path.normpath(os.path.join(base, d)) for d in job["sql"]["dirs"]]
    dirs = [d for d in dirs if not d.endswith(RUST_STEP_DIRS)]
    stub = os.path.join(tmp, "stub_sql")
    os.makedirs(stub, exist_ok=True)
    for name, sql in STUB_SQL.items():
        with open(os.path.join(stub, name), "w") as f:
            f.write(sql)
    dirs.append(stub)
    sql_tables = set(STUB_SQL_TABLES := [n[:-4] for n in STUB_SQL])
    for d in dirs:
        sql_tables |= {n[:-4] for n in os.listdir(d) if n.endswith(".sql")}
    publish = [t for t in job["publish"]["tables"] if t in sql_tables and t not in STUB_SQL_TABLES]
    out, skipping = [], False
    with open(path) as f:
        for line in f:
            s = line.strip()
            if s.startswith("["):
                skipping = s == "[[steps]]"
            if skipping:
                continue
            if s.startswith("dirs ="):
                line = "dirs = " + json.dumps(dirs) + "\n"
            out.append(line)
    text = "".join(out)
    text = re.sub(r"tables = \[[^\]]*\]", "tables = " + json.dumps(publish), text)
    derived = os.path.join(tmp, "nightly_sql_only.toml")
    with open(derived, "w") as f:
        f.write(text)
    return derived


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--as-of", default="2026-11-01")
    ap.add_argument("--job", default=os.path.join(ROOT, "jobs/nightly.toml"))
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/siyu"))
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    data = os.path.abspath(args.data)
    tmp = tempfile.mkdtemp(prefix="siyu-bench-")
    args.job = sql_only_job(args.job, tmp)
    with open(args.job, "rb") as f:
        job = tomllib.load(f)
    plan = json.loads(subprocess.run(
        [args.binary, "plan", args.job, "--input-dir", data, "--format", "json"],
        check=True, capture_output=True, text=True).stdout)
    siyu_dir = os.path.join(tmp, "siyu", "nightly", f"as_of={args.as_of}")
    duck_dir = os.path.join(tmp, "duckdb")
    siyu_times, duck_times = [], []
    for i in range(args.runs):
        s, siyu_rows = run_siyu(args.binary, args.job, data, args.as_of, os.path.join(tmp, "siyu"))
        d, duck_rows = run_duckdb(plan, job, data, args.as_of, os.path.join(tmp, "duckdb"))
        siyu_times.append(s)
        duck_times.append(d)
        print(f"run {i + 1}: siyu {s:.2f} s, duckdb {d:.2f} s", flush=True)
    differing = {}
    for table in siyu_rows:
        a, b = os.path.join(siyu_dir, f"{table}.parquet"), os.path.join(duck_dir, f"{table}.parquet")
        q = (f"SELECT count(*) FROM (SELECT * FROM '{a}' EXCEPT ALL SELECT * FROM '{b}') "
             f"UNION ALL SELECT count(*) FROM (SELECT * FROM '{b}' EXCEPT ALL SELECT * FROM '{a}')")
        try:
            differing[table] = sum(r[0] for r in duckdb.sql(q).fetchall())
        except duckdb.Error as e:
            differing[table] = f"not comparable ({str(e).splitlines()[0][:60]})"
    shutil.rmtree(tmp, ignore_errors=True)
    ms, md = statistics.median(siyu_times), statistics.median(duck_times)
    print(f"data {args.data}: {len(plan['steps'])} SQL steps, duckdb {duckdb.__version__}")
    print(f"median siyu {ms:.2f} s, median duckdb {md:.2f} s, ratio siyu/duckdb {ms / md:.2f}")
    mismatched = False
    for table in sorted(siyu_rows):
        flag = "" if siyu_rows[table] == duck_rows.get(table) else "  MISMATCH"
        mismatched |= bool(flag)
        print(f"  {table:<20} siyu {siyu_rows[table]:>10} rows  duckdb {duck_rows.get(table, '-'):>10} rows"
              f"  rows differing: {differing[table]}{flag}")
    sys.exit(1 if mismatched else 0)


if __name__ == "__main__":
    main()
