#!/usr/bin/env bash
# A local Ballista cluster of siyu processes: one scheduler and N executors (default 2)
# on 127.0.0.1, ephemeral ports, logs and work directories under one directory.
#
#   bench/local-cluster.sh start [DIR]   start, wait until every executor is registered,
#                                        print the scheduler URL (df://127.0.0.1:PORT)
#   bench/local-cluster.sh stop DIR      stop every process (SIGTERM, then SIGKILL)
#   bench/local-cluster.sh kill-executor DIR N   SIGKILL executor N (fault tests)
#   bench/local-cluster.sh kill-scheduler DIR    SIGKILL the scheduler (fault tests)
#
# DIR (default: a new temporary directory) holds scheduler.log, executor-N.log,
# work-N/ (each executor's shuffle files), pids ("PID START" per line, START being the
# process's start time from /proc, so a pid the kernel has since given to another process
# is never signalled) and url. Environment:
#   SIYU                 the siyu binary [target/release/siyu, else target/debug/siyu]
#   EXECUTORS            number of executors [2]
#   CONCURRENT_TASKS     tasks per executor [1]
#   EXECUTOR_MEMORY      --memory-limit of each executor [unset: Ballista's default]
#   READY_SECONDS        how long to wait for the cluster [60]
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
siyu="${SIYU:-}"
if [[ -z "$siyu" ]]; then
  if [[ -x "$here/target/release/siyu" ]]; then siyu="$here/target/release/siyu"; else siyu="$here/target/debug/siyu"; fi
fi

die() { echo "local-cluster: $*" >&2; exit 1; }

# A free TCP port on 127.0.0.1 (with the next one free too when $1 = pair).
free_port() {
  python3 - "$1" <<'EOF'
import socket, sys
pair = sys.argv[1] == "pair"
for _ in range(200):
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]
    if not pair:
        a.close(); print(p); sys.exit(0)
    if p >= 65535:
        a.close(); continue
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 1))
    except OSError:
        a.close(); b.close(); continue
    a.close(); b.close(); print(p); sys.exit(0)
sys.exit("no free port")
EOF
}

# HTTP status of GET /readyz on the scheduler, with bash alone.
ready_status() {
  local port=$1 line
  exec 3<>"/dev/tcp/127.0.0.1/$port" 2>/dev/null || { echo 000; return; }
  printf 'GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
  IFS= read -r -t 5 line <&3 || line=""
  exec 3<&- 3>&-
  set -- $line
  echo "${2:-000}"
}

# The start time of process $1 (field 22 of /proc/PID/stat, in clock ticks since boot),
# or failure when there is no such process. With its pid it names one process for good.
start_time() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) } # drop "PID (COMM) ": COMM may hold spaces and parentheses
  set -- $stat
  echo "${20}"
}

# Is the process we started as pid $1 at start time $2 still running (not a zombie)?
# Checking the start time matters: a cluster process that died long ago may have its pid
# reused by some other process (pid_max is 32768 in many containers, and a CI run spawns
# tens of thousands), which a bare `kill PID` would then hit.
ours() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  set -- $stat "$2"
  [[ $1 != Z && ${20} == "${!#}" ]]
}

# Record the process just started as $1 in DIR/pids.
record() {
  echo "$2 $(start_time "$2" || echo gone)" >>"$1/pids"
}

# Send signal $2 to line $3 (1-based) of DIR/pids if that process is still ours.
signal_line() {
  local dir=$1 sig=$2 n=$3 pid start
  read -r pid start < <(sed -n "${n}p" "$dir/pids")
  [[ -n "${pid:-}" ]] || return 2
  ours "$pid" "$start" || return 1
  kill "-$sig" "$pid" 2>/dev/null || true
}

stop() {
  local dir=$1 n count
  [[ -f "$dir/pids" ]] || return 0
  count=$(wc -l <"$dir/pids")
  # Executors first, then the scheduler.
  for ((n = count; n >= 1; n--)); do signal_line "$dir" TERM "$n" || true; done
  for _ in $(seq 1 100); do
    local alive=0 pid start
    while read -r pid start; do ours "$pid" "$start" && alive=1; done <"$dir/pids"
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  for ((n = 1; n <= count; n++)); do signal_line "$dir" KILL "$n" || true; done
  rm -f "$dir/pids"
}

start() {
  local dir=${1:-}
  [[ -x "$siyu" ]] || die "no siyu binary at $siyu (cargo build first, or set SIYU)"
  if [[ -z "$dir" ]]; then dir=$(mktemp -d -t siyu-cluster-XXXXXX); fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  : > "$dir/pids"
  local n=${EXECUTORS:-2} tasks=${CONCURRENT_TASKS:-1} wait=${READY_SECONDS:-60}
  local sport; sport=$(free_port one)
  "$siyu" --log-format json cluster scheduler --bind "127.0.0.1:$sport" \
    --external-host 127.0.0.1 --min-executors "$n" >"$dir/scheduler.log" 2>&1 &
  record "$dir" $!
  local i
  for i in $(seq 1 "$n"); do
    local port; port=$(free_port pair)
    local mem=()
    [[ -n "${EXECUTOR_MEMORY:-}" ]] && mem=(--memory-limit "$EXECUTOR_MEMORY")
    "$siyu" --log-format json cluster executor --scheduler "127.0.0.1:$sport" \
      --bind "127.0.0.1:$port" --work-dir "$dir/work-$i" --concurrent-tasks "$tasks" \
      "${mem[@]}" >"$dir/executor-$i.log" 2>&1 &
    record "$dir" $!
  done
  local deadline=$((SECONDS + wait))
  until [[ $(ready_status "$sport") == 200 ]]; do
    local pid start
    while read -r pid start; do
      ours "$pid" "$start" || { tail -n 20 "$dir"/*.log >&2; stop "$dir"; die "a cluster process exited during start (logs in $dir)"; }
    done <"$dir/pids"
    if ((SECONDS >= deadline)); then
      tail -n 20 "$dir"/*.log >&2; stop "$dir"; die "not ready after ${wait}s (logs in $dir)"
    fi
    sleep 0.2
  done
  echo "df://127.0.0.1:$sport" >"$dir/url"
  echo "local-cluster: ready: scheduler df://127.0.0.1:$sport, $n executors, logs in $dir" >&2
  echo "df://127.0.0.1:$sport"
}

case "${1:-}" in
  start) start "${2:-}" ;;
  stop) [[ -n "${2:-}" ]] || die "usage: $0 stop DIR"; stop "$2" ;;
  kill-executor)
    [[ -n "${2:-}" && -n "${3:-}" ]] || die "usage: $0 kill-executor DIR N"
    rc=0; signal_line "$2" KILL "$(( $3 + 1 ))" || rc=$?
    ((rc != 2)) || die "no executor $3"
    ((rc == 0)) || die "executor $3 is not running" ;;
  kill-scheduler)
    [[ -n "${2:-}" ]] || die "usage: $0 kill-scheduler DIR"
    rc=0; signal_line "$2" KILL 1 || rc=$?
    ((rc != 2)) || die "no scheduler"
    ((rc == 0)) || die "the scheduler is not running" ;;
  *) echo "usage: $0 start [DIR] | stop DIR | kill-executor DIR N | kill-scheduler DIR" >&2; exit 2 ;;
esac
