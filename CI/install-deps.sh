#!/usr/bin/env bash
# Installs what gotrickle needs on a fresh Debian bookworm machine (run as root):
# FFmpeg 5.1 development packages for go-astiav, pkg-config, the ffmpeg CLI that
# makes fixtures, curl (the client suite's reference third-party clients), and
# python3, binutils and xz-utils (CI/gpu-bundle.sh). Idempotent: when everything
# is present it only checks and returns.
set -euo pipefail

pkgs=(pkg-config libavcodec-dev libavformat-dev libavfilter-dev libavutil-dev
      libswscale-dev libswresample-dev libavdevice-dev ffmpeg curl python3 binutils xz-utils)

exec bash "$(dirname "$0")/apt-install.sh" install-deps "${pkgs[@]}"
