package processor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/gotrickle/gotrickle/conformance/harness"
	"github.com/gotrickle/gotrickle/fakes/trickleserver"
	"github.com/gotrickle/gotrickle/fixtures"
	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/processor"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// ---- Side-channel helpers (control, events and data specs) ----

// chanSeg is one segment read from a channel of the suite server.
type chanSeg struct {
	seq         int64
	contentType string
	body        []byte
	at          time.Time // when the segment's first byte reached the reader
}

// chanFollower reads a channel from seq 0 in the background, keeping every
// segment whole.
type chanFollower struct {
	mu    sync.Mutex
	segs  []chanSeg
	ended error
	done  chan struct{}
}

// chanFollow follows the channel named name from seq 0 until the channel
// ends or ctx does. A channel that does not exist yet is waited for (the
// processor creates it with its first POST).
func chanFollow(ctx context.Context, name string) *chanFollower {
	f := &chanFollower{done: make(chan struct{})}
	go func() {
		defer GinkgoRecover()
		err := f.follow(ctx, name)
		f.mu.Lock()
		f.ended = err
		f.mu.Unlock()
		close(f.done)
	}()
	return f
}

func (f *chanFollower) follow(ctx context.Context, name string) error {
	for {
		sub, err := trickle.NewSubscriber(trickle.SubscriberConfig{URL: cfg.suiteURL + name, Start: trickle.StartAt(0), Logger: quiet})
		if err != nil {
			return err
		}
		err = f.read(ctx, sub)
		sub.Close()
		if !errors.Is(err, trickle.ErrStreamNotFound) || len(f.snapshot()) > 0 || ctx.Err() != nil {
			return err
		}
		select { // not created yet
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (f *chanFollower) read(ctx context.Context, sub *trickle.Subscriber) error {
	for {
		seg, err := sub.Next(ctx)
		if err != nil {
			return err
		}
		s := chanSeg{seq: seg.Seq, contentType: seg.ContentType, at: time.Now()}
		s.body, err = io.ReadAll(io.LimitReader(seg, 4<<20))
		seg.Close()
		if err != nil {
			return fmt.Errorf("segment %d: %w", s.seq, err)
		}
		f.mu.Lock()
		f.segs = append(f.segs, s)
		f.mu.Unlock()
	}
}

// snapshot returns the segments read so far.
func (f *chanFollower) snapshot() []chanSeg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.segs)
}

// wait waits up to d for the reading to end and returns why it ended, or
// nil and false when it is still going.
func (f *chanFollower) wait(d time.Duration) (error, bool) {
	select {
	case <-f.done:
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.ended, true
	case <-time.After(d):
		return nil, false
	}
}

// chanEvent is one events-channel segment, parsed.
type chanEvent struct {
	seq   int64
	typ   string // event.type when a string
	queue string
	event map[string]any
	keys  []string // the envelope's keys, sorted
	err   error    // why the body is not one JSON object
	raw   []byte
	at    time.Time
}

// chanParseEvent reads one events segment: exactly one JSON object (blanks
// around it allowed).
func chanParseEvent(s chanSeg) chanEvent {
	e := chanEvent{seq: s.seq, raw: s.body, at: s.at}
	dec := json.NewDecoder(bytes.NewReader(s.body))
	dec.UseNumber()
	var env map[string]any
	if err := dec.Decode(&env); err != nil {
		e.err = err
		return e
	}
	if _, err := dec.Token(); err != io.EOF {
		e.err = errors.New("more than one JSON value in the segment")
		return e
	}
	if env == nil {
		e.err = errors.New("the segment is JSON null")
		return e
	}
	e.keys = slices.Sorted(maps.Keys(env))
	e.event, _ = env["event"].(map[string]any)
	e.queue, _ = env["queue_event_type"].(string)
	if e.event != nil {
		e.typ, _ = e.event["type"].(string)
	}
	return e
}

// chanEvents parses what f has read so far.
func chanEvents(f *chanFollower) []chanEvent {
	segs := f.snapshot()
	evs := make([]chanEvent, len(segs))
	for i, s := range segs {
		evs[i] = chanParseEvent(s)
	}
	return evs
}

// chanOfType keeps the events of one type.
func chanOfType(evs []chanEvent, typ string) []chanEvent {
	var out []chanEvent
	for _, e := range evs {
		if e.typ == typ {
			out = append(out, e)
		}
	}
	return out
}

// chanTypes lists the event types in order, for failure messages.
func chanTypes(evs []chanEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.typ
	}
	return out
}

