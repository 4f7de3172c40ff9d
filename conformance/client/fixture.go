package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/gotrickle/gotrickle/conformance/harness"
	"github.com/gotrickle/gotrickle/fakes/trickleserver"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// fixtureOpts configures the fake server of one spec.
type fixtureOpts struct {
	noAutocreate bool
	keepalive    time.Duration // first-byte keepalive K; 0: the server's default
	maxSegment   int64         // 0: the server's default
	ringSize     int           // 0: the server's default (5)
	faults       []trickleserver.Fault
	// no470Latest removes Lp-Trickle-Latest from every 470 answer (the
	// fake always sends the real latest with one).
	no470Latest bool
	// create makes the channel before the client starts (a subscriber
	// then finds an existing, quiet channel).
	create bool
}

// fixture is one spec's fake server and channel.
//
// The client under test talks to srv: the fake, which applies faults and
// records every request. The suite's own requests (publishing segments for
// a subscriber to read) go to feed, an HTTP server in front of the same
// real trickle server without the fake around it, so they are neither
// recorded nor faulted.
type fixture struct {
	fake   *trickleserver.Server
	srv    *httptest.Server
	feed   *httptest.Server
	client *http.Client
	wire   *wireLog
	ch     string // the channel of this spec
	url    string // the channel URL the client is given: {base}{ch}
}

// newFake is the fake server of a spec, configured as o says.
func newFake(o fixtureOpts) *trickleserver.Server {
	return trickleserver.New(trickleserver.Config{
		Trickle: trickle.ServerConfig{
			Autocreate:         !o.noAutocreate,
			FirstByteKeepalive: o.keepalive,
			MaxSegmentBytes:    o.maxSegment,
			RingSize:           o.ringSize,
			Logger:             slog.New(slog.DiscardHandler),
		},
		Faults: o.faults,
	})
}

func newFixture(o fixtureOpts) *fixture {
	GinkgoHelper()
	fake := newFake(o)
	wire := &wireLog{next: fake, no470Latest: o.no470Latest}
	srv := httptest.NewServer(wire)
	feed := httptest.NewServer(fake.Trickle())
	tr := &http.Transport{DisableCompression: true}
	f := &fixture{fake: fake, srv: srv, feed: feed, client: &http.Client{Transport: tr}, wire: wire,
		ch: randomName()}
	f.url = srv.URL + "/" + f.ch
	wire.fx = f
	DeferCleanup(func() {
		fake.Close() // first: it releases held requests, which the servers' Close waits for
		srv.CloseClientConnections()
		srv.Close()
		feed.CloseClientConnections()
		feed.Close()
		tr.CloseIdleConnections()
	})
	if o.create {
		if err := fake.Trickle().CreateChannel(f.ch, trickle.ContentTypeMPEGTS); err != nil {
			harness.HarnessError(fmt.Errorf("creating channel %s: %w", f.ch, err))
		}
	}
	return f
}

func randomName() string {
	var b [6]byte
	rand.Read(b[:])
	return "cli-" + hex.EncodeToString(b[:])
}

// seqPtr returns a pointer to n, for Fault.Seq and subOptions.Start.
func seqPtr(n int64) *int64 { return &n }

// --- the client under test ---------------------------------------------

// publisher starts a publisher on the spec's channel; it is closed when
// the spec ends.
func (f *fixture) publisher(o pubOptions) publisherDriver {
	GinkgoHelper()
	o.URL = f.url
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := impl.NewPublisher(ctx, o)
	if errors.Is(err, errOptionUnsupported) {
		Skip("the client cannot be configured for this check: " + err.Error())
	}
	Expect(err).NotTo(HaveOccurred(), "starting the publisher")
	DeferCleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = p.Close(ctx)
	})
	return p
}

