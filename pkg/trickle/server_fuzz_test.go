package trickle

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// Tokens the fuzzed server may be configured with; seeds carry them so
// that the fuzzer gets past authorization.
const (
	fuzzPublishToken   = "pub-token"
	fuzzSubscribeToken = "sub-token"
)

// fuzzAnswer is what one request to the server got.
type fuzzAnswer struct {
	code    int
	header  http.Header
	body    string
	aborted bool // the handler panicked with http.ErrAbortHandler
}

// serveOnce runs one request through srv on a recorder, as net/http would:
// a panic with http.ErrAbortHandler is the handler dropping the
// connection; any other panic fails the test.
func serveOnce(t *testing.T, srv *Server, req *http.Request) (a fuzzAnswer) {
	t.Helper()
	rec := httptest.NewRecorder()
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				t.Fatalf("%s %s panicked: %v", req.Method, req.URL, v)
			}
			a.aborted = true
		}
	}()
	srv.ServeHTTP(rec, req)
	return fuzzAnswer{code: rec.Code, header: rec.Result().Header, body: rec.Body.String()}
}

// parseHeaderLines turns "Key: value" lines into a header, skipping lines
// that are not one.
func parseHeaderLines(s string) http.Header {
	h := http.Header{}
	for line := range strings.SplitSeq(s, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && k != "" {
			h.Add(k, strings.TrimSpace(v))
		}
	}
	return h
}

// FuzzServerRequest sends one arbitrary request (method, path, headers,
// body) to an in-process Server that already holds a channel with one
// segment, with and without tokens and auto-create, and checks that:
// the handler never panics (other than net/http's ErrAbortHandler for a
// read abandoned before its first byte); the status is one the protocol
// uses, never a 5xx; every error is a text body; every sequence header is
// in range; another channel is untouched; and the server still creates,
// writes and serves a fresh channel afterwards. Each input runs in a
// synctest bubble, so a GET that waits for a segment times out at once in
// fake time and no goroutine may outlive the server.
func FuzzServerRequest(f *testing.F) {
	auth := "Authorization: Bearer " + fuzzPublishToken
	for _, s := range []struct {
		method, path, hdr, body string
	}{
		{"GET", "/ch/0", "", ""},
		{"GET", "/ch/-1", "", ""},
		{"GET", "/ch/-2", "", ""},
		{"HEAD", "/ch/0", "", ""},
		{"GET", "/ch/next", "", ""},
		{"GET", "/ch/1", "", ""},
		{"POST", "/ch/1", auth + "\nLp-Trickle-Reset: 1", "data"},
		{"POST", "/ch/0", auth, "again"},
		{"POST", "/ch/-1", auth, strings.Repeat("x", 100)},
		{"POST", "/new", auth + "\nExpect-Content: video/MP2T", ""},
		{"POST", "/new/5", auth + "\nContent-Type: text/plain", "seg"},
		{"DELETE", "/ch", auth, ""},
		{"DELETE", "/ch/0", auth, ""},
		{"DELETE", "/ch/-1", auth, ""},
		{"PUT", "/ch/0", "", ""},
		{"OPTIONS", "/ch", "", ""},
		{"GET", "/..", "", ""},
		{"GET", "/a%00b/0", "", ""},
		{"GET", "/ch/0/x", "", ""},
		{"GET", "//0", "", ""},
		{"GET", "/ch/99999999999999999999", "", ""},
		{"GET", "/ch/+0", "Authorization: Bearer " + fuzzSubscribeToken, ""},
		{"POST", "/ch/9007199254740991", auth, "z"},
		{"GET", "/ch/0", "Authorization: bearer  " + fuzzPublishToken + " ", ""},
		{"POST", "/ch/1", "Authorization: Basic cHViLXRva2Vu", "x"},
	} {
		f.Add(s.method, s.path, s.hdr, []byte(s.body), false, true)
		f.Add(s.method, s.path, s.hdr, []byte(s.body), true, true)
	}
	f.Fuzz(func(t *testing.T, method, path, hdr string, body []byte, withTokens, autocreate bool) {
		req, err := http.NewRequest(method, "http://x"+path, bytes.NewReader(body))
		if err != nil || !strings.HasPrefix(req.URL.EscapedPath(), "/") {
			return
		}
		req.Header = parseHeaderLines(hdr)
		cfg := ServerConfig{
			Autocreate: autocreate, RingSize: 3, MaxSegmentBytes: 64,
			IdleTimeout: -1, FirstByteKeepalive: -1, Logger: discardLogger(),
		}
		if withTokens {
			cfg.PublishToken, cfg.SubscribeToken = fuzzPublishToken, fuzzSubscribeToken
		}
		synctest.Test(t, func(t *testing.T) {
			srv := NewServer(cfg)
			defer srv.Close()
			// good sends a well-formed request with the publish token.
			good := func(method, path, body string) fuzzAnswer {
				r := httptest.NewRequest(method, path, strings.NewReader(body))
				r.Header.Set("Authorization", "Bearer "+fuzzPublishToken)
				return serveOnce(t, srv, r)
			}
			if err := srv.CreateChannel("ch", ContentTypeMPEGTS); err != nil {
				t.Fatal(err)
			}
			if a := good("POST", "/ch/0", "seg0"); a.code != http.StatusOK {
				t.Fatalf("priming POST /ch/0: %d %q", a.code, a.body)
			}

			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			a := serveOnce(t, srv, req.WithContext(ctx))
			checkFuzzAnswer(t, req, a)

			// Another channel is untouched by a request that named
			// something else.
			name, _, _ := strings.Cut(strings.TrimPrefix(req.URL.EscapedPath(), "/"), "/")
			if name != "ch" {
				if a := good("GET", "/ch/0", ""); a.code != http.StatusOK || a.body != "seg0" {
					t.Fatalf("after %s %q: GET /ch/0 = %d %q", method, path, a.code, a.body)
				}
			}
			// The server still works: a fresh channel is created,
			// written and read back.
			if name != "fresh" {
				if a := good("POST", "/fresh", ""); !autocreate && a.code != http.StatusNotFound || autocreate && a.code != http.StatusOK {
					t.Fatalf("after %s %q: POST /fresh = %d %q", method, path, a.code, a.body)
				}
				if err := srv.CreateChannel("fresh", ContentTypeMPEGTS); err != nil {
					t.Fatalf("after %s %q: CreateChannel: %v", method, path, err)
				}
				if a := good("POST", "/fresh/0", "hello"); a.code != http.StatusOK {
					t.Fatalf("after %s %q: POST /fresh/0 = %d %q", method, path, a.code, a.body)
				}
				if a := good("GET", "/fresh/0", ""); a.code != http.StatusOK || a.body != "hello" || a.header.Get(HeaderSeq) != "0" {
					t.Fatalf("after %s %q: GET /fresh/0 = %d %q %v", method, path, a.code, a.body, a.header)
				}
			}
		})
	})
}

