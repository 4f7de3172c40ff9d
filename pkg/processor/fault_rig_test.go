package processor_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/fakes/trickleserver"
	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/media"
	"github.com/gotrickle/gotrickle/pkg/processor"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// The fault rig runs the real processor, with FFmpeg, against two fake
// trickle servers on loopback (fakes/trickleserver): one for the input
// channel, which a case may restart, and one for the output, control,
// events and data channels. The input is real H.264 + AAC made by
// pkg/media's encoder, published at live pace.

const (
	rigW, rigH      = 256, 144
	rigFPS          = 30
	rigSegFrames    = 15 // 0.5 s input segments, each starting with an IDR
	rigSegments     = 10
	rigSegPeriod    = rigSegFrames * time.Second / rigFPS
	rigAudioSamples = 1024
)

// rigInput is the generated input: whole TS segments and what each one
// decodes to on its own.
type rigInput struct {
	segs         [][]byte
	video, audio []int
}

var (
	rigInputOnce sync.Once
	rigInputData *rigInput
	rigInputErr  error
)

// sinkSegments collects an encoder's segments.
type sinkSegments struct{ segs []*bytes.Buffer }

type bufCloser struct{ *bytes.Buffer }

func (bufCloser) Close() error { return nil }

func (s *sinkSegments) NextSegment() (io.WriteCloser, error) {
	b := &bytes.Buffer{}
	s.segs = append(s.segs, b)
	return bufCloser{b}, nil
}

// generatedInput encodes rigSegments segments of a moving picture and a
// tone, once per test binary.
func generatedInput(t *testing.T) *rigInput {
	t.Helper()
	rigInputOnce.Do(func() { rigInputData, rigInputErr = generateInput() })
	if rigInputErr != nil {
		t.Fatal(rigInputErr)
	}
	return rigInputData
}

