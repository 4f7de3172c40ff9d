#!/usr/bin/env bash
# apt-install.sh NAME PACKAGE...: installs the Debian packages that are not
# installed yet (as root, or with sudo), printing what it did under NAME.
# Idempotent: when every package is present it only checks and returns. The
# install-*.sh scripts call it with their package lists.
set -euo pipefail
name=$1; shift
missing=()
for p in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "$name: all $# packages present"
  exit 0
fi
echo "$name: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "$name: done"
