#!/usr/bin/env bash
# Installs clang-14 from Debian bookworm (run as root or with sudo), which
# pkg/gpu/kernels/make-ptx.sh uses to compile kernels.cu to PTX on machines
# without nvcc (clang's CUDA front end needs no CUDA installation with
# -nocudainc -nocudalib). Idempotent: when it is present it only checks and
# returns.
set -euo pipefail

pkgs=(clang-14)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-clang: all ${#pkgs[@]} packages present"
  exit 0
fi

echo "install-clang: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-clang: done"