// subscriber starts a subscriber on the spec's channel; it is closed when
// the spec ends.
func (f *fixture) subscriber(o subOptions) subscriberDriver {
	GinkgoHelper()
	if o.URL == "" {
		o.URL = f.url
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := impl.NewSubscriber(ctx, o)
	if errors.Is(err, errOptionUnsupported) {
		Skip("the client cannot be configured for this check: " + err.Error())
	}
	Expect(err).NotTo(HaveOccurred(), "starting the subscriber")
	DeferCleanup(s.Close)
	return s
}

// write runs WriteSegment within d and expects it to be accepted.
func write(p publisherDriver, d time.Duration, chunks []string, pause time.Duration) writeResult {
	GinkgoHelper()
	r := tryWrite(p, d, chunks, pause)
	Expect(r.Outcome).To(Equal(outcomeOK), "writing segment %q: %v", chunks, r)
	return r
}

// tryWrite runs WriteSegment within d and returns whatever happened.
func tryWrite(p publisherDriver, d time.Duration, chunks []string, pause time.Duration) writeResult {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return p.WriteSegment(ctx, toChunks(chunks), pause)
}

// goWrite runs WriteSegment in the background, bounded by d.
func goWrite(p publisherDriver, d time.Duration, chunks []string, pause time.Duration) <-chan writeResult {
	out := make(chan writeResult, 1)
	go func() { out <- tryWrite(p, d, chunks, pause) }()
	return out
}

func toChunks(s []string) [][]byte {
	out := make([][]byte, len(s))
	for i := range s {
		out[i] = []byte(s[i])
	}
	return out
}

// next runs Next within d.
func next(s subscriberDriver, d time.Duration) readResult {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return s.Next(ctx)
}

// goNext runs Next in the background, bounded by d.
func goNext(s subscriberDriver, d time.Duration) <-chan readResult {
	out := make(chan readResult, 1)
	go func() { out <- next(s, d) }()
	return out
}

// await waits up to d for a background call's result.
func await[T any](ch <-chan T, d time.Duration, what string) T {
	GinkgoHelper()
	select {
	case r := <-ch:
		return r
	case <-time.After(d):
		Fail(fmt.Sprintf("%s: no result within %v", what, d))
	}
	var zero T
	return zero
}

// --- the suite's own traffic ---------------------------------------------

func (f *fixture) feedURL(seq int64) string {
	return fmt.Sprintf("%s/%s/%d", f.feed.URL, f.ch, seq)
}

// publish writes whole segments from seq first on, bypassing the fake.
func (f *fixture) publish(first int64, bodies ...string) {
	GinkgoHelper()
	for i, b := range bodies {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.feedURL(first+int64(i)), strings.NewReader(b))
		req.Header.Set("Content-Type", trickle.ContentTypeMPEGTS)
		resp, err := f.client.Do(req)
		if err != nil {
			cancel()
			harness.HarnessError(fmt.Errorf("publishing seq %d: %w", first+int64(i), err))
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		cancel()
		if resp.StatusCode != http.StatusOK {
			harness.HarnessError(fmt.Errorf("publishing seq %d: status %d", first+int64(i), resp.StatusCode))
		}
	}
}

// feedPost is a segment the suite writes piece by piece, bypassing the fake.
type feedPost struct {
	pw   *io.PipeWriter
	done chan error
}

// stream opens POST /{ch}/{seq} with a streaming body; it is cut when the
// spec ends.
func (f *fixture) stream(seq int64) *feedPost {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.feedURL(seq), pr)
	req.Header.Set("Content-Type", trickle.ContentTypeMPEGTS)
	fp := &feedPost{pw: pw, done: make(chan error, 1)}
	go func() {
		resp, err := f.client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		fp.done <- err
	}()
	DeferCleanup(func() {
		pw.CloseWithError(errors.New("spec ended"))
		cancel()
	})
	return fp
}

// write sends part of the body.
func (fp *feedPost) write(s string) {
	GinkgoHelper()
	done := make(chan error, 1)
	go func() { _, err := io.WriteString(fp.pw, s); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			harness.HarnessError(fmt.Errorf("feeding a segment: %w", err))
		}
	case <-time.After(5 * time.Second):
		harness.HarnessError(errors.New("feeding a segment: the server did not take the bytes"))
	}
}

// end finishes the body.
func (fp *feedPost) end() {
	GinkgoHelper()
	fp.pw.Close()
	select {
	case err := <-fp.done:
		if err != nil {
			harness.HarnessError(fmt.Errorf("feeding a segment: %w", err))
		}
	case <-time.After(5 * time.Second):
		harness.HarnessError(errors.New("feeding a segment: no answer"))
	}
}

// closeChannel ends the channel on the server, as DELETE /{ch} does.
func (f *fixture) closeChannel() {
	f.fake.Trickle().CloseChannel(f.ch)
}

// --- what the fake recorded ----------------------------------------------

// reqs lists the recorded requests of the spec's channel with the given
// method ("" for all), in arrival order.
func (f *fixture) reqs(method string) []trickleserver.Request {
	var out []trickleserver.Request
	for _, r := range f.fake.Requests() {
		if r.Channel == f.ch && (method == "" || r.Method == method) {
			out = append(out, r)
		}
	}
	return out
}

// segReqs lists the recorded requests for /{ch}/{seq} with the method.
func (f *fixture) segReqs(method string, seq int64) []trickleserver.Request {
	var out []trickleserver.Request
	for _, r := range f.reqs(method) {
		if r.HasSeq && r.Seq == seq {
			out = append(out, r)
		}
	}
	return out
}

// carrying lists the POSTs that carried segment bytes, in the order their
// first bytes arrived: the order of the segments. (Arrival order is not
// it: a preconnect for the next seq may reach the server first.)
func (f *fixture) carrying() []trickleserver.Request {
	var out []trickleserver.Request
	for _, r := range f.reqs(http.MethodPost) {
		if r.HasSeq && r.BytesIn > 0 {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b trickleserver.Request) int { return a.FirstByteIn.Compare(b.FirstByteIn) })
	return out
}

