package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/processor"
)

func TestAPITokenGuardsEveryRouteButHealthAndMetrics(t *testing.T) {
	t.Parallel()
	page := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	okStart := `{"subscribe_url":"http://t/in","gateway_request_id":"r"}`
	routes := []struct{ method, path, body string }{
		{"POST", "/stream/start", okStart},
		{"POST", "/live-video-to-video", okStart},
		{"POST", "/stream/stop", ""},
		{"POST", "/stream/params", `{"a":1}`},
		{"GET", "/stream/status", ""},
		{"GET", "/version", ""},
		{"GET", "/app-version", ""},
		{"GET", "/hardware/info", ""},
		{"GET", "/hardware/stats", ""},
		{"GET", "/", ""},
		{"GET", "/ws", ""},
		{"GET", "/ui/app.js", ""},
	}
	cases := []struct {
		name, auth string
		want       int
		challenge  string
	}{
		{"without a token", "", 401, `Bearer realm="gotrickle"`},
		{"with a wrong token", "Bearer nope", 401, `Bearer realm="gotrickle", error="invalid_token"`},
		{"with the token as Basic auth", "Basic c2VjcmV0Og==", 401, `Bearer realm="gotrickle"`},
		{"with the token", "Bearer secret", 0, ""},
	}
	for _, c := range cases {
		for _, rt := range routes {
			t.Run(c.name+" "+rt.method+" "+rt.path+" is answered accordingly", func(t *testing.T) {
				t.Parallel()
				f := newFake()
				s := New(f, Config{Logger: quiet, APIToken: "secret", StatusPage: page})
				req := httptest.NewRequest(rt.method, rt.path, strings.NewReader(rt.body))
				req.Header.Set("Content-Type", "application/json")
				if c.auth != "" {
					req.Header.Set("Authorization", c.auth)
				}
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, req)
				if c.want == 401 {
					if rec.Code != 401 {
						t.Fatalf("status %d, want 401", rec.Code)
					}
					if got := jsonBody(t, rec); got["status"] != "error" || got["message"] != "401: Unauthorized" {
						t.Fatalf("body %v", got)
					}
					if starts, stops, params := f.calls(); starts+stops+params != 0 {
						t.Fatal("the backend was called without the token")
					}
				} else if rec.Code == 401 {
					t.Fatalf("the right token was refused: %s", rec.Body)
				}
				if got := rec.Header().Get("WWW-Authenticate"); got != c.challenge {
					t.Fatalf("WWW-Authenticate %q, want %q", got, c.challenge)
				}
			})
		}
	}
	t.Run("health and metrics stay open for probes", func(t *testing.T) {
		t.Parallel()
		s := New(newFake(), Config{Logger: quiet, APIToken: "secret"})
		for _, path := range []string{"/health", "/metrics"} {
			if rec := serve(s, "GET", path, "", ""); rec.Code != 200 {
				t.Errorf("%s: %d", path, rec.Code)
			}
		}
	})
	t.Run("unknown paths are still 404 and wrong methods still 401 first", func(t *testing.T) {
		t.Parallel()
		s := New(newFake(), Config{Logger: quiet, APIToken: "secret"})
		if rec := serve(s, "GET", "/nope", "", ""); rec.Code != 404 {
			t.Errorf("unknown path: %d", rec.Code)
		}
		if rec := serve(s, "GET", "/stream/start", "", ""); rec.Code != 401 {
			t.Errorf("GET /stream/start without a token: %d", rec.Code)
		}
	})
	t.Run("without APIToken every route is open", func(t *testing.T) {
		t.Parallel()
		s := New(newFake(), Config{Logger: quiet})
		if rec := serve(s, "POST", "/stream/start", "application/json", okStart); rec.Code != 200 {
			t.Errorf("start: %d %s", rec.Code, rec.Body)
		}
	})
}

func TestEveryRouteThatReadsABodyAnswers413PastTheLimit(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/stream/start", "/live-video-to-video", "/stream/params"} {
		t.Run(path+" refuses a body over MaxBodyBytes with 413 and the typed error", func(t *testing.T) {
			t.Parallel()
			f := newFake()
			f.state = statePayload(processor.StateOK, true)
			s := New(f, Config{Logger: quiet, MaxBodyBytes: 64})
			rec := serve(s, "POST", path, "application/json", `{"gateway_request_id":"`+strings.Repeat("x", 100)+`"}`)
			if rec.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if got := jsonBody(t, rec); got["status"] != "error" || !strings.Contains(got["message"].(string), "request body exceeds 64 bytes") {
				t.Fatalf("body %v", got)
			}
			if starts, _, params := f.calls(); starts+params != 0 {
				t.Fatal("the backend was called")
			}
		})
	}
}

