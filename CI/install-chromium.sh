#!/usr/bin/env bash
# Installs Debian's chromium for the status page's browser test
# (pkg/statuspage, TestBrowser*): the test drives it headless over the Chrome
# DevTools Protocol and skips when no chromium binary is found. Run as root on
# Debian bookworm, like CI/install-deps.sh. Idempotent: when chromium is
# already installed it only checks and returns.
set -euo pipefail

bash "$(dirname "$0")/apt-install.sh" install-chromium chromium
echo "install-chromium: $(command -v chromium || echo 'chromium not on PATH')"
