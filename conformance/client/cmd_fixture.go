package client

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/gotrickle/gotrickle/conformance/harness"
	"github.com/gotrickle/gotrickle/fixtures"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// What the run specs share: a fixture that also keeps every segment POST's
// body, the input they hand a publisher, and the runs themselves.

// Bounds of a run.
const (
	// pubRunTimeout bounds a publisher run: publishing five small
	// segments, with retries and pauses.
	pubRunTimeout = 30 * time.Second
	// exitTimeout bounds how long a client that has nothing left to do may
	// take to exit.
	exitTimeout = opTimeout
	// startTimeout bounds how long a command takes to send its first
	// request.
	startTimeout = opTimeout
)

// runFixture is a spec's fake server, as newFixture makes it, with the
// bodies of the segment POSTs kept (the fake records only their sizes) and
// a scratch directory for the run's files.
type runFixture struct {
	*fixture
	bodies *bodyCapture
	dir    string
}

// newRunFixture is newFixture with a bodyCapture in front of the wire log.
func newRunFixture(o fixtureOpts) *runFixture {
	GinkgoHelper()
	fake := newFake(o)
	tr := &http.Transport{DisableCompression: true}
	// Everything the handlers read is set before the servers start.
	f := &fixture{fake: fake, client: &http.Client{Transport: tr}, ch: randomName()}
	wire := &wireLog{next: fake, no470Latest: o.no470Latest, fx: f}
	bodies := &bodyCapture{next: wire, ch: f.ch}
	f.wire = wire
	f.srv = httptest.NewServer(bodies)
	f.feed = httptest.NewServer(fake.Trickle())
	f.url = f.srv.URL + "/" + f.ch
	srv, feed := f.srv, f.feed
	DeferCleanup(func() {
		fake.Close()
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
	dir, err := os.MkdirTemp("", "trickle-run-")
	if err != nil {
		harness.HarnessError(err)
	}
	DeferCleanup(os.RemoveAll, dir)
	return &runFixture{fixture: f, bodies: bodies, dir: dir}
}

// --- the input -------------------------------------------------------------

// The input of every publisher run, and the segments the suite publishes
// for subscribers: a real 5 s MPEG-TS fixture and the same stream cut into
// 1 s segments.
const inputFixture = "h264-aac-320x240"

var input struct {
	once  sync.Once
	segs  [][]byte
	whole []byte
	err   error
}

// inputSegments returns the input's segments and the whole stream.
func inputSegments() ([][]byte, []byte) {
	GinkgoHelper()
	input.once.Do(func() {
		m, err := fixtures.Load()
		if err != nil {
			input.err = err
			return
		}
		fx, err := m.Fixture(inputFixture)
		if err != nil {
			input.err = err
			return
		}
		segs, err := fx.Segments(time.Second)
		if err != nil {
			input.err = err
			return
		}
		for _, s := range segs {
			b, err := s.Bytes()
			if err != nil {
				input.err = err
				return
			}
			input.segs = append(input.segs, b)
		}
		input.whole, input.err = fx.Bytes()
	})
	if input.err != nil {
		harness.HarnessError(fmt.Errorf("loading fixture %s: %w", inputFixture, input.err))
	}
	return input.segs, input.whole
}

// --- runs ----------------------------------------------------------------------

// run is a publisher or subscriber run of one spec; it is killed when the
// spec ends.
type run struct {
	h    runHandle
	what string // "the publisher", "the subscriber"
	desc string // the client, for messages
}

// startPublisher starts the publisher under test on the spec's channel,
// handing it the input as segment files and as one file.
func (f *runFixture) startPublisher() *run {
	GinkgoHelper()
	segs, whole := inputSegments()
	segDir := filepath.Join(f.dir, "segments")
	file := filepath.Join(f.dir, "input.ts")
	if err := os.MkdirAll(segDir, 0o755); err != nil {
		harness.HarnessError(err)
	}
	for i, s := range segs {
		if err := os.WriteFile(filepath.Join(segDir, fmt.Sprintf("%d.ts", i)), s, 0o644); err != nil {
			harness.HarnessError(err)
		}
	}
	if err := os.WriteFile(file, whole, 0o644); err != nil {
		harness.HarnessError(err)
	}
	h, err := pubRuns.Start(pubRunOptions{URL: f.url, Base: f.srv.URL + "/", Channel: f.ch,
		SegDir: segDir, File: file, Dir: f.dir})
	if err != nil {
		harness.HarnessError(fmt.Errorf("starting the publisher: %w", err))
	}
	DeferCleanup(h.Kill)
	return &run{h: h, what: "the publisher", desc: pubRuns.Describe()}
}

// output is where a subscriber run writes.
func (f *runFixture) output() string { return filepath.Join(f.dir, "output.ts") }

// startSubscriber starts the subscriber under test on url ("" for the
// spec's channel), from start (nil: its default).
func (f *runFixture) startSubscriber(url string, start *int64) *run {
	GinkgoHelper()
	if url == "" {
		url = f.url
	}
	h, err := subRuns.Start(subRunOptions{URL: url, Base: f.srv.URL + "/", Channel: f.ch,
		Output: f.output(), Start: start, Dir: f.dir})
	if err != nil {
		harness.HarnessError(fmt.Errorf("starting the subscriber: %w", err))
	}
	DeferCleanup(h.Kill)
	return &run{h: h, what: "the subscriber", desc: subRuns.Describe()}
}

// written returns what the subscriber has written so far.
func (f *runFixture) written() []byte {
	b, _ := os.ReadFile(f.output())
	return b
}

// running reports whether the run has not ended.
func (r *run) running() bool {
	select {
	case <-r.h.Done():
		return false
	default:
		return true
	}
}

// wait waits up to d for the run to end; a run still going then is killed
// and fails the spec.
func (r *run) wait(d time.Duration, why string) runResult {
	GinkgoHelper()
	select {
	case <-r.h.Done():
		return r.h.Result()
	case <-time.After(d):
	}
	r.h.Kill()
	Fail(fmt.Sprintf("%s was still running %v after %s (%s); killed: %v", r.what, d, why, r.desc, r.h.Result()))
	return runResult{}
}

// stillRunning fails the spec if the run has ended.
func (r *run) stillRunning(when string) {
	GinkgoHelper()
	if !r.running() {
		Fail(fmt.Sprintf("%s exited %s: %v", r.what, when, r.h.Result()))
	}
}

// --- the bodies of segment POSTs -----------------------------------------

// bodyCapture keeps the body of every POST /{ch}/{seq} as the server read
// it, and the status it was answered. It also notes when each GET
// /{ch}/{seq} began and ended, those the wire log hangs up on included:
// the run specs poll these while requests run, which the wire log's
// entries do not allow.
type bodyCapture struct {
	next http.Handler
	ch   string

	mu    sync.Mutex
	posts []*postRecord
	gets  []*getRecord
}

// getRecord is one segment GET.
type getRecord struct {
	Seq        int64
	Start, End time.Time
}

// postRecord is one segment POST.
type postRecord struct {
	Seq    int64
	Start  time.Time
	Body   []byte
	Status int // 0: no final answer was sent
	Ended  bool
}

func (c *bodyCapture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/"+c.ch+"/")
	seq, err := strconv.ParseInt(rest, 10, 64)
	if r.Method == http.MethodGet && ok && err == nil {
		g := &getRecord{Seq: seq, Start: time.Now()}
		c.mu.Lock()
		c.gets = append(c.gets, g)
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			g.End = time.Now()
			c.mu.Unlock()
		}()
	}
	if r.Method != http.MethodPost || !ok || err != nil {
		c.next.ServeHTTP(w, r)
		return
	}
	rec := &postRecord{Seq: seq, Start: time.Now()}
	c.mu.Lock()
	c.posts = append(c.posts, rec)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		rec.Ended = true
		c.mu.Unlock()
	}()
	if r.Body != nil {
		// On a shallow copy: the server looks at its own request's Body to
		// tell whether a 100-continue body was left unread.
		r = r.WithContext(r.Context())
		r.Body = &teeBody{rc: r.Body, c: c, rec: rec}
	}
	c.next.ServeHTTP(&statusWriter{ResponseWriter: w, c: c, rec: rec}, r)
}