func generateInput() (*rigInput, error) {
	sink := &sinkSegments{}
	gop := rigSegPeriod
	enc, err := media.NewEncoder(media.EncoderConfig{Width: rigW, Height: rigH, GOP: gop, SegmentDuration: gop,
		AudioChannels: 2, AudioCodec: "aac", Threads: 1}, sink)
	if err != nil {
		return nil, err
	}
	const start = 90000 // 1 s in, like a muxer's delay
	frames := rigSegments * rigSegFrames
	samples := 0
	for i := range frames {
		v, err := frame.GetVideo(rigW, rigH)
		if err != nil {
			return nil, err
		}
		for y := range rigH {
			row := v.Pix[y*v.Stride:]
			for x := range rigW {
				row[3*x] = byte(x + 4*i)
				row[3*x+1] = byte(y + 2*i)
				row[3*x+2] = byte(x + y)
			}
		}
		v.PTS, v.TimeBase = start+int64(i)*90000/rigFPS, frame.Rational{Num: 1, Den: 90000}
		err = enc.WriteVideo(v)
		v.Release()
		if err != nil {
			return nil, err
		}
		// Audio up to the end of this video frame.
		for samples*rigFPS < (i+1)*48000 {
			a, err := frame.GetAudio(2, rigAudioSamples, 48000)
			if err != nil {
				return nil, err
			}
			a.Layout = frame.LayoutStereo
			for c := range a.Samples {
				for j := range a.Samples[c] {
					a.Samples[c][j] = float32(0.2 * math.Sin(2*math.Pi*440*float64(samples+j)/48000))
				}
			}
			a.PTS, a.TimeBase = int64(start/90000*48000+samples), frame.Rational{Num: 1, Den: 48000}
			err = enc.WriteAudio(a)
			a.Release()
			if err != nil {
				return nil, err
			}
			samples += rigAudioSamples
		}
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	in := &rigInput{}
	dec, err := media.NewDecoder(media.DecoderConfig{Width: rigW, Height: rigH, MaxFramerate: media.NoFramerateCap})
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	for _, b := range sink.segs {
		in.segs = append(in.segs, b.Bytes())
		st, err := dec.DecodeSegment(context.Background(), bytes.NewReader(b.Bytes()), media.Handlers{
			Video: func(v *frame.Video) error { v.Release(); return nil },
			Audio: func(a *frame.Audio) error { a.Release(); return nil },
		})
		if err != nil {
			return nil, fmt.Errorf("decoding generated segment %d: %w", len(in.video), err)
		}
		in.video, in.audio = append(in.video, st.VideoFrames), append(in.audio, st.AudioFrames)
	}
	if len(in.segs) < rigSegments {
		return nil, fmt.Errorf("the encoder made %d segments, want %d", len(in.segs), rigSegments)
	}
	return in, nil
}

// stripKeyframe removes a TS segment's first video access unit (its IDR,
// with the SPS and PPS before it): what is left is a real stream with no
// keyframe to start from.
func stripKeyframe(seg []byte) []byte {
	const size = 188
	out := make([]byte, 0, len(seg))
	videoPID, inFirst, done := -1, false, false
	for off := 0; off+size <= len(seg); off += size {
		p := seg[off : off+size]
		pid := int(p[1]&0x1f)<<8 | int(p[2])
		pusi := p[1]&0x40 != 0
		payload := 4
		if p[3]&0x20 != 0 {
			payload += 1 + int(p[4])
		}
		if videoPID < 0 && pusi && payload+4 <= size &&
			p[payload] == 0 && p[payload+1] == 0 && p[payload+2] == 1 && p[payload+3]&0xf0 == 0xe0 {
			videoPID = pid
		}
		if pid == videoPID && !done {
			if pusi {
				if inFirst {
					done = true
				} else {
					inFirst = true
				}
			}
			if !done {
				continue
			}
		}
		out = append(out, p...)
	}
	return out
}

// feedSeg is one input segment to publish, the frames it decodes to, and
// the video frames the case destroyed in it (not decodable by design).
type feedSeg struct {
	body                    []byte
	video, audio, destroyed int
}

func (in *rigInput) feed() []feedSeg {
	f := make([]feedSeg, len(in.segs))
	for i := range in.segs {
		f[i] = feedSeg{body: in.segs[i], video: in.video[i], audio: in.audio[i]}
	}
	return f
}

// rigServer is a fake trickle server on a fixed loopback address, so that
// it can be stopped and started again as a restarted server would be.
type rigServer struct {
	addr     string
	channels []string
	faults   []trickleserver.Fault

	mu    sync.Mutex
	fake  *trickleserver.Server
	hs    *http.Server
	done  chan struct{}
	older []trickleserver.Request // requests of the instances before a restart
}

func newRigServer(t *testing.T, channels []string, faults []trickleserver.Fault) *rigServer {
	t.Helper()
	s := &rigServer{addr: "127.0.0.1:0", channels: channels, faults: faults}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

// start serves on s.addr (a free port the first time) with a fresh fake.
func (s *rigServer) start() error {
	var ln net.Listener
	var err error
	for range 50 { // the old socket may take a moment to let go of the port
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	fake := trickleserver.New(trickleserver.Config{Trickle: trickle.ServerConfig{Logger: quiet}, Faults: s.faults})
	for _, ch := range s.channels {
		if err := fake.Trickle().CreateChannel(ch, ""); err != nil {
			ln.Close()
			return err
		}
	}
	hs := &http.Server{Handler: fake}
	done := make(chan struct{})
	go func() { defer close(done); _ = hs.Serve(ln) }()
	s.mu.Lock()
	s.addr, s.fake, s.hs, s.done = ln.Addr().String(), fake, hs, done
	s.mu.Unlock()
	return nil
}

// stop closes the server and every connection to it.
func (s *rigServer) stop() {
	s.mu.Lock()
	fake, hs, done := s.fake, s.hs, s.done
	s.fake = nil
	s.mu.Unlock()
	if fake == nil {
		return
	}
	// Connections first, as when a server dies: a graceful close would
	// tell waiting readers that their channel has ended.
	_ = hs.Close()
	fake.Close()
	<-done
	s.mu.Lock()
	s.older = append(s.older, fake.Requests()...)
	s.mu.Unlock()
}

// restart stops the server, leaves its port refusing connections for
// down, and starts a fresh one on the same port. The port is held
// meanwhile (holdPort): when a server dies, no other program takes its
// port in the second it is away, but here other tests running beside this
// one could.
func (s *rigServer) restart(down time.Duration) error {
	s.stop()
	s.mu.Lock()
	addr := s.addr
	s.mu.Unlock()
	release, err := holdPort(addr)
	if err != nil {
		return err
	}
	defer release()
	time.Sleep(down)
	return s.start()
}

func (s *rigServer) url(ch string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "http://" + s.addr + "/" + ch
}

func (s *rigServer) server() *trickleserver.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fake
}

// requests returns every request recorded, across restarts.
func (s *rigServer) requests() []trickleserver.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := slices.Clone(s.older)
	if s.fake != nil {
		all = append(all, s.fake.Requests()...)
	}
	return all
}

// firstFault returns when the first faulted request on ch started.
func (s *rigServer) firstFault(ch string) (time.Time, bool) {
	for _, r := range s.requests() {
		if r.Fault != "" && r.Channel == ch {
			return r.Start, true
		}
	}
	return time.Time{}, false
}

// rigLog records output video frames and events as the processor emits them.
type rigLog struct {
	mu     sync.Mutex
	frames []time.Time
	pts    []int64
	events []rigEvent
}

type rigEvent struct {
	at  time.Time
	typ string
	msg string
}

func (l *rigLog) ObserveHandler(string, time.Duration) {}

func (l *rigLog) ObserveEvent(ev map[string]any, _ string) {
	typ, _ := ev["type"].(string)
	msg, _ := ev["error"].(string)
	l.mu.Lock()
	l.events = append(l.events, rigEvent{at: time.Now(), typ: typ, msg: msg})
	l.mu.Unlock()
}

func (l *rigLog) ObserveOutputVideo(v *frame.Video, _ time.Duration) {
	l.mu.Lock()
	l.frames = append(l.frames, time.Now())
	l.pts = append(l.pts, v.PTS)
	l.mu.Unlock()
}

func (l *rigLog) outputTimes() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.frames)
}

