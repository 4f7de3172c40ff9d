package processor

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
	// A stream whose input ended may still be finishing (its output closed
	// a moment before it lets go): wait for the processor to be free.
	Eventually(health).WithTimeout(20*time.Second).WithPolling(20*time.Millisecond).ShouldNot(Equal("OK"),
		"the processor is still busy with an earlier stream")
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

// publishNow is publish, blocking.
func (r *run) publishNow(ctx context.Context, segs []fixtures.Segment, period time.Duration, end bool) error {
	b, err := segBytes(segs)
	if err != nil {
		return err
	}
	return r.feed(ctx, b, feedOpts{pause: true, period: period, lastWait: true, end: end})
}

// segBytes reads fixture segments.
func segBytes(segs []fixtures.Segment) ([][]byte, error) {
	out := make([][]byte, len(segs))
	for i, s := range segs {
		b, err := s.Bytes()
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// feedOpts says how run.feed sends the input.
type feedOpts struct {
	pause    bool          // first wait 300 ms, for the processor's first GET (at seq -2) to land
	period   time.Duration // the wait after each segment
	lastWait bool          // wait period after the last segment too
	// before runs ahead of segment i's POST; an error stops the feed.
	before func(i int) error
	// write writes segment i into its POST (nil: all of it at once); an
	// error stops the feed.
	write func(i int, w io.Writer, seg []byte) error
	after func(i int) // once segment i is sent
	end   bool        // close the input channel afterwards, even when the feed fails
	// endErr, with end: close the input only once every segment is sent,
	// and return how that went.
	endErr bool
}

// feed sends segs to the run's input channel, each as one segment, as o
// says. It blocks.
func (r *run) feed(ctx context.Context, segs [][]byte, o feedOpts) error {
	if o.pause {
		select {
		case <-time.After(300 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	pub, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: cfg.suiteURL + r.in, Logger: quiet})
	if err != nil {
		return err
	}
	if o.end && !o.endErr {
		defer pub.Close(context.WithoutCancel(ctx))
	}
	for i, s := range segs {
		if o.before != nil {
			if err := o.before(i); err != nil {
				return err
			}
		}
		w, err := pub.Next(ctx)
		if err != nil {
			return fmt.Errorf("input segment %d: %w", i, err)
		}
		if o.write != nil {
			if err := o.write(i, w, s); err != nil {
				return err
			}
		} else if _, err := w.Write(s); err != nil {
			return fmt.Errorf("input segment %d: %w", i, err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("input segment %d: %w", i, err)
		}
		if o.after != nil {
			o.after(i)
		}
		if o.period > 0 && (i < len(segs)-1 || o.lastWait) {
			select {
			case <-time.After(o.period):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if o.end && o.endErr {
		return pub.Close(ctx)
	}
	return nil
}

// spreadWrites is a feedOpts.write that writes each segment in n equal
// slices spread over its duration (durs, in seconds), so that frames arrive
// spread over the segment instead of at once.
func spreadWrites(ctx context.Context, durs []float64, n int) func(i int, w io.Writer, seg []byte) error {
	var next time.Time
	return func(i int, w io.Writer, b []byte) error {
		if next.IsZero() {
			next = time.Now()
		}
		step := time.Duration(durs[i] * float64(time.Second) / float64(n))
		for j := range n {
			if _, err := w.Write(b[len(b)*j/n : len(b)*(j+1)/n]); err != nil {
				return fmt.Errorf("input segment %d: %w", i, err)
			}
			next = next.Add(step)
			select {
			case <-time.After(time.Until(next)):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
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
	raw := r.readRaw(ctx, 0, func(i int, s mediaSeg) error {
		o.segStart = append(o.segStart, s.begun)
		o.segments++
		d := &mediaDecoded{}
		if err := mediaDecodeInto(ctx, d, s.data, i, false); err != nil {
			return fmt.Errorf("output segment %d does not decode: %w", i, err)
		}
		o.frames = append(o.frames, d.frames...)
		o.audio += len(d.audio)
		return nil
	})
	o.ended = raw.ended
	return o
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
	f := chanFollow(ctx, r.events)
	go func() {
		<-f.done
		var evs []event
		for _, s := range f.snapshot() {
			var e event
			if json.Unmarshal(s.body, &e) == nil {
				e.at = s.at
				evs = append(evs, e)
			} else {
				evs = append(evs, event{QueueType: "<invalid JSON: " + string(s.body) + ">", at: s.at})
			}
		}
		done <- evs
	}()
	return done
}

// sendControl publishes one control message as its own segment.
func (r *run) sendControl(ctx context.Context, msg any) {
	GinkgoHelper()
	b, err := json.Marshal(msg)
	Expect(err).NotTo(HaveOccurred())
	r.chanSendRaw(ctx, b)
}

// waitHealth polls /health until it says want, within d.
func waitHealth(want string, d time.Duration) {
	GinkgoHelper()
	Eventually(health).WithTimeout(d).WithPolling(50 * time.Millisecond).Should(Equal(want))
}
