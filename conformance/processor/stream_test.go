package processor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/gotrickle/gotrickle/conformance/harness"
	"github.com/gotrickle/gotrickle/fixtures"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// run is one stream through the processor: fresh channels on the suite
// server for input, output, control, events and data. It stops the stream
// (if one runs) and waits for the processor to be idle when the spec ends.
type run struct {
	id                             string
	in, out, control, events, data string
	mu                             sync.Mutex
	controlPub                     *trickle.Publisher
}

func newRun() *run {
	GinkgoHelper()
	r := &run{id: randomName("conf")}
	r.in, r.out, r.control, r.events, r.data = r.id+"-in", r.id+"-out", r.id+"-control", r.id+"-events", r.id+"-data"
	for _, ch := range []string{r.in, r.out, r.control, r.events, r.data} {
		if err := suite.Trickle().CreateChannel(ch, ""); err != nil {
			harness.HarnessError(fmt.Errorf("creating %s on the suite server: %w", ch, err))
		}
	}
	DeferCleanup(func() {
		call("POST", stream("stop"), nil, "")
		deadline := time.Now().Add(20 * time.Second)
		for health() == "OK" && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if r.controlPub != nil {
			r.controlPub.Close(context.Background())
		}
		for _, ch := range []string{r.in, r.out, r.control, r.events, r.data} {
			suite.Trickle().CloseChannel(ch)
		}
	})
	return r
}

// url is a channel's URL as the processor reaches it.
func (r *run) url(ch string) string { return cfg.suiteURL + ch }

// request is a start request naming every channel of the run.
func (r *run) request(params map[string]any) map[string]any {
	req := map[string]any{
		"subscribe_url": r.url(r.in), "publish_url": r.url(r.out), "control_url": r.url(r.control),
		"events_url": r.url(r.events), "data_url": r.url(r.data), "gateway_request_id": r.id,
	}
	if params != nil {
		req["params"] = params
	}
	return req
}

// start starts the stream and expects 200.
func (r *run) start(params map[string]any) {
	GinkgoHelper()
	rep := postJSON(stream("start"), r.request(params))
	Expect(rep.err).NotTo(HaveOccurred())
	Expect(rep.status).To(Equal(200), "start: %s", rep.body)
}

// fixture returns a named fixture and its 1 s segments.
func fixture(name string) (fixtures.Fixture, []fixtures.Segment) {
	GinkgoHelper()
	fx, err := manifest.Fixture(name)
	if err != nil {
		harness.HarnessError(err)
	}
	segs, err := fx.Segments(time.Second)
	if err != nil {
		harness.HarnessError(err)
	}
	return fx, segs
}

// publish sends segments to the input channel, one every period, after a
// pause that lets the processor's first GET (at seq -2) land. With end, it
// closes the input channel afterwards: the end of the input stream.
func (r *run) publish(ctx context.Context, segs []fixtures.Segment, period time.Duration, end bool) <-chan error {
	done := make(chan error, 1)
	go func() {
		defer GinkgoRecover()
		done <- r.publishNow(ctx, segs, period, end)
	}()
	return done
}

func (r *run) publishNow(ctx context.Context, segs []fixtures.Segment, period time.Duration, end bool) error {
	select {
	case <-time.After(300 * time.Millisecond):
	case <-ctx.Done():
		return ctx.Err()
	}
	pub, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: cfg.suiteURL + r.in, Logger: quiet})
	if err != nil {
		return err
	}
	defer func() {
		if end {
			pub.Close(context.WithoutCancel(ctx))
		}
	}()
	for i, s := range segs {
		b, err := s.Bytes()
		if err != nil {
			return err
		}
		w, err := pub.Next(ctx)
		if err != nil {
			return fmt.Errorf("segment %d: %w", i, err)
		}
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("segment %d: %w", i, err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("segment %d: %w", i, err)
		}
		select {
		case <-time.After(period):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// outFrame is one decoded output video frame.
type outFrame struct {
	pts     int64 // 1/90000
	at      time.Time
	w, h    int
	mean    [3]float64 // mean R, G, B
	segment int
}

// output is what the suite read from the output channel.
type output struct {
	frames   []outFrame
	audio    int
	segments int
	segStart []time.Time // when each segment's first byte arrived
	ended    error       // why reading stopped: trickle.ErrStreamClosed is the end of the stream
}

// readOutput decodes the output channel from seq 0 until the stream ends,
// ctx ends, or a segment fails to decode.
func (r *run) readOutput(ctx context.Context) <-chan output {
	done := make(chan output, 1)
	go func() {
		defer GinkgoRecover()
		done <- r.readOutputNow(ctx)
	}()
	return done
}

func (r *run) readOutputNow(ctx context.Context) (o output) {
	sub, err := trickle.NewSubscriber(trickle.SubscriberConfig{URL: cfg.suiteURL + r.out, Start: trickle.StartAt(0), Logger: quiet})
	if err != nil {
		o.ended = err
		return o
	}
	defer sub.Close()
	for {
		seg, err := sub.Next(ctx)
		if err != nil {
			o.ended = err
			return o
		}
		o.segStart = append(o.segStart, time.Now())
		data, err := io.ReadAll(seg)
		seg.Close()
		if err != nil {
			o.ended = err
			return o
		}
		idx := o.segments
		o.segments++
		frames, audio, err := decodeFull(ctx, data, idx)
		if err != nil {
			o.ended = fmt.Errorf("output segment %d does not decode: %w", idx, err)
			return o
		}
		o.frames = append(o.frames, frames...)
		o.audio += audio
	}
}

// event is one message read from the events channel.
type event struct {
	Event     map[string]any `json:"event"`
	QueueType string         `json:"queue_event_type"`
	at        time.Time
}

// readEvents collects events until ctx ends or the channel ends.
func (r *run) readEvents(ctx context.Context) <-chan []event {
	done := make(chan []event, 1)
	go func() {
		defer GinkgoRecover()
		var evs []event
		sub, err := trickle.NewSubscriber(trickle.SubscriberConfig{URL: cfg.suiteURL + r.events, Start: trickle.StartAt(0), Logger: quiet})
		if err != nil {
			done <- evs
			return
		}
		defer sub.Close()
		for {
			seg, err := sub.Next(ctx)
			if err != nil {
				done <- evs
				return
			}
			b, _ := io.ReadAll(io.LimitReader(seg, 1<<20))
			seg.Close()
			var e event
			if json.Unmarshal(b, &e) == nil {
				e.at = time.Now()
				evs = append(evs, e)
			} else {
				evs = append(evs, event{QueueType: "<invalid JSON: " + string(b) + ">", at: time.Now()})
			}
		}
	}()
	return done
}

// sendControl publishes one control message as its own segment.
func (r *run) sendControl(ctx context.Context, msg any) {
	GinkgoHelper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.controlPub == nil {
		p, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: cfg.suiteURL + r.control, ContentType: "application/json", Logger: quiet})
		Expect(err).NotTo(HaveOccurred())
		r.controlPub = p
	}
	b, err := json.Marshal(msg)
	Expect(err).NotTo(HaveOccurred())
	_, err = r.controlPub.Write(ctx, bytesReader(b))
	Expect(err).NotTo(HaveOccurred())
}

// waitHealth polls /health until it says want, within d.
func waitHealth(want string, d time.Duration) {
	GinkgoHelper()
	Eventually(health).WithTimeout(d).WithPolling(50 * time.Millisecond).Should(Equal(want))
}
