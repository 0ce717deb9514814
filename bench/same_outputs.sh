#!/usr/bin/env bash
# Do two revisions of siyu publish the same tables? For refactorings that must not change
# results: builds BASE (a git revision) and the working tree in release mode, runs the
# nightly job of each on the bundled testdata/ and on generated data at each SCALE, and
# compares every published table column by column (schema and values; parquet footers
# carry the params and differ by design). The generated data of both revisions is
# compared too.
#
#   bash bench/same_outputs.sh BASE [SCALE...]      # e.g. bash bench/same_outputs.sh 1264876 1
#
# Exits non-zero if anything differs. Both builds share one target directory
# (bench/data/compare-target), so dependencies compile once.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: bench/same_outputs.sh BASE [SCALE...]}
shift
scales=("$@")
root=$(pwd)
work=$root/bench/data/compare
target=$root/bench/data/compare-target
rm -rf "$work"
mkdir -p "$work/base-src" "$work/bin"

git archive "$base" | tar -x -C "$work/base-src"
build() { # SRC NAME
  (cd "$1" && CARGO_TARGET_DIR=$target cargo build --release --locked --quiet)
  cp "$target/release/siyu" "$work/bin/$2"
}
echo "building $base and the working tree (release)" >&2
build "$work/base-src" base
build "$root" new

as_of=2026-11-01
run() { # NAME SRC OUT [ARGS...]
  local name=$1 src=$2 out=$3
  shift 3
  (cd "$src" && "$work/bin/$name" --log-level warn run jobs/nightly.toml --as-of "$as_of" --out "$out" "$@" >/dev/null)
}

compare() { # DIR_A DIR_B LABEL
  python3 - "$1" "$2" "$3" <<'EOF'
import os, sys
import pyarrow.parquet as pq
a, b, label = sys.argv[1:4]
names = sorted(f for f in os.listdir(a) if f.endswith(".parquet"))
other = sorted(f for f in os.listdir(b) if f.endswith(".parquet"))
bad = 0
if names != other:
    print(f"{label}: different tables: {sorted(set(names) ^ set(other))}")
    bad += 1
for n in names:
    if n not in other:
        continue
    ta = pq.read_table(os.path.join(a, n)).replace_schema_metadata(None)
    tb = pq.read_table(os.path.join(b, n)).replace_schema_metadata(None)
    same = ta.equals(tb)
    bad += not same
    print(f"{label}\t{n[:-8]}\t{ta.num_rows} rows\t{'identical' if same else 'DIFFERENT'}")
sys.exit(1 if bad else 0)
EOF
}

status=0
run base "$work/base-src" "$work/out-base"
run new "$root" "$work/out-new"
compare "$work/out-base/nightly/as_of=$as_of" "$work/out-new/nightly/as_of=$as_of" testdata || status=1

for s in "${scales[@]}"; do
  end=$as_of
  "$work/bin/base" --log-level warn generate --scale "$s" --out "$work/gen-$s-base" --end-date "$end" >/dev/null
  "$work/bin/new" --log-level warn generate --scale "$s" --out "$work/gen-$s-new" --end-date "$end" >/dev/null
  for t in $(ls "$work/gen-$s-base"); do
    compare "$work/gen-$s-base/$t" "$work/gen-$s-new/$t" "generate $s $t" >/dev/null \
      && echo "generate $s	$t	identical" || { echo "generate $s	$t	DIFFERENT"; status=1; }
  done
  run base "$work/base-src" "$work/out-$s-base" --input-dir "$work/gen-$s-base"
  run new "$root" "$work/out-$s-new" --input-dir "$work/gen-$s-base"
  compare "$work/out-$s-base/nightly/as_of=$as_of" "$work/out-$s-new/nightly/as_of=$as_of" "scale $s" || status=1
done
[ $status = 0 ] && echo "all tables identical" || echo "some tables differ"
exit $status
