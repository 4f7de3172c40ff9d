package trickle

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseSeq: whatever the input, ParseSeq either refuses it (with no
// number) or returns a number in range that strconv reads the same and
// that formats to a string ParseSeq reads back.
func FuzzParseSeq(f *testing.F) {
	for _, s := range []string{"0", "-1", "-2", "-3", "+0", "00", "abc", "9007199254740991", "9007199254740992", "", "1e3", " 1", "-0", "+-1", "0x10", "1_0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSeq(s)
		if err != nil {
			if n != 0 {
				t.Fatalf("ParseSeq(%q) = %d with error %v", s, n, err)
			}
			return
		}
		if n < SeqCurrent || n > MaxSeq {
			t.Fatalf("ParseSeq(%q) = %d, out of range", s, n)
		}
		if m, err := strconv.ParseInt(s, 10, 64); err != nil || m != n {
			t.Fatalf("ParseSeq(%q) = %d, strconv says %d %v", s, n, m, err)
		}
		if m, err := ParseSeq(formatSeq(n)); err != nil || m != n {
			t.Fatalf("ParseSeq(formatSeq(%d)) = %d, %v", n, m, err)
		}
	})
}

// FuzzHeaderSeq: a sequence-number header (Lp-Trickle-Seq or -Latest, as
// a client reads it from a server's answer) is read as a number in
// [-2, MaxSeq] or not at all, and a number in range is read whatever the
// surrounding blanks.
func FuzzHeaderSeq(f *testing.F) {
	for _, s := range []string{"", "0", " 7 ", "-1", "-2", "-3", "+5", "9007199254740991", "9007199254740992", "9223372036854775807", "-9223372036854775808", "1.0", "0x1", "1 2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		h := http.Header{}
		h.Set(HeaderLatest, v)
		n, ok := headerSeq(h, HeaderLatest)
		want, err := strconv.ParseInt(strings.TrimSpace(h.Get(HeaderLatest)), 10, 64)
		wantOK := err == nil && want >= SeqCurrent && want <= MaxSeq
		if ok != wantOK || (ok && n != want) {
			t.Fatalf("headerSeq(%q) = %d, %v; want %d, %v", v, n, ok, want, wantOK)
		}
		if !ok && n != 0 {
			t.Fatalf("headerSeq(%q) refused it but gave %d", v, n)
		}
	})
}

// FuzzChannelName: ValidChannelName accepts exactly 1–256 bytes of
// [A-Za-z0-9._~-] other than "." and ".."; a client takes a URL ending in
// a name exactly when the name is valid, and keeps the URL as it is.
func FuzzChannelName(f *testing.F) {
	for _, s := range []string{"a", "in", "_internal", ".", "..", "...", "a.b", "a/b", "a%2Fb", "a b", "ä", "~-_.", strings.Repeat("x", 256), strings.Repeat("x", 257), "a?b", "a#b", "next", "-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		want := len(name) >= 1 && len(name) <= MaxChannelNameLen && name != "." && name != ".."
		for i := 0; i < len(name) && want; i++ {
			c := name[i]
			want = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._~-", c) >= 0
		}
		if err := ValidChannelName(name); (err == nil) != want {
			t.Fatalf("ValidChannelName(%q) = %v, want valid %v", name, err, want)
		}
		if name == "" || strings.Contains(name, "/") {
			return
		}
		raw := "http://127.0.0.1:1/base/" + name
		base, _, err := channelURL(raw)
		if (err == nil) != want {
			t.Fatalf("channelURL(%q) = %q, %v; want valid %v", raw, base, err, want)
		}
		if want && base != raw {
			t.Fatalf("channelURL(%q) = %q", raw, base)
		}
	})
}
