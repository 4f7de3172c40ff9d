#!/usr/bin/env bash
# Installs what gotrickle needs on a fresh Debian bookworm machine (run as root):
# FFmpeg 5.1 development packages for go-astiav, pkg-config, the ffmpeg CLI that
# makes fixtures, and curl (the client suite's reference third-party clients). Idempotent: when everything is present it only checks and returns.
set -euo pipefail

pkgs=(pkg-config libavcodec-dev libavformat-dev libavfilter-dev libavutil-dev
      libswscale-dev libswresample-dev libavdevice-dev ffmpeg curl)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
