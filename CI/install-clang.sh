#!/usr/bin/env bash
# Installs clang-14 from Debian bookworm (run as root or with sudo), which
# pkg/gpu/kernels/make-ptx.sh uses to compile kernels.cu to PTX on machines
# without nvcc (clang's CUDA front end needs no CUDA installation with
# -nocudainc -nocudalib). Idempotent: when it is present it only checks and
# returns.
set -euo pipefail

pkgs=(clang-14)

exec bash "$(dirname "$0")/apt-install.sh" install-clang "${pkgs[@]}"
