package processor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/gpu"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// These tests run whole streams through the processor with fake codecs
// (fakecodecs_test.go) and an in-process trickle server: input segments are
// published on channel "in", the output is read from "out" and events from
// "events", all over HTTP on loopback.

const waitLimit = 10 * time.Second

// eventually polls cond until it holds, failing the test after waitLimit.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for a condition")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// pipeline is one processor wired to an in-process trickle server.
type pipeline struct {
	t      *testing.T
	srv    *trickle.Server
	base   string
	codecs *fakeCodecs
	p      *Processor

	// The input publisher, used from the test's goroutine only.
	inURL  string
	in     *trickle.Publisher
	inSegs int

	mu      sync.Mutex // guards what follows; serve reads it
	readers map[string]*wireReader
	holds   map[string]*gate
	gets    map[string]int // GET requests received, by channel
	s       *stream        // the stream the last start began
}

// gate blocks until opened; opening twice is fine.
type gate struct {
	ch   chan struct{}
	once sync.Once
}

func newGate() *gate  { return &gate{ch: make(chan struct{})} }
func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

// newPipeline makes a processor around h with the fake codecs. Zero config
// fields get test defaults: 16×16 frames, a 30 fps cap, quiet logs.
func newPipeline(t *testing.T, h any, cfg Config) *pipeline {
	t.Helper()
	pl := &pipeline{t: t, codecs: newFakeCodecs(), readers: map[string]*wireReader{}, holds: map[string]*gate{},
		gets: map[string]int{}}
	pl.srv = trickle.NewServer(trickle.ServerConfig{Autocreate: true, RingSize: 1024, IdleTimeout: -1,
		Logger: quietLogger()})
	hs := httptest.NewServer(http.HandlerFunc(pl.serve))
	pl.base = hs.URL
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.Codecs == nil {
		cfg.Codecs = pl.codecs
	}
	if cfg.Width == 0 {
		cfg.Width, cfg.Height = 16, 16
	}
	if cfg.MaxFramerate == 0 {
		cfg.MaxFramerate = 30
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: tr}
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	p, err := New(h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	pl.p = p
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*waitLimit)
		defer cancel()
		pl.mu.Lock()
		for _, g := range pl.holds {
			g.open()
		}
		pl.mu.Unlock()
		if err := p.Stop(ctx); err != nil && !errors.Is(err, ErrNoStream) {
			t.Errorf("cleanup: Stop: %v", err)
		}
		if s := pl.stream(); s != nil {
			select {
			case <-s.done:
			case <-ctx.Done():
				t.Errorf("cleanup: the stream did not end")
			}
		}
		if pl.in != nil {
			pl.in.Close(ctx)
		}
		pl.mu.Lock()
		readers := pl.readers
		pl.mu.Unlock()
		for _, r := range readers {
			r.stop()
		}
		pl.srv.Close()
		hs.Close()
		tr.CloseIdleConnections()
	})
	return pl
}

// serve is the trickle server with two test hooks on DELETE /{channel}:
// a hold set with holdDelete keeps it waiting, and a channel this test
// reads is closed only once the reader has asked for its last segment.
// (Once a channel is closed the server serves none of its segments, so a
// reader one segment behind would lose the tail: a property of the trickle
// protocol, not of the processor.)
func (pl *pipeline) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		name, _, _ := strings.Cut(strings.Trim(r.URL.Path, "/"), "/")
		pl.mu.Lock()
		pl.gets[name]++
		pl.mu.Unlock()
	}
	if name := strings.Trim(r.URL.Path, "/"); r.Method == http.MethodDelete && !strings.Contains(name, "/") {
		pl.mu.Lock()
		g, rd := pl.holds[name], pl.readers[name]
		pl.mu.Unlock()
		if g != nil {
			select {
			case <-g.ch:
			case <-r.Context().Done():
				return
			}
		}
		if rd != nil {
			deadline := time.Now().Add(time.Second)
			for time.Now().Before(deadline) && r.Context().Err() == nil {
				next, closed, ok := pl.srv.Latest(name)
				if !ok || closed || rd.lastSeq.Load() >= next-1 {
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	pl.srv.ServeHTTP(w, r)
}

// holdDelete makes DELETE /name wait until the returned gate opens.
func (pl *pipeline) holdDelete(name string) *gate {
	g := newGate()
	pl.mu.Lock()
	pl.holds[name] = g
	pl.mu.Unlock()
	return g
}

// url returns the URL of channel name, creating the channel.
func (pl *pipeline) url(name string) string {
	if err := pl.srv.CreateChannel(name, ""); err != nil {
		pl.t.Fatal(err)
	}
	return pl.base + "/" + name
}

// request is a start request reading "in" and publishing "out".
func (pl *pipeline) request() StartRequest {
	return StartRequest{SubscribeURL: pl.url("in"), PublishURL: pl.url("out"), GatewayRequestID: "req-1"}
}

func (pl *pipeline) load() {
	pl.t.Helper()
	if err := pl.p.LoadModel(context.Background()); err != nil {
		pl.t.Fatalf("LoadModel: %v", err)
	}
}

// start starts a stream and the readers of its publish, events and data
// channels (from their first segment). The readers' first requests reach
// the server before the stream starts: a channel deleted before a reader
// ever asked for it would look like one that never existed.
func (pl *pipeline) start(req StartRequest) {
	pl.t.Helper()
	for _, u := range []string{req.PublishURL, req.EventsURL, req.DataURL} {
		if name, ok := strings.CutPrefix(u, pl.base+"/"); ok {
			pl.read(name)
			eventually(pl.t, func() bool {
				pl.mu.Lock()
				defer pl.mu.Unlock()
				return pl.gets[name] > 0
			})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := pl.p.Start(ctx, req); err != nil {
		pl.t.Fatalf("Start: %v", err)
	}
	pl.p.mu.Lock()
	s := pl.p.current
	pl.p.mu.Unlock()
	if pl.in != nil {
		pl.in.Close(ctx)
	}
	pl.in, pl.inURL, pl.inSegs = nil, req.SubscribeURL, 0
	pl.mu.Lock()
	pl.s = s
	pl.mu.Unlock()
}

// stream returns the stream the last start began.
func (pl *pipeline) stream() *stream {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.s
}

// counters are the last started stream's counters (also after a stop).
func (pl *pipeline) counters() Counters { return pl.stream().counters() }

// feed publishes input segments in order. The processor reads its input
// from the segment being written when it subscribes, so the first segment
// waits until the processor has it before the next one is published.
func (pl *pipeline) feed(bodies ...string) {
	pl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if pl.in == nil {
		pub, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: pl.inURL, Logger: quietLogger()})
		if err != nil {
			pl.t.Fatal(err)
		}
		pl.in = pub
	}
	for _, b := range bodies {
		if _, err := pl.in.Write(ctx, strings.NewReader(b)); err != nil {
			pl.t.Fatalf("publishing %q: %v", b, err)
		}
		pl.inSegs++
		if pl.inSegs == 1 {
			eventually(pl.t, func() bool { return pl.counters().SegmentsIn >= 1 })
		}
	}
}

// endInput closes the input channel once the processor has every segment.
func (pl *pipeline) endInput() {
	pl.t.Helper()
	eventually(pl.t, func() bool { return pl.counters().SegmentsIn == uint64(pl.inSegs) })
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if pl.in != nil {
		if err := pl.in.Close(ctx); err != nil {
			pl.t.Fatalf("closing the input: %v", err)
		}
		pl.in = nil
	}
}

func (pl *pipeline) stop() {
	pl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := pl.p.Stop(ctx); err != nil {
		pl.t.Fatalf("Stop: %v", err)
	}
}

func (pl *pipeline) updateParams(p Params) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	return pl.p.UpdateParams(ctx, p)
}

// read starts (once) a reader of channel name from its first segment.
func (pl *pipeline) read(name string) *wireReader {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if r := pl.readers[name]; r != nil {
		return r
	}
	sub, err := trickle.NewSubscriber(trickle.SubscriberConfig{URL: pl.base + "/" + name, Start: trickle.StartAt(0),
		Logger: quietLogger(), RetryBackoff: 10 * time.Millisecond})
	if err != nil {
		pl.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &wireReader{sub: sub, cancel: cancel, done: make(chan struct{})}
	r.lastSeq.Store(-1)
	pl.readers[name] = r
	go r.run(ctx)
	return r
}

// wireReader reads a channel segment after segment, keeping each segment's
// lines as they arrive.
type wireReader struct {
	sub     *trickle.Subscriber
	cancel  context.CancelFunc
	done    chan struct{}
	lastSeq atomic.Int64 // the seq of the last segment Next returned

	mu    sync.Mutex
	segs  [][]string // lines of each segment (a body without "\n" is one line)
	full  int        // how many segments have been read to their end
	bytes int64
	end   error // why reading stopped
}

func (r *wireReader) run(ctx context.Context) {
	defer close(r.done)
	for {
		seg, err := r.sub.Next(ctx)
		if err != nil {
			r.mu.Lock()
			r.end = err
			r.mu.Unlock()
			return
		}
		r.lastSeq.Store(seg.Seq)
		r.mu.Lock()
		i := len(r.segs)
		r.segs = append(r.segs, nil)
		r.mu.Unlock()
		br := bufio.NewReader(seg)
		for {
			line, err := br.ReadString('\n')
			r.mu.Lock()
			r.bytes += int64(len(line))
			if line != "" {
				r.segs[i] = append(r.segs[i], strings.TrimSuffix(line, "\n"))
			}
			r.mu.Unlock()
			if err != nil {
				break
			}
		}
		seg.Close()
		r.mu.Lock()
		r.full++
		r.mu.Unlock()
	}
}

func (r *wireReader) stop() {
	r.cancel()
	r.sub.Close()
	<-r.done
}

// lines returns every line so far, in order.
func (r *wireReader) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var all []string
	for _, s := range r.segs {
		all = append(all, s...)
	}
	return all
}

// segments returns the lines of each segment read to its end.
func (r *wireReader) segments() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([][]string, r.full)
	for i := range out {
		out[i] = slices.Clone(r.segs[i])
	}
	return out
}

// waitEnd waits for the channel to end and returns why it did.
func (r *wireReader) waitEnd(t *testing.T) error {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(waitLimit):
		t.Fatal("timed out waiting for the channel to end")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.end
}

// outFrame is one line the fake encoder wrote.
type outFrame struct {
	kind  byte // 'v' or 'a'
	pts   int64
	first int    // first pixel byte (video)
	size  string // "WxH" (video)
}

func parseOut(t *testing.T, lines []string) []outFrame {
	t.Helper()
	var out []outFrame
	for _, l := range lines {
		f := strings.Fields(l)
		var o outFrame
		var err error
		switch {
		case len(f) == 4 && f[0] == "v":
			o.kind = 'v'
			if o.pts, err = strconv.ParseInt(f[1], 10, 64); err == nil {
				o.first, err = strconv.Atoi(f[2])
			}
			o.size = f[3]
		case len(f) == 2 && f[0] == "a":
			o.kind = 'a'
			o.pts, err = strconv.ParseInt(f[1], 10, 64)
		default:
			err = errors.New("unknown line")
		}
		if err != nil {
			t.Fatalf("output line %q: %v", l, err)
		}
		out = append(out, o)
	}
	return out
}

// video and audio split the output by kind.
func video(fs []outFrame) []outFrame {
	return slices.DeleteFunc(slices.Clone(fs), func(f outFrame) bool { return f.kind != 'v' })
}

func audio(fs []outFrame) []outFrame {
	return slices.DeleteFunc(slices.Clone(fs), func(f outFrame) bool { return f.kind != 'a' })
}

func ptsOf(fs []outFrame) []int64 {
	var p []int64
	for _, f := range fs {
		p = append(p, f.pts)
	}
	return p
}

func firstBytes(fs []outFrame) []int {
	var b []int
	for _, f := range fs {
		b = append(b, f.first)
	}
	return b
}

// outVideo waits until the output holds n video frames and returns them.
func (pl *pipeline) outVideo(n int) []outFrame {
	pl.t.Helper()
	r := pl.read("out")
	eventually(pl.t, func() bool { return len(video(parseOut(pl.t, r.lines()))) >= n })
	return video(parseOut(pl.t, r.lines()))
}

func seq(from, n int64) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = from + int64(i)
	}
	return s
}

