#!/usr/bin/env bash
# Runs the conformance suites against gotrickle's own implementations (or the
# targets named in TRICKLE_* environment variables), writes reports under
# $REPORTS/<suite>/; then runs the installed binary's `gotrickle conformance`
# against separately started gotrickle processes (CI/conformance-external.sh)
# and proves the server and processor suites catch planted bugs (selftest).
set -euo pipefail
cd "$(dirname "$0")/.."
reports=${REPORTS:-reports}
mkdir -p "$reports"
status=0
for suite in server client processor; do
  echo "== conformance/$suite"
  # The processor suite judges speed and latency (PROC-100..104), which the
  # race detector would distort; the processor's own tests run with -race.
  race=-race
  [ "$suite" = processor ] && race=
  TRICKLE_REPORT_DIR="$PWD/$reports/$suite" go test -count=1 $race "./conformance/$suite/" -args ${CONFORMANCE_ARGS:-} || status=1
  [ -f "$reports/$suite/summary.md" ] && sed -n '1,8p' "$reports/$suite/summary.md"
done
if [ -z "${TRICKLE_SERVER_URL:-}${TRICKLE_PROCESSOR_URL:-}" ]; then
  REPORTS="$reports" bash CI/conformance-external.sh || status=1
fi
if [ -z "${TRICKLE_SERVER_URL:-}${TRICKLE_PROCESSOR_URL:-}" ] && [ "${TRICKLE_SELFTEST:-1}" = 1 ]; then
  echo "== conformance self-test: planted bugs must be caught"
  TRICKLE_SELFTEST=1 go test -count=1 -timeout 20m -parallel 3 -v -run TestMutations ./conformance/selftest/ |
    grep -E '^(=== RUN|--- |\s+(mutation|processor|cli)_test|PASS|FAIL|ok)' || status=1
fi
exit $status
