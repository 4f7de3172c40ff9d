#!/usr/bin/env bash
# Runs gotrickle's GPU checks from the folder CI/gpu-bundle.sh makes (this
# script is copied there as run.sh), on a machine with the NVIDIA driver:
#
#   tar -xJf bin/gpu-bundle.tar.xz -C /tmp && bash /tmp/gpu-bundle/run.sh
#
# Each step's whole output goes to ${OUT:-/tmp}/gpu-<step>.log; stdout gets
# the summary: results, skips with their reasons, failures' messages and
# the benchmark lines. It exits 1 when a step failed.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
logs="${OUT:-/tmp}"
# The FFmpeg-linked binaries' interpreter and rpath (CI/gpu-bundle.sh).
rm -rf /tmp/gotrickle-gpu && mkdir -p /tmp/gotrickle-gpu && cp -r "$here/lib" /tmp/gotrickle-gpu/
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
export GOTRICKLE_BENCH_INPUTS="$here/inputs"
rc=0
step() {
  local name="$1"; shift
  echo "=== $name: $*"
  (cd "$here" && "$@") >"$logs/gpu-$name.log" 2>&1
  local st=$?
  grep -E '^(--- |ok|PASS|FAIL|Benchmark|panic)|SKIP|device:|^\s+[a-z_]+\.go:[0-9]+:' "$logs/gpu-$name.log" | tail -40
  if [ "$st" != 0 ]; then
    tail -5 "$logs/gpu-$name.log"
    echo "=== $name FAILED (exit $st), whole log: $logs/gpu-$name.log"
    rc=1
  fi
}
step kernels ./gpu.test -test.v -test.count=1
step nvdec ./media.test -test.run 'NVDEC|CUDA' -test.v -test.count=1
step processor ./processor.test -test.run 'TestTheDevicePathOnCUDA' -test.v -test.count=1
step chain ./gpu.test -test.run '^$' -test.bench 'Chain1080p' -test.benchtime 1000x
step pipeline ./benchmarks.test -test.run '^$' -test.bench 'Processor/flat-out/gotrickle(-device|-nvdec)?$' -test.benchtime 3x -test.v
exit $rc
