package processor

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// recordingObserver implements Observer, EventObserver and OutputObserver
// and keeps what it was given (copies: the pipeline owns the originals).
type recordingObserver struct {
	mu       sync.Mutex
	handlers []string
	events   []observedEvent
	frames   []observedFrame
}

type observedEvent struct {
	typ, queue string
	event      map[string]any
}

type observedFrame struct {
	w, h    int
	first   byte
	pts     int64
	valid   error
	latency time.Duration
}

func (o *recordingObserver) ObserveHandler(kind string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.handlers = append(o.handlers, kind)
}

func (o *recordingObserver) ObserveEvent(ev map[string]any, queue string) {
	typ, _ := ev["type"].(string)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, observedEvent{typ: typ, queue: queue, event: maps.Clone(ev)})
}

func (o *recordingObserver) ObserveOutputVideo(v *frame.Video, latency time.Duration) {
	f := observedFrame{w: v.Width, h: v.Height, pts: v.PTS, valid: v.Validate(), latency: latency}
	if f.valid == nil {
		f.first = v.Pix[0]
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.frames = append(o.frames, f)
}

func (o *recordingObserver) event(typ string) (observedEvent, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, e := range o.events {
		if e.typ == typ {
			return e, true
		}
	}
	return observedEvent{}, false
}

func (o *recordingObserver) frameCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.frames)
}

// handlerOnly implements Observer alone.
type handlerOnly struct{ n int }

func (h *handlerOnly) ObserveHandler(string, time.Duration) { h.n++ }

func TestObserversFansOutToWhatEachImplements(t *testing.T) {
	if Observers() != nil || Observers(nil, nil) != nil {
		t.Error("Observers of nothing is not nil")
	}
	one := &handlerOnly{}
	if got := Observers(nil, one); got != one {
		t.Errorf("Observers of one observer is %T, want the observer itself", got)
	}
	rec1, rec2, plain := &recordingObserver{}, &recordingObserver{}, &handlerOnly{}
	o := Observers(rec1, nil, plain, rec2)
	o.ObserveHandler("video", time.Millisecond)
	o.(EventObserver).ObserveEvent(map[string]any{"type": "x"}, "q")
	v, err := frame.NewVideo(4, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Release()
	o.(OutputObserver).ObserveOutputVideo(v, time.Millisecond)
	for i, r := range []*recordingObserver{rec1, rec2} {
		if len(r.handlers) != 1 || len(r.events) != 1 || r.events[0].queue != "q" || len(r.frames) != 1 {
			t.Errorf("observer %d got handlers %v, events %v, frames %v; want one of each", i, r.handlers, r.events, r.frames)
		}
	}
	if plain.n != 1 {
		t.Errorf("the handler-only observer got %d calls, want 1", plain.n)
	}
}

func TestObserverSeesEveryEventAndOutputFrame(t *testing.T) {
	rec := &recordingObserver{}
	pl := newPipeline(t, Funcs{Video: func(_ context.Context, v *frame.Video) (*frame.Video, error) {
		return nil, nil
	}}, Config{})
	pl.p.SetObserver(rec)
	pl.load()
	pl.start(pl.request()) // no events URL: the observer still sees every event
	pl.feed("v=5 pts=0", "v=5 pts=5")
	pl.outVideo(10)
	eventually(t, func() bool { return rec.frameCount() >= 10 })
	if err := pl.updateParams(Params{"prompt": "cat"}); err != nil {
		t.Fatal(err)
	}
	if !pl.p.SendEvent(map[string]any{"type": "mine"}, "") {
		t.Log("SendEvent: not queued (no events channel), as expected")
	}
	pl.stop()

	rec.mu.Lock()
	frames := append([]observedFrame(nil), rec.frames...)
	handlers := len(rec.handlers)
	rec.mu.Unlock()
	if len(frames) != 10 {
		t.Errorf("%d output frames observed, want 10", len(frames))
	}
	for i, f := range frames {
		if f.valid != nil || f.w != 16 || f.h != 16 || f.first != fakeFill || f.pts != int64(i) {
			t.Errorf("frame %d: %dx%d first byte %d pts %d (%v); want a valid 16x16 frame of %d with pts %d",
				i, f.w, f.h, f.first, f.pts, f.valid, fakeFill, i)
		}
		if f.latency <= 0 || f.latency > waitLimit {
			t.Errorf("frame %d: latency %v, want a positive duration", i, f.latency)
		}
	}
	if handlers < 10 {
		t.Errorf("%d handler timings, want at least 10", handlers)
	}
	for typ, queue := range map[string]string{
		"receive_first_ingest_segment": "ai_stream_events",
		"send_first_processed_segment": "ai_stream_events",
		"params_updated":               "ai_stream_events",
		"heartbeat":                    "stream_heartbeat",
		"mine":                         "custom_monitoring_event",
		"stream_stopped":               "ai_stream_events",
	} {
		ev, ok := rec.event(typ)
		if !ok {
			t.Errorf("no %s event observed", typ)
			continue
		}
		if ev.queue != queue {
			t.Errorf("%s observed on queue %q, want %q", typ, ev.queue, queue)
		}
	}
	if ev, _ := rec.event("params_updated"); ev.event != nil {
		if p, _ := ev.event["params"].(Params); p["prompt"] != "cat" {
			t.Errorf("params_updated carries %v, want prompt=cat", ev.event["params"])
		}
	}
}

func TestParamsAreTheStartParamsWithSuccessfulUpdatesMerged(t *testing.T) {
	errBad := errors.New("bad")
	pl := newPipeline(t, Funcs{Params: func(_ context.Context, p Params) error {
		if p["fail"] == true {
			return errBad
		}
		return nil
	}}, Config{})
	pl.load()
	if got := pl.p.Params(); got != nil {
		t.Errorf("params without a stream: %v, want nil", got)
	}
	req := pl.request()
	req.Params = Params{"prompt": "dog", "strength": 0.5, "load_model": false}
	pl.start(req)
	if got := pl.p.Params(); !maps.Equal(got, Params{"prompt": "dog", "strength": 0.5}) {
		t.Errorf("params after the start: %v", got)
	}
	if err := pl.updateParams(Params{"prompt": "cat", "seed": 7}); err != nil {
		t.Fatal(err)
	}
	if err := pl.updateParams(Params{"prompt": "bird", "fail": true}); !errors.Is(err, errBad) {
		t.Fatalf("UpdateParams: %v, want the updater's error", err)
	}
	got := pl.p.Params()
	if !maps.Equal(got, Params{"prompt": "cat", "strength": 0.5, "seed": 7}) {
		t.Errorf("params after the updates: %v, want prompt=cat strength=0.5 seed=7", got)
	}
	got["prompt"] = "changed by the caller"
	if pl.p.Params()["prompt"] != "cat" {
		t.Error("Params returned the processor's own map")
	}
	pl.stop()
	if got := pl.p.Params(); got != nil {
		t.Errorf("params after the stop: %v, want nil", got)
	}
}
