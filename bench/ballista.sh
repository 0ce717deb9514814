#!/usr/bin/env bash
# The nightly job on the local engine and on a local Ballista cluster (one scheduler, two
# executors, all `siyu` processes on 127.0.0.1): wall time of each, peak RSS of every
# process, every published table compared byte for byte, and an estimate of what N
# executors on their own machines would give, from the cluster's task times.
#
#   bash bench/ballista.sh [SCALE] [RUNS]        (default: 10 1)
#
# Environment: SIYU (binary; default: a release build in bench/data/compare-target),
# CONCURRENT_TASKS (task slots per executor, default 1), PARTITIONS (--partitions on
# the cluster; default 4 = 2 executors x 2 cores), QUICK=1 (testdata instead of a
# generated scale: the smoke run the tests do).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scale=${1:-10}
runs=${2:-1}
if [[ -z "${SIYU:-}" ]]; then
  CARGO_TARGET_DIR=$root/bench/data/compare-target cargo build --release --locked --quiet
  SIYU=$root/bench/data/compare-target/release/siyu
fi
export SIYU
as_of=2026-11-01
work=$root/bench/data/ballista
rm -rf "$work"
mkdir -p "$work"

if [[ "${QUICK:-}" == 1 ]]; then
  data=$root/testdata
  label=testdata
else
  data=$root/bench/data/scale-$scale
  label="scale $scale"
  if [[ ! -f "$data/.complete" ]]; then
    rm -rf "$data"
    "$SIYU" generate --scale "$scale" --out "$data" --end-date "$as_of"
    touch "$data/.complete"
  fi
fi

# seconds and peak RSS (MiB) of one command, from /usr/bin/time -v when it is there.
timed() { # LOG command...
  local log=$1; shift
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -v "$@" >/dev/null 2>"$log"
  else
    local t0=$SECONDS; "$@" >/dev/null 2>"$log"; echo "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:$((SECONDS - t0))" >>"$log"
  fi
}
secs_of() { awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$1"; }
rss_of() { awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$1"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

job=$root/jobs/nightly.toml
local_secs=()
local_rss=()
for r in $(seq 1 "$runs"); do
  rm -rf "$work/local"
  timed "$work/local.time" "$SIYU" --log-level warn run "$job" --input-dir "$data" --as-of "$as_of" --out "$work/local"
  local_secs+=("$(secs_of "$work/local.time")")
  local_rss+=("$(rss_of "$work/local.time")")
done

url=$(CONCURRENT_TASKS=${CONCURRENT_TASKS:-1} bash bench/local-cluster.sh start "$work/cluster")
trap 'bash bench/local-cluster.sh stop "$work/cluster"' EXIT
pids=($(awk '{print $1}' "$work/cluster/pids"))
cluster_secs=()
cluster_rss=()
for r in $(seq 1 "$runs"); do
  rm -rf "$work/remote"
  timed "$work/remote.time" "$SIYU" --log-level warn run "$job" --input-dir "$data" --as-of "$as_of" \
    --out "$work/remote" --scheduler "$url" --partitions "${PARTITIONS:-4}" \
    --shared-dir "$work" --shared-dir "$data"
  cluster_secs+=("$(secs_of "$work/remote.time")")
  cluster_rss+=("$(rss_of "$work/remote.time")")
done
node_rss=()
for p in "${pids[@]}"; do
  node_rss+=("$(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$p/status")")
done

# Every published table, byte for byte.
same=yes
for f in "$work"/local/nightly/as_of=$as_of/*.parquet; do
  b=$(basename "$f")
  if ! cmp -s "$f" "$work/remote/nightly/as_of=$as_of/$b"; then
    echo "DIFFERENT: $b" >&2
    same=no
  fi
done

# The cluster's work: the sum of its task times (each executor logs every task's), the
# client's time in the Rust steps (they run on the client whatever the engine), and the
# rest of the client's time (waiting for jobs, fetching results, writing parquet).
task_ms=$(cat "$work"/cluster/executor-*.log | grep -o 'Finished task : \[[^]]*\] in [0-9.]*[mµ]*s' |
  awk '{v=$NF; if (v ~ /ms$/) {sub(/ms$/,"",v); s+=v} else if (v ~ /µs$/) {sub(/µs$/,"",v); s+=v/1000} else {sub(/s$/,"",v); s+=v*1000}} END {printf "%.0f", s}')
tasks=$(cat "$work"/cluster/executor-*.log | grep -c 'Finished task' || true)
manifest=$work/remote/nightly/as_of=$as_of/_manifest.json
read -r rust_secs sql_secs < <(python3 - "$manifest" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
rust = sum(s["seconds"] for s in m["steps"] if s["kind"] != "sql")
sql = sum(s["seconds"] for s in m["steps"] if s["kind"] == "sql")
print(f"{rust:.1f} {sql:.1f}")
EOF
)

lm=$(printf '%s\n' "${local_secs[@]}" | median)
cm=$(printf '%s\n' "${cluster_secs[@]}" | median)
echo "nightly job, $label, $runs run(s) each (medians)"
printf '  local engine          %8.1f s   peak RSS %6s MiB\n' "$lm" "$(printf '%s\n' "${local_rss[@]}" | sort -n | tail -1)"
printf '  ballista, 2 executors %8.1f s   client peak RSS %6s MiB, scheduler %s MiB, executors %s / %s MiB\n' \
  "$cm" "$(printf '%s\n' "${cluster_rss[@]}" | sort -n | tail -1)" "${node_rss[0]}" "${node_rss[1]}" "${node_rss[2]}"
awk -v c="$cm" -v l="$lm" 'BEGIN {printf "  ratio cluster / local %7.2f\n", c / l}'
echo "  tables identical: $same"
echo "  cluster work: $tasks tasks, $(awk -v t="$task_ms" 'BEGIN {printf "%.1f", t/1000}') s of task time; client: $rust_secs s in Rust steps, $sql_secs s in SQL steps (waiting, fetching, writing)"
awk -v t="$task_ms" -v r="$rust_secs" -v s="$sql_secs" -v c="$cm" 'BEGIN {
  w = t / 1000; other = s - w / 2; if (other < 0) other = 0;
  printf "  estimate, N executors of 2 task slots each (task time / 2N + client Rust steps + client SQL overhead %.1f s):\n", other;
  for (n = 2; n <= 32; n *= 2) printf "    N=%-3d %8.1f s\n", n, w / (2 * n) + r + other;
}'
[[ $same == yes ]]