func (l *rigLog) eventsOf(typ string) []rigEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.DeleteFunc(slices.Clone(l.events), func(e rigEvent) bool { return e.typ != typ })
}

// faultCase describes one run of the rig.
type faultCase struct {
	name string
	// inFaults and outFaults are armed on the input server and on the
	// server of the other channels.
	inFaults, outFaults []trickleserver.Fault
	// handler is the processor's handler (processor.Funcs{} when nil).
	handler any
	cfg     processor.Config // Codecs, Logger, HTTPClient and Observer are set by the rig
	// control, events and data add those channels to the start request.
	control, events, data bool
	// segments turns the generated input into what is published.
	segments func(in *rigInput) []feedSeg
	// before runs when segment i is due, before it is published (on the
	// feeding goroutine: no t.Fatal); it may record the fault's time with
	// rig.faultAt.
	before func(r *rig, i int)
	// ends says the fault ends the stream instead of being recovered from.
	ends bool
	// unsentLost: segments queued behind a stalled POST are dropped at the
	// stop before they take a seq, so the output segments counted lost
	// may be more than the seqs lost on the wire.
	unsentLost bool
}

// rig is one case running.
type rig struct {
	t       *testing.T
	fc      faultCase
	in, out *rigServer
	p       *processor.Processor
	log     *rigLog
	client  *http.Client
	segs    []feedSeg

	mu      sync.Mutex
	fault   time.Time // when the fault began (a hook's time or the first faulted request's)
	fedSegs int
	// startedSegs counts segments whose POST began: in cases the fault
	// ends, the last may be cut off with some of its frames already read.
	startedSegs int
}

func (r *rig) faultAt(at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fault.IsZero() {
		r.fault = at
	}
}

// faultResult is what a run measured.
type faultResult struct {
	c         processor.Counters
	fedVideo  int // decodable video frames in the segments published
	destroyed int // video frames the case made undecodable in them
	fedAudio  int // audio frames in them
	fedSegs   int // segments published
	// startedSegs and startedVideo also count a segment whose POST was
	// cut off when the stream ended (bounds for what can have been read).
	startedSegs, startedVideo int
	freeze                    time.Duration // the longest wait for an output frame from the fault on
	baseline                  time.Duration // the longest such wait before the fault
	ended                     time.Duration // fault → the stream ended on its own (ends cases)
	lostVideo                 int           // published video frames (decodable or not) that did not come out
	outSeqs                   []int64       // output seqs published whole
	outLost                   []int64       // output seqs attempted and not accepted whole
	handlerErr                []rigEvent
	state                     processor.State
	unsentLost                bool // faultCase.unsentLost
	// endedAfterInput is the end of the input → the stream has finished
	// its output and health left OK (cases that do not end on their own;
	// polled every 5 ms).
	endedAfterInput time.Duration
}

