package trickle

import (
	"bytes"
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestServerTokensGuardWritesAndOptionallyReads(t *testing.T) {
	type req struct {
		method, path, auth string
	}
	cases := []struct {
		name      string
		cfg       ServerConfig
		req       req
		want      int
		challenge string // the WWW-Authenticate header of a 401
	}{
		{"a POST without a token is refused", ServerConfig{PublishToken: "pub"},
			req{"POST", "/ch", ""}, 401, `Bearer realm="trickle"`},
		{"a POST with a wrong token is refused as invalid", ServerConfig{PublishToken: "pub"},
			req{"POST", "/ch", "Bearer puc"}, 401, `Bearer realm="trickle", error="invalid_token"`},
		{"a POST with a prefix of the token is refused", ServerConfig{PublishToken: "pub"},
			req{"POST", "/ch", "Bearer pu"}, 401, `Bearer realm="trickle", error="invalid_token"`},
		{"a POST with the token plus more is refused", ServerConfig{PublishToken: "pub"},
			req{"POST", "/ch", "Bearer pubx"}, 401, `Bearer realm="trickle", error="invalid_token"`},
		{"a POST with Basic auth is refused", ServerConfig{PublishToken: "pub"},
			req{"POST", "/ch", "Basic cHViOg=="}, 401, `Bearer realm="trickle"`},
		{"a POST with the token is let through", ServerConfig{PublishToken: "pub"},
			req{"POST", "/ch", "Bearer pub"}, 200, ""},
		{"the scheme is matched case-insensitively", ServerConfig{PublishToken: "pub"},
			req{"POST", "/ch", "bearer pub"}, 200, ""},
		{"a segment POST needs the token", ServerConfig{PublishToken: "pub"},
			req{"POST", "/ch/0", ""}, 401, `Bearer realm="trickle"`},
		{"a DELETE needs the token", ServerConfig{PublishToken: "pub"},
			req{"DELETE", "/ch", ""}, 401, `Bearer realm="trickle"`},
		{"a DELETE with the token is let through", ServerConfig{PublishToken: "pub"},
			req{"DELETE", "/ch", "Bearer pub"}, 200, ""},
		{"reads stay open with only a publish token", ServerConfig{PublishToken: "pub"},
			req{"GET", "/ch/next", ""}, 200, ""},
		{"a read without the subscribe token is refused", ServerConfig{PublishToken: "pub", SubscribeToken: "sub"},
			req{"GET", "/ch/next", ""}, 401, `Bearer realm="trickle"`},
		{"a HEAD without the subscribe token is refused", ServerConfig{SubscribeToken: "sub"},
			req{"HEAD", "/ch/-2", ""}, 401, `Bearer realm="trickle"`},
		{"a read with the subscribe token is let through", ServerConfig{PublishToken: "pub", SubscribeToken: "sub"},
			req{"GET", "/ch/next", "Bearer sub"}, 200, ""},
		{"a read with the publish token is let through", ServerConfig{PublishToken: "pub", SubscribeToken: "sub"},
			req{"GET", "/ch/next", "Bearer pub"}, 200, ""},
		{"a write with the subscribe token is refused", ServerConfig{PublishToken: "pub", SubscribeToken: "sub"},
			req{"POST", "/ch", "Bearer sub"}, 401, `Bearer realm="trickle", error="invalid_token"`},
		{"a subscribe token alone leaves writes open", ServerConfig{SubscribeToken: "sub"},
			req{"POST", "/ch", ""}, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Autocreate = true
			srv, base := newTestServer(t, c.cfg)
			if err := srv.CreateChannel("ch", ""); err != nil {
				t.Fatal(err)
			}
			var hdr []string
			if c.req.auth != "" {
				hdr = []string{"Authorization", c.req.auth}
			}
			resp, body := do(t, c.req.method, base+c.req.path, nil, hdr...)
			if resp.StatusCode != c.want {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, c.want, body)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != c.challenge {
				t.Fatalf("WWW-Authenticate %q, want %q", got, c.challenge)
			}
			if c.want == 401 && c.req.method != "HEAD" && !strings.Contains(body, "bearer token") {
				t.Fatalf("401 body %q does not say what is missing", body)
			}
			if c.want == 401 && c.req.method == "DELETE" && srv.lookup("ch") == nil {
				t.Fatal("a refused DELETE closed the channel")
			}
		})
	}
}