// snapshot copies the records, in arrival order.
func (c *bodyCapture) snapshot() []postRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]postRecord, len(c.posts))
	for i, p := range c.posts {
		out[i] = *p
		out[i].Body = bytes.Clone(p.Body)
	}
	return out
}

// accepted returns the body the server accepted for seq: that of its POST
// answered 200 with bytes, if any.
func (c *bodyCapture) accepted(seq int64) ([]byte, bool) {
	for _, p := range c.snapshot() {
		if p.Seq == seq && p.Status == http.StatusOK && len(p.Body) > 0 {
			return p.Body, true
		}
	}
	return nil, false
}

type teeBody struct {
	rc  io.ReadCloser
	c   *bodyCapture
	rec *postRecord
}

func (b *teeBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.c.mu.Lock()
		b.rec.Body = append(b.rec.Body, p[:n]...)
		b.c.mu.Unlock()
	}
	return n, err
}

func (b *teeBody) Close() error { return b.rc.Close() }

// statusWriter records the final status of an answer.
type statusWriter struct {
	http.ResponseWriter
	c   *bodyCapture
	rec *postRecord
}

func (w *statusWriter) WriteHeader(code int) {
	if code >= 200 {
		w.c.mu.Lock()
		if w.rec.Status == 0 {
			w.rec.Status = code
		}
		w.c.mu.Unlock()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.c.mu.Lock()
	if w.rec.Status == 0 {
		w.rec.Status = http.StatusOK
	}
	w.c.mu.Unlock()
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// --- waiting on the wire -----------------------------------------------------

// segGets returns the GET requests for /{ch}/{seq}, those the wire log
// hung up on included, in arrival order.
func (f *runFixture) segGets() []getRecord {
	c := f.bodies
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]getRecord, len(c.gets))
	for i, g := range c.gets {
		out[i] = *g
	}
	return out
}

