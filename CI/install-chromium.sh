#!/usr/bin/env bash
# Installs Debian's chromium for the status page's browser test
# (pkg/statuspage, TestBrowser*): the test drives it headless over the Chrome
# DevTools Protocol and skips when no chromium binary is found. Run as root on
# Debian bookworm, like CI/install-deps.sh. Idempotent: when chromium is
# already installed it only checks and returns.
set -euo pipefail

if dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed"; then
  echo "install-chromium: chromium present ($(command -v chromium || echo 'not on PATH'))"
  exit 0
fi

echo "install-chromium: installing chromium"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "install-chromium: done ($(command -v chromium))"
