#!/usr/bin/env bash
# Compiles kernels.cu to kernels.ptx (PTX for compute_70, which the driver
# JIT-compiles for any newer GPU, sm_90 included): with nvcc when it is on
# PATH, else with clang-14's CUDA front end, which needs no CUDA install
# (CI/install-clang.sh installs it). PTX_COMPILER=nvcc or clang forces one.
# Usage: make-ptx.sh [output] (default kernels.ptx next to this script).
set -euo pipefail

dir=$(cd "$(dirname "$0")" && pwd)
out=${1:-$dir/kernels.ptx}
case "$out" in /*) ;; *) out=$PWD/$out ;; esac
cc=${PTX_COMPILER:-}
if [ -z "$cc" ]; then
  if command -v nvcc >/dev/null; then cc=nvcc; else cc=clang; fi
fi

cd "$dir"
case "$cc" in
nvcc)
  nvcc -ptx -arch=compute_70 -O3 -o "$out" kernels.cu
  ;;
clang)
  clang=${CLANG:-clang-14}
  if ! command -v "$clang" >/dev/null; then
    echo "make-ptx: neither nvcc nor $clang found (run CI/install-clang.sh)" >&2
    exit 1
  fi
  "$clang" -x cuda --cuda-device-only --cuda-gpu-arch=sm_70 -nocudainc -nocudalib \
    -ffp-contract=off -O3 -S -o "$out" kernels.cu
  ;;
*)
  echo "make-ptx: PTX_COMPILER must be nvcc or clang, not $cc" >&2
  exit 1
  ;;
esac
echo "make-ptx: $cc wrote $out"