// chanExpectTimestamp checks that v is an ms timestamp: an integer within a
// minute of the suite's clock (seconds or monotonic values are far off).
func chanExpectTimestamp(v any, what string) {
	GinkgoHelper()
	n, ok := v.(json.Number)
	Expect(ok).To(BeTrue(), "%s: timestamp %v (%T) is not a number", what, v, v)
	ms, err := n.Int64()
	Expect(err).NotTo(HaveOccurred(), "%s: timestamp %s is not an integer", what, n)
	Expect(time.Since(time.UnixMilli(ms)).Abs()).To(BeNumerically("<", time.Minute),
		"%s: timestamp %d is not the current Unix time in milliseconds", what, ms)
}

// chanExpectSimpleEvent checks an event of the shape {"type","timestamp"}
// on queue ai_stream_events.
func chanExpectSimpleEvent(e chanEvent, typ string) {
	GinkgoHelper()
	Expect(e.queue).To(Equal("ai_stream_events"), "%s: queue_event_type", typ)
	Expect(slices.Sorted(maps.Keys(e.event))).To(Equal([]string{"timestamp", "type"}), "%s: %s", typ, e.raw)
	chanExpectTimestamp(e.event["timestamp"], typ)
}

// chanRequests returns the suite server's recorded requests on channel
// (any method when method is "").
func chanRequests(channel, method string) []trickleserver.Request {
	var out []trickleserver.Request
	for _, q := range suite.Requests() {
		if q.Channel == channel && (method == "" || q.Method == method) {
			out = append(out, q)
		}
	}
	return out
}

// chanPostArrival is when the first byte of the POST that carried segment
// seq of channel reached the suite server (zero when none did).
func chanPostArrival(channel string, seq int64) time.Time {
	var first time.Time
	for _, q := range chanRequests(channel, "POST") {
		if q.HasSeq && q.Seq == seq && q.BytesIn > 0 && (first.IsZero() || q.FirstByteIn.Before(first)) {
			first = q.FirstByteIn
		}
	}
	return first
}

// chanFresh replaces one of the run's side channels by one the suite has
// not created, so that the processor's first POST creates it and its
// Content-Type becomes the channel's (which readers then see).
func (r *run) chanFresh(ch *string) {
	suite.Trickle().CloseChannel(*ch)
	*ch += "-fresh"
}

// chanPublish publishes segs to the run's input, one every period, calling
// before(i) ahead of segment i (nil: nothing); with end it then closes the
// input channel.
func (r *run) chanPublish(ctx context.Context, segs []fixtures.Segment, period time.Duration, end bool, before func(i int)) error {
	b, err := segBytes(segs)
	if err != nil {
		return err
	}
	o := feedOpts{period: period, end: end}
	if before != nil {
		o.before = func(i int) error { before(i); return nil }
	}
	return r.feed(ctx, b, o)
}

// chanSendRaw publishes body as one control segment, as it is.
func (r *run) chanSendRaw(ctx context.Context, body []byte) {
	GinkgoHelper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.controlPub == nil {
		p, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: cfg.suiteURL + r.control, ContentType: "application/json", Logger: quiet})
		Expect(err).NotTo(HaveOccurred())
		r.controlPub = p
	}
	_, err := r.controlPub.Write(ctx, bytes.NewReader(body))
	Expect(err).NotTo(HaveOccurred())
}

// chanAwaitControlReader waits until the processor has asked for a control
// segment. It reads the channel from the current segment on (seq -2), so
// messages sent before its first GET would collapse into the latest one.
func (r *run) chanAwaitControlReader() {
	GinkgoHelper()
	Eventually(func() bool {
		for _, q := range suite.Requests() {
			if q.Method == "GET" && q.Channel == r.control {
				return true
			}
		}
		return false
	}).WithTimeout(cfg.reaction+5*time.Second).WithPolling(20*time.Millisecond).Should(BeTrue(),
		"the processor never read its control channel")
}