func TestTokenEqual(t *testing.T) {
	cases := []struct {
		name      string
		got, want string
		equal     bool
	}{
		{"the same token matches", "s3cret-token", "s3cret-token", true},
		{"a different token of the same length does not", "s3cret-tokem", "s3cret-token", false},
		{"a prefix does not", "s3cret", "s3cret-token", false},
		{"a longer token does not", "s3cret-token!", "s3cret-token", false},
		{"case matters", "S3CRET-TOKEN", "s3cret-token", false},
		{"an empty token does not match a set one", "", "s3cret-token", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := TokenEqual(c.got, c.want); got != c.equal {
				t.Fatalf("TokenEqual(%q, %q) = %v", c.got, c.want, got)
			}
		})
	}
}

// TestTokenEqualComparesInConstantTime reads auth.go: TokenEqual must
// compare with crypto/subtle and never with == on the tokens, which would
// return at the first differing byte.
func TestTokenEqualComparesInConstantTime(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "auth.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var body *ast.BlockStmt
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == "TokenEqual" {
			body = fn.Body
		}
	}
	if body == nil {
		t.Fatal("no TokenEqual in auth.go")
	}
	var subtleCall, plainCompare bool
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if x, ok := n.X.(*ast.Ident); ok && x.Name == "subtle" && n.Sel.Name == "ConstantTimeCompare" {
				subtleCall = true
			}
		case *ast.BinaryExpr:
			for _, side := range []ast.Expr{n.X, n.Y} {
				if id, ok := side.(*ast.Ident); ok && (id.Name == "got" || id.Name == "want") &&
					(n.Op == token.EQL || n.Op == token.NEQ) {
					plainCompare = true
				}
			}
		}
		return true
	})
	if !subtleCall || plainCompare {
		t.Fatalf("TokenEqual: subtle.ConstantTimeCompare used %v, tokens compared with == %v", subtleCall, plainCompare)
	}
}

// authRecorder wraps a handler and keeps the Authorization headers seen.
type authRecorder struct {
	h    http.Handler
	mu   sync.Mutex
	seen []string
}

func (a *authRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.seen = append(a.seen, r.Header.Get("Authorization"))
	a.mu.Unlock()
	a.h.ServeHTTP(w, r)
}

func (a *authRecorder) headers() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen...)
}

