package processor_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/fixtures"
	"github.com/gotrickle/gotrickle/pkg/effect"
	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/media"
	"github.com/gotrickle/gotrickle/pkg/processor"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// End to end with FFmpeg: real fixture segments go into an in-process
// trickle server at live pace, the processor subscribes, runs a handler,
// encodes and publishes; the test decodes what it published.

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type e2e struct {
	t   *testing.T
	srv *trickle.Server
	hs  *httptest.Server
}

func newE2E(t *testing.T) *e2e {
	t.Helper()
	srv := trickle.NewServer(trickle.ServerConfig{Autocreate: true, Logger: quiet})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); hs.Close() })
	for _, ch := range []string{"in", "out"} {
		if err := srv.CreateChannel(ch, trickle.ContentTypeMPEGTS); err != nil {
			t.Fatal(err)
		}
	}
	return &e2e{t: t, srv: srv, hs: hs}
}

func (e *e2e) url(ch string) string { return e.hs.URL + "/" + ch }

// publish sends the fixture's segments to "in", one per period, then closes
// the channel (the end of the input stream).
func (e *e2e) publish(ctx context.Context, segs []fixtures.Segment, period time.Duration) error {
	return e.publishUntil(ctx, segs, period, nil)
}

// publishUntil is publish that, before ending the stream, waits until
// read reports that the reader has taken everything (or ctx ends): a
// reader slower than the publisher (a race-instrumented build) would
// otherwise lose the segments it had not fetched when the stream ended.
func (e *e2e) publishUntil(ctx context.Context, segs []fixtures.Segment, period time.Duration, read func() bool) error {
	pub, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: e.url("in"), Logger: quiet})
	if err != nil {
		return err
	}
	defer pub.Close(context.Background())
	if read != nil {
		defer func() {
			for !read() && ctx.Err() == nil {
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	for _, s := range segs {
		b, err := s.Bytes()
		if err != nil {
			return err
		}
		w, err := pub.Next(ctx)
		if err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(period):
		}
	}
	return nil
}

// fixtureSegments is the 320×240 fixture in 1 s trickle segments, and its
// video stream's facts.
func fixtureSegments(t *testing.T) ([]fixtures.Segment, fixtures.Stream) {
	t.Helper()
	m, err := fixtures.Load()
	if err != nil {
		t.Fatal(err)
	}
	fx, err := m.Fixture("h264-aac-320x240")
	if err != nil {
		t.Fatal(err)
	}
	segs, err := fx.Segments(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	vs, _ := fx.Video()
	return segs, vs
}

type decoded struct {
	lumaSum      float64 // of the video frames' mean lumas
	video, audio int
	pts          []int64
	w, h         int
	ended        error
}

// readOutput decodes "out" from seq 0 until the stream ends.
func (e *e2e) readOutput(ctx context.Context) decoded {
	var d decoded
	sub, err := trickle.NewSubscriber(trickle.SubscriberConfig{URL: e.url("out"), Start: trickle.StartAt(0), Logger: quiet})
	if err != nil {
		d.ended = err
		return d
	}
	defer sub.Close()
	dec, err := media.NewDecoder(media.DecoderConfig{Width: 320, Height: 240, MaxFramerate: media.NoFramerateCap})
	if err != nil {
		d.ended = err
		return d
	}
	defer dec.Close()
	for {
		seg, err := sub.Next(ctx)
		if err != nil {
			d.ended = err
			return d
		}
		_, err = dec.DecodeSegment(ctx, seg, media.Handlers{
			Video: func(v *frame.Video) error {
				d.video++
				d.lumaSum += meanLuma(v)
				d.pts = append(d.pts, v.PTS)
				d.w, d.h = v.Width, v.Height
				v.Release()
				return nil
			},
			Audio: func(a *frame.Audio) error { d.audio++; a.Release(); return nil },
		})
		seg.Close()
		if err != nil {
			d.ended = err
			return d
		}
	}
}

func TestAPassthroughStreamComesOutWholeAndEndsOnTheWire(t *testing.T) {
	segs, vs := fixtureSegments(t)
	e := newE2E(t)
	p, err := processor.New(processor.Funcs{}, processor.Config{Codecs: media.Codecs{}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.LoadModel(ctx); err != nil {
		t.Fatal(err)
	}
	if h := p.Health(); h != processor.StateIdle {
		t.Fatalf("health after loading: %s, want IDLE", h)
	}
	err = p.Start(ctx, processor.StartRequest{SubscribeURL: e.url("in"), PublishURL: e.url("out"),
		GatewayRequestID: "e2e", Params: processor.Params{"width": 320, "height": 240, "max_framerate": 30}})
	if err != nil {
		t.Fatal(err)
	}
	if h := p.Health(); h != processor.StateOK {
		t.Fatalf("health while streaming: %s, want OK", h)
	}
	out := make(chan decoded, 1)
	go func() { out <- e.readOutput(ctx) }()
	// The processor reads from -2; give its first GET a moment to land
	// before the first segment starts, as a live stream would.
	time.Sleep(200 * time.Millisecond)
	if err := e.publish(ctx, segs, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	got := <-out
	if !errors.Is(got.ended, trickle.ErrStreamClosed) {
		t.Fatalf("the output ended with %v, want the end of the stream on the wire", got.ended)
	}
	if got.video != vs.Frames {
		t.Errorf("%d video frames came out, the input has %d", got.video, vs.Frames)
	}
	if got.audio == 0 {
		t.Error("no audio came out; the input has audio")
	}
	if got.w != 320 || got.h != 240 {
		t.Errorf("output is %dx%d, want 320x240", got.w, got.h)
	}
	// Output keeps the input's timestamps (both in 1/90000).
	for i := range min(len(got.pts), len(vs.PTS)) {
		if got.pts[i] != vs.PTS[i] {
			t.Fatalf("output frame %d has PTS %d, the input's has %d", i, got.pts[i], vs.PTS[i])
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.Health() != processor.StateIdle && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if h := p.Health(); h != processor.StateIdle {
		t.Fatalf("health after the input ended: %s, want IDLE", h)
	}
	st := p.Status()
	if st.Counters == nil || st.Counters.VideoIn != uint64(vs.Frames) || st.Counters.VideoOut != uint64(vs.Frames) {
		t.Errorf("counters: %+v, want %d frames in and out", st.Counters, vs.Frames)
	}
	if err := p.Stop(ctx); err != nil {
		t.Fatalf("stop after the stream ended: %v", err)
	}
}

func meanLuma(v *frame.Video) float64 {
	var sum int
	for y := range v.Height {
		row := v.Pix[y*v.Stride:]
		for x := range v.Width {
			sum += 299*int(row[3*x]) + 587*int(row[3*x+1]) + 114*int(row[3*x+2])
		}
	}
	return float64(sum) / 1000 / float64(v.Width*v.Height)
}

// A parameter update reaches the output within a few frames: the colour
// grade's intensity goes 0 → 1 mid-stream and mean luma drops from the
// frame the update could first touch.
func TestAParamUpdateChangesTheOutputWithinAFewFrames(t *testing.T) {
	segs, _ := fixtureSegments(t)
	e := newE2E(t)
	grade := &effect.ColorGrade{}
	p, err := processor.New(grade, processor.Config{Codecs: media.Codecs{}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.LoadModel(ctx); err != nil {
		t.Fatal(err)
	}
	err = p.Start(ctx, processor.StartRequest{SubscribeURL: e.url("in"), PublishURL: e.url("out"), GatewayRequestID: "grade",
		Params: processor.Params{"width": 320, "height": 240, "max_framerate": 30, "intensity": 0.0}})
	if err != nil {
		t.Fatal(err)
	}
	lumas := make(chan []float64, 1)
	go func() {
		var l []float64
		sub, err := trickle.NewSubscriber(trickle.SubscriberConfig{URL: e.url("out"), Start: trickle.StartAt(0), Logger: quiet})
		if err != nil {
			lumas <- nil
			return
		}
		defer sub.Close()
		dec, _ := media.NewDecoder(media.DecoderConfig{Width: 320, Height: 240, MaxFramerate: media.NoFramerateCap})
		defer dec.Close()
		for {
			seg, err := sub.Next(ctx)
			if err != nil {
				lumas <- l
				return
			}
			dec.DecodeSegment(ctx, seg, media.Handlers{Video: func(v *frame.Video) error {
				l = append(l, meanLuma(v))
				v.Release()
				return nil
			}})
			seg.Close()
		}
	}()
	time.Sleep(200 * time.Millisecond)
	atc := make(chan uint64, 1)
	go func() {
		// Halfway through the input, at live pace: turn the grade up.
		time.Sleep(time.Duration(len(segs)/2) * 300 * time.Millisecond)
		at := p.Status().Counters.VideoOut
		if err := p.UpdateParams(ctx, processor.Params{"intensity": 1.0}); err != nil {
			t.Errorf("update: %v", err)
		}
		atc <- at
	}()
	if err := e.publish(ctx, segs, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	l, at := <-lumas, <-atc
	if len(l) < int(at)+10 || at == 0 {
		t.Fatalf("%d frames out, update after %d", len(l), at)
	}
	before := l[int(at)-1]
	const within = 5 // frames already queued or in the handler when the update landed
	for i := int(at) + within; i < len(l); i++ {
		if l[i] > before*0.85 {
			t.Fatalf("frame %d (update after frame %d): mean luma %.1f, before the update %.1f — not darker", i, at, l[i], before)
		}
	}
	for i := range int(at) {
		if l[i] < before*0.85 {
			t.Fatalf("frame %d, before the update, is already dark (%.1f vs %.1f)", i, l[i], before)
		}
	}
}
