#!/bin/sh
# A trickle publisher in POSIX sh and curl: the reference third-party
# publisher of the client suite's command mode (conformance/CLIENT-COMMANDS.md).
#
#   publisher.sh URL SEG_DIR
#
# Publishes SEG_DIR/0.ts, 1.ts, ... in order to the channel at URL, each file
# as the body of one POST /{ch}/{seq}, from seq 0 (TRK-CLI-001, 002, 003),
# then deletes the channel (CLI-014).
#
# A POST that failed before any byte of its body went out (a 5xx, or a
# connection closed before any answer) is tried again, four times at most,
# after 100 ms, 200 ms, 400 ms, 800 ms (CLI-010). "Expect: 100-continue"
# makes curl hold the body back until the server asks for it, so that
# curl's %{size_upload} tells the two cases apart. A segment that failed
# part-way is never sent again (CLI-009): it is closed with DELETE
# /{ch}/{seq} (CLI-011) and, like one refused with 409, 413, 470 or another
# 4xx, counted as lost; the next segment goes to the next seq (CLI-012).
# A 404 or Lp-Trickle-Closed ends publishing (CLI-013).
#
# Exit status: 0 when the input is published (lost segments are reported on
# stderr) or the stream was ended by the server, 2 when the channel does not
# exist, 1 on other errors.
set -u
url=$1 dir=$2
max_retries=4
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# status: the final status code in the saved headers, "" when none came
# (interim 100 Continue answers do not count).
status() {
	tr -d '\r' <"$tmp/h" | grep '^HTTP/' | cut -d' ' -f2 | grep -v '^1' | tail -n 1
}

# header NAME: the value of a header in the saved headers.
header() {
	tr -d '\r' <"$tmp/h" | grep -i "^$1:" | tail -n 1 | sed 's/^[^:]*:[[:space:]]*//'
}

# retryable STATUS: whether a POST that sent nothing may be tried again.
retryable() {
	case $1 in
	'' | 5??) return 0 ;;
	esac
	return 1
}

# pause MS: sleeps MS milliseconds.
pause() {
	sleep "$(($1 / 1000)).$(printf %03d $(($1 % 1000)))"
}

seq=0 i=0 accepted=0 lost=0
while [ -f "$dir/$i.ts" ]; do
	tries=0 wait_ms=100
	while :; do
		: >"$tmp/h"
		sent=$(curl -sS -o /dev/null -D "$tmp/h" -w '%{size_upload}' \
			-H 'Content-Type: video/mp2t' -H 'Expect: 100-continue' \
			--data-binary "@$dir/$i.ts" "$url/$seq")
		st=$(status)
		if [ -n "$(header Lp-Trickle-Closed)" ]; then
			echo "publisher: the stream has ended (seq $seq)" >&2
			exit 0
		fi
		case $st in
		200)
			accepted=$((accepted + 1))
			break
			;;
		404)
			if [ "$accepted" -gt 0 ]; then
				echo "publisher: the stream has ended (404 for seq $seq)" >&2
				exit 0
			fi
			echo "publisher: the channel does not exist" >&2
			exit 2
			;;
		esac
		if [ "${sent:-0}" = 0 ] && [ "$tries" -lt "$max_retries" ] && retryable "$st"; then
			tries=$((tries + 1))
			pause "$wait_ms"
			wait_ms=$((wait_ms * 2))
			continue
		fi
		if [ "${sent:-0}" != 0 ]; then
			curl -sS -o /dev/null -X DELETE "$url/$seq"
		fi
		lost=$((lost + 1))
		echo "publisher: segment $i lost at seq $seq (status ${st:-none}, $sent bytes sent)" >&2
		break
	done
	seq=$((seq + 1)) i=$((i + 1))
done
curl -sS -o /dev/null -X DELETE "$url"
echo "publisher: $accepted segments published, $lost lost" >&2
exit 0