// chanHealthWatch polls /health until ctx ends and returns a function
// listing every distinct status seen, in order.
func chanHealthWatch(ctx context.Context) func() []string {
	return watchHealth(ctx, 50*time.Millisecond, false).seen
}

// healthWatch is a running watchHealth.
type healthWatch struct {
	mu   sync.Mutex
	list []string
	done chan struct{} // closed when the polling has stopped
}

// seen lists every distinct status seen so far, in order.
func (w *healthWatch) seen() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.list)
}

// watchHealth polls /health at the interval every until ctx ends, noting each
// change; with blank, a failed poll ("") counts as a status.
func watchHealth(ctx context.Context, every time.Duration, blank bool) *healthWatch {
	w := &healthWatch{done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for ctx.Err() == nil {
			h := health()
			w.mu.Lock()
			if (blank || h != "") && (len(w.list) == 0 || w.list[len(w.list)-1] != h) {
				w.list = append(w.list, h)
			}
			w.mu.Unlock()
			select {
			case <-time.After(every):
			case <-ctx.Done():
			}
		}
	}()
	return w
}

// chanOnFrame installs a pass-through video handler that runs fn once,
// on the n-th frame (1-based).
func chanOnFrame(n int, fn func()) {
	GinkgoHelper()
	var count atomic.Int64
	useHandler(processor.Funcs{Video: func(ctx context.Context, v *frame.Video) (*frame.Video, error) {
		if count.Add(1) == int64(n) {
			fn()
		}
		return nil, nil
	}})
}

// ---- The events channel (docs/spec/processor-api.md §11) ----

