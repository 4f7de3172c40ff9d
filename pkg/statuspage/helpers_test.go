package statuspage

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gotrickle/gotrickle/pkg/processor"
)

const waitLimit = 10 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeSource is a Source and a ParamsSource whose answers the test sets.
type fakeSource struct {
	mu     sync.Mutex
	status processor.Status
	params processor.Params
}

func newFakeSource(state processor.State) *fakeSource {
	return &fakeSource{status: processor.Status{StatePayload: processor.StatePayload{Status: state, State: state,
		PipelineState: state, AdditionalInfo: map[string]any{}}}}
}

func (f *fakeSource) Status() processor.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

func (f *fakeSource) Params() processor.Params {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.params
}

func (f *fakeSource) set(fn func(f *fakeSource)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// testPage serves a Page on a loopback server; both end with the test.
type testPage struct {
	*Page
	hs *httptest.Server
}

func newTestPage(t *testing.T, src Source, cfg Config) *testPage {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	p := New(src, cfg)
	hs := httptest.NewServer(p)
	t.Cleanup(func() {
		p.Close()
		hs.Close()
	})
	return &testPage{Page: p, hs: hs}
}

func (tp *testPage) wsURL() string { return "ws" + strings.TrimPrefix(tp.hs.URL, "http") + "/ws" }

// dial opens the websocket with the given Origin header ("" for none).
func (tp *testPage) dial(t *testing.T, origin string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	d := websocket.Dialer{HandshakeTimeout: waitLimit}
	conn, resp, err := d.Dial(tp.wsURL(), h)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if conn != nil {
		t.Cleanup(func() { conn.Close() })
	}
	return conn, resp, err
}

func (tp *testPage) mustDial(t *testing.T) *websocket.Conn {
	t.Helper()
	conn, _, err := tp.dial(t, "")
	if err != nil {
		t.Fatalf("dialing the websocket: %v", err)
	}
	return conn
}

// message is one websocket message: JSON (typ set) or a binary preview.
type message struct {
	typ    string
	json   map[string]any
	raw    []byte
	binary bool
}

func read(t *testing.T, conn *websocket.Conn) message {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(waitLimit))
	kind, b, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("reading the websocket: %v", err)
	}
	if kind == websocket.BinaryMessage {
		return message{raw: b, binary: true}
	}
	m := message{raw: b}
	if err := json.Unmarshal(b, &m.json); err != nil {
		t.Fatalf("a text message that is not JSON: %q", b)
	}
	m.typ, _ = m.json["type"].(string)
	return m
}

// readUntil reads until a message satisfies ok, failing after waitLimit.
func readUntil(t *testing.T, conn *websocket.Conn, ok func(message) bool) message {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		if m := read(t, conn); ok(m) {
			return m
		}
	}
	t.Fatal("timed out waiting for a message")
	return message{}
}

func ofType(typ string) func(message) bool { return func(m message) bool { return m.typ == typ } }

// eventually polls cond until it holds, failing the test after waitLimit.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
