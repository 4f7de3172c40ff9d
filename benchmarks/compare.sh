#!/usr/bin/env bash
# Runs the trickle benchmarks against several already-running servers, one
# after the other, so their figures come from the same machine and run.
#
#   benchmarks/compare.sh NAME=URL=PID [NAME=URL=PID ...]
#
# Each server must auto-create channels and be freshly started (the memory
# figure is its RSS growth). Output: benchmarks/out/NAME.txt
# (go test -bench format; compare with benchstat).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p benchmarks/out
count=${COUNT:-3}
benchtime=${BENCHTIME:-300x}
go test -c -o benchmarks/out/bench.test ./benchmarks/
for spec in "$@"; do
  IFS== read -r name url pid <<<"$spec"
  echo "== $name ($url, pid $pid)"
  # Memory first: RSS growth means something only on a fresh server.
  TRICKLE_BENCH_URL=$url TRICKLE_BENCH_PID=$pid benchmarks/out/bench.test \
    -test.run '^$' -test.bench 'MemoryPerSubscriber' -test.benchtime 1x -test.count 1 \
    | tee "benchmarks/out/$name.txt"
  TRICKLE_BENCH_URL=$url TRICKLE_BENCH_PID=$pid benchmarks/out/bench.test \
    -test.run '^$' -test.bench 'Fanout' -test.benchtime "$benchtime" -test.count "$count" -test.benchmem \
    | tee -a "benchmarks/out/$name.txt"
done