func repeat(v, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// wireEvent is one events segment.
type wireEvent struct {
	Event map[string]any `json:"event"`
	Queue string         `json:"queue_event_type"`
}

// events returns the events read so far from channel "events".
func (pl *pipeline) events() []wireEvent {
	pl.t.Helper()
	var evs []wireEvent
	for _, seg := range pl.read("events").segments() {
		body := strings.Join(seg, "\n")
		var ev wireEvent
		if err := json.Unmarshal([]byte(body), &ev); err != nil {
			pl.t.Fatalf("event %q: %v", body, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func eventsOfType(evs []wireEvent, typ string) []wireEvent {
	return slices.DeleteFunc(slices.Clone(evs), func(e wireEvent) bool { return e.Event["type"] != typ })
}

// allEvents waits for the events channel to end and returns every event.
func (pl *pipeline) allEvents() []wireEvent {
	pl.t.Helper()
	if err := pl.read("events").waitEnd(pl.t); !errors.Is(err, trickle.ErrStreamClosed) {
		pl.t.Fatalf("events channel ended with %v, want the end of the stream", err)
	}
	return pl.events()
}

func asJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(b)
}

// --- 1. Passthrough -------------------------------------------------------

func TestPipelinePassthrough(t *testing.T) {
	t.Run("every input frame comes out once and in order, and the stream ends with its input", func(t *testing.T) {
		var (
			mu            sync.Mutex
			startParams   Params
			stopCalls     int
			outOpenAtStop bool
			pl            *pipeline
		)
		pl = newPipeline(t, Funcs{
			StreamStart: func(_ context.Context, p Params) error {
				mu.Lock()
				defer mu.Unlock()
				startParams = p
				return nil
			},
			StreamStop: func(context.Context) error {
				_, closed, ok := pl.srv.Latest("out")
				mu.Lock()
				defer mu.Unlock()
				stopCalls++
				outOpenAtStop = ok && !closed
				return nil
			},
		}, Config{})
		pl.load()
		if got := pl.p.Health(); got != StateIdle {
			t.Fatalf("health after loading: %s, want IDLE", got)
		}
		req := pl.request()
		req.EventsURL = pl.url("events")
		pl.start(req)
		if got := pl.p.Health(); got != StateOK {
			t.Fatalf("health while streaming: %s, want OK", got)
		}
		bodies := []string{"v=5 a=2 pts=0", "v=5 a=2 pts=5", "v=5 a=2 pts=10", "v=5 a=2 pts=15"}
		pl.feed(bodies...)
		pl.endInput()

		out := pl.read("out")
		if err := out.waitEnd(t); !errors.Is(err, trickle.ErrStreamClosed) {
			t.Fatalf("the output ended with %v, want the end of the stream (trickle.ErrStreamClosed)", err)
		}
		frames := parseOut(t, out.lines())
		v, a := video(frames), audio(frames)
		if got, want := ptsOf(v), seq(0, 20); !slices.Equal(got, want) {
			t.Errorf("video PTS out: %v, want %v", got, want)
		}
		for _, f := range v {
			if f.first != fakeFill || f.size != "16x16" {
				t.Errorf("video frame %d: first byte %d, size %s; want %d, 16x16", f.pts, f.first, f.size, fakeFill)
			}
		}
		var wantAudio []int64
		for s := range int64(4) {
			wantAudio = append(wantAudio, s*5*1600, s*5*1600+960)
		}
		if got := ptsOf(a); !slices.Equal(got, wantAudio) {
			t.Errorf("audio PTS out: %v, want %v", got, wantAudio)
		}
		segs := out.segments()
		if len(segs) != 5 {
			t.Errorf("%d output segments, want 5 (20 frames, 4 per segment)", len(segs))
		}
		for i, s := range segs {
			if n := len(video(parseOut(t, s))); n != 4 {
				t.Errorf("output segment %d holds %d video frames, want 4", i, n)
			}
		}

		eventually(t, func() bool { return pl.p.Health() == StateIdle })
		st := pl.p.Status()
		if !st.ClientActive || st.ClientRunning == nil || *st.ClientRunning {
			t.Errorf("status after the input ended: client_active %v, client_running %v; want true, false",
				st.ClientActive, asJSON(st.ClientRunning))
		}
		if st.ActiveStreams != 0 {
			t.Errorf("active_streams %d after the end, want 0", st.ActiveStreams)
		}
		var inBytes uint64
		for _, b := range bodies {
			inBytes += uint64(len(b))
		}
		want := Counters{VideoIn: 20, VideoOut: 20, AudioIn: 8, AudioOut: 8, SegmentsIn: 4, SegmentsOut: 5,
			BytesIn: inBytes, BytesOut: uint64(out.bytes)}
		if st.Counters == nil || *st.Counters != want {
			t.Errorf("counters %s, want %s", asJSON(st.Counters), asJSON(want))
		}
		if d, e := pl.codecs.open(); d != 0 || e != 0 {
			t.Errorf("%d decoders and %d encoders left open", d, e)
		}
		// detect_out_resolution defaults to true: the size comes from the
		// first output frame; the input carries audio, so the output does.
		if got, want := pl.codecs.encoderConfigs(), []EncoderConfig{{Audio: true}}; !slices.Equal(got, want) {
			t.Errorf("encoder configs %+v, want %+v", got, want)
		}

		evs := pl.allEvents()
		for _, typ := range []string{"receive_first_ingest_segment", "send_first_processed_segment"} {
			if n := len(eventsOfType(evs, typ)); n != 1 {
				t.Errorf("%d %s events, want 1", n, typ)
			}
		}
		mu.Lock()
		if startParams == nil || len(startParams) != 0 {
			t.Errorf("OnStreamStart got %#v, want an empty map", startParams)
		}
		if stopCalls != 1 || !outOpenAtStop {
			t.Errorf("OnStreamStop: %d calls, output open at the call %v; want 1 call before the output closed",
				stopCalls, outOpenAtStop)
		}
		mu.Unlock()

		if err := pl.p.Stop(context.Background()); err != nil {
			t.Errorf("Stop after the stream ended on its own: %v, want nil (PyTrickle answers 200)", err)
		}
		if err := pl.p.Stop(context.Background()); !errors.Is(err, ErrNoStream) {
			t.Errorf("a second Stop: %v, want ErrNoStream", err)
		}
	})

	t.Run("a new stream can start after one ended on its own", func(t *testing.T) {
		pl := newPipeline(t, Funcs{}, Config{})
		pl.load()
		pl.start(pl.request())
		pl.feed("v=3 pts=0")
		pl.endInput()
		if err := pl.read("out").waitEnd(t); !errors.Is(err, trickle.ErrStreamClosed) {
			t.Fatalf("first output: %v", err)
		}
		eventually(t, func() bool { return pl.p.Health() == StateIdle })

		pl.start(StartRequest{SubscribeURL: pl.url("in2"), PublishURL: pl.url("out2")})
		if got := pl.p.Health(); got != StateOK {
			t.Fatalf("health of the second stream: %s, want OK", got)
		}
		pl.feed("v=3 pts=100")
		pl.endInput()
		out := pl.read("out2")
		if err := out.waitEnd(t); !errors.Is(err, trickle.ErrStreamClosed) {
			t.Fatalf("second output: %v", err)
		}
		if got := ptsOf(video(parseOut(t, out.lines()))); !slices.Equal(got, seq(100, 3)) {
			t.Errorf("second stream's video PTS: %v, want %v", got, seq(100, 3))
		}
		eventually(t, func() bool { return pl.p.Health() == StateIdle })
	})

	t.Run("detect_out_resolution false fixes the output size and a video-only input gives a video-only output", func(t *testing.T) {
		pl := newPipeline(t, Funcs{}, Config{})
		pl.load()
		req := pl.request()
		req.Params = Params{"width": 32, "height": 24, "detect_out_resolution": false}
		pl.start(req)
		pl.feed("v=2 pts=0")
		pl.endInput()
		out := pl.read("out")
		out.waitEnd(t)
		if got, want := pl.codecs.encoderConfigs(), []EncoderConfig{{Width: 32, Height: 24}}; !slices.Equal(got, want) {
			t.Errorf("encoder configs %+v, want %+v", got, want)
		}
		for _, f := range parseOut(t, out.lines()) {
			if f.kind != 'v' || f.size != "32x24" {
				t.Errorf("output frame %+v, want 32x24 video only", f)
			}
		}
	})

	t.Run("an encoder that cannot start leaves the output empty and the stream still ends", func(t *testing.T) {
		pl := newPipeline(t, Funcs{}, Config{})
		pl.codecs.encodeErr = errors.New("no encoder here")
		pl.load()
		pl.start(pl.request())
		pl.feed("v=3 a=1 pts=0")
		pl.endInput()
		out := pl.read("out")
		if err := out.waitEnd(t); !errors.Is(err, trickle.ErrStreamClosed) {
			t.Fatalf("output ended with %v, want the end of the stream", err)
		}
		if lines := out.lines(); len(lines) != 0 {
			t.Errorf("output %q, want nothing", lines)
		}
		eventually(t, func() bool { return pl.p.Health() == StateIdle })
		if c := pl.counters(); c.VideoIn != 3 || c.VideoOut != 0 || c.AudioOut != 0 || c.SegmentsOut != 0 {
			t.Errorf("counters %s: want 3 video in and nothing out", asJSON(c))
		}
	})

	t.Run("a segment the decoder rejects is counted and the next one still decodes", func(t *testing.T) {
		pl := newPipeline(t, Funcs{}, Config{})
		pl.load()
		pl.start(pl.request())
		pl.feed("v=2 pts=0", "fail=1", "v=2 pts=2")
		pl.endInput()
		out := pl.read("out")
		out.waitEnd(t)
		if got := ptsOf(video(parseOut(t, out.lines()))); !slices.Equal(got, seq(0, 4)) {
			t.Errorf("video PTS out: %v, want %v", got, seq(0, 4))
		}
		if c := pl.counters(); c.CorruptInput == 0 || c.SegmentsIn != 3 {
			t.Errorf("counters %s: want segments_in 3 and corrupt input counted", asJSON(c))
		}
	})
}

// --- 2. Health and the start/stop rules -----------------------------------

func TestPipelineHealthSequence(t *testing.T) {
	t.Run("LOADING until the model loads, then IDLE, OK while a stream runs, IDLE once it stops", func(t *testing.T) {
		release, entered := make(chan struct{}), make(chan struct{})
		pl := newPipeline(t, Funcs{LoadModel: func(ctx context.Context) error {
			close(entered)
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}}, Config{})
		if got := pl.p.Health(); got != StateLoading {
			t.Fatalf("health of a new processor: %s, want LOADING", got)
		}
		loaded := make(chan error, 1)
		go func() { loaded <- pl.p.LoadModel(context.Background()) }()
		<-entered
		if got := pl.p.Health(); got != StateLoading {
			t.Fatalf("health while loading: %s, want LOADING", got)
		}
		close(release)
		if err := <-loaded; err != nil {
			t.Fatalf("LoadModel: %v", err)
		}
		if got := pl.p.Health(); got != StateIdle {
			t.Fatalf("health after loading: %s, want IDLE", got)
		}
		pl.start(StartRequest{})
		if got := pl.p.Health(); got != StateOK {
			t.Fatalf("health while streaming: %s, want OK", got)
		}
		if err := pl.p.Start(context.Background(), StartRequest{}); !errors.Is(err, ErrBusy) {
			t.Fatalf("Start while a stream runs: %v, want ErrBusy", err)
		}
		pl.stop()
		if got := pl.p.Health(); got != StateIdle {
			t.Fatalf("health after the stop: %s, want IDLE", got)
		}
		if err := pl.p.Stop(context.Background()); !errors.Is(err, ErrNoStream) {
			t.Fatalf("Stop without a stream: %v, want ErrNoStream", err)
		}
		if err := pl.updateParams(Params{"a": 1}); !errors.Is(err, ErrNoStream) {
			t.Fatalf("UpdateParams without a stream: %v, want ErrNoStream", err)
		}
	})

	t.Run("Start while the model loads waits for the load, bounded by its context", func(t *testing.T) {
		release, entered := make(chan struct{}), make(chan struct{})
		pl := newPipeline(t, Funcs{LoadModel: func(ctx context.Context) error {
			close(entered)
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}}, Config{})
		loaded := make(chan error, 1)
		go func() { loaded <- pl.p.LoadModel(context.Background()) }()
		<-entered

		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := pl.p.Start(ctx, StartRequest{})
		cancel()
		if !errors.Is(err, ErrNotReady) || ctx.Err() == nil {
			t.Fatalf("Start with a short context while loading: %v (context done: %v); want ErrNotReady once the context ended",
				err, ctx.Err())
		}
		if got := pl.p.Health(); got != StateLoading {
			t.Fatalf("health after the refused start: %s, want LOADING", got)
		}

		started := make(chan error, 1)
		go func() { started <- pl.p.Start(context.Background(), StartRequest{}) }()
		select {
		case err := <-started:
			t.Fatalf("Start returned %v before the model loaded", err)
		default:
		}
		close(release)
		if err := <-loaded; err != nil {
			t.Fatalf("LoadModel: %v", err)
		}
		select {
		case err := <-started:
			if err != nil {
				t.Fatalf("Start that waited for the load: %v", err)
			}
		case <-time.After(waitLimit):
			t.Fatal("Start did not return after the load")
		}
		if got := pl.p.Health(); got != StateOK {
			t.Fatalf("health: %s, want OK", got)
		}
	})

	t.Run("Start after a failed load is refused until a load succeeds", func(t *testing.T) {
		var fail atomic.Bool
		fail.Store(true)
		pl := newPipeline(t, Funcs{LoadModel: func(context.Context) error {
			if fail.Load() {
				return errors.New("no weights")
			}
			return nil
		}}, Config{})
		if err := pl.p.LoadModel(context.Background()); err == nil {
			t.Fatal("LoadModel succeeded, want its error")
		}
		if got := pl.p.Health(); got != StateError {
			t.Fatalf("health after a failed load: %s, want ERROR", got)
		}
		if msg := pl.p.State().ErrorMessage; msg == nil || !strings.Contains(*msg, "no weights") {
			t.Fatalf("error message %v, want the load error", asJSON(msg))
		}
		if err := pl.p.Start(context.Background(), StartRequest{}); !errors.Is(err, ErrNotReady) {
			t.Fatalf("Start after a failed load: %v, want ErrNotReady", err)
		}
		fail.Store(false)
		pl.load()
		if got := pl.p.Health(); got != StateIdle {
			t.Fatalf("health after a successful retry: %s, want IDLE", got)
		}
		pl.start(StartRequest{})
		if got := pl.p.Health(); got != StateOK {
			t.Fatalf("health: %s, want OK", got)
		}
	})
}

// --- 3. Handler results ---------------------------------------------------

func TestPipelineVideoHandlerResults(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name        string
		handle      func(context.Context, *frame.Video) (*frame.Video, error)
		wantFirst   int // first pixel byte of every output frame; -1: no video out
		wantFailed  uint64
		wantDropped uint64
		wantError   string // the error a handler_error event must carry
	}{
		{
			name: "a frame modified in place is sent",
			handle: func(_ context.Context, f *frame.Video) (*frame.Video, error) {
				f.Pix[0] = 7
				return f, nil
			},
			wantFirst: 7,
		},
		{
			name: "a new frame is sent instead of the input",
			handle: func(_ context.Context, f *frame.Video) (*frame.Video, error) {
				n := f.Clone()
				n.Pix[0] = 9
				return n, nil
			},
			wantFirst: 9,
		},
		{
			name:      "nil, nil sends the input unchanged",
			handle:    func(context.Context, *frame.Video) (*frame.Video, error) { return nil, nil },
			wantFirst: fakeFill,
		},
		{
			name:        "ErrDrop sends nothing and is counted",
			handle:      func(context.Context, *frame.Video) (*frame.Video, error) { return nil, ErrDrop },
			wantFirst:   -1,
			wantDropped: 10,
		},
		{
			name: "a wrapped ErrDrop sends nothing",
			handle: func(context.Context, *frame.Video) (*frame.Video, error) {
				return nil, fmt.Errorf("not this one: %w", ErrDrop)
			},
			wantFirst:   -1,
			wantDropped: 10,
		},
		{
			name:       "an error sends the input, is counted and is reported",
			handle:     func(context.Context, *frame.Video) (*frame.Video, error) { return nil, boom },
			wantFirst:  fakeFill,
			wantFailed: 10,
			wantError:  "boom",
		},
		{
			name:       "a panic sends the input, is counted and is reported",
			handle:     func(context.Context, *frame.Video) (*frame.Video, error) { panic("kaboom") },
			wantFirst:  fakeFill,
			wantFailed: 10,
			wantError:  "kaboom",
		},
		{
			name: "an invalid frame sends the input and is counted as a failure",
			handle: func(context.Context, *frame.Video) (*frame.Video, error) {
				return &frame.Video{Width: 16, Height: 16}, nil
			},
			wantFirst:  fakeFill,
			wantFailed: 10,
			wantError:  "frame",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pl := newPipeline(t, Funcs{Video: tc.handle}, Config{})
			pl.load()
			req := pl.request()
			req.EventsURL = pl.url("events")
			pl.start(req)
			pl.feed("v=5 a=2 pts=0", "v=5 a=2 pts=5")
			pl.endInput()
			out := pl.read("out")
			if err := out.waitEnd(t); !errors.Is(err, trickle.ErrStreamClosed) {
				t.Fatalf("output ended with %v", err)
			}
			frames := parseOut(t, out.lines())
			v := video(frames)
			if tc.wantFirst < 0 {
				if len(v) != 0 {
					t.Errorf("%d video frames out, want none", len(v))
				}
			} else {
				if got := ptsOf(v); !slices.Equal(got, seq(0, 10)) {
					t.Errorf("video PTS out: %v, want %v", got, seq(0, 10))
				}
				if got := firstBytes(v); !slices.Equal(got, repeat(tc.wantFirst, 10)) {
					t.Errorf("first pixel bytes: %v, want all %d", got, tc.wantFirst)
				}
			}
			if n := len(audio(frames)); n != 4 {
				t.Errorf("%d audio frames out, want 4 (the video handler must not touch audio)", n)
			}
			c := pl.counters()
			if c.VideoIn != 10 || c.VideoFailed != tc.wantFailed || c.VideoDropped != tc.wantDropped ||
				c.VideoOut != uint64(len(v)) || c.VideoIn != c.VideoOut+c.VideoSkipped+c.VideoDropped {
				t.Errorf("counters %s: want 10 in, %d failed, %d dropped, every frame out, skipped or dropped",
					asJSON(c), tc.wantFailed, tc.wantDropped)
			}
			errs := eventsOfType(pl.allEvents(), "handler_error")
			if tc.wantError == "" {
				if len(errs) != 0 {
					t.Errorf("handler_error events %s, want none", asJSON(errs))
				}
				return
			}
			if len(errs) == 0 {
				t.Fatal("no handler_error event")
			}
			ev := errs[0]
			msg, _ := ev.Event["error"].(string)
			if ev.Queue != "ai_stream_events" || ev.Event["kind"] != "video" || !strings.Contains(msg, tc.wantError) ||
				ev.Event["failures"] == nil || ev.Event["timestamp"] == nil {
				t.Errorf("handler_error event %s: want queue ai_stream_events, kind video, an error mentioning %q, failures and timestamp",
					asJSON(ev), tc.wantError)
			}
		})
	}
}

func TestPipelineAudioHandlerResults(t *testing.T) {
	tests := []struct {
		name       string
		handle     func(context.Context, *frame.Audio) ([]*frame.Audio, error)
		wantPTS    []int64
		wantFailed uint64
	}{
		{
			name:    "nil, nil sends the input",
			handle:  func(context.Context, *frame.Audio) ([]*frame.Audio, error) { return nil, nil },
			wantPTS: []int64{0, 960, 8000, 8960},
		},
		{
			name:   "an empty slice sends nothing",
			handle: func(context.Context, *frame.Audio) ([]*frame.Audio, error) { return []*frame.Audio{}, nil },
		},
		{
			name:   "ErrDrop sends nothing",
			handle: func(context.Context, *frame.Audio) ([]*frame.Audio, error) { return nil, ErrDrop },
		},
		{
			name: "every frame returned is sent, in order",
			handle: func(_ context.Context, a *frame.Audio) ([]*frame.Audio, error) {
				b := a.Clone()
				b.PTS += 480
				return []*frame.Audio{a, b}, nil
			},
			wantPTS: []int64{0, 480, 960, 1440, 8000, 8480, 8960, 9440},
		},
		{
			name:       "an error sends the input and is counted",
			handle:     func(context.Context, *frame.Audio) ([]*frame.Audio, error) { return nil, errors.New("boom") },
			wantPTS:    []int64{0, 960, 8000, 8960},
			wantFailed: 4,
		},
		{
			name:       "a panic sends the input and is counted",
			handle:     func(context.Context, *frame.Audio) ([]*frame.Audio, error) { panic("boom") },
			wantPTS:    []int64{0, 960, 8000, 8960},
			wantFailed: 4,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pl := newPipeline(t, Funcs{Audio: tc.handle}, Config{})
			pl.load()
			pl.start(pl.request())
			pl.feed("v=2 a=2 pts=0", "v=2 a=2 pts=5")
			pl.endInput()
			out := pl.read("out")
			if err := out.waitEnd(t); !errors.Is(err, trickle.ErrStreamClosed) {
				t.Fatalf("output ended with %v", err)
			}
			frames := parseOut(t, out.lines())
			if got := ptsOf(audio(frames)); !slices.Equal(got, tc.wantPTS) {
				t.Errorf("audio PTS out: %v, want %v", got, tc.wantPTS)
			}
			if got := ptsOf(video(frames)); !slices.Equal(got, []int64{0, 1, 5, 6}) {
				t.Errorf("video PTS out: %v, want [0 1 5 6]", got)
			}
			if c := pl.counters(); c.AudioIn != 4 || c.AudioFailed != tc.wantFailed || c.AudioOut != uint64(len(tc.wantPTS)) {
				t.Errorf("counters %s: want 4 audio in, %d failed, %d out", asJSON(c), tc.wantFailed, len(tc.wantPTS))
			}
		})
	}
}

func TestPipelineWithheldResults(t *testing.T) {
	t.Run("withheld frames pass through until FallbackAfter, then loading frames are sent", func(t *testing.T) {
		// Long enough that frames fed right after the last result reach
		// the handler well before it, even on a loaded machine under -race.
		const fallback = time.Second
		const margin = 200 * time.Millisecond
		type call struct {
			pts   int64
			since time.Duration // since the handler last returned a result
		}
		var (
			withhold atomic.Bool
			mu       sync.Mutex
			lastOK   time.Time
			calls    []call
		)
		pl := newPipeline(t, Funcs{Video: func(_ context.Context, f *frame.Video) (*frame.Video, error) {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			if !withhold.Load() {
				lastOK = now
				return nil, nil
			}
			calls = append(calls, call{f.PTS, now.Sub(lastOK)})
			return nil, ErrWithheld
		}}, Config{FallbackAfter: fallback})
		pl.load()
		pl.start(pl.request())

		pl.feed("v=5 pts=0")
		pl.outVideo(5)
		withhold.Store(true)
		pl.feed("v=5 pts=5") // withheld right after a result: passed through
		pl.outVideo(10)
		eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return time.Since(lastOK) > fallback+margin
		})
		pl.feed("v=5 pts=10") // withheld for longer than FallbackAfter: loading frames
		pl.outVideo(15)
		withhold.Store(false)
		pl.feed("v=5 pts=15") // results again
		out := pl.outVideo(20)

		if got := ptsOf(out); !slices.Equal(got, seq(0, 20)) {
			t.Fatalf("video PTS out: %v, want %v", got, seq(0, 20))
		}
		mu.Lock()
		defer mu.Unlock()
		if len(calls) != 10 {
			t.Fatalf("%d withheld calls, want 10", len(calls))
		}
		passed, loading := 0, 0
		for _, c := range calls {
			got := out[c.pts].first
			switch {
			case c.since < fallback-margin:
				passed++
				if got != fakeFill {
					t.Errorf("frame %d withheld %v after the last result: first byte %d, want the input's %d",
						c.pts, c.since, got, fakeFill)
				}
			case c.since > fallback+margin:
				loading++
				if got != int(loadingBackground.R) {
					t.Errorf("frame %d withheld %v after the last result: first byte %d, want the loading frame's %d",
						c.pts, c.since, got, loadingBackground.R)
				}
			}
		}
		if passed == 0 || loading != 5 {
			t.Errorf("%d withheld frames clearly before FallbackAfter and %d clearly after; want some and 5", passed, loading)
		}
		for _, f := range out[15:] {
			if f.first != fakeFill {
				t.Errorf("frame %d after results resumed: first byte %d, want %d", f.pts, f.first, fakeFill)
			}
		}
	})
}

