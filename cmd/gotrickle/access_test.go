package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// logBuffer is a bytes.Buffer safe for a logger and a test at once.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startLogged is startCmd with stderr (the logs) kept in logs.
func startLogged(t *testing.T, ctx context.Context, logs io.Writer, args ...string) (string, <-chan int) {
	t.Helper()
	return startListening(t, args, func(stdout io.Writer) int { return runWith(ctx, args, stdout, logs) })
}

func request(t *testing.T, method, url, auth, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestServerFlagsSetCapsAndTokens(t *testing.T) {
	t.Setenv(envSubscribeToken, "sub-from-env")
	ctx, cancel := context.WithCancel(context.Background())
	base, done := startLogged(t, ctx, io.Discard, "server", "--addr", "127.0.0.1:0", "--log-level", "error",
		"--max-channels", "2", "--max-subscribers", "1", "--publish-token", "pub")
	defer func() { cancel(); <-done }()
	cases := []struct {
		name, method, path, token string
		want                      int
	}{
		{"a create without the publish token is 401", "POST", "/a", "", 401},
		{"a create with it is 200", "POST", "/a", "pub", 200},
		{"a second channel fits", "POST", "/b", "pub", 200},
		{"a third is past --max-channels", "POST", "/c", "pub", 503},
		{"a read without the subscribe token from the environment is 401", "GET", "/a/next", "", 401},
		{"a read with it is 200", "GET", "/a/next", "sub-from-env", 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := request(t, c.method, base+c.path, c.token, ""); got != c.want {
				t.Fatalf("status %d, want %d", got, c.want)
			}
		})
	}
	t.Run("a second reader of a channel is past --max-subscribers", func(t *testing.T) {
		rctx, rcancel := context.WithCancel(ctx)
		defer rcancel()
		// The waiting reader tries again while a probe holds the place.
		go func() {
			for rctx.Err() == nil {
				waiting, _ := http.NewRequestWithContext(rctx, "GET", base+"/a/0", nil)
				waiting.Header.Set("Authorization", "Bearer sub-from-env")
				if resp, err := http.DefaultClient.Do(waiting); err == nil {
					resp.Body.Close()
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		// A reader that gets in waits for segment 0, so each try gives up
		// after a moment; one is refused once the waiting reader holds
		// the only place.
		probe := &http.Client{Timeout: 300 * time.Millisecond}
		defer probe.CloseIdleConnections()
		deadline := time.Now().Add(5 * time.Second)
		for {
			req, _ := http.NewRequest("GET", base+"/a/0", nil)
			req.Header.Set("Authorization", "Bearer sub-from-env")
			resp, err := probe.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusServiceUnavailable {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("a second reader was never refused (last: %v)", err)
			}
			// Leave the waiting reader (which retries every 10 ms) time to
			// take the place the probe has just given up.
			time.Sleep(100 * time.Millisecond)
		}
	})
}

func TestServeFlagsGuardTheAPIAndSendTheTrickleTokenWithoutLoggingSecrets(t *testing.T) {
	// The trickle server is in-process so that the test sees what the
	// processor sent it.
	tsrv := trickle.NewServer(trickle.ServerConfig{PublishToken: "pub-s3cret", SubscribeToken: "sub-s3cret",
		Logger: quietLogger()})
	var (
		mu      sync.Mutex
		answers []string // method and Authorization of each request, and refusals
	)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Requests are noted as they arrive (a GET waits for its segment),
		// refusals once answered.
		mu.Lock()
		answers = append(answers, r.Method+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		rec := &statusRecorder{ResponseWriter: w, code: 200}
		tsrv.ServeHTTP(rec, r)
		if rec.code == http.StatusUnauthorized {
			mu.Lock()
			answers = append(answers, r.Method+" Unauthorized")
			mu.Unlock()
		}
	}))
	defer hs.Close()
	defer tsrv.Close()
	for _, ch := range []string{"input", "output"} {
		if err := tsrv.CreateChannel(ch, trickle.ContentTypeMPEGTS); err != nil {
			t.Fatal(err)
		}
	}
	trickleHost := strings.TrimPrefix(hs.URL, "http://")

	t.Setenv(envAPIToken, "api-s3cret")
	t.Setenv(envTrickleToken, "pub-s3cret")
	var logs logBuffer
	ctx, cancel := context.WithCancel(context.Background())
	apiURL, done := startLogged(t, ctx, &logs, "serve", "--addr", "127.0.0.1:0", "--log-level", "debug",
		"--no-status-page", "--allow-hosts", "127.0.0.1, localhost", "--trickle-token-hosts", trickleHost)
	defer func() { cancel(); <-done }()

	start := `{"gateway_request_id":"r","subscribe_url":"http://user:hunter2@` + trickleHost + `/input",
		"publish_url":"http://` + trickleHost + `/output"}`
	t.Run("a start without the API token is 401", func(t *testing.T) {
		if got := request(t, "POST", apiURL+"/stream/start", "", start); got != 401 {
			t.Fatalf("status %d", got)
		}
	})
	t.Run("a start naming a host outside --allow-hosts is 403", func(t *testing.T) {
		body := `{"gateway_request_id":"r","subscribe_url":"http://169.254.169.254/input"}`
		if got := request(t, "POST", apiURL+"/stream/start", "api-s3cret", body); got != 403 {
			t.Fatalf("status %d", got)
		}
	})
	t.Run("health needs no token", func(t *testing.T) {
		if got := request(t, "GET", apiURL+"/health", "", ""); got != 200 {
			t.Fatalf("status %d", got)
		}
	})
	t.Run("a start with the token runs and the processor's requests carry the trickle token", func(t *testing.T) {
		if got := request(t, "POST", apiURL+"/stream/start", "api-s3cret", start); got != 200 {
			t.Fatalf("status %d\n%s", got, logs.String())
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			seen := append([]string(nil), answers...)
			mu.Unlock()
			var get bool
			for _, a := range seen {
				if !strings.Contains(a, " Bearer pub-s3cret") {
					t.Fatalf("the processor sent %q", a)
				}
				get = get || strings.HasPrefix(a, "GET ")
			}
			if get {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the processor never read its input; requests: %q", seen)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got := request(t, "POST", apiURL+"/stream/stop", "api-s3cret", ""); got != 200 {
			t.Fatalf("stop: %d", got)
		}
	})
	t.Run("the logs name the stream's URLs but hold no secret", func(t *testing.T) {
		out := logs.String()
		if !strings.Contains(out, trickleHost+"/input") {
			t.Fatalf("the start's URLs were not logged:\n%s", out)
		}
		for _, secret := range []string{"hunter2", "api-s3cret", "pub-s3cret"} {
			if strings.Contains(out, secret) {
				t.Fatalf("the log holds %q:\n%s", secret, out)
			}
		}
	})
}

func TestServeRefusesBadAccessFlags(t *testing.T) {
	cases := []struct {
		name string
		args []string
	}{
		{"an allow-hosts entry that does not parse", []string{"--allow-hosts", "bad host"}},
		{"a trickle token without the hosts to send it to", []string{"--trickle-token", "t"}},
	}
	for _, c := range cases {
		t.Run(c.name+" is a usage error", func(t *testing.T) {
			var stderr bytes.Buffer
			args := append([]string{"serve", "--addr", "127.0.0.1:0"}, c.args...)
			if code := runWith(context.Background(), args, io.Discard, &stderr); code != 2 {
				t.Fatalf("exit status %d, want 2: %s", code, stderr.String())
			}
		})
	}
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if code >= 200 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Flush lets the trickle server stream through the recorder.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