func runFault(t *testing.T, fc faultCase) faultResult {
	t.Helper()
	in := generatedInput(t)
	r := &rig{t: t, fc: fc, log: &rigLog{}}
	r.segs = in.feed()
	if fc.segments != nil {
		r.segs = fc.segments(in)
	}
	r.in = newRigServer(t, []string{"in"}, fc.inFaults)
	r.out = newRigServer(t, []string{"out", "control", "events", "data"}, fc.outFaults)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	r.client = &http.Client{Transport: tr}

	cfg := fc.cfg
	cfg.Codecs = media.Codecs{Encoder: media.EncoderConfig{GOP: time.Second, Threads: 1}, Decoder: media.DecoderConfig{Threads: 1}}
	cfg.Logger, cfg.HTTPClient, cfg.Observer = quiet, &http.Client{Transport: &http.Transport{}}, r.log
	t.Cleanup(cfg.HTTPClient.Transport.(*http.Transport).CloseIdleConnections)
	h := fc.handler
	if h == nil {
		h = processor.Funcs{}
	}
	p, err := processor.New(h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.p = p
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.LoadModel(ctx); err != nil {
		t.Fatal(err)
	}
	req := processor.StartRequest{SubscribeURL: r.in.url("in"), PublishURL: r.out.url("out"), GatewayRequestID: "fault-" + fc.name,
		Params: processor.Params{"width": rigW, "height": rigH, "max_framerate": rigFPS}}
	if fc.control {
		req.ControlURL = r.out.url("control")
	}
	if fc.events {
		req.EventsURL = r.out.url("events")
	}
	if fc.data {
		req.DataURL = r.out.url("data")
	}
	if err := p.Start(ctx, req); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := p.Stop(sctx); err != nil && !errors.Is(err, processor.ErrNoStream) {
			t.Errorf("cleanup: stop: %v", err)
		}
	})
	// The processor reads from the segment being written: publish once
	// its first GET is waiting, so that it reads the input from seq 0.
	waitFor(t, 10*time.Second, "the processor's first input GET", func() bool {
		return slices.ContainsFunc(r.in.requests(), func(q trickleserver.Request) bool {
			return q.Method == http.MethodGet && q.Channel == "in"
		})
	})
	feedCtx, stopFeed := context.WithCancel(ctx)
	fed := make(chan struct{})
	go func() { defer close(fed); r.publish(feedCtx) }()

	var res faultResult
	ended := func() bool { return p.Status().ClientRunning != nil && !*p.Status().ClientRunning }
	var feedEnd time.Time
	if fc.ends {
		waitFor(t, 20*time.Second, "the stream to end on its own", ended)
		endAt := time.Now()
		stopFeed()
		<-fed
		feedEnd = endAt
		r.mu.Lock()
		res.ended = endAt.Sub(r.fault)
		r.mu.Unlock()
	} else {
		<-fed
		feedEnd = time.Now()
		stopFeed()
		// The end of the input ends the stream and closes its output.
		r.closeInput(ctx)
		waitFor(t, 20*time.Second, "the stream to end with its input", ended)
	}
	// Health turns IDLE once the stream has closed its side channels too
	// (bounded by 2 s when their server fails).
	waitFor(t, 10*time.Second, "health IDLE after the stream", func() bool { return p.Health() != processor.StateOK })
	if !fc.ends {
		res.endedAfterInput = time.Since(feedEnd)
	}
	res.state = p.Health()
	if err := p.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	st := p.Status()
	if st.Counters == nil {
		t.Fatal("no counters after the stream")
	}
	res.c = *st.Counters
	r.mu.Lock()
	res.fedSegs, res.startedSegs = r.fedSegs, r.startedSegs
	for _, s := range r.segs[:r.startedSegs] {
		res.startedVideo += s.video
	}
	for _, s := range r.segs[:r.fedSegs] {
		res.fedVideo += s.video
		res.fedAudio += s.audio
		res.destroyed += s.destroyed
	}
	fault := r.fault
	r.mu.Unlock()
	if fault.IsZero() {
		for _, s := range []*rigServer{r.in, r.out} {
			for _, ch := range []string{"in", "out", "control", "events", "data"} {
				if at, ok := s.firstFault(ch); ok && (fault.IsZero() || at.Before(fault)) {
					fault = at
				}
			}
		}
	}
	if fault.IsZero() {
		t.Fatal("the fault never happened")
	}
	res.freeze, res.baseline = freezes(r.log.outputTimes(), fault, feedEnd)
	res.lostVideo = res.fedVideo + res.destroyed - int(res.c.VideoOut)
	res.outSeqs, res.outLost = outputSeqs(r.out.requests())
	res.unsentLost = fc.unsentLost
	res.handlerErr = r.log.eventsOf("handler_error")
	checkAccounting(t, res)
	return res
}

