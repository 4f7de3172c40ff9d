#!/bin/sh
# A trickle subscriber in POSIX sh and curl: the reference third-party
# subscriber of the client suite's command mode (conformance/CLIENT-COMMANDS.md).
#
#   subscriber.sh URL OUTPUT [START]
#
# Reads the channel at URL from seq START (default -1, the next segment to
# start; TRK-CLI-015) and appends every segment's bytes to OUTPUT as they
# arrive (curl --no-buffer; CLI-018). After a segment whose answer carried
# Lp-Trickle-Seq: k, an empty one included, it asks for k+1 (CLI-016).
#
# A 470 moves it at once to Lp-Trickle-Latest, or to -1 without that header
# (CLI-019, 020). A 5xx, another unexpected status or a failed connection is
# retried for the same seq after 100 ms, then 200, 400, 800, 1600 ms; the
# sixth failure in a row ends the run (CLI-025, 026). A GET waits as long as
# the server holds it (CLI-027, 028).
#
# Exit status: 0 at the end of the stream (an answer with Lp-Trickle-Closed,
# or a 404 once a segment was read: CLI-021..024), 2 when the channel does
# not exist (a 404 before any segment), 1 when requests kept failing, 143
# when stopped by SIGTERM (it closes its request first: CLI-029).
set -u
url=$1 out=$2 seq=${3:--1}
max_fails=5
tmp=$(mktemp -d) || exit 1
pid=
trap 'rm -rf "$tmp"' EXIT
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; fi; exit 143' TERM INT
: >"$out" || exit 1

# status: the final status code in the saved headers, "" when none came.
status() {
	tr -d '\r' <"$tmp/h" | grep '^HTTP/' | cut -d' ' -f2 | grep -v '^1' | tail -n 1
}

# header NAME: the value of a header in the saved headers.
header() {
	tr -d '\r' <"$tmp/h" | grep -i "^$1:" | tail -n 1 | sed 's/^[^:]*:[[:space:]]*//'
}

# pause MS: sleeps MS milliseconds.
pause() {
	sleep "$(($1 / 1000)).$(printf %03d $(($1 % 1000)))"
}

got=0 fails=0 wait_ms=100

# failed WHAT: counts a failure in a row, gives up after max_fails, pauses.
failed() {
	fails=$((fails + 1))
	if [ "$fails" -gt "$max_fails" ]; then
		echo "subscriber: giving up on seq $seq after $fails failures ($1)" >&2
		exit 1
	fi
	pause "$wait_ms"
	wait_ms=$((wait_ms * 2))
}

while :; do
	: >"$tmp/h"
	# In the background, so that the TERM trap runs while it waits.
	# --fail keeps error bodies out of OUTPUT.
	curl -sS --fail --no-buffer -D "$tmp/h" "$url/$seq" >>"$out" &
	pid=$!
	wait "$pid"
	rc=$?
	pid=
	st=$(status)
	if [ -n "$(header Lp-Trickle-Closed)" ]; then
		exit 0
	fi
	case $st in
	200)
		k=$(header Lp-Trickle-Seq)
		if [ "$rc" -ne 0 ]; then
			echo "subscriber: segment ${k:-$seq} ended abnormally (curl exit $rc)" >&2
		fi
		got=1 fails=0 wait_ms=100
		seq=$((${k:-$seq} + 1))
		;;
	404)
		if [ "$got" = 1 ]; then
			exit 0
		fi
		echo "subscriber: the channel does not exist" >&2
		exit 2
		;;
	470)
		latest=$(header Lp-Trickle-Latest)
		if [ -z "$latest" ]; then
			seq=-1
		elif [ "$latest" -ne "$seq" ]; then
			seq=$latest
		else
			failed "470, and no newer segment"
		fi
		;;
	*)
		failed "status ${st:-none}, curl exit $rc"
		;;
	esac
done
