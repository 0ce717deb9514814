#!/usr/bin/env bash
# Wall time and peak memory of `siyu generate` and `siyu run` on generated data.
#
#   bash bench/nightly_timings.sh [SCALE...]      (default: 1 10)
#
# Builds the release binary, generates each scale into bench/data/scale-S (kept between
# runs; delete it to regenerate), then times the nightly job on it with /usr/bin/time -v.
# Prints one line per measurement: what, scale, seconds, peak RSS in MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
scales=("$@")
[ ${#scales[@]} -gt 0 ] || scales=(1 10)
cargo build --release --locked
bin=target/release/siyu
end_date=2026-11-01
mkdir -p bench/data

measure() { # label scale command...
  local label=$1 scale=$2; shift 2
  local log
  log=$(mktemp)
  /usr/bin/time -v "$@" >/dev/null 2>"$log" || { cat "$log"; exit 1; }
  local secs rss
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$log")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$log")
  printf '%-10s scale=%-5s seconds=%-8s peak_rss_mib=%s\n' "$label" "$scale" "$secs" "$rss"
  rm -f "$log"
}

for s in "${scales[@]}"; do
  data=bench/data/scale-$s
  if [ ! -f "$data/.complete" ]; then
    rm -rf "$data"
    measure generate "$s" "$bin" generate --scale "$s" --out "$data" --end-date "$end_date"
    touch "$data/.complete"
  fi
  measure run "$s" "$bin" --log-level warn run jobs/nightly.toml --input-dir "$data" \
    --as-of "$end_date" --out "bench/data/out-$s"
done
