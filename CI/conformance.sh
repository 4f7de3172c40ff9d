#!/usr/bin/env bash
# Runs the conformance suites against gotrickle's own implementations (or the
# targets named in TRICKLE_* environment variables) and writes reports.
set -euo pipefail
cd "$(dirname "$0")/.."
reports=${REPORTS:-reports}
mkdir -p "$reports"
status=0
for suite in server client; do
  dir=conformance/$suite
  [ -d "$dir" ] || continue
  echo "== conformance/$suite"
  TRICKLE_REPORT_DIR="$PWD/$reports/$suite" go test -count=1 -race "./$dir/" -args ${CONFORMANCE_ARGS:-} || status=1
done
exit $status
