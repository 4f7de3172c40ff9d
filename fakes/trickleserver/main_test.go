package trickleserver

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// harness is a fake on a loopback httptest server with its own client, so
// that no connection outlives the test.
type harness struct {
	t      *testing.T
	srv    *Server
	base   string
	client *http.Client
}

// newHarness starts a fake with Autocreate on and logs discarded.
func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	cfg.Trickle.Autocreate = true
	if cfg.Trickle.Logger == nil {
		cfg.Trickle.Logger = discardLogger()
	}
	srv := New(cfg)
	hs := httptest.NewServer(srv)
	tr := &http.Transport{}
	t.Cleanup(func() {
		srv.Close() // first: it releases stalled and parked handlers, which hs.Close waits for
		hs.Close()
		tr.CloseIdleConnections()
	})
	return &harness{t: t, srv: srv, base: hs.URL, client: &http.Client{Transport: tr, Timeout: 5 * time.Second}}
}

// do makes a request and reads the whole answer; a transport error fails
// the test.
func (h *harness) do(method, path string, body io.Reader) (*http.Response, string) {
	h.t.Helper()
	resp, b, err := h.try(method, path, body)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp, b
}

// try makes a request and reads the whole answer, returning what arrived
// and the first error.
func (h *harness) try(method, path string, body io.Reader) (*http.Response, string, error) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// publish writes whole segments to channel s, starting at seq 0.
func (h *harness) publish(segments ...string) {
	h.t.Helper()
	for i, body := range segments {
		path := "/s/" + itoa(int64(i))
		if resp, _ := h.do(http.MethodPost, path, strings.NewReader(body)); resp.StatusCode != http.StatusOK {
			h.t.Fatalf("POST %s: status %d", path, resp.StatusCode)
		}
	}
}

// waitFor polls cond until it holds or a second passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lastRequest returns the latest recorded request for method and path.
func (h *harness) lastRequest(method, path string) (Request, bool) {
	reqs := h.srv.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Method == method && reqs[i].Path == path {
			return reqs[i], true
		}
	}
	return Request{}, false
}

// finished waits until the latest request for method and path has ended
// and returns its record.
func (h *harness) finished(method, path string) Request {
	h.t.Helper()
	var r Request
	waitFor(h.t, method+" "+path+" to end", func() bool {
		var ok bool
		r, ok = h.lastRequest(method, path)
		return ok && !r.End.IsZero()
	})
	return r
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