func TestStartURLsAreCheckedAgainstTheAllowList(t *testing.T) {
	t.Parallel()
	allow := []string{"trickle.example.com", "*.gw.example.net", "media.example.org:8443",
		"10.1.0.0/16", "192.168.7.7", "[fd00::1]:3389", "::1"}
	cases := []struct {
		name  string
		field string // the URL field set; others are empty
		url   string
		code  int    // 0: allowed
		host  string // the host the error must name
	}{
		{"an exact host on any port is allowed", "subscribe_url", "http://trickle.example.com:3389/in", 0, ""},
		{"an upper-case host is compared in lower case", "publish_url", "http://TRICKLE.Example.COM/out", 0, ""},
		{"a host with a trailing dot is the same host", "publish_url", "http://trickle.example.com./out", 0, ""},
		{"a subdomain matches its wildcard", "control_url", "https://a.gw.example.net/c", 0, ""},
		{"a deeper subdomain matches too", "events_url", "https://x.y.gw.example.net/e", 0, ""},
		{"the wildcard's own name does not match", "events_url", "https://gw.example.net/e", 403, "gw.example.net"},
		{"a name that only ends the same does not match", "data_url", "http://evilgw.example.net/d", 403, "evilgw.example.net"},
		{"a port-bound host on its port is allowed", "subscribe_url", "http://media.example.org:8443/in", 0, ""},
		{"a port-bound host on another port is refused", "subscribe_url", "http://media.example.org/in", 403, "media.example.org"},
		{"an IP inside a CIDR is allowed", "subscribe_url", "http://10.1.200.3:3389/in", 0, ""},
		{"an IPv4-mapped IPv6 address inside a CIDR is allowed", "subscribe_url", "http://[::ffff:10.1.0.9]/in", 0, ""},
		{"an IP outside the CIDR is refused", "subscribe_url", "http://10.2.0.1/in", 403, "10.2.0.1"},
		{"an exact IP is allowed", "publish_url", "http://192.168.7.7:9000/out", 0, ""},
		{"an IPv6 address with its port is allowed", "publish_url", "http://[fd00::1]:3389/out", 0, ""},
		{"an IPv6 address on another port is refused", "publish_url", "http://[fd00::1]:3390/out", 403, "[fd00::1]:3390"},
		{"IPv6 loopback is allowed on any port", "publish_url", "http://[::1]:1234/out", 0, ""},
		{"a zoned IPv6 address never matches", "publish_url", "http://[::1%25lo]:1234/out", 403, "[::1%lo]:1234"},
		{"an allowed name in the userinfo does not help", "subscribe_url", "http://trickle.example.com@evil.com/in", 403, "evil.com"},
		{"an allowed name with a password in the userinfo does not help", "subscribe_url", "http://trickle.example.com:pw@evil.com/in", 403, "evil.com"},
		{"an allowed name as a subdomain of another does not help", "subscribe_url", "http://trickle.example.com.evil.com/in", 403, "trickle.example.com.evil.com"},
		{"an allowed name in the path does not help", "subscribe_url", "http://evil.com/trickle.example.com/in", 403, "evil.com"},
		{"an allowed name after a fragment does not help", "subscribe_url", "http://evil.com#@trickle.example.com/in", 403, "evil.com"},
		{"a loopback name is refused", "subscribe_url", "http://localhost:3389/in", 403, "localhost:3389"},
		{"a metadata address is refused", "subscribe_url", "http://169.254.169.254/latest", 403, "169.254.169.254"},
		{"a numeric host that some resolvers read as an IP is refused", "subscribe_url", "http://2130706433/in", 403, "2130706433"},
		{"a backslash trick does not parse and is refused", "subscribe_url", `http://evil.com\@trickle.example.com/in`, 400, ""},
		{"a file URL is refused whatever its host", "subscribe_url", "file://trickle.example.com/etc/passwd", 400, "trickle.example.com"},
		{"a URL without a host is refused", "subscribe_url", "http:///in", 400, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			var logs bytes.Buffer
			s := New(f, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil)), AllowHosts: allow})
			body, _ := json.Marshal(map[string]string{"gateway_request_id": "r", c.field: c.url})
			rec := serve(s, "POST", "/stream/start", "application/json", string(body))
			starts, _, _ := f.calls()
			if c.code == 0 {
				if rec.Code != 200 || starts != 1 {
					t.Fatalf("status %d, %d starts: %s", rec.Code, starts, rec.Body)
				}
				return
			}
			if rec.Code != c.code || starts != 0 {
				t.Fatalf("status %d, %d starts, want %d and none: %s", rec.Code, starts, c.code, rec.Body)
			}
			msg, _ := jsonBody(t, rec)["message"].(string)
			if !strings.HasPrefix(msg, "Error starting stream: "+c.field+": ") {
				t.Fatalf("message %q does not name the field", msg)
			}
			if c.host != "" && !strings.Contains(msg, `host "`+c.host+`"`) {
				t.Fatalf("message %q does not name host %q", msg, c.host)
			}
			if strings.Contains(msg, ":pw@") || strings.Contains(logs.String(), ":pw@") {
				t.Fatalf("the password leaked: %q / %s", msg, logs.String())
			}
		})
	}
}