// describe lists requests one per line, for failure messages.
func describe(rs []trickleserver.Request) string {
	if len(rs) == 0 {
		return "(no requests)"
	}
	var b strings.Builder
	var t0 time.Time
	for i, r := range rs {
		if i == 0 {
			t0 = r.Start
		}
		seq := "-"
		if r.HasSeq {
			seq = strconv.FormatInt(r.Seq, 10)
		}
		end := "open"
		if !r.End.IsZero() {
			end = r.End.Sub(t0).Round(time.Millisecond).String()
		}
		fmt.Fprintf(&b, "\n  %s %s seq %s status %d in %d out %d start %v end %s",
			r.Method, r.Path, seq, r.Status, r.BytesIn, r.BytesOut, r.Start.Sub(t0).Round(time.Millisecond), end)
		if r.Fault != "" {
			fmt.Fprintf(&b, " fault %q", r.Fault)
		}
	}
	return b.String()
}

// openRequests lists the recorded requests that have not ended.
func (f *fixture) openRequests() []trickleserver.Request {
	var out []trickleserver.Request
	for _, r := range f.reqs("") {
		if r.End.IsZero() {
			out = append(out, r)
		}
	}
	return out
}

// --- the wire log ----------------------------------------------------------

// wireLog sits in front of the fake and records what its recording lacks:
// request headers and the interim responses sent. It can also hang up on a
// request before the fake sees it, and strip Lp-Trickle-Latest from 470s.
type wireLog struct {
	next        http.Handler
	fx          *fixture
	no470Latest bool

	mu      sync.Mutex
	entries []*wireEntry
	hangUps []*hangUp
}

// wireEntry is one request as the wire log saw it.
type wireEntry struct {
	Method string
	Path   string
	Seq    int64
	HasSeq bool
	Header http.Header
	Start  time.Time
	End    time.Time
	HungUp bool

	interims int // guarded by wireLog.mu
}

// hangUp closes the connection of requests matching method and seq,
// without an answer, times times.
type hangUp struct {
	method string
	seq    int64
	times  int
}

// hangUpOn arms a hang-up.
func (l *wireLog) hangUpOn(method string, seq int64, times int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hangUps = append(l.hangUps, &hangUp{method: method, seq: seq, times: times})
}

func (l *wireLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e := &wireEntry{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Start: time.Now()}
	if l.fx != nil {
		if rest, ok := strings.CutPrefix(r.URL.Path, "/"+l.fx.ch+"/"); ok {
			if n, err := strconv.ParseInt(rest, 10, 64); err == nil {
				e.Seq, e.HasSeq = n, true
			}
		}
	}
	l.mu.Lock()
	l.entries = append(l.entries, e)
	var hang bool
	for _, h := range l.hangUps {
		if h.times > 0 && h.method == r.Method && e.HasSeq && e.Seq == h.seq {
			h.times--
			hang = true
			break
		}
	}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		e.End = time.Now()
		l.mu.Unlock()
	}()
	if hang {
		l.mu.Lock()
		e.HungUp = true
		l.mu.Unlock()
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
			return
		}
		panic(http.ErrAbortHandler)
	}
	l.next.ServeHTTP(&interimCounter{ResponseWriter: w, l: l, e: e}, r)
}

// snapshot copies the entries.
func (l *wireLog) snapshot() []wireEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]wireEntry, len(l.entries))
	for i, e := range l.entries {
		out[i] = *e
	}
	return out
}

// interimCounter counts the interim responses a handler sends (and strips
// Lp-Trickle-Latest from 470s when the wire log says so). Unwrap
// lets http.ResponseController reach the real writer for flushing,
// deadlines and hijacking.
type interimCounter struct {
	http.ResponseWriter
	l *wireLog
	e *wireEntry
}

func (w *interimCounter) WriteHeader(code int) {
	if code >= 100 && code < 200 {
		w.l.mu.Lock()
		w.e.interims++
		w.l.mu.Unlock()
	}
	if code == trickle.StatusSequenceNonexistent && w.l.no470Latest {
		w.Header().Del(trickle.HeaderLatest)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *interimCounter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// errSetup is a harness error: the spec could not set up what it checks.
func errSetup(format string, args ...any) error { return fmt.Errorf(format, args...) }

// expectGrowingPauses checks the pauses between a publisher's attempts at
// one segment (TRK-CLI-010): at least 100 ms each, never shorter than the
// one before (10 ms slack), and the last longer than the first.
func expectGrowingPauses(attempts []trickleserver.Request) {
	GinkgoHelper()
	var gaps []time.Duration
	for i := 1; i < len(attempts); i++ {
		gaps = append(gaps, attempts[i].Start.Sub(attempts[i-1].End))
	}
	for i, g := range gaps {
		Expect(g).To(BeNumerically(">=", 100*time.Millisecond), "pause %d was %v:%s", i+1, g, describe(attempts))
		if i > 0 {
			Expect(g).To(BeNumerically(">=", gaps[i-1]-10*time.Millisecond), "pauses %v do not grow", gaps)
		}
	}
	if len(gaps) > 1 {
		Expect(gaps[len(gaps)-1]).To(BeNumerically(">", gaps[0]), "pauses %v do not grow", gaps)
	}
}