// publish posts the segments at live pace, each spread over its period in
// small writes so that frames arrive as a live encoder sends them.
func (r *rig) publish(ctx context.Context) {
	t0 := time.Now()
	for i, s := range r.segs {
		due := t0.Add(time.Duration(i) * rigSegPeriod)
		if d := time.Until(due); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		}
		if r.fc.before != nil {
			r.fc.before(r, i)
		}
		r.mu.Lock()
		r.startedSegs = i + 1
		r.mu.Unlock()
		if err := r.postPaced(ctx, i, s.body); err != nil {
			return
		}
		r.mu.Lock()
		r.fedSegs = i + 1
		r.mu.Unlock()
	}
}

// postPaced POSTs one segment, retrying (as a gateway would) while the
// server is down.
func (r *rig) postPaced(ctx context.Context, seq int, body []byte) error {
	const chunks = 10
	url := r.in.url("in") + "/" + strconv.Itoa(seq)
	for attempt := 0; ; attempt++ {
		pr, pw := io.Pipe()
		go func() {
			step := (len(body) + chunks - 1) / chunks
			for off := 0; off < len(body); off += step {
				if off > 0 {
					time.Sleep(rigSegPeriod / chunks)
				}
				if _, err := pw.Write(body[off:min(off+step, len(body))]); err != nil {
					return
				}
			}
			pw.Close()
		}()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, pr)
		if err != nil {
			return err
		}
		resp, err := r.client.Do(req)
		pr.CloseWithError(errors.New("request over"))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("POST %s: %s", url, resp.Status)
		}
		if ctx.Err() != nil || attempt >= 100 {
			return err
		}
		select { // the server is down: try again shortly
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// closeInput ends the input channel, as the gateway does at the end.
func (r *rig) closeInput(ctx context.Context) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, r.in.url("in"), nil)
	if resp, err := r.client.Do(req); err == nil {
		resp.Body.Close()
	}
}