func TestURLSchemesAreLimitedEvenWithoutAnAllowList(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, url string
		code      int
	}{
		{"http is accepted", "http://anywhere/in", 200},
		{"https is accepted", "https://anywhere/in", 200},
		{"an upper-case scheme is accepted", "HTTP://anywhere/in", 200},
		{"a blank URL means unused", "  ", 200},
		{"gopher is refused", "gopher://anywhere/in", 400},
		{"a scheme-relative URL is refused", "//anywhere/in", 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			s := New(f, Config{Logger: quiet})
			body, _ := json.Marshal(map[string]string{"gateway_request_id": "r", "events_url": c.url})
			if rec := serve(s, "POST", "/stream/start", "application/json", string(body)); rec.Code != c.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.code, rec.Body)
			}
		})
	}
}

func TestAllowHostsPatternsAreValidated(t *testing.T) {
	t.Parallel()
	cases := []struct {
		pattern string
		ok      bool
	}{
		{"trickle.internal", true},
		{"Trickle.Internal.", true},
		{"*.example.com", true},
		{"host:3389", true},
		{"10.0.0.0/8", true},
		{"fd00::/8", true},
		{"::1", true},
		{"[::1]:80", true},
		{"", false},
		{"*", false},
		{"*.", false},
		{"a.*.com", false},
		{"host:0", false},
		{"host:99999", false},
		{"host:http", false},
		{"10.0.0.0/33", false},
		{"fe80::1%eth0", false},
		{"http://host", false},
		{"bad host", false},
	}
	for _, c := range cases {
		t.Run(c.pattern, func(t *testing.T) {
			t.Parallel()
			err := ValidateAllowHosts([]string{c.pattern})
			if (err == nil) != c.ok {
				t.Fatalf("ValidateAllowHosts(%q) = %v, want ok %v", c.pattern, err, c.ok)
			}
		})
	}
	t.Run("a list of only bad entries allows nothing", func(t *testing.T) {
		t.Parallel()
		f := newFake()
		s := New(f, Config{Logger: quiet, AllowHosts: []string{"bad host"}})
		rec := serve(s, "POST", "/stream/start", "application/json", `{"gateway_request_id":"r","subscribe_url":"http://bad/in"}`)
		if rec.Code != 403 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

func TestURLErrorUnwrapsToItsReason(t *testing.T) {
	t.Parallel()
	err := error(&URLError{Field: "publish_url", Host: "evil.com", Err: ErrHostNotAllowed})
	if !errors.Is(err, ErrHostNotAllowed) || err.Error() != `publish_url: host "evil.com": host is not in the allow-list` {
		t.Fatalf("%v", err)
	}
}

func TestStartLogsNeitherCredentialsNorTokens(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.startErr = errors.New("trickle: GET http://127.0.0.1:9/in/-2: connection refused")
	var logs bytes.Buffer
	s := New(f, Config{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		APIToken: "api-s3cret"})
	body := `{"gateway_request_id":"r","subscribe_url":"http://user:hunter2@127.0.0.1:9/in",
		"publish_url":"https://tok3n@127.0.0.1:9/out?sig=qwerty"}`
	for _, auth := range []string{"Bearer api-s3cret", "Bearer wrong-s3cret"} {
		req := httptest.NewRequest("POST", "/stream/start", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", auth)
		s.ServeHTTP(httptest.NewRecorder(), req)
	}
	out := logs.String()
	if !strings.Contains(out, "api: starting stream") || !strings.Contains(out, "127.0.0.1:9/in") {
		t.Fatalf("the start was not logged with its URLs:\n%s", out)
	}
	for _, secret := range []string{"hunter2", "tok3n", "qwerty", "s3cret"} {
		if strings.Contains(out, secret) {
			t.Fatalf("the log holds %q:\n%s", secret, out)
		}
	}
}
