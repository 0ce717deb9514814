#!/usr/bin/env bash
# The nightly job under --memory-limit: wall time, peak RSS, and whether its tables equal
# the unconstrained run's.
#
#   bash bench/memory_limit.sh [SCALE] [LIMIT...]     (default: 10 1G 2G)
#
# Uses bench/data/scale-S (made by bench/nightly_timings.sh). Runs the job once without a
# limit, then once per limit, each into a fresh output directory, and compares every
# published table with the unconstrained run's row for row.
# Environment: SIYU (the binary; default: a release build in bench/data/compare-target).
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-10}
shift || true
limits=("$@")
[ ${#limits[@]} -gt 0 ] || limits=(1G 2G)
if [[ -z "${SIYU:-}" ]]; then
  CARGO_TARGET_DIR=bench/data/compare-target cargo build --release --locked --quiet
  SIYU=bench/data/compare-target/release/siyu
fi
bin=$SIYU
end_date=2026-11-01
data=bench/data/scale-$scale
[ -f "$data/.complete" ] || { echo "run bash bench/nightly_timings.sh $scale first"; exit 1; }
reference=bench/data/out-$scale-limit-none
for limit in none "${limits[@]}"; do
  out=bench/data/out-$scale-limit-$limit
  rm -rf "$out"
  log=$(mktemp)
  flags=()
  [ "$limit" = none ] || flags=(--memory-limit "$limit")
  /usr/bin/time -v "$bin" --log-level warn run jobs/nightly.toml --input-dir "$data" \
    --as-of "$end_date" --out "$out" "${flags[@]}" >/dev/null 2>"$log" || { grep -m1 error "$log"; tail -3 "$log"; exit 1; }
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$log")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$log")
  rm -f "$log"
  same=$(python3 - "$out/nightly/as_of=$end_date" "$reference/nightly/as_of=$end_date" <<'PY'
import sys, os
import pyarrow.parquet as pq
a, b = sys.argv[1], sys.argv[2]
files = sorted(f for f in os.listdir(a) if f.endswith(".parquet"))
missing = [f for f in files if not os.path.exists(os.path.join(b, f))]
diff = [f for f in files if f not in missing
        and not pq.read_table(os.path.join(a, f)).replace_schema_metadata(None).equals(
            pq.read_table(os.path.join(b, f)).replace_schema_metadata(None))]
print(("identical" if not diff else "differ: " + ",".join(diff))
      + (f" ({len(files) - len(missing)} tables; not in the unconstrained run: {','.join(missing)})" if missing else f" ({len(files)} tables)"))
PY
)
  printf 'limit=%-6s scale=%-5s seconds=%-8s peak_rss_mib=%-6s tables=%s\n' "$limit" "$scale" "$secs" "$rss" "$same"
done