// post writes one whole segment to a channel of the output server.
func (r *rig) post(ch string, seq int, body string) {
	url := r.out.url(ch) + "/" + strconv.Itoa(seq)
	resp, err := r.client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		r.t.Errorf("POST %s: %v", url, err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// freezes returns the longest wait for an output frame from the fault on
// (counted from the last frame before it) and the longest before it. When
// no frame came after the fault, the wait runs to the end of the input.
func freezes(frames []time.Time, fault, end time.Time) (after, before time.Duration) {
	for i := 1; i < len(frames); i++ {
		gap := frames[i].Sub(frames[i-1])
		if frames[i].After(fault) {
			after = max(after, gap)
		} else {
			before = max(before, gap)
		}
	}
	if n := len(frames); n == 0 || !frames[n-1].After(fault) {
		after = end.Sub(fault)
	}
	if os.Getenv("FAULT_GAPS") != "" {
		for i := 1; i < len(frames); i++ {
			if gap := frames[i].Sub(frames[i-1]); gap > 200*time.Millisecond {
				fmt.Printf("gap %v ending %v after the fault\n", gap, frames[i].Sub(fault))
			}
		}
	}
	return after, before
}

// outputSeqs sorts the output POSTs into seqs accepted whole and seqs
// tried and never accepted (a POST opened ahead and never written, at the
// end, is neither).
func outputSeqs(reqs []trickleserver.Request) (sent, lost []int64) {
	ok := map[int64]bool{}
	tried := map[int64]bool{}
	for _, q := range reqs {
		if q.Method != http.MethodPost || q.Channel != "out" || !q.HasSeq {
			continue
		}
		if q.Status == http.StatusOK && q.BytesIn > 0 {
			ok[q.Seq] = true
		}
		// A faulted POST counts as tried even when the server never read or
		// answered it (a stalled one).
		if q.BytesIn > 0 || (q.Status != 0 && q.Status != http.StatusOK) || q.Fault != "" {
			tried[q.Seq] = true
		}
	}
	for s := range ok {
		sent = append(sent, s)
	}
	for s := range tried {
		if !ok[s] {
			lost = append(lost, s)
		}
	}
	slices.Sort(sent)
	slices.Sort(lost)
	return sent, lost
}

// checkAccounting asserts the sums of docs/reliability.md on a finished
// stream, and that the output seqs are contiguous.
func checkAccounting(t *testing.T, res faultResult) {
	t.Helper()
	c := res.c
	if got := c.VideoOut + c.VideoSkipped + c.VideoDropped + c.VideoLost; got != c.VideoIn || c.VideoInFlight != 0 {
		t.Errorf("video: out+skipped+dropped+lost = %d, in %d, in flight %d", got, c.VideoIn, c.VideoInFlight)
	}
	if got := c.AudioOut + c.AudioSkipped + c.AudioDropped + c.AudioLost; got != c.AudioIn+c.AudioAdded || c.AudioInFlight != 0 {
		t.Errorf("audio: out+skipped+dropped+lost = %d, in+added %d, in flight %d", got, c.AudioIn+c.AudioAdded, c.AudioInFlight)
	}
	if c.VideoIn+c.VideoCapped > uint64(res.startedVideo) {
		t.Errorf("%d video frames decoded (%d in + %d capped), more than the %d in the segments posted (or begun)", c.VideoIn+c.VideoCapped,
			c.VideoIn, c.VideoCapped, res.startedVideo)
	}
	if c.SegmentsIn+c.InputSegmentsLost > uint64(res.startedSegs) {
		t.Errorf("%d input segments read + %d lost, more than the %d posted (or begun)", c.SegmentsIn, c.InputSegmentsLost, res.startedSegs)
	}
	if c.OutputBuffered != 0 {
		t.Errorf("%d output bytes still buffered after the stream ended", c.OutputBuffered)
	}
	all := append(slices.Clone(res.outSeqs), res.outLost...)
	slices.Sort(all)
	for i, s := range all {
		if s != int64(i) {
			t.Errorf("output seqs %v (sent) + %v (lost) are not contiguous from 0", res.outSeqs, res.outLost)
			break
		}
	}
	lostOK := uint64(len(res.outLost)) == c.SegmentsLost
	if res.unsentLost {
		lostOK = uint64(len(res.outLost)) <= c.SegmentsLost
	}
	if uint64(len(res.outSeqs)) != c.SegmentsOut || !lostOK {
		t.Errorf("the server accepted %d output segments and lost %d; the counters say %d sent, %d lost",
			len(res.outSeqs), len(res.outLost), c.SegmentsOut, c.SegmentsLost)
	}
}

// figure logs the case's figure in the format docs/reliability.md copies.
func (res faultResult) figure(t *testing.T, name, outcome string) {
	t.Helper()
	c := res.c
	recovery := fmt.Sprintf("freeze=%dms (baseline %dms)", res.freeze.Milliseconds(), res.baseline.Milliseconds())
	if res.ended > 0 {
		recovery = fmt.Sprintf("ended_after=%dms", res.ended.Milliseconds())
	}
	t.Logf("FAULT %s | %s | %s | in_segs lost=%d corrupt=%d of %d | out_segs lost=%d of %d | video lost=%d of %d (skipped=%d lost=%d failed=%d) | audio out=%d of %d",
		name, outcome, recovery, c.InputSegmentsLost, c.CorruptInput, res.fedSegs, c.SegmentsLost, c.SegmentsOut+c.SegmentsLost,
		res.lostVideo, res.fedVideo+res.destroyed, c.VideoSkipped, c.VideoLost, c.VideoFailed, c.AudioOut, res.fedAudio)
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
