#!/usr/bin/env bash
# Recommendations for every member from tens of thousands of basket rules.
#
#   bash bench/recommend_many_rules.sh [SCALE]      (default: 10)
#
# The nightly job mines few rules from generated data (its baskets average 1.5 items, so
# support 0.002 keeps ~40 rules); bench/recommend_many_rules.toml mines at 0.005% instead
# and runs the nightly job's recommend step on the result. Prints wall time and peak RSS
# of the run, then each step's rows and seconds from the manifest (steps overlap, so
# their seconds include waiting for the CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-10}
cargo build --release --locked
data=bench/data/scale-$scale
if [ ! -f "$data/.complete" ]; then
  rm -rf "$data"
  target/release/siyu generate --scale "$scale" --out "$data" --end-date 2026-11-01 >/dev/null
  touch "$data/.complete"
fi
out=bench/data/out-many-rules-$scale
rm -rf "$out"
/usr/bin/time -f "run: %e s, peak RSS %M KiB" target/release/siyu --log-level warn \
  run bench/recommend_many_rules.toml --input-dir "$data" --as-of 2026-11-01 --out "$out"
python3 - "$out" <<'PY'
import glob, json, sys
manifest = json.load(open(glob.glob(f"{sys.argv[1]}/*/*/_manifest.json")[0]))
for step in manifest["steps"]:
    rows = ", ".join(f"{k} {v:,}" for k, v in step["rows"].items())
    print(f"{step['name']:<26} {step['seconds']:>8.3f} s   {rows}")
PY
