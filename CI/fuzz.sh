#!/usr/bin/env bash
# Runs every native Go fuzz target in the repository for FUZZTIME each, one
# after another (`make fuzz`; `make fuzz-ci` is FUZZTIME=5s). Targets are
# found with grep — any `func FuzzX(f *testing.F)` in a *_test.go file — so
# a new one is picked up without editing this script. Each target's seed
# corpus (its f.Add calls and testdata/fuzz/FuzzX/) also runs as a plain
# test under `go test`.
#
# Settings (environment):
#   FUZZTIME     how long each target fuzzes: a duration (10m, 5s) or a
#                count of inputs (1000x). Default 10m.
#   FUZZMINTIME  -fuzzminimizetime: the time spent shrinking each new
#                input. Default 10s: Go's 60 s would let one slow target
#                spend its whole FUZZTIME minimising large inputs.
#   FUZZ_ONLY    an extended regexp; only targets whose "dir FuzzName"
#                matches run (e.g. FUZZ_ONLY=pkg/trickle).
#   GO           the go command. Default go.
#
# A target that fails writes its input to <package>/testdata/fuzz/FuzzX/;
# fix the bug and commit that file as the regression input. The script runs
# the remaining targets, lists the failures and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10m}
FUZZMINTIME=${FUZZMINTIME:-10s}
FUZZ_ONLY=${FUZZ_ONLY:-}

# "dir name" per target, sorted so runs are reproducible.
list_targets() {
	grep -rEo --include='*_test.go' --exclude-dir=.git --exclude-dir=testdata \
		'^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . |
		sed -E 's#^\./(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*#\1 \2#' |
		sort -u
}

mapfile -t targets < <(list_targets)
if [ -n "$FUZZ_ONLY" ]; then
	mapfile -t targets < <(printf '%s\n' "${targets[@]}" | grep -E -- "$FUZZ_ONLY" || true)
fi
if [ "${#targets[@]}" -eq 0 ]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi

# coordinator_race reports whether a failed run's only complaint is Go's
# own "context deadline exceeded" at the -fuzztime boundary: a race in the
# fuzzing coordinator (go.dev/issue/75804, fixed in Go 1.27, not in
# 1.26.x), with no failing input written. Any other failure counts.
coordinator_race() {
	local log=$1 name=$2
	! grep -q 'Failing input written' "$log" &&
		[ "$(grep -c -- '--- FAIL' "$log")" -eq 1 ] &&
		grep -A1 -- "^--- FAIL: ${name} (" "$log" | tail -n 1 | grep -qx '[[:space:]]*context deadline exceeded'
}

echo "fuzz: ${#targets[@]} targets, ${FUZZTIME} each"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=()
start=$SECONDS
for t in "${targets[@]}"; do
	dir=${t% *}
	name=${t#* }
	echo "== ./$dir $name"
	t0=$SECONDS
	if ! "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" \
		-fuzzminimizetime "$FUZZMINTIME" "./$dir" 2>&1 | tee "$log"; then
		if coordinator_race "$log" "$name"; then
			echo "   (Go's fuzztime deadline race, go.dev/issue/75804: not a finding)"
		else
			failed+=("./$dir $name")
		fi
	fi
	echo "   ($((SECONDS - t0)) s)"
done

echo "fuzz: ${#targets[@]} targets in $((SECONDS - start)) s"
if [ "${#failed[@]}" -gt 0 ]; then
	echo "fuzz: FAILED (inputs are under each package's testdata/fuzz/):" >&2
	printf '  %s\n' "${failed[@]}" >&2
	exit 1
fi