// --- 4. UpdateParams ------------------------------------------------------

func TestPipelineUpdateParams(t *testing.T) {
	t.Run("conformance_invert inverts every frame decoded after the call, and turning it off restores them", func(t *testing.T) {
		pl := newPipeline(t, Funcs{}, Config{})
		pl.load()
		pl.start(pl.request())
		pl.feed("v=5 pts=0")
		pl.outVideo(5)
		if err := pl.updateParams(Params{"conformance_invert": true}); err != nil {
			t.Fatal(err)
		}
		pl.feed("v=5 pts=5")
		pl.outVideo(10)
		if err := pl.updateParams(Params{"conformance_invert": "false"}); err != nil {
			t.Fatal(err)
		}
		pl.feed("v=5 pts=10")
		out := pl.outVideo(15)
		want := slices.Concat(repeat(fakeFill, 5), repeat(255-fakeFill, 5), repeat(fakeFill, 5))
		if got := firstBytes(out); !slices.Equal(got, want) {
			t.Errorf("first pixel bytes %v, want %v", got, want)
		}
	})

	t.Run("a failing ParamUpdater returns its error and sets ERROR until a successful update or a stop", func(t *testing.T) {
		errBad := errors.New("bad prompt")
		pl := newPipeline(t, Funcs{Params: func(_ context.Context, p Params) error {
			if p["fail"] == true {
				return errBad
			}
			return nil
		}}, Config{})
		pl.load()
		pl.start(StartRequest{})
		if err := pl.updateParams(Params{"fail": true}); !errors.Is(err, errBad) {
			t.Fatalf("UpdateParams: %v, want the updater's error", err)
		}
		if got := pl.p.Health(); got != StateError {
			t.Fatalf("health after a failed update: %s, want ERROR", got)
		}
		if msg := pl.p.State().ErrorMessage; msg == nil || !strings.Contains(*msg, "bad prompt") {
			t.Fatalf("error message %s, want the updater's error", asJSON(msg))
		}
		if err := pl.updateParams(Params{"prompt": "fine"}); err != nil {
			t.Fatalf("UpdateParams: %v", err)
		}
		if got := pl.p.Health(); got != StateOK {
			t.Fatalf("health after a successful update: %s, want OK", got)
		}
		if err := pl.updateParams(Params{"fail": true}); !errors.Is(err, errBad) {
			t.Fatalf("UpdateParams: %v, want the updater's error", err)
		}
		pl.stop()
		if got := pl.p.Health(); got != StateIdle {
			t.Fatalf("health after the stop: %s, want IDLE", got)
		}
		if msg := pl.p.State().ErrorMessage; msg != nil {
			t.Fatalf("error message %q after the stop, want none", *msg)
		}
	})

	t.Run("an ERROR from a failed update clears when the stream ends on its own", func(t *testing.T) {
		pl := newPipeline(t, Funcs{Params: func(context.Context, Params) error { return errors.New("nope") }}, Config{})
		pl.load()
		pl.start(pl.request())
		pl.feed("v=1 pts=0")
		if err := pl.updateParams(Params{"x": 1}); err == nil {
			t.Fatal("UpdateParams succeeded, want the updater's error")
		}
		if got := pl.p.Health(); got != StateError {
			t.Fatalf("health: %s, want ERROR", got)
		}
		pl.endInput()
		pl.read("out").waitEnd(t)
		eventually(t, func() bool {
			st := pl.p.Status()
			return st.ClientRunning != nil && !*st.ClientRunning
		})
		eventually(t, func() bool { return pl.p.Health() == StateIdle })
	})

	t.Run("params_updated is emitted exactly once per successful call, with its params", func(t *testing.T) {
		pl := newPipeline(t, Funcs{Params: func(_ context.Context, p Params) error {
			if p["fail"] == true {
				return errors.New("no")
			}
			return nil
		}}, Config{})
		pl.load()
		req := StartRequest{EventsURL: pl.url("events")}
		pl.start(req)
		calls := []Params{{"a": 1.0}, {"fail": true}, {"prompt": "cat", "strength": 0.5}}
		var want []string
		for _, p := range calls {
			if err := pl.updateParams(p); err == nil {
				want = append(want, asJSON(p))
			} else if p["fail"] != true {
				t.Fatalf("UpdateParams(%v): %v", p, err)
			}
		}
		if len(want) != 2 {
			t.Fatalf("%d updates succeeded, want 2", len(want))
		}
		pl.stop()
		evs := eventsOfType(pl.allEvents(), "params_updated")
		var got []string
		for _, e := range evs {
			if e.Queue != "ai_stream_events" {
				t.Errorf("params_updated on queue %q, want ai_stream_events", e.Queue)
			}
			got = append(got, asJSON(e.Event["params"]))
		}
		if !slices.Equal(got, want) {
			t.Errorf("params_updated events carry %v, want %v (a failed update sends none)", got, want)
		}
	})

	t.Run("load_model is removed before the ParamUpdater sees the params, and loads only once", func(t *testing.T) {
		var (
			mu    sync.Mutex
			seen  []string
			loads atomic.Int32
		)
		pl := newPipeline(t, Funcs{
			LoadModel: func(context.Context) error { loads.Add(1); return nil },
			Params: func(_ context.Context, p Params) error {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, asJSON(p))
				return nil
			},
		}, Config{})
		pl.load()
		pl.start(StartRequest{})
		for _, p := range []Params{
			{"load_model": true, "prompt": "x"},
			{"load_model": true},
			{"load_model": false, "y": 1.0},
		} {
			if err := pl.updateParams(p); err != nil {
				t.Fatalf("UpdateParams(%v): %v", p, err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if want := []string{`{"prompt":"x"}`, `{"y":1}`}; !slices.Equal(seen, want) {
			t.Errorf("the updater saw %v, want %v", seen, want)
		}
		if n := loads.Load(); n != 1 {
			t.Errorf("the model loaded %d times, want 1", n)
		}
	})

	t.Run("show_loading sends loading frames without calling the handler", func(t *testing.T) {
		var calls atomic.Int32
		pl := newPipeline(t, Funcs{Video: func(context.Context, *frame.Video) (*frame.Video, error) {
			calls.Add(1)
			return nil, nil
		}}, Config{})
		pl.load()
		pl.start(pl.request())
		pl.feed("v=5 pts=0")
		pl.outVideo(5)
		if err := pl.updateParams(Params{"show_loading": true}); err != nil {
			t.Fatal(err)
		}
		pl.feed("v=5 pts=5")
		pl.outVideo(10)
		if n := calls.Load(); n != 5 {
			t.Errorf("the handler was called %d times, want 5 (none while loading is shown)", n)
		}
		if err := pl.updateParams(Params{"show_loading": "false"}); err != nil {
			t.Fatal(err)
		}
		pl.feed("v=5 pts=10")
		out := pl.outVideo(15)
		want := slices.Concat(repeat(fakeFill, 5), repeat(int(loadingBackground.R), 5), repeat(fakeFill, 5))
		if got := firstBytes(out); !slices.Equal(got, want) {
			t.Errorf("first pixel bytes %v, want %v", got, want)
		}
		if n := calls.Load(); n != 10 {
			t.Errorf("the handler was called %d times, want 10", n)
		}
	})

	t.Run("show_loading in the start params applies from the first frame", func(t *testing.T) {
		var calls atomic.Int32
		pl := newPipeline(t, Funcs{Video: func(context.Context, *frame.Video) (*frame.Video, error) {
			calls.Add(1)
			return nil, nil
		}}, Config{})
		pl.load()
		req := pl.request()
		req.Params = Params{"show_loading": true}
		pl.start(req)
		pl.feed("v=3 pts=0")
		if got := firstBytes(pl.outVideo(3)); !slices.Equal(got, repeat(int(loadingBackground.R), 3)) {
			t.Errorf("first pixel bytes %v, want loading frames", got)
		}
		if n := calls.Load(); n != 0 {
			t.Errorf("the handler was called %d times, want 0", n)
		}
	})

	t.Run("max_framerate reaches the decoder, from the start params and from updates", func(t *testing.T) {
		pl := newPipeline(t, Funcs{}, Config{})
		pl.load()
		req := pl.request()
		req.Params = Params{"max_framerate": 12}
		pl.start(req)
		pl.feed("v=1 pts=0")
		if cfgs := pl.codecs.decoderConfigs(); len(cfgs) != 1 || cfgs[0].MaxFramerate != (frame.Rational{Num: 12, Den: 1}) {
			t.Fatalf("decoder configs %+v, want one with a 12 fps cap", cfgs)
		}
		if err := pl.updateParams(Params{"max_framerate": 10.0}); err != nil {
			t.Fatal(err)
		}
		caps := pl.codecs.maxFramerates()
		if len(caps) == 0 || caps[len(caps)-1] != (frame.Rational{Num: 10, Den: 1}) {
			t.Errorf("caps set on the decoder: %v, want the last to be 10/1", caps)
		}
	})
}

// --- 5. Control channel ---------------------------------------------------

func TestPipelineControlChannel(t *testing.T) {
	t.Run("messages reach the ParamUpdater in order, keepalives and invalid JSON are skipped", func(t *testing.T) {
		var (
			mu   sync.Mutex
			seen []string
		)
		got := func() []string {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(seen)
		}
		pl := newPipeline(t, Funcs{Params: func(_ context.Context, p Params) error {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, asJSON(p))
			if p["fail"] == true {
				return errors.New("refused")
			}
			return nil
		}}, Config{})
		pl.load()
		req := StartRequest{ControlURL: pl.url("control"), EventsURL: pl.url("events")}
		pl.start(req)
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		pub, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: req.ControlURL, ContentType: "application/json",
			Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close(ctx)
		send := func(msg string) {
			t.Helper()
			if _, err := pub.Write(ctx, strings.NewReader(msg)); err != nil {
				t.Fatal(err)
			}
		}
		// The processor reads the control channel from its current segment:
		// the first message must arrive before the second is published.
		send(`{"n":1}`)
		eventually(t, func() bool { return len(got()) == 1 })
		for _, m := range []string{`{"keep":"alive"}`, `{"n":2}`, `not json`, `{"fail":true}`, `{"max_framerate":15}`, `{"n":3}`} {
			send(m)
		}
		want := []string{`{"n":1}`, `{"n":2}`, `{"fail":true}`, `{"max_framerate":15}`, `{"n":3}`}
		eventually(t, func() bool { return len(got()) == len(want) })
		if g := got(); !slices.Equal(g, want) {
			t.Errorf("the updater saw %v, want %v", g, want)
		}
		if h := pl.p.Health(); h != StateOK {
			t.Errorf("health after a failed control message: %s, want OK (control failures are only logged)", h)
		}
		pl.stop()
		if n := len(eventsOfType(pl.allEvents(), "params_updated")); n != 0 {
			t.Errorf("%d params_updated events for control messages, want none", n)
		}
	})

	t.Run("max_framerate and conformance_invert from the control channel apply", func(t *testing.T) {
		pl := newPipeline(t, Funcs{}, Config{})
		pl.load()
		req := pl.request()
		req.ControlURL = pl.url("control")
		pl.start(req)
		pl.feed("v=2 pts=0")
		pl.outVideo(2)
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		pub, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: req.ControlURL, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close(ctx)
		if _, err := pub.Write(ctx, strings.NewReader(`{"max_framerate":15,"conformance_invert":true}`)); err != nil {
			t.Fatal(err)
		}
		eventually(t, func() bool { return slices.Contains(pl.codecs.maxFramerates(), frame.Rational{Num: 15, Den: 1}) })
		pl.feed("v=2 pts=2")
		if got := firstBytes(pl.outVideo(4)); !slices.Equal(got, []int{fakeFill, fakeFill, 255 - fakeFill, 255 - fakeFill}) {
			t.Errorf("first pixel bytes %v, want the last two inverted", got)
		}
	})

	t.Run("a control channel the server does not know ends the stream", func(t *testing.T) {
		pl := newPipeline(t, Funcs{}, Config{})
		pl.load()
		req := pl.request()
		req.ControlURL = pl.base + "/no-such-channel"
		pl.start(req)
		if err := pl.read("out").waitEnd(t); !errors.Is(err, trickle.ErrStreamClosed) {
			t.Fatalf("output ended with %v", err)
		}
		eventually(t, func() bool { return pl.p.Health() == StateIdle })
	})
}

// --- 6. Frame skipping ----------------------------------------------------

func TestPipelineSlowHandlerSkipsFrames(t *testing.T) {
	t.Run("a handler slower than the input makes frames skip while the age of processed frames stays bounded", func(t *testing.T) {
		const (
			maxLag = 50 * time.Millisecond
			work   = 20 * time.Millisecond
			// Age bound: MaxLag, plus one handler call that the newest frame
			// may wait behind, plus slack for a loaded machine under -race.
			// Without skipping, the queue alone (48 frames × 20 ms) would
			// let ages reach about 960 ms, and the 120 frames queue up for
			// 2.4 s.
			bound = maxLag + work + 250*time.Millisecond
		)
		var (
			mu     sync.Mutex
			maxAge time.Duration
			worst  int64
			seen   int
		)
		var pl *pipeline
		pl = newPipeline(t, Funcs{Video: func(_ context.Context, f *frame.Video) (*frame.Video, error) {
			decoded, ok := pl.codecs.decodeTime(f.PTS)
			age := time.Since(decoded)
			mu.Lock()
			seen++
			if !ok {
				age = time.Hour
			}
			if age > maxAge {
				maxAge, worst = age, f.PTS
			}
			mu.Unlock()
			time.Sleep(work)
			return nil, nil
		}}, Config{MaxLag: maxLag, VideoQueue: 48})
		pl.load()
		pl.start(pl.request())
		pl.feed("v=30 pts=0", "v=30 pts=30", "v=30 pts=60", "v=30 pts=90")
		pl.endInput()
		out := pl.read("out")
		if err := out.waitEnd(t); !errors.Is(err, trickle.ErrStreamClosed) {
			t.Fatalf("output ended with %v", err)
		}
		pts := ptsOf(video(parseOut(t, out.lines())))
		c := pl.counters()
		if c.VideoSkipped == 0 {
			t.Errorf("no frame skipped: counters %s", asJSON(c))
		}
		if c.VideoIn != 120 || c.VideoIn != c.VideoOut+c.VideoSkipped || c.VideoOut != uint64(len(pts)) {
			t.Errorf("counters %s with %d frames on the wire: want 120 in, each out or skipped", asJSON(c), len(pts))
		}
		if !slices.IsSorted(pts) || len(pts) == 0 || pts[len(pts)-1] != 119 {
			t.Errorf("video PTS out %v: want increasing, ending with the newest frame (119)", pts)
		}
		mu.Lock()
		defer mu.Unlock()
		if maxAge >= bound {
			t.Errorf("frame %d reached the handler %v after it was decoded; want under %v (MaxLag %v)", worst, maxAge, bound, maxLag)
		}
		if seen != len(pts) {
			t.Errorf("the handler saw %d frames and %d went out", seen, len(pts))
		}
	})
}

// --- 7. Stop drains -------------------------------------------------------

func TestPipelineStopDrains(t *testing.T) {
	t.Run("frames decoded before the stop are all processed and sent before the output ends", func(t *testing.T) {
		g := newGate()
		pl := newPipeline(t, Funcs{Video: func(ctx context.Context, f *frame.Video) (*frame.Video, error) {
			<-g.ch
			return nil, nil
		}}, Config{MaxLag: time.Hour, VideoQueue: 64})
		pl.load()
		pl.start(pl.request())
		pl.feed("v=5 a=2 pts=0", "v=5 a=2 pts=5")
		eventually(t, func() bool { c := pl.counters(); return c.VideoIn == 10 && c.AudioIn == 4 })

		stopped := make(chan error, 1)
		go func() { stopped <- pl.p.Stop(context.Background()) }()
		select {
		case <-pl.stream().inCtx.Done(): // the input has been told to end
		case <-time.After(waitLimit):
			t.Fatal("the stop did not end the input")
		}
		g.open()
		select {
		case err := <-stopped:
			if err != nil {
				t.Fatalf("Stop: %v", err)
			}
		case <-time.After(waitLimit):
			t.Fatal("Stop did not return")
		}
		if _, closed, ok := pl.srv.Latest("out"); ok && !closed {
			t.Error("the output channel is still open after Stop returned")
		}
		out := pl.read("out")
		if err := out.waitEnd(t); !errors.Is(err, trickle.ErrStreamClosed) {
			t.Fatalf("output ended with %v", err)
		}
		frames := parseOut(t, out.lines())
		if got := ptsOf(video(frames)); !slices.Equal(got, seq(0, 10)) {
			t.Errorf("video PTS out %v, want %v", got, seq(0, 10))
		}
		if n := len(audio(frames)); n != 4 {
			t.Errorf("%d audio frames out, want 4", n)
		}
		c := pl.counters()
		if c.VideoOut != 10 || c.VideoSkipped != 0 || c.VideoIn != c.VideoOut+c.VideoSkipped+c.VideoDropped {
			t.Errorf("counters %s: want all 10 frames out", asJSON(c))
		}
		if got := pl.p.Health(); got != StateIdle {
			t.Errorf("health after the stop: %s, want IDLE", got)
		}
	})

	t.Run("a handler that never returns is abandoned after StopTimeout and the rest is counted", func(t *testing.T) {
		const stopTimeout = 200 * time.Millisecond
		entered := make(chan struct{}, 100)
		pl := newPipeline(t, Funcs{Video: func(ctx context.Context, f *frame.Video) (*frame.Video, error) {
			entered <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		}}, Config{MaxLag: time.Hour, VideoQueue: 64, StopTimeout: stopTimeout})
		pl.load()
		pl.start(pl.request())
		pl.feed("v=5 pts=0", "v=5 pts=5")
		eventually(t, func() bool { return pl.counters().VideoIn == 10 })
		<-entered
		began := time.Now()
		pl.stop()
		if took := time.Since(began); took < stopTimeout || took > stopTimeout+3*time.Second {
			t.Errorf("Stop took %v, want a little over StopTimeout (%v)", took, stopTimeout)
		}
		if err := pl.read("out").waitEnd(t); !errors.Is(err, trickle.ErrStreamClosed) {
			t.Fatalf("output ended with %v", err)
		}
		c := pl.counters()
		lost := pl.stream().ctr.encodeErrors.Load() // a frame the encoder could no longer send
		if c.VideoIn != c.VideoOut+c.VideoSkipped+c.VideoDropped+lost || c.VideoSkipped < 9 {
			t.Errorf("counters %s, %d encoder failures: want every frame accounted for, at least 9 skipped", asJSON(c), lost)
		}
		if got := pl.p.Health(); got != StateIdle {
			t.Errorf("health after the stop: %s, want IDLE", got)
		}
	})
}

// --- 8. Heartbeat ---------------------------------------------------------

func TestPipelineHeartbeat(t *testing.T) {
	t.Run("heartbeat events carry the urls, dimensions and fps", func(t *testing.T) {
		pl := newPipeline(t, Funcs{}, Config{HeartbeatInterval: 20 * time.Millisecond})
		pl.load()
		req := pl.request()
		req.ControlURL, req.EventsURL, req.DataURL = pl.url("control"), pl.url("events"), pl.url("data")
		pl.start(req)
		eventually(t, func() bool { return len(eventsOfType(pl.events(), "heartbeat")) >= 3 })
		pl.stop()
		beats := eventsOfType(pl.allEvents(), "heartbeat")
		wantURLs := map[string]any{"subscribe": req.SubscribeURL, "publish": req.PublishURL, "control": req.ControlURL,
			"events": req.EventsURL, "data": req.DataURL}
		for _, b := range beats {
			if b.Queue != "stream_heartbeat" {
				t.Errorf("heartbeat on queue %q, want stream_heartbeat", b.Queue)
			}
			if !reflect.DeepEqual(b.Event["urls"], wantURLs) {
				t.Errorf("heartbeat urls %s, want %s", asJSON(b.Event["urls"]), asJSON(wantURLs))
			}
			if want := map[string]any{"width": 16.0, "height": 16.0}; !reflect.DeepEqual(b.Event["dimensions"], want) {
				t.Errorf("heartbeat dimensions %s, want %s", asJSON(b.Event["dimensions"]), asJSON(want))
			}
			fps, _ := b.Event["fps"].(map[string]any)
			for _, k := range []string{"ingress_video_fps", "ingress_audio_fps", "egress_video_fps", "egress_audio_fps"} {
				if _, ok := fps[k].(float64); !ok {
					t.Errorf("heartbeat fps %s lacks a number %s", asJSON(b.Event["fps"]), k)
				}
			}
			if _, ok := b.Event["timestamp"].(float64); !ok {
				t.Errorf("heartbeat %s has no timestamp", asJSON(b.Event))
			}
		}
	})
}

// --- Start and stop racing --------------------------------------------------

func TestPipelineStartAndStopRaces(t *testing.T) {
	t.Run("Start while a stop drains the last frames is busy", func(t *testing.T) {
		g := newGate()
		pl := newPipeline(t, Funcs{Video: func(ctx context.Context, f *frame.Video) (*frame.Video, error) {
			<-g.ch
			return nil, nil
		}}, Config{MaxLag: time.Hour})
		pl.load()
		pl.start(pl.request())
		pl.feed("v=5 pts=0")
		eventually(t, func() bool { return pl.counters().VideoIn == 5 })
		first := pl.stream()
		stopped := make(chan error, 1)
		go func() { stopped <- pl.p.Stop(context.Background()) }()
		<-first.inCtx.Done()

		err := pl.p.Start(context.Background(), StartRequest{})
		if !errors.Is(err, ErrBusy) {
			t.Errorf("Start while a stop drains: %v, want ErrBusy", err)
		}
		if got := pl.p.Health(); got != StateOK {
			t.Errorf("health while the stop drains: %s, want OK", got)
		}
		g.open()
		if err := <-stopped; err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if got := pl.p.Health(); got != StateIdle {
			t.Errorf("health after the stop: %s, want IDLE", got)
		}
		pl.start(StartRequest{})
		if got := pl.p.Health(); got != StateOK {
			t.Errorf("health of the next stream: %s, want OK", got)
		}
		pl.stop()
	})

	t.Run("Start while a stream that ended on its own is still closing waits for it without a deadlock", func(t *testing.T) {
		pl := newPipeline(t, Funcs{}, Config{})
		pl.load()
		req := pl.request()
		req.EventsURL = pl.url("events")
		hold := pl.holdDelete("events") // keeps the ended stream closing its events channel
		pl.start(req)
		pl.feed("v=2 pts=0")
		pl.endInput()
		first := pl.stream()
		eventually(t, func() bool {
			st := pl.p.Status()
			return st.ClientRunning != nil && !*st.ClientRunning
		})
		started := make(chan error, 1)
		go func() { started <- pl.p.Start(context.Background(), StartRequest{}) }()
		select {
		case err := <-started:
			t.Fatalf("Start returned %v while the previous stream was still closing", err)
		default:
		}
		hold.open()
		select {
		case err := <-started:
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
		case <-time.After(waitLimit):
			t.Fatal("Start did not return once the previous stream ended: deadlock")
		}
		select {
		case <-first.done:
		default:
			t.Error("Start returned before the previous stream had ended")
		}
		if got := pl.p.Health(); got != StateOK {
			t.Errorf("health: %s, want OK", got)
		}
	})
}

func TestTheDefaultVideoQueueIsBoundedInBytes(t *testing.T) {
	for _, c := range []struct {
		name       string
		configured int
		w, h, want int
		device     bool
	}{
		{"a configured length wins", 7, 1920, 1080, 7, false},
		{"a configured length wins on a device too", 12, 512, 512, 12, true},
		{"a device stream's raw frames get 8", 0, 512, 512, 8, true},
		{"small frames get 32", 0, 512, 512, 32, false},
		{"720p gets 24 (64 MiB)", 0, 1280, 720, 24, false},
		{"1080p gets 10 (64 MiB)", 0, 1920, 1080, 10, false},
		{"4K gets the floor of 4", 0, 3840, 2160, 4, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{VideoQueue: c.configured}
			if c.device {
				cfg.Device = &gpu.Device{}
			}
			if got := videoQueueLen(cfg, c.w, c.h); got != c.want {
				t.Fatalf("got %d, want %d", got, c.want)
			}
		})
	}
}

// releasingCodecs are fake codecs that count ReleaseMemory calls.
type releasingCodecs struct {
	*fakeCodecs
	released atomic.Int32
}

func (c *releasingCodecs) ReleaseMemory() { c.released.Add(1) }

func TestCodecsThatReleaseMemoryAreAskedToOnceAStreamHasEnded(t *testing.T) {
	codecs := &releasingCodecs{fakeCodecs: newFakeCodecs()}
	pl := newPipeline(t, Funcs{}, Config{Codecs: codecs})
	pl.load()
	pl.start(pl.request())
	pl.feed("v=5 a=2 pts=0")
	if n := codecs.released.Load(); n != 0 {
		t.Fatalf("released %d times while the stream runs", n)
	}
	pl.endInput()
	if err := pl.read("out").waitEnd(t); !errors.Is(err, trickle.ErrStreamClosed) {
		t.Fatalf("the output ended with %v", err)
	}
	select {
	case <-pl.stream().done:
	case <-time.After(waitLimit):
		t.Fatal("the stream did not finish")
	}
	if n := codecs.released.Load(); n != 1 {
		t.Fatalf("released %d times after the stream ended, want once", n)
	}
}
