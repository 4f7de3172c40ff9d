#!/usr/bin/env bash
# Builds and vets gotrickle with the cuda build tag on a machine without
# CUDA (so the GPU path cannot rot), and builds the GPU test binary
# bin/gpu.test: pkg/gpu's tests with -tags cuda, which run on a GPU machine
# with only the NVIDIA driver installed (no Go, no FFmpeg, no CUDA toolkit):
#
#   scp bin/gpu.test gpu-host: && ssh gpu-host ./gpu.test -test.v
#
# cuda.h and the stub libcuda.so come from CI/install-cuda-headers.sh (cached
# after the first run). The binary must need nothing beyond libcuda.so.1 and
# the C library; this script checks that with ldd. Last, it runs the
# binary against pkg/gpu/internal/fakecuda (no GPU needed) to exercise the
# cuda backend up to the kernels.
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"

eval "$(bash CI/install-cuda-headers.sh | tail -2)"
export CGO_CFLAGS CGO_LDFLAGS
echo "build-cuda: CGO_CFLAGS=$CGO_CFLAGS CGO_LDFLAGS=$CGO_LDFLAGS"

$GO build -tags cuda ./...
$GO vet -tags cuda ./pkg/gpu/...
mkdir -p bin
$GO test -c -tags cuda -o bin/gpu.test ./pkg/gpu/

# Every shared library bin/gpu.test needs: only the driver's libcuda.so.1
# and glibc's own (libcuda.so.1 is "not found" here: no driver).
allowed='^(linux-vdso\.so\.1|libcuda\.so\.1|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libresolv\.so\.2|/lib64/ld-linux-x86-64\.so\.2)$'
libs="$(ldd bin/gpu.test | awk '{print $1}')"
extra="$(grep -Ev "$allowed" <<<"$libs" || true)"
if [ -n "$extra" ]; then
  echo "build-cuda: bin/gpu.test needs more than the NVIDIA driver and libc:" >&2
  echo "$extra" >&2
  exit 1
fi
grep -q '^libcuda\.so\.1$' <<<"$libs" || { echo "build-cuda: bin/gpu.test does not link libcuda.so.1" >&2; exit 1; }
echo "build-cuda: ok; bin/gpu.test ($(du -h bin/gpu.test | cut -f1)) needs: $(tr '\n' ' ' <<<"$libs")"

# The cuda backend's plumbing, run for real against a stand-in libcuda.so.1
# (pkg/gpu/internal/fakecuda: host memory, kernels not run, every launch's
# arguments checked).
FAKECUDA_LOG="${FAKECUDA_LOG:-bin/fakecuda.log}" bash pkg/gpu/internal/fakecuda/run.sh bin/gpu.test
