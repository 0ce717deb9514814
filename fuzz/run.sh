#!/usr/bin/env bash
# Fuzz the job-file parser and the SQL-file loader for a bounded time each.
#
#   bash fuzz/run.sh [SECONDS]        (default 120 per target)
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Seeds the
# corpora with the shipped job and SQL files, then runs each target without a sanitizer
# (siyu is safe Rust; what fuzzing looks for here is panics). A crash leaves its input in
# fuzz/artifacts/<target>/; fix it and add a regression test (tests/it/bad_inputs.rs).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-120}
mkdir -p corpus/job_file corpus/sql_file
cp ../jobs/*.toml corpus/job_file/
cp ../sql/*/*.sql corpus/sql_file/
for target in job_file sql_file; do
  cargo +nightly fuzz run "$target" --dev -s none "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096
done