var _ = specs.Describe("The events channel", func() {
	It("publishes each event as its own JSON segment from seq 0, with Content-Type application/json", harness.Req("PROC-059", harness.Must, harness.Channels), func(ctx SpecContext) {
		_, segs := fixture("h264-aac-320x240")
		r := newRun()
		r.chanFresh(&r.events)
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		ev := chanFollow(fctx, r.events)
		r.start(map[string]any{"width": 320, "height": 240})
		Expect(r.chanPublish(fctx, segs[:3], 300*time.Millisecond, false, nil)).To(Succeed())
		Eventually(func() []string { return chanTypes(chanEvents(ev)) }).WithTimeout(cfg.reaction + 2*time.Second).
			Should(ContainElement("send_first_processed_segment"))
		Expect(postJSON(stream("params"), map[string]any{"prompt": "x"}).status).To(Equal(200))
		Expect(call("POST", stream("stop"), nil, "").status).To(Equal(200))
		waitHealth("IDLE", 15*time.Second)
		ev.wait(time.Second)
		cancel()
		ev.wait(5 * time.Second)

		got := ev.snapshot()
		Expect(len(got)).To(BeNumerically(">=", 4), "events read: %d", len(got))
		for i, s := range got {
			Expect(s.seq).To(BeEquivalentTo(i), "events segment %d carries seq %d: seqs must start at 0 and be consecutive", i, s.seq)
			Expect(s.contentType).To(HavePrefix("application/json"), "events segment %d: Content-Type", i)
			e := chanParseEvent(s)
			Expect(e.err).NotTo(HaveOccurred(), "events segment %d is not exactly one JSON object: %q", i, s.body)
			Expect(e.keys).To(Equal([]string{"event", "queue_event_type"}), "events segment %d: %s", i, s.body)
			Expect(e.event).NotTo(BeNil(), "events segment %d: event is not an object: %s", i, s.body)
			Expect(e.queue).NotTo(BeEmpty(), "events segment %d: queue_event_type is not a non-empty string: %s", i, s.body)
			Expect(e.typ).NotTo(BeEmpty(), "events segment %d: event.type is not a non-empty string: %s", i, s.body)
			chanExpectTimestamp(e.event["timestamp"], fmt.Sprintf("events segment %d (%s)", i, e.typ))
		}
	})

	Context("heartbeats", func() {
		It("sends a heartbeat promptly after the start with the start's URLs, the target size and the frame rates, and the next 10 s later", harness.Req("PROC-060", harness.Must, harness.Channels), func(ctx SpecContext) {
			r := newRun()
			fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			ev := chanFollow(fctx, r.events)
			req := r.request(map[string]any{"width": 320, "height": 240})
			rep := postJSON(stream("start"), req)
			Expect(rep.status).To(Equal(200), "start: %s", rep.body)
			started := time.Now()

			Eventually(func() int { return len(chanOfType(chanEvents(ev), "heartbeat")) }).
				WithTimeout(cfg.reaction).WithPolling(20*time.Millisecond).Should(BeNumerically(">=", 1), "no heartbeat within %v of the start", cfg.reaction)
			hb := chanOfType(chanEvents(ev), "heartbeat")[0]
			Expect(hb.queue).To(Equal("stream_heartbeat"))
			chanExpectTimestamp(hb.event["timestamp"], "heartbeat")
			Expect(hb.event["urls"]).To(Equal(map[string]any{
				"subscribe": req["subscribe_url"], "publish": req["publish_url"], "control": req["control_url"],
				"events": req["events_url"], "data": req["data_url"]}), "heartbeat urls")
			Expect(hb.event["dimensions"]).To(Equal(map[string]any{"width": json.Number("320"), "height": json.Number("240")}), "heartbeat dimensions")
			fps, ok := hb.event["fps"].(map[string]any)
			Expect(ok).To(BeTrue(), "heartbeat fps is not an object: %s", hb.raw)
			for _, k := range []string{"ingress_video_fps", "ingress_audio_fps", "egress_video_fps", "egress_audio_fps"} {
				Expect(fps).To(HaveKeyWithValue(k, BeAssignableToTypeOf(json.Number(""))), "heartbeat fps.%s", k)
			}

			Eventually(func() int { return len(chanOfType(chanEvents(ev), "heartbeat")) }).
				WithTimeout(11*time.Second+cfg.reaction).WithPolling(20*time.Millisecond).Should(BeNumerically(">=", 2), "no second heartbeat")
			hbs := chanOfType(chanEvents(ev), "heartbeat")
			first, second := chanPostArrival(r.events, hbs[0].seq), chanPostArrival(r.events, hbs[1].seq)
			Expect(first.Sub(started)).To(BeNumerically("<=", cfg.reaction), "first heartbeat after the start's answer")
			Expect(second.Sub(first)).To(BeNumerically("~", 10*time.Second, time.Second), "interval between the first two heartbeats")
		})

		It("sends \"\" for absent URLs and the default target size 512×512", harness.Req("PROC-060", harness.Must, harness.Channels), func(ctx SpecContext) {
			r := newRun()
			fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			ev := chanFollow(fctx, r.events)
			req := r.request(nil)
			delete(req, "control_url")
			req["data_url"] = ""
			rep := postJSON(stream("start"), req)
			Expect(rep.status).To(Equal(200), "start: %s", rep.body)
			Eventually(func() int { return len(chanOfType(chanEvents(ev), "heartbeat")) }).
				WithTimeout(cfg.reaction).WithPolling(20*time.Millisecond).Should(BeNumerically(">=", 1), "no heartbeat within %v of the start", cfg.reaction)
			hb := chanOfType(chanEvents(ev), "heartbeat")[0]
			Expect(hb.event["urls"]).To(Equal(map[string]any{
				"subscribe": req["subscribe_url"], "publish": req["publish_url"], "control": "",
				"events": req["events_url"], "data": ""}), "heartbeat urls")
			Expect(hb.event["dimensions"]).To(Equal(map[string]any{"width": json.Number("512"), "height": json.Number("512")}), "heartbeat dimensions")
		})

		It("keeps sending heartbeats every 10 s (long)", harness.Req("PROC-060", harness.Must, harness.Channels), func(ctx SpecContext) {
			if !cfg.long {
				Skip("takes 45 s: runs with TRICKLE_LONG=1")
			}
			r := newRun()
			fctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			ev := chanFollow(fctx, r.events)
			r.start(nil)
			Eventually(func() int { return len(chanOfType(chanEvents(ev), "heartbeat")) }).
				WithTimeout(41*time.Second + cfg.reaction).WithPolling(50 * time.Millisecond).Should(BeNumerically(">=", 5))
			hbs := chanOfType(chanEvents(ev), "heartbeat")
			for i := 1; i < len(hbs); i++ {
				d := chanPostArrival(r.events, hbs[i].seq).Sub(chanPostArrival(r.events, hbs[i-1].seq))
				Expect(d).To(BeNumerically("~", 10*time.Second, time.Second), "interval before heartbeat %d", i)
			}
		})
	})

	It("sends receive_first_ingest_segment and send_first_processed_segment once each, after the first input and output", harness.Req("PROC-061", harness.Must, harness.Channels), func(ctx SpecContext) {
		_, segs := fixture("h264-aac-320x240")
		r := newRun()
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		ev := chanFollow(fctx, r.events)
		r.start(map[string]any{"width": 320, "height": 240})
		time.Sleep(time.Second) // no input yet: neither event may come
		early := chanTypes(chanEvents(ev))
		Expect(early).NotTo(ContainElement("receive_first_ingest_segment"), "sent before any input was published")
		Expect(early).NotTo(ContainElement("send_first_processed_segment"), "sent before any input was published")
		Expect(r.chanPublish(fctx, segs, 200*time.Millisecond, true, nil)).To(Succeed())
		waitHealth("IDLE", 15*time.Second)
		ev.wait(time.Second)
		cancel()
		ev.wait(5 * time.Second)

		evs := chanEvents(ev)
		in, out := chanOfType(evs, "receive_first_ingest_segment"), chanOfType(evs, "send_first_processed_segment")
		Expect(in).To(HaveLen(1), "receive_first_ingest_segment events; all: %v", chanTypes(evs))
		Expect(out).To(HaveLen(1), "send_first_processed_segment events; all: %v", chanTypes(evs))
		chanExpectSimpleEvent(in[0], "receive_first_ingest_segment")
		chanExpectSimpleEvent(out[0], "send_first_processed_segment")

		var firstIn, firstOut time.Time
		for _, q := range chanRequests(r.in, "GET") {
			if q.Status == 200 && !q.FirstByteOut.IsZero() && (firstIn.IsZero() || q.FirstByteOut.Before(firstIn)) {
				firstIn = q.FirstByteOut
			}
		}
		for _, q := range chanRequests(r.out, "POST") {
			if !q.FirstByteIn.IsZero() && (firstOut.IsZero() || q.FirstByteIn.Before(firstOut)) {
				firstOut = q.FirstByteIn
			}
		}
		Expect(firstIn.IsZero() || firstOut.IsZero()).To(BeFalse(), "the processor read no input or sent no output")
		Expect(chanPostArrival(r.events, in[0].seq)).To(BeTemporally(">=", firstIn), "receive_first_ingest_segment arrived before any input byte was served")
		// The output and the event travel on two connections, which can
		// swap bytes sent a moment apart: 20 ms of slack for that.
		Expect(chanPostArrival(r.events, out[0].seq)).To(BeTemporally(">=", firstOut.Add(-20*time.Millisecond)), "send_first_processed_segment arrived before any output byte")
	})

	It("emits params_updated with the validated body after a successful /stream/params", harness.Req("PROC-062", harness.Must, harness.Channels), func(ctx SpecContext) {
		r := newRun()
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		ev := chanFollow(fctx, r.events)
		r.start(nil)
		body := map[string]any{"prompt": "a cat", "max_framerate": 15, "strength": 0.5}
		rep := postJSON(stream("params"), body)
		Expect(rep.status).To(Equal(200), "params: %s", rep.body)
		Eventually(func() []chanEvent { return chanOfType(chanEvents(ev), "params_updated") }).
			WithTimeout(cfg.reaction).WithPolling(20 * time.Millisecond).ShouldNot(BeEmpty())
		e := chanOfType(chanEvents(ev), "params_updated")[0]
		Expect(e.queue).To(Equal("ai_stream_events"))
		chanExpectTimestamp(e.event["timestamp"], "params_updated")
		Expect(e.event["params"]).To(Equal(map[string]any{"prompt": "a cat", "max_framerate": json.Number("15"), "strength": json.Number("0.5")}),
			"params_updated params: %s", e.raw)
	})

	It("emits exactly one params_updated per successful /stream/params", harness.Req("PROC-063", harness.Should, harness.Channels), func(ctx SpecContext) {
		r := newRun()
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		ev := chanFollow(fctx, r.events)
		r.start(nil)
		for i, prompt := range []string{"one", "two"} {
			Expect(postJSON(stream("params"), map[string]any{"prompt": prompt}).status).To(Equal(200))
			time.Sleep(cfg.reaction)
			got := chanOfType(chanEvents(ev), "params_updated")
			Expect(got).To(HaveLen(i+1), "params_updated events after %d updates", i+1)
			Expect(got[i].event["params"]).To(Equal(map[string]any{"prompt": prompt}))
		}
	})

	It("emits stream_stopped on a stop, before the events channel is closed", harness.Req("PROC-064", harness.Must, harness.Channels), func(ctx SpecContext) {
		_, segs := fixture("h264-aac-320x240")
		r := newRun()
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		ev := chanFollow(fctx, r.events)
		r.start(map[string]any{"width": 320, "height": 240})
		Expect(r.chanPublish(fctx, segs[:3], 300*time.Millisecond, false, nil)).To(Succeed())
		rep := call("POST", stream("stop"), nil, "")
		Expect(rep.status).To(Equal(200), "stop: %s", rep.body)
		waitHealth("IDLE", 15*time.Second)
		ended, ok := ev.wait(cfg.reaction)
		cancel()
		ev.wait(5 * time.Second)
		evs := chanEvents(ev)
		stopped := chanOfType(evs, "stream_stopped")
		Expect(stopped).To(HaveLen(1), "stream_stopped events; all: %v", chanTypes(evs))
		chanExpectSimpleEvent(stopped[0], "stream_stopped")
		if ok && ended != nil && !errors.Is(ended, trickle.ErrStreamClosed) {
			Fail(fmt.Sprintf("reading the events channel failed: %v", ended))
		}
	})

	Context("after the end of a stream", func() {
		It("publishes nothing once the input has ended, not even on a later stop", harness.Req("PROC-065", harness.Must, harness.Channels), func(ctx SpecContext) {
			_, segs := fixture("h264-aac-320x240")
			r := newRun()
			fctx, cancel := context.WithTimeout(ctx, 40*time.Second)
			defer cancel()
			ev := chanFollow(fctx, r.events)
			r.start(map[string]any{"width": 320, "height": 240})
			Expect(r.chanPublish(fctx, segs, 200*time.Millisecond, true, nil)).To(Succeed())
			waitHealth("IDLE", 15*time.Second)
			ended := time.Now()
			Expect(call("POST", stream("stop"), nil, "").status).To(Equal(200), "the first stop after the input ended (PROC-033)")
			time.Sleep(11 * time.Second) // a heartbeat period
			for _, q := range chanRequests(r.events, "POST") {
				Expect(q.BytesIn > 0 && q.FirstByteIn.After(ended)).To(BeFalse(),
					"an event (seq %d) was published %v after the stream had ended; events read: %v", q.Seq, q.FirstByteIn.Sub(ended), chanTypes(chanEvents(ev)))
			}
		})

		It("publishes nothing after the stream_stopped of a stop", harness.Req("PROC-065", harness.Must, harness.Channels), func(ctx SpecContext) {
			_, segs := fixture("h264-aac-320x240")
			r := newRun()
			fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			ev := chanFollow(fctx, r.events)
			r.start(map[string]any{"width": 320, "height": 240})
			Expect(r.chanPublish(fctx, segs[:3], 300*time.Millisecond, false, nil)).To(Succeed())
			Expect(call("POST", stream("stop"), nil, "").status).To(Equal(200))
			waitHealth("IDLE", 15*time.Second)
			ev.wait(2 * time.Second)
			cancel()
			ev.wait(5 * time.Second)
			evs := chanEvents(ev)
			Expect(evs).NotTo(BeEmpty())
			Expect(evs[len(evs)-1].typ).To(Equal("stream_stopped"), "the last event; all: %v", chanTypes(evs))
		})
	})

	It("publishes a handler's events as given, on the queue it names or custom_monitoring_event", harness.Req("PROC-066", harness.Must, harness.Channels), func(ctx SpecContext) {
		_, segs := fixture("h264-aac-320x240")
		var sentA, sentB atomic.Bool
		chanOnFrame(5, func() {
			sentA.Store(inprocProc.SendEvent(map[string]any{"type": "my_event", "n": 1, "nested": map[string]any{"s": "<&>"}}, ""))
			sentB.Store(inprocProc.SendEvent(map[string]any{"kind": "detection", "labels": []any{"cat", "dog"}}, "my_queue"))
		})
		r := newRun()
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		ev := chanFollow(fctx, r.events)
		r.start(map[string]any{"width": 320, "height": 240})
		Expect(r.chanPublish(fctx, segs[:2], 300*time.Millisecond, false, nil)).To(Succeed())
		find := func(queue string) []chanEvent {
			var out []chanEvent
			for _, e := range chanEvents(ev) {
				if e.queue == queue {
					out = append(out, e)
				}
			}
			return out
		}
		Eventually(func() int { return len(find("custom_monitoring_event")) + len(find("my_queue")) }).
			WithTimeout(cfg.reaction + 2*time.Second).WithPolling(20 * time.Millisecond).Should(Equal(2))
		Expect(sentA.Load() && sentB.Load()).To(BeTrue(), "SendEvent refused an event during the stream")
		a, b := find("custom_monitoring_event"), find("my_queue")
		Expect(a).To(HaveLen(1))
		Expect(b).To(HaveLen(1))
		Expect(a[0].event).To(Equal(map[string]any{"type": "my_event", "n": json.Number("1"), "nested": map[string]any{"s": "<&>"}}), "%s", a[0].raw)
		Expect(b[0].event).To(Equal(map[string]any{"kind": "detection", "labels": []any{"cat", "dog"}}), "%s", b[0].raw)
	})

	It("goes on after a failed events POST: the stream, its output and later events continue", harness.Req("PROC-067", harness.Should, harness.Faults), func(ctx SpecContext) {
		_, segs := fixture("h264-aac-320x240")
		r := newRun()
		DeferCleanup(suite.ClearFaults)
		// The first events POST carrying the first heartbeat fails.
		suite.AddFault(trickleserver.Fault{Name: "events POST 500", Method: "POST", Channel: r.events, Nth: 1, Times: 1, Status: 500})
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		ev := chanFollow(fctx, r.events)
		hctx, hcancel := context.WithCancel(fctx)
		seen := chanHealthWatch(hctx)
		r.start(map[string]any{"width": 320, "height": 240})
		Eventually(func() bool {
			for _, q := range chanRequests(r.events, "POST") {
				if q.Fault != "" {
					return true
				}
			}
			return false
		}).WithTimeout(cfg.reaction).WithPolling(20*time.Millisecond).Should(BeTrue(), "the processor made no events POST")
		var faulted time.Time
		for _, q := range chanRequests(r.events, "POST") {
			if q.Fault != "" {
				faulted = q.Start
			}
		}
		Expect(r.chanPublish(fctx, segs, 300*time.Millisecond, false, nil)).To(Succeed())
		Eventually(func() []string { return chanTypes(chanEvents(ev)) }).WithTimeout(cfg.reaction+time.Second).
			Should(ContainElement("send_first_processed_segment"), "events after the failed POST")
		Expect(health()).To(Equal("OK"))
		hcancel()
		Expect(seen()).NotTo(ContainElement("ERROR"), "/health during the stream")
		outAfter := 0
		for _, q := range chanRequests(r.out, "POST") {
			if q.BytesIn > 0 && q.FirstByteIn.After(faulted) {
				outAfter++
			}
		}
		Expect(outAfter).To(BeNumerically(">", 0), "no output after the failed events POST")
	})
})
