#!/usr/bin/env bash
# Runs a cuda-tagged pkg/gpu test binary (CI/build-cuda.sh makes bin/gpu.test)
# against fakecuda.c, a stand-in libcuda.so.1, so the cuda backend's
# plumbing (context, memory, pinned copies, streams, module, launch
# arguments) runs without a GPU. Kernels do not run, so TestDispatch is
# skipped. The launches are logged to $FAKECUDA_LOG (default
# bin/fakecuda.log).
#   usage: pkg/gpu/internal/fakecuda/run.sh [bin/gpu.test] [test flags]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
bin="${1:-$root/bin/gpu.test}"; shift || true
inc="$(bash "$root/CI/install-cuda-headers.sh" | sed -n 's/.*-I\([^"]*\)".*/\1/p')"
out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT
# Stubs for every other cu* function the binary references.
nm -D --undefined-only "$bin" | awk '$2 ~ /^cu/ {print $2}' | sort -u |
  grep -vxFf <(grep -o '^CUresult cu[A-Za-z0-9_]*' "$here/fakecuda.c" | cut -d' ' -f2) |
  awk '{print "int " $1 "(void) { return 801; }"}' >"$out/stubs.c"
gcc -shared -fPIC -O1 -I"$inc" -Wl,-soname,libcuda.so.1 -o "$out/libcuda.so.1" "$here/fakecuda.c" "$out/stubs.c" -lpthread
export FAKECUDA_LOG="${FAKECUDA_LOG:-$root/bin/fakecuda.log}"
LD_LIBRARY_PATH="$out" "$bin" -test.count=1 -test.skip 'TestDispatch' "$@"
echo "fakecuda: launches logged to $FAKECUDA_LOG"