// checkFuzzAnswer checks one answer against what the protocol allows.
func checkFuzzAnswer(t *testing.T, req *http.Request, a fuzzAnswer) {
	t.Helper()
	if a.aborted {
		// Only a read waiting for a segment that never came drops the
		// connection.
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			t.Fatalf("%s %s: the handler aborted", req.Method, req.URL)
		}
		return
	}
	switch a.code {
	case http.StatusOK:
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusMethodNotAllowed,
		http.StatusConflict, http.StatusRequestEntityTooLarge, StatusSequenceNonexistent:
		if !strings.HasPrefix(a.header.Get("Content-Type"), "text/plain") || strings.TrimSpace(a.body) == "" {
			t.Fatalf("%s %s: %d without a text body: %v %q", req.Method, req.URL, a.code, a.header, a.body)
		}
		if a.code == http.StatusMethodNotAllowed && a.header.Get("Allow") == "" {
			t.Fatalf("%s %s: 405 without Allow", req.Method, req.URL)
		}
		if a.code == http.StatusUnauthorized && a.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s %s: 401 without WWW-Authenticate", req.Method, req.URL)
		}
	default:
		t.Fatalf("%s %s: status %d %q", req.Method, req.URL, a.code, a.body)
	}
	for _, h := range []string{HeaderSeq, HeaderLatest} {
		if v := a.header.Get(h); v != "" {
			if n, err := ParseSeq(v); err != nil || n < 0 && h == HeaderLatest {
				t.Fatalf("%s %s: %s: %q out of range (%v)", req.Method, req.URL, h, v, err)
			}
		}
	}
	if v := a.header.Get(HeaderClosed); v != "" && v != ClosedValue {
		t.Fatalf("%s %s: %s: %q", req.Method, req.URL, HeaderClosed, v)
	}
	if req.Method != http.MethodGet || a.code != http.StatusOK || strings.HasSuffix(req.URL.EscapedPath(), "/next") {
		return
	}
	// A segment GET that answered 200 with bytes serves them with its seq.
	if a.body != "" && a.header.Get(HeaderSeq) == "" {
		t.Fatalf("GET %s: %d bytes without %s", req.URL, len(a.body), HeaderSeq)
	}
}
