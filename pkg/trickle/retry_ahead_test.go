package trickle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// flakyFront answers the first fail requests of one method and path with
// 503 and hands everything else to the real server, counting what it saw.
type flakyFront struct {
	next         http.Handler
	method, path string

	mu    sync.Mutex
	fail  int
	count map[string]int // "METHOD /path" -> requests seen
}

func (f *flakyFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.URL.Path
	f.mu.Lock()
	f.count[key]++
	refuse := r.Method == f.method && r.URL.Path == f.path && f.fail > 0
	if refuse {
		f.fail--
	}
	f.mu.Unlock()
	if refuse {
		http.Error(w, "injected", http.StatusServiceUnavailable)
		return
	}
	f.next.ServeHTTP(w, r)
}

func (f *flakyFront) seen(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count[key]
}

// newFlakyServer runs a trickle server with channel "ch" behind a
// flakyFront that refuses the first fail requests of method+path.
func newFlakyServer(t *testing.T, method, path string, fail int) (*flakyFront, string) {
	t.Helper()
	srv := NewServer(ServerConfig{Logger: discardLogger()})
	if err := srv.CreateChannel("ch", ContentTypeMPEGTS); err != nil {
		t.Fatal(err)
	}
	f := &flakyFront{next: srv, method: method, path: path, fail: fail, count: map[string]int{}}
	hs := httptest.NewServer(f)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	return f, hs.URL
}

// subscribedPastSeq0 runs a server whose first fail GETs of seq 1 get
// 503, with seq 0 written, and a subscriber that has read seq 0: the GET
// for seq 1 is under way, made ahead.
func subscribedPastSeq0(t *testing.T, ctx context.Context, fail, maxRetries int, backoff time.Duration) (*flakyFront, string, *Subscriber) {
	t.Helper()
	front, base := newFlakyServer(t, http.MethodGet, "/ch/1", fail)
	postSeq(t, base, 0, "zero")
	sub, err := NewSubscriber(SubscriberConfig{URL: base + "/ch", Start: StartAt(0), MaxRetries: maxRetries, RetryBackoff: backoff, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	if seq, body := readSegment(t, ctx, sub); seq != 0 || body != "zero" {
		t.Fatalf("first segment: seq %d %q", seq, body)
	}
	return front, base, sub
}

// readSeq1 writes seq 1, reads it and checks how many GETs it took.
func readSeq1(t *testing.T, ctx context.Context, front *flakyFront, base string, sub *Subscriber, wantGets int) {
	t.Helper()
	postSeq(t, base, 1, "one")
	if seq, body := readSegment(t, ctx, sub); seq != 1 || body != "one" {
		t.Fatalf("second segment: seq %d %q", seq, body)
	}
	if n := front.seen("GET /ch/1"); n != wantGets {
		t.Fatalf("seq 1 was asked for %d times, want %d", n, wantGets)
	}
}

func postSeq(t *testing.T, base string, seq int, body string) {
	t.Helper()
	if resp, _ := do(t, "POST", fmt.Sprintf("%s/ch/%d", base, seq), strings.NewReader(body)); resp.StatusCode != 200 {
		t.Fatalf("POST seq %d: %d", seq, resp.StatusCode)
	}
}

func TestASubscriberRetriesAFailedRequestMadeAheadBeforeTheSegmentIsAskedFor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	front, base, sub := subscribedPastSeq0(t, ctx, 2, 0, 10*time.Millisecond)
	// Next has not been called again: the two refusals of the GET made
	// ahead for seq 1 must be retried on their own, the third GET left
	// waiting on the server for the segment to start.
	waitFor(t, "the GET for seq 1 is retried twice", func() bool { return front.seen("GET /ch/1") == 3 })
	if got := sub.Stats().Retries; got != 2 {
		t.Fatalf("Retries = %d before the segment was asked for, want 2", got)
	}
	readSeq1(t, ctx, front, base, sub, 3) // nothing asked again after it arrived
}

func TestASubscriberGivesUpAfterTheRetriesAheadAndItsOwn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	front, _, sub := subscribedPastSeq0(t, ctx, 100, 3, time.Millisecond)
	_, err := sub.Next(ctx)
	var he *HTTPError
	if !errors.As(err, &he) || he.Code != http.StatusServiceUnavailable {
		t.Fatalf("Next after the retries = %v, want the 503", err)
	}
	// The GET made ahead and its 3 retries, then one more when the
	// segment was due and its own 3.
	if n := front.seen("GET /ch/1"); n != 8 {
		t.Fatalf("seq 1 was asked for %d times, want 8", n)
	}
	if got := sub.Stats().Retries; got != 7 {
		t.Fatalf("Retries = %d, want 7 (every GET after the first)", got)
	}
}