// awaitGets waits until the subscriber has sent n segment GETs.
func (f *runFixture) awaitGets(r *run, n int) {
	GinkgoHelper()
	Eventually(func() int { return len(f.segGets()) }).WithTimeout(startTimeout).WithPolling(10*time.Millisecond).
		Should(BeNumerically(">=", n), "%s sent fewer than %d segment GETs (%s):%s", r.what, n, r.desc, describe(f.reqs("")))
	// The server resolves a -1 or -2 just after it records the request;
	// give it that moment, so that what is published next is what the
	// request waits for.
	time.Sleep(100 * time.Millisecond)
}

// awaitRead waits until the subscriber has asked for seq n and every GET for
// a lower seq (or an alias) has ended: it has read segments 0..n-1.
func (f *runFixture) awaitRead(r *run, n int64) {
	GinkgoHelper()
	read := func() bool {
		asked := false
		for _, q := range f.reqs(http.MethodGet) {
			switch {
			case !q.HasSeq:
			case q.Seq == n:
				asked = true
			case q.Seq < n && q.End.IsZero():
				return false
			}
		}
		return asked
	}
	Eventually(read).WithTimeout(opTimeout).WithPolling(10*time.Millisecond).
		Should(BeTrue(), "%s did not go on to ask for seq %d after segments 0..%d were published (%s; %s):%s",
			r.what, n, n-1, r.desc, runState(r), describe(f.reqs("")))
}

// runState says whether a run is going, and how it ended if not.
func runState(r *run) string {
	if r.running() {
		return "still running"
	}
	return r.h.Result().String()
}

// toStrings turns segment bodies into the strings fixture.publish takes.
func toStrings(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}
