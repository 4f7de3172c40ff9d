package processor

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

func TestParseControlMessage(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		want     string // the params as JSON, "" for none
		wantKeep bool
		wantErr  bool
	}{
		{name: "an object is a message", body: `{"prompt":"cat","strength":0.5}`, want: `{"prompt":"cat","strength":0.5}`},
		{name: "surrounding blanks are fine", body: " \n{\"a\":1}\n", want: `{"a":1}`},
		{name: "an empty body is ignored", body: "", wantKeep: true},
		{name: "a blank body is ignored", body: " \r\n", wantKeep: true},
		{name: "the keepalive is ignored", body: `{"keep":"alive"}`, wantKeep: true},
		{name: "a keepalive with other keys is a message", body: `{"keep":"alive","a":1}`, want: `{"a":1,"keep":"alive"}`},
		{name: "invalid JSON is an error", body: `{"a":`, wantErr: true},
		{name: "an array is an error", body: `[1,2]`, wantErr: true},
		{name: "null is an error", body: `null`, wantErr: true},
		{name: "two objects are an error", body: `{"a":1}{"b":2}`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, keep, err := parseControlMessage([]byte(tc.body))
			if (err != nil) != tc.wantErr || keep != tc.wantKeep {
				t.Fatalf("got keep %v, err %v; want keep %v, error %v", keep, err, tc.wantKeep, tc.wantErr)
			}
			got := ""
			if p != nil {
				b, _ := json.Marshal(p)
				got = string(b)
			}
			if got != tc.want {
				t.Fatalf("params %s, want %s", got, tc.want)
			}
		})
	}
}

// controlRecorder collects what a controlReader applies.
type controlRecorder struct {
	mu  sync.Mutex
	got []string
}

func (r *controlRecorder) apply(_ context.Context, p Params) {
	b, _ := json.Marshal(p)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, string(b))
}

func (r *controlRecorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// startControlReader runs a reader for url in the background; the returned
// function waits for run's result.
func startControlReader(ctx context.Context, c *controlReader) func() error {
	errc := make(chan error, 1)
	go func() { errc <- c.run(ctx) }()
	return func() error {
		select {
		case err := <-errc:
			return err
		case <-time.After(10 * time.Second):
			return errors.New("run did not return")
		}
	}
}

func TestControlReaderAppliesMessagesInOrderAndEndsWithTheStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, base, reqs := newSideTestServer(t, trickle.ServerConfig{RingSize: 64})
	if err := srv.CreateChannel("control", "application/json"); err != nil {
		t.Fatal(err)
	}
	url := base + "/control"
	rec := &controlRecorder{}
	c := newControlReader(url, rec.apply, sideTestLogger())
	wait := startControlReader(ctx, c)
	// PyTrickle's reader starts at -2; publish only once it is waiting.
	sideWaitFor(t, "the reader's first GET", func() bool { return reqs.has(http.MethodGet, "/control/-2") })

	pub, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: url, ContentType: "application/json", Logger: sideTestLogger()})
	if err != nil {
		t.Fatal(err)
	}
	segments := []string{
		`{"prompt":"cat"}`,
		`{"keep":"alive"}`,
		``,
		`not json`,
		`{"strength":0.5}`,
		`[1,2]`,
		`{"big":"` + strings.Repeat("x", controlMaxMessageBytes) + `"}`,
		"{\"prompt\":\"dog\",\"max_framerate\":15}\n",
	}
	for i, body := range segments {
		if _, err := pub.Write(ctx, strings.NewReader(body)); err != nil {
			t.Fatalf("segment %d: %v", i, err)
		}
	}
	want := []string{`{"prompt":"cat"}`, `{"strength":0.5}`, `{"max_framerate":15,"prompt":"dog"}`}
	sideWaitFor(t, "three messages applied", func() bool { return len(rec.all()) == len(want) })
	if err := pub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := wait(); !errors.Is(err, trickle.ErrStreamClosed) {
		t.Fatalf("run after the stream ended: %v, want trickle.ErrStreamClosed", err)
	}
	if got := rec.all(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("applied %q, want %q", got, want)
	}
	if c.Skipped() != 3 || c.Applied() != 3 {
		t.Fatalf("skipped %d, applied %d; want 3, 3", c.Skipped(), c.Applied())
	}
}

func TestControlReaderEnds(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T) *controlReader
		cancel bool // cancel the context once run is waiting
		check  func(t *testing.T, err error)
	}{
		{
			name: "without error when its URL is empty",
			setup: func(t *testing.T) *controlReader {
				return newControlReader(" ", nil, sideTestLogger())
			},
			check: func(t *testing.T, err error) {
				if err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "without error when its context is cancelled",
			setup: func(t *testing.T) *controlReader {
				srv, base, _ := newSideTestServer(t, trickle.ServerConfig{})
				if err := srv.CreateChannel("control", "application/json"); err != nil {
					t.Fatal(err)
				}
				return newControlReader(base+"/control", (&controlRecorder{}).apply, sideTestLogger())
			},
			cancel: true,
			check: func(t *testing.T, err error) {
				if err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "with a not-found error when the channel does not exist",
			setup: func(t *testing.T) *controlReader {
				_, base, _ := newSideTestServer(t, trickle.ServerConfig{})
				return newControlReader(base+"/control", (&controlRecorder{}).apply, sideTestLogger())
			},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, errControlNotFound) || !errors.Is(err, trickle.ErrStreamNotFound) {
					t.Fatalf("got %v, want errControlNotFound wrapping trickle.ErrStreamNotFound", err)
				}
			},
		},
		{
			name: "with the error when the subscriber gives up retrying",
			setup: func(t *testing.T) *controlReader {
				hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.Error(w, "overloaded", http.StatusServiceUnavailable)
				}))
				t.Cleanup(hs.Close)
				c := newControlReader(hs.URL+"/control", (&controlRecorder{}).apply, sideTestLogger())
				c.maxRetries, c.retryBackoff = 2, time.Millisecond
				return c
			},
			check: func(t *testing.T, err error) {
				var he *trickle.HTTPError
				if !errors.As(err, &he) || he.Code != http.StatusServiceUnavailable || errors.Is(err, errControlNotFound) {
					t.Fatalf("got %v, want the 503 error", err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := tc.setup(t)
			wait := startControlReader(ctx, c)
			if tc.cancel {
				time.Sleep(50 * time.Millisecond) // let it wait on the channel
				cancel()
			}
			tc.check(t, wait())
		})
	}
}