func TestASubscriberAsksAgainWhenItsRetriesAheadRanOutBeforeTheSegmentWasDue(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	front, base, sub := subscribedPastSeq0(t, ctx, 3, 2, time.Millisecond)
	// The first GET and both its retries fail while seq 0 is read.
	waitFor(t, "the GET made ahead gives up", func() bool { return front.seen("GET /ch/1") == 3 })
	readSeq1(t, ctx, front, base, sub, 4) // 3 ahead, 1 when due
}

func TestAPublisherRetriesARefusedPOSTOpenedAheadWhileTheSegmentBeforeIsWritten(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	front, base := newFlakyServer(t, http.MethodPost, "/ch/1", 2)
	pub, err := NewPublisher(ctx, PublisherConfig{URL: base + "/ch", RetryBackoff: 10 * time.Millisecond, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(context.Background())
	w, err := pub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, "zero"); err != nil {
		t.Fatal(err)
	}
	// While seq 0 is still open, the POST opened ahead for seq 1 is
	// refused twice and must be opened again on its own, so that the
	// writer of seq 1 finds it ready instead of waiting out the back-off.
	waitFor(t, "the POST for seq 1 is retried twice", func() bool { return front.seen("POST /ch/1") == 3 })
	if err := w.Close(); err != nil {
		t.Fatalf("closing seq 0: %v", err)
	}
	if _, err := pub.Write(ctx, strings.NewReader("one")); err != nil {
		t.Fatalf("writing seq 1: %v", err)
	}
	if n := front.seen("POST /ch/1"); n != 3 {
		t.Fatalf("seq 1 was posted %d times, want 3", n)
	}
	st := pub.Stats()
	if st.Retries != 2 || st.Segments != 2 || st.Lost != 0 {
		t.Fatalf("stats %+v, want 2 retries, 2 segments, none lost", st)
	}
	resp, body := do(t, "GET", base+"/ch/1", nil)
	if resp.StatusCode != 200 || body != "one" {
		t.Fatalf("GET seq 1: %d %q", resp.StatusCode, body)
	}
}

func TestAPublisherGivesUpOnASegmentAfterItsRetriesAheadAndItsOwn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	front, base := newFlakyServer(t, http.MethodPost, "/ch/1", 100)
	pub, err := NewPublisher(ctx, PublisherConfig{URL: base + "/ch", MaxRetries: 3, RetryBackoff: time.Millisecond, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(context.Background())
	if _, err := pub.Write(ctx, strings.NewReader("zero")); err != nil {
		t.Fatal(err)
	}
	_, err = pub.Write(ctx, strings.NewReader("one"))
	var he *HTTPError
	if !errors.As(err, &he) || he.Code != http.StatusServiceUnavailable {
		t.Fatalf("writing seq 1 = %v, want the 503", err)
	}
	// Up to 3 retries ahead (how many ran before the writer took the POST
	// depends on timing), then the writer's own 3.
	n := front.seen("POST /ch/1")
	if n < 1+3 || n > 1+3+3 {
		t.Fatalf("seq 1 was posted %d times, want 4 to 7 (the first, up to 3 ahead, 3 by the writer)", n)
	}
	if got := pub.Stats().Retries; got != int64(n-1) {
		t.Fatalf("Retries = %d, want %d (every POST after the first)", got, n-1)
	}
	// The publisher goes on with the next seq.
	if _, err := pub.Write(ctx, strings.NewReader("two")); err != nil {
		t.Fatalf("writing seq 2: %v", err)
	}
	if resp, body := do(t, "GET", base+"/ch/2", nil); resp.StatusCode != 200 || body != "two" {
		t.Fatalf("GET seq 2: %d %q", resp.StatusCode, body)
	}
}

func TestAnOutageThatOutlastsTheRetriesAheadDoesNotCostTheSegmentItsOwn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := NewServer(ServerConfig{Logger: discardLogger()})
	if err := srv.CreateChannel("ch", ContentTypeMPEGTS); err != nil {
		t.Fatal(err)
	}
	// POSTs of seq 1 get 503 for 150 ms; seq 0 takes 400 ms to write, so
	// the retries ahead (10-ms back-off) are spent inside the outage.
	var until atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/ch/1" && time.Now().UnixNano() < until.Load() {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		srv.ServeHTTP(w, r)
	}))
	defer func() { srv.Close(); hs.Close() }()
	until.Store(time.Now().Add(150 * time.Millisecond).UnixNano())
	pub, err := NewPublisher(ctx, PublisherConfig{URL: hs.URL + "/ch", MaxRetries: 3, RetryBackoff: 10 * time.Millisecond, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(context.Background())
	w, err := pub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("zero"))
	time.Sleep(400 * time.Millisecond) // the encoder makes the rest of seq 0
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Write(ctx, strings.NewReader("one")); err != nil {
		t.Fatalf("seq 1, written 250 ms after a 150-ms outage ended: %v (stats %+v)", err, pub.Stats())
	}
	if st := pub.Stats(); st.Segments != 2 || st.Lost != 0 {
		t.Fatalf("stats %+v, want both segments accepted", st)
	}
}