func TestClientsSendTheirTokenAndTheServerLetsThemIn(t *testing.T) {
	srv := NewServer(ServerConfig{PublishToken: "pub", SubscribeToken: "sub", Logger: discardLogger()})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); hs.Close() })
	if err := srv.CreateChannel("ch", ContentTypeMPEGTS); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("a publisher and subscriber with the tokens carry a segment", func(t *testing.T) {
		pub, err := NewPublisher(ctx, PublisherConfig{URL: hs.URL + "/ch", Token: "pub", Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close(context.Background())
		sub, err := NewSubscriber(SubscriberConfig{URL: hs.URL + "/ch", Token: "sub", Start: StartAt(0), Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if _, err := pub.Write(ctx, strings.NewReader("hello")); err != nil {
			t.Fatalf("write: %v", err)
		}
		if seq, body := readSegment(t, ctx, sub); seq != 0 || body != "hello" {
			t.Fatalf("read %d %q", seq, body)
		}
	})
	t.Run("a publisher without the token gets the 401 as an error", func(t *testing.T) {
		pub, err := NewPublisher(ctx, PublisherConfig{URL: hs.URL + "/ch", MaxRetries: -1, Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close(context.Background())
		_, err = pub.Write(ctx, strings.NewReader("nope"))
		if he, ok := errors.AsType[*HTTPError](err); !ok || he.Code != 401 {
			t.Fatalf("err %v, want an HTTPError 401", err)
		}
	})
	t.Run("a subscriber with a wrong token gets the 401 as an error", func(t *testing.T) {
		sub, err := NewSubscriber(SubscriberConfig{URL: hs.URL + "/ch", Token: "wrong", MaxRetries: -1, Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		_, err = sub.Next(ctx)
		if he, ok := errors.AsType[*HTTPError](err); !ok || he.Code != 401 {
			t.Fatalf("err %v, want an HTTPError 401", err)
		}
	})
}

func TestClientsSendURLUserinfoAsBasicAuthAndNeverLogIt(t *testing.T) {
	srv := NewServer(ServerConfig{Logger: discardLogger()})
	// The first answer is a 503, so that the subscriber logs a retry.
	var once sync.Once
	rec := &authRecorder{h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		failed := false
		once.Do(func() { failed = true })
		if failed {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		srv.ServeHTTP(w, r)
	})}
	hs := httptest.NewServer(rec)
	t.Cleanup(func() { srv.Close(); hs.Close() })
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	secretURL := strings.Replace(hs.URL, "http://", "http://user:hunter2@", 1) + "/ch"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// The channel does not exist: the errors name the URL.
	sub, err := NewSubscriber(SubscriberConfig{URL: secretURL, MaxRetries: 1, RetryBackoff: time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	_, subErr := sub.Next(ctx)
	sub.Close()
	pub, err := NewPublisher(ctx, PublisherConfig{URL: secretURL, MaxRetries: -1, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	_, pubErr := pub.Write(ctx, strings.NewReader("x"))
	pub.Close(context.Background())

	t.Run("the server saw Basic auth for user:hunter2", func(t *testing.T) {
		seen := rec.headers()
		if len(seen) == 0 {
			t.Fatal("no requests")
		}
		for _, h := range seen {
			if h != "Basic dXNlcjpodW50ZXIy" {
				t.Fatalf("Authorization %q", h)
			}
		}
	})
	t.Run("errors do not carry the password", func(t *testing.T) {
		for _, err := range []error{subErr, pubErr} {
			if err == nil {
				t.Fatal("no error from a missing channel")
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error leaks the password: %v", err)
			}
		}
	})
	t.Run("logs do not carry the password", func(t *testing.T) {
		if !strings.Contains(logs.String(), "url=") {
			t.Fatalf("no log line names the URL:\n%s", logs.String())
		}
		if strings.Contains(logs.String(), "hunter2") {
			t.Fatalf("log leaks the password:\n%s", logs.String())
		}
	})
	t.Run("a bad URL's error does not carry the password", func(t *testing.T) {
		for _, raw := range []string{"ftp://user:hunter2@host/ch", "http://user:hunter2@host/bad name", "http://user:hunter2@host/%zz"} {
			_, err := NewSubscriber(SubscriberConfig{URL: raw})
			if err == nil || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("%q: err %v", raw, err)
			}
		}
	})
}

func TestTokenTransportSendsTheTokenOnlyToItsHosts(t *testing.T) {
	trusted := &authRecorder{h: http.NotFoundHandler()}
	other := &authRecorder{h: http.NotFoundHandler()}
	hsTrusted, hsOther := httptest.NewServer(trusted), httptest.NewServer(other)
	defer hsTrusted.Close()
	defer hsOther.Close()
	tt := &TokenTransport{Token: "tok", Hosts: []string{strings.ToUpper(strings.TrimPrefix(hsTrusted.URL, "http://"))}}
	c := &http.Client{Transport: tt}
	for _, u := range []string{hsTrusted.URL + "/a", hsOther.URL + "/a"} {
		req, _ := http.NewRequest("GET", u, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if req.Header.Get("Authorization") != "" {
			t.Fatal("the caller's request was changed")
		}
	}
	c.CloseIdleConnections()
	if got := trusted.headers(); len(got) != 1 || got[0] != "Bearer tok" {
		t.Fatalf("trusted host saw %q", got)
	}
	if got := other.headers(); len(got) != 1 || got[0] != "" {
		t.Fatalf("other host saw %q", got)
	}
}
