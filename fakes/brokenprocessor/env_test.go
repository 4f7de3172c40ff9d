package brokenprocessor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/fakes/trickleserver"
	"github.com/gotrickle/gotrickle/pkg/processor"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// env is a broken processor and a trickle server for its channels, each on
// a loopback test server.
type env struct {
	t       *testing.T
	trickle *trickleserver.Server
	tURL    string // the trickle server's base URL, ending in "/"
	url     string // the processor's base URL
	client  *http.Client
}

func newEnv(t *testing.T, m Mutation, pc processor.Config) *env {
	t.Helper()
	ts := trickleserver.New(trickleserver.Config{Trickle: trickle.ServerConfig{Autocreate: true, RingSize: 64, Logger: quiet()}})
	ths := httptest.NewServer(ts)
	bp, err := New(Config{Mutation: m, Processor: pc})
	if err != nil {
		ts.Close()
		ths.Close()
		t.Fatal(err)
	}
	bhs := httptest.NewServer(bp)
	tr := &http.Transport{}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := bp.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		bhs.Close()
		ts.Close()
		ths.Close()
		tr.CloseIdleConnections()
	})
	return &env{t: t, trickle: ts, tURL: ths.URL + "/", url: bhs.URL, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// call sends body (JSON unless contentType says otherwise) and returns the
// status and the body.
func (e *env) call(method, path, body, contentType string) (int, string) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		if contentType == "" {
			contentType = "application/json"
		}
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *env) health() string {
	e.t.Helper()
	_, b := e.call("GET", "/health", "", "")
	var m struct{ Status string }
	json.Unmarshal([]byte(b), &m)
	return m.Status
}

// start starts a stream with these channels (name → URL key) and expects 200.
func (e *env) start(req map[string]any) {
	e.t.Helper()
	if _, ok := req["gateway_request_id"]; !ok {
		req["gateway_request_id"] = "test"
	}
	b, _ := json.Marshal(req)
	if code, body := e.call("POST", "/stream/start", string(b), ""); code != 200 {
		e.t.Fatalf("start: %d %s", code, body)
	}
}

func (e *env) stop() {
	e.t.Helper()
	if code, body := e.call("POST", "/stream/stop", "", ""); code != 200 {
		e.t.Fatalf("stop: %d %s", code, body)
	}
}

// channel creates a channel on the trickle server and returns its URL.
func (e *env) channel(name string) string {
	e.t.Helper()
	if err := e.trickle.Trickle().CreateChannel(name, ""); err != nil {
		e.t.Fatal(err)
	}
	return e.tURL + name
}

// seg is one segment read back from the trickle server.
type seg struct {
	seq  int64
	body []byte
}

// follower reads a channel from seq 0 in the background.
type follower struct {
	t    *testing.T
	mu   sync.Mutex
	segs []seg
	done chan struct{}
}

// follow reads channel name from seq 0 until it ends (or 10 s pass).
func (e *env) follow(name string) *follower { return e.followWith(name, nil) }

// followWith is follow with the subscriber's client (nil: its own).
func (e *env) followWith(name string, client *http.Client) *follower {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	f := &follower{t: e.t, done: make(chan struct{})}
	sub, err := trickle.NewSubscriber(trickle.SubscriberConfig{URL: e.tURL + name, Start: trickle.StartAt(0), Client: client, Logger: quiet()})
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	go func() {
		defer close(f.done)
		for {
			s, err := sub.Next(ctx)
			if err != nil {
				if !errors.Is(err, trickle.ErrStreamClosed) {
					e.t.Errorf("following %s: %v", name, err)
				}
				return
			}
			b, _ := io.ReadAll(s)
			s.Close()
			f.mu.Lock()
			f.segs = append(f.segs, seg{s.Seq, b})
			f.mu.Unlock()
		}
	}()
	e.t.Cleanup(func() { cancel(); <-f.done; sub.Close() })
	return f
}

func (f *follower) snapshot() []seg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seg(nil), f.segs...)
}

// wait waits until n segments have been read.
func (f *follower) wait(n int) {
	f.t.Helper()
	eventually(f.t, 5*time.Second, fmt.Sprintf("%d segments", n), func() bool { return len(f.snapshot()) >= n })
}

// waitEvent waits until an event of type typ has been read. A reader can
// miss segments written just before the channel's DELETE, so tests wait for
// what they check before they stop the stream.
func (f *follower) waitEvent(typ string) {
	f.t.Helper()
	eventually(f.t, 5*time.Second, "a "+typ+" event", func() bool {
		for _, s := range f.snapshot() {
			if strings.Contains(string(s.body), `"type":"`+typ+`"`) {
				return true
			}
		}
		return false
	})
}

// all waits for the channel's end and returns every segment read.
func (f *follower) all() []seg {
	<-f.done
	return f.snapshot()
}

// eventsOf parses events segments: their types, in order, and their seqs.
func eventsOf(t *testing.T, segs []seg) (types []string, seqs []int64, evs []map[string]any) {
	t.Helper()
	for _, s := range segs {
		var e struct {
			Event map[string]any `json:"event"`
		}
		if err := json.Unmarshal(s.body, &e); err != nil {
			t.Fatalf("events seq %d: %v: %q", s.seq, err, s.body)
		}
		typ, _ := e.Event["type"].(string)
		types, seqs, evs = append(types, typ), append(seqs, s.seq), append(evs, e.Event)
	}
	return types, seqs, evs
}

// eventually polls cond every 10 ms for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func compactJSON(s string) string {
	var b bytes.Buffer
	if json.Compact(&b, []byte(s)) != nil {
		return s
	}
	return b.String()
}
