package trickle

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseSeq: whatever the input, ParseSeq either refuses it or returns a
// number in range that formats back to the same value.
func FuzzParseSeq(f *testing.F) {
	for _, s := range []string{"0", "-1", "-2", "-3", "+0", "00", "abc", "9007199254740991", "9007199254740992", "", "1e3", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSeq(s)
		if err != nil {
			return
		}
		if n < SeqCurrent || n > MaxSeq {
			t.Fatalf("ParseSeq(%q) = %d, out of range", s, n)
		}
		if m, err := strconv.ParseInt(s, 10, 64); err != nil || m != n {
			t.Fatalf("ParseSeq(%q) = %d, strconv says %d %v", s, n, m, err)
		}
	})
}

// FuzzServerPaths: any request path and method gets an answer that is not a
// 5xx (other than 503 at shutdown), and never a panic.
func FuzzServerPaths(f *testing.F) {
	for _, s := range []string{"/ch/0", "/ch/-1", "/ch/next", "/..", "/a%00b/0", "/ch/0/x", "//0", "/ch/99999999999999999999"} {
		f.Add("GET", s)
		f.Add("DELETE", s)
	}
	srv := NewServer(ServerConfig{Autocreate: true, Logger: discardLogger(), IdleTimeout: -1})
	defer srv.Close()
	f.Fuzz(func(t *testing.T, method, path string) {
		if method == "POST" || method == "GET" || method == "HEAD" {
			// Those may wait on segments; their parsing is reached through
			// DELETE and the other methods, which never wait.
			method = "DELETE"
		}
		req, err := http.NewRequest(method, "http://x"+path, nil)
		if err != nil || !strings.HasPrefix(req.URL.EscapedPath(), "/") {
			return
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q answered %d", method, path, rec.Code)
		}
	})
}
