#!/usr/bin/env python3
"""The nightly job's SQL steps in siyu (DataFusion) and in DuckDB, on the same files.

    pip install -r bench/requirements.txt
    python3 bench/tags_vs_duckdb.py --data bench/data/scale-1 [--runs 3]

Generate the data first (`bash bench/nightly_timings.sh 1` does, or
`target/release/siyu generate --scale 1 --out bench/data/scale-1 --end-date 2026-11-01`).

siyu: `siyu run` of the nightly job reduced to its SQL job files (the Rust steps —
segments, rules, recommendations, value — removed, with stand-ins member_segments and
member_value that both engines run), `--input-dir DATA` (wall time of the whole run: input checks, every SQL
step, sorted zstd parquet for the published tables, manifest).
DuckDB: the same SQL files, in the order `siyu plan` prints, each as
`CREATE TABLE <name> AS <query>` over views that normalise the inputs the way siyu does
(string ids, local timestamps, decimal money), then `COPY` of the published tables to
zstd parquet sorted the same way. Params are substituted as literals. Prints each run,
the medians, the ratio siyu / DuckDB, and for every published table the row counts in both
and the rows either has that the other lacks; exits 1 unless every table is identical.
The test suite runs it once on testdata/ (tests/it/bench_smoke.rs), so it cannot rot.
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
        {guide_id} AS guide_id, {consent_wecom} AS consent_wecom,
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


# DataFusion functions DuckDB spells otherwise: the one translation the DuckDB side makes.
DUCKDB_SPELLING = [
    (r"\bmake_array\(", "list_value("),
    (r"\bto_unixtime\(", "epoch("),
]


def named_structs(sql):
    """DataFusion's named_struct('a', x, 'b', y) as DuckDB's struct_pack(a := x, b := y),
    nested calls included (arguments split at top-level commas, outside quotes)."""
    out, i, key = [], 0, "named_struct("
    while True:
        j = sql.find(key, i)
        if j < 0:
            out.append(sql[i:])
            return "".join(out)
        out.append(sql[i:j])
        k, depth, quote, args, start = j + len(key), 1, False, [], j + len(key)
        while depth:
            c = sql[k]
            if c == "'":
                quote = not quote
            elif not quote and c == "(":
                depth += 1
            elif not quote and c == ")":
                depth -= 1
            if not quote and (c == "," and depth == 1 or depth == 0):
                args.append(sql[start:k].strip())
                start = k + 1
            k += 1
        pairs = [f"{args[n].strip(chr(39))} := {named_structs(args[n + 1])}" for n in range(0, len(args), 2)]
        out.append("struct_pack(" + ", ".join(pairs) + ")")
        i = k


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
        source = f"read_parquet('{data}/{table}/*.parquet')"
        present = {c[0] for c in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        # siyu's optional additions to the shared contract read as null when absent.
        optional = {
            "guide_id": "CAST(guide_id AS VARCHAR)" if "guide_id" in present else "CAST(NULL AS VARCHAR)",
            "consent_wecom": "consent_wecom" if "consent_wecom" in present else "CAST(NULL AS BOOLEAN)",
        }
        con.execute(f"CREATE VIEW {table} AS {select.format(tz=tz, **optional)} FROM {source}")
    rows = {}
    for step in plan["steps"]:
        if step["kind"] != "sql":
            continue
        with open(step["source"]) as f:
            sql = f.read()
        for n in names:
            sql = re.sub(r"\$" + n + r"\b", params[n], sql)
        for pattern, spelling in DUCKDB_SPELLING:
            sql = re.sub(pattern, spelling, sql)
        sql = named_structs(sql)
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


# member_tags joins the segment step's output, member_churn and member_tags the value
# step's; both engines get the same stand-ins (a night without a value model).
STUBS = {
    "member_segments": "SELECT member_id, CAST(NULL AS VARCHAR) AS segment_id, "
                       "CAST(NULL AS VARCHAR) AS segment_name FROM member_features",
    "member_value": "SELECT member_id, CAST(NULL AS DOUBLE) AS p_alive, "
                    "CAST(NULL AS DOUBLE) AS expected_orders, CAST(NULL AS DOUBLE) AS clv, "
                    "CAST(NULL AS VARCHAR) AS value_band, CAST(NULL AS BOOLEAN) AS high_potential "
                    "FROM member_features",
}


def sql_only_job(binary, path, data, tmp):
    """The job's SQL files that DuckDB can run too, as a job of their own: no [[steps]]
    (segments, rules, recommendations, outreach: Rust), none of the SQL files that read
    what those write (found from `siyu plan` of the whole job), a stand-in for
    member_segments; published tables limited to the SQL ones. Returns the job's path and
    the SQL files it dropped."""
    full = json.loads(subprocess.run(
        [binary, "plan", path, "--input-dir", data, "--format", "json"],
        check=True, capture_output=True, text=True).stdout)
    unavailable = {t for s in full["steps"] if s["kind"] not in ("sql", "data_quality")
                   for t in s["writes"]} - set(STUBS)
    sql_dir = os.path.join(tmp, "sql")
    os.makedirs(sql_dir)
    kept, dropped = set(), []
    for step in full["steps"]:
        if step["kind"] != "sql":
            continue
        # A stand-in is not published, so its previous night does not exist either.
        previous = unavailable | set(STUBS)
        if any(t in unavailable or (t.startswith("previous_") and t[9:] in previous)
               for t in step["reads"]):
            unavailable.update(step["writes"])
            dropped.append(step["name"])
            continue
        shutil.copy(step["source"], os.path.join(sql_dir, step["name"] + ".sql"))
        kept.add(step["name"])
    for name, sql in STUBS.items():
        with open(os.path.join(sql_dir, name + ".sql"), "w") as f:
            f.write(sql)
    with open(path, "rb") as f:
        job = tomllib.load(f)
    publish = [t for t in job["publish"]["tables"] if t in kept]
    out, skipping, section = [], False, ""
    with open(path) as f:
        for line in f:
            s = line.strip()
            if s.startswith("["):
                section = s
                # Rust steps, and the data tests (they read what Rust steps write).
                skipping = s.startswith(("[[steps", "[tests", "[[tests"))
            if skipping:
                continue
            # A declared key of a table this job does not publish is a config error.
            if section == "[publish.keys]" and "=" in s and s.split("=")[0].strip() not in publish:
                continue
            if s.startswith("dirs ="):
                line = "dirs = " + json.dumps([sql_dir]) + "\n"
            out.append(line)
    text = "".join(out)
    text = re.sub(r"tables = \[[^\]]*\]", "tables = " + json.dumps(publish), text)
    derived = os.path.join(tmp, "nightly_sql_only.toml")
    with open(derived, "w") as f:
        f.write(text)
    return derived, dropped


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
    args.job, dropped = sql_only_job(args.binary, args.job, data, tmp)
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
    if not os.environ.get("KEEP"): shutil.rmtree(tmp, ignore_errors=True)
    else: print("kept", tmp)
    ms, md = statistics.median(siyu_times), statistics.median(duck_times)
    sql_steps = sum(1 for s in plan["steps"] if s["kind"] == "sql")
    print(f"data {args.data}: {sql_steps} SQL steps, duckdb {duckdb.__version__}"
          f" (left out, they read what Rust steps write: {', '.join(dropped)})")
    print(f"median siyu {ms:.2f} s, median duckdb {md:.2f} s, ratio siyu/duckdb {ms / md:.2f}")
    mismatched = False
    for table in sorted(siyu_rows):
        flag = ""
        if siyu_rows[table] != duck_rows.get(table):
            flag = "  MISMATCH (row count)"
        elif differing[table] != 0:
            flag = "  MISMATCH (content)"
        mismatched |= bool(flag)
        print(f"  {table:<20} siyu {siyu_rows[table]:>10} rows  duckdb {duck_rows.get(table, '-'):>10} rows"
              f"  rows differing: {differing[table]}{flag}")
    sys.exit(1 if mismatched else 0)


if __name__ == "__main__":
    main()
