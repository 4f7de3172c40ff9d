package processor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/gotrickle/gotrickle/conformance/harness"
	"github.com/gotrickle/gotrickle/fakes/trickleserver"
	"github.com/gotrickle/gotrickle/fixtures"
	"github.com/gotrickle/gotrickle/pkg/processor"
)

// chanRate is the output video rate over input presentation time [from,
// to) (90 kHz ticks): frames per second of timestamps.
func chanRate(frames []outFrame, from, to int64) float64 {
	n := 0
	for _, f := range frames {
		if f.pts >= from && f.pts < to {
			n++
		}
	}
	return float64(n) / (float64(to-from) / 90000)
}

// chanEnd is the end of the last segment, in 90 kHz ticks.
func chanEnd(segs []fixtures.Segment) int64 {
	last := segs[len(segs)-1]
	return last.FirstPTS.Ticks + last.DurationTicks
}

// chanParamsLog records what the driver's parameter updater receives; fail
// makes it fail (an error, or a panic when it says "panic").
type chanParamsLog struct {
	mu   sync.Mutex
	got  []processor.Params
	fail string
}

// chanRecordParams installs a driver whose parameter updater records its
// calls.
func chanRecordParams(fail string) *chanParamsLog {
	GinkgoHelper()
	l := &chanParamsLog{fail: fail}
	useHandler(processor.Funcs{Params: func(ctx context.Context, p processor.Params) error {
		l.mu.Lock()
		l.got = append(l.got, maps.Clone(p))
		l.mu.Unlock()
		switch l.fail {
		case "panic":
			panic("conformance: updater panics")
		case "":
			return nil
		default:
			return errors.New(l.fail)
		}
	}})
	return l
}

func (l *chanParamsLog) calls() []processor.Params {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]processor.Params(nil), l.got...)
}

// chanRateAfterControl runs 5 s of 30 fps input at a cap of 30 and, ahead
// of the second segment, calls send (which changes the cap to 10 on the
// control channel). It checks the first second kept 30 fps and the input
// from 2 s after the control message carries 10 ± 1 fps, and that /health
// said OK throughout.
func chanRateAfterControl(ctx context.Context, send func(r *run)) {
	GinkgoHelper()
	_, segs := fixture("h264-aac-320x240")
	r := newRun()
	r.start(map[string]any{"width": 320, "height": 240, "max_framerate": 30})
	octx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	out := r.readOutput(octx)
	hctx, hcancel := context.WithCancel(octx)
	defer hcancel()
	seen := chanHealthWatch(hctx)
	Expect(r.chanPublish(octx, segs, time.Second, false, func(i int) {
		if i == 1 {
			send(r)
		}
	})).To(Succeed())
	time.Sleep(500 * time.Millisecond)
	Expect(health()).To(Equal("OK"), "the stream ended")
	hcancel()
	Expect(seen()).To(Equal([]string{"OK"}), "/health during the stream")
	Expect(call("POST", stream("stop"), nil, "").status).To(Equal(200))
	o := <-out
	before := chanRate(o.frames, segs[0].FirstPTS.Ticks, segs[1].FirstPTS.Ticks)
	after := chanRate(o.frames, segs[3].FirstPTS.Ticks, chanEnd(segs))
	Expect(before).To(BeNumerically(">=", 28), "output fps of the first second, at a cap of 30 (output ended: %v)", o.ended)
	Expect(after).To(BeNumerically("~", 10, 1), "output fps of the input from 2 s after {\"max_framerate\":10} (output ended: %v)", o.ended)
}

var _ = specs.Describe("The control channel", func() {
	It("subscribes from the start with GET {control_url}/-2 and applies the message current at the start", harness.Req("PROC-052", harness.Must, harness.Channels), func(ctx SpecContext) {
		_, segs := fixture("h264-aac-320x240")
		r := newRun()
		r.sendControl(ctx, map[string]any{"max_framerate": 10})
		r.start(map[string]any{"width": 320, "height": 240})
		Eventually(func() []trickleserver.Request { return chanRequests(r.control, "GET") }).
			WithTimeout(cfg.reaction).WithPolling(20*time.Millisecond).ShouldNot(BeEmpty(), "no GET on the control channel")
		var first trickleserver.Request
		for _, q := range chanRequests(r.control, "") {
			if q.Method != "POST" {
				first = q
				break
			}
		}
		Expect(first.Method).To(Equal("GET"), "the first request on the control channel: %s %s", first.Method, first.Path)
		Expect(first.HasSeq && first.Seq == -2).To(BeTrue(), "the first control request is %s %s, not GET …/-2", first.Method, first.Path)

		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		out := r.readOutput(octx)
		Expect(r.chanPublish(octx, segs, 200*time.Millisecond, true, nil)).To(Succeed())
		o := <-out
		rate := chanRate(o.frames, segs[0].FirstPTS.Ticks, chanEnd(segs))
		Expect(rate).To(BeNumerically("~", 10, 1), "output fps with {\"max_framerate\":10} current on the control channel at the start (default cap 24; output ended: %v)", o.ended)

		// It follows the channel: the next segment is asked for.
		Eventually(func() bool {
			for _, q := range chanRequests(r.control, "GET") {
				if q.HasSeq && q.Seq == 1 {
					return true
				}
			}
			return false
		}).WithTimeout(cfg.reaction).Should(BeTrue(), "no GET for control seq 1 after seq 0")
	})

	It("applies {\"max_framerate\":10} on the control channel to the running stream", harness.Req("PROC-053", harness.Must, harness.Channels), func(ctx SpecContext) {
		chanRateAfterControl(ctx, func(r *run) { r.sendControl(ctx, map[string]any{"max_framerate": 10}) })
	})

	It("hands each control object whole and unvalidated to the parameter updater, in order", harness.Req("PROC-053", harness.Must, harness.Channels), func(ctx SpecContext) {
		log := chanRecordParams("")
		r := newRun()
		r.start(nil)
		msgs := []map[string]any{
			{"prompt": "one"},
			{"prompt": "two", "width": "wide", "max_framerate": -3, "nested": map[string]any{"a": []any{1.0, "x"}}},
			{"prompt": "three", "max_framerate": 12},
		}
		r.chanAwaitControlReader()
		for _, m := range msgs {
			r.sendControl(ctx, m)
		}
		Eventually(log.calls).WithTimeout(cfg.reaction).WithPolling(20 * time.Millisecond).Should(HaveLen(3))
		want := []processor.Params{
			{"prompt": "one"},
			{"prompt": "two", "width": "wide", "max_framerate": -3.0, "nested": map[string]any{"a": []any{1.0, "x"}}},
			{"prompt": "three", "max_framerate": 12.0},
		}
		Expect(log.calls()).To(Equal(want))
		Expect(health()).To(Equal("OK"))
	})

	It("ignores keepalives and skips messages that are not JSON objects, then applies the next valid one", harness.Req("PROC-054", harness.Must, harness.Faults), func(ctx SpecContext) {
		chanRateAfterControl(ctx, func(r *run) {
			for _, b := range []string{`{"keep":"alive"}`, `{not json`, `[1]`, ``, `null`, `"text"`} {
				r.chanSendRaw(ctx, []byte(b))
			}
			r.sendControl(ctx, map[string]any{"max_framerate": 10})
		})
	})

	It("hands neither keepalives nor bad messages to the parameter updater", harness.Req("PROC-054", harness.Must, harness.Faults), func(ctx SpecContext) {
		log := chanRecordParams("")
		r := newRun()
		r.start(nil)
		r.chanAwaitControlReader()
		for _, b := range []string{`{"keep":"alive"}`, `{not json`, `[1]`, ``, `null`, `"text"`, `{"prompt":"ok"}`} {
			r.chanSendRaw(ctx, []byte(b))
		}
		Eventually(log.calls).WithTimeout(cfg.reaction).WithPolling(20 * time.Millisecond).ShouldNot(BeEmpty())
		time.Sleep(200 * time.Millisecond)
		Expect(log.calls()).To(Equal([]processor.Params{{"prompt": "ok"}}))
		Expect(health()).To(Equal("OK"))
	})

	It("emits no params_updated for a control message", harness.Req("PROC-055", harness.Must, harness.Channels), func(ctx SpecContext) {
		r := newRun()
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		ev := chanFollow(fctx, r.events)
		r.start(nil)
		r.sendControl(ctx, map[string]any{"prompt": "quiet"})
		r.sendControl(ctx, map[string]any{"max_framerate": 20})
		time.Sleep(cfg.reaction)
		Expect(chanTypes(chanEvents(ev))).NotTo(ContainElement("params_updated"))
		// The events channel works: a /stream/params does emit one.
		Expect(postJSON(stream("params"), map[string]any{"prompt": "loud"}).status).To(Equal(200))
		Eventually(func() []string { return chanTypes(chanEvents(ev)) }).WithTimeout(cfg.reaction).Should(ContainElement("params_updated"))
	})

	It("does not set ERROR when the parameter updater fails on a control message", harness.Req("PROC-055", harness.Must, harness.Channels), func(ctx SpecContext) {
		for _, fail := range []string{"updater refuses", "panic"} {
			By(fail)
			log := chanRecordParams(fail)
			r := newRun()
			r.start(nil)
			hctx, hcancel := context.WithCancel(ctx)
			seen := chanHealthWatch(hctx)
			r.sendControl(ctx, map[string]any{"prompt": "bad"})
			Eventually(log.calls).WithTimeout(cfg.reaction).WithPolling(20 * time.Millisecond).ShouldNot(BeEmpty())
			time.Sleep(500 * time.Millisecond)
			hcancel()
			Expect(seen()).NotTo(ContainElement("ERROR"), "/health after the failed update")
			Expect(health()).To(Equal("OK"))
			Expect(call("POST", stream("stop"), nil, "").status).To(Equal(200))
			waitHealth("IDLE", 15*time.Second)
		}
	})

	It("ends the stream cleanly when a control GET is answered 404 after messages were read", harness.Req("PROC-056", harness.Must, harness.Channels), func(ctx SpecContext) {
		_, segs := fixture("h264-aac-320x240")
		r := newRun()
		DeferCleanup(suite.ClearFaults)
		r.start(map[string]any{"width": 320, "height": 240})
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		hctx, hcancel := context.WithCancel(pctx)
		defer hcancel()
		seen := chanHealthWatch(hctx)
		// The input goes on (and is never closed) while the control channel goes.
		Expect(r.chanPublish(pctx, segs[:2], 300*time.Millisecond, false, nil)).To(Succeed())
		Expect(health()).To(Equal("OK"))
		suite.AddFault(trickleserver.Fault{Name: "control gone", Method: "GET", Channel: r.control, Status: 404})
		r.sendControl(ctx, map[string]any{"keep": "alive"}) // ends the GET waiting now; the next one gets 404
		Eventually(func() bool {
			for _, q := range chanRequests(r.control, "GET") {
				if q.Status == 404 {
					return true
				}
			}
			return false
		}).WithTimeout(cfg.reaction).Should(BeTrue(), "the processor made no control GET after the fault was armed")
		pub := r.publish(pctx, segs[2:], 300*time.Millisecond, false)
		waitHealth("IDLE", 15*time.Second)
		hcancel()
		Expect(seen()).NotTo(ContainElement("ERROR"), "/health while the stream ended")
		<-pub
		suite.ClearFaults()
		r2 := newRun()
		r2.start(nil) // the processor takes the next stream
	})

	It("ends the stream cleanly when the first control GET is answered 404", harness.Req("PROC-056", harness.Must, harness.Channels), func(ctx SpecContext) {
		_, segs := fixture("h264-aac-320x240")
		r := newRun()
		DeferCleanup(suite.ClearFaults)
		suite.AddFault(trickleserver.Fault{Name: "no control channel", Method: "GET", Channel: r.control, Status: 404})
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		hctx, hcancel := context.WithCancel(pctx)
		defer hcancel()
		seen := chanHealthWatch(hctx)
		r.start(map[string]any{"width": 320, "height": 240})
		pub := r.publish(pctx, segs, 300*time.Millisecond, false) // the input goes on, never closed
		waitHealth("IDLE", 15*time.Second)
		hcancel()
		Expect(seen()).NotTo(ContainElement("ERROR"), "/health while the stream ended")
		Expect(chanRequests(r.control, "GET")).NotTo(BeEmpty())
		<-pub
		suite.ClearFaults()
		r2 := newRun()
		r2.start(nil) // the processor takes the next stream
	})

	It("reads a 100 KiB control message whole, and skips one over 1 MiB", harness.Req("PROC-057", harness.Should, harness.Channels), func(ctx SpecContext) {
		log := chanRecordParams("")
		r := newRun()
		r.start(nil)
		r.chanAwaitControlReader()
		var b strings.Builder
		for i := 0; b.Len() < 100<<10; i++ {
			fmt.Fprintf(&b, "%07d;", i)
		}
		long := b.String()
		r.sendControl(ctx, map[string]any{"prompt": long})
		r.sendControl(ctx, map[string]any{"prompt": strings.Repeat("x", 1<<20+1)})
		r.sendControl(ctx, map[string]any{"prompt": "after"})
		Eventually(func() int { return len(log.calls()) }).WithTimeout(cfg.reaction).WithPolling(20 * time.Millisecond).Should(BeNumerically(">=", 2))
		time.Sleep(200 * time.Millisecond)
		got := log.calls()
		Expect(got).To(HaveLen(2), "updater calls (a message over 1 MiB must be skipped)")
		Expect(got[0]["prompt"] == long).To(BeTrue(), "the 100 KiB prompt did not arrive intact (%d bytes)", len(fmt.Sprint(got[0]["prompt"])))
		Expect(got[1]).To(Equal(processor.Params{"prompt": "after"}))
		Expect(health()).To(Equal("OK"))
	})

	It("waits on a quiet control channel for 180 s without ending the stream or setting ERROR (long)", harness.Req("PROC-058", harness.Should, harness.Timing), func(ctx SpecContext) {
		if !cfg.long {
			Skip("takes 3 minutes: runs with TRICKLE_LONG=1")
		}
		_, segs := fixture("h264-aac-320x240")
		r := newRun()
		r.start(map[string]any{"width": 320, "height": 240})
		pctx, cancel := context.WithTimeout(ctx, 200*time.Second)
		defer cancel()
		hctx, hcancel := context.WithCancel(pctx)
		defer hcancel()
		seen := chanHealthWatch(hctx)
		Expect(r.chanPublish(pctx, segs, time.Second, false, nil)).To(Succeed())
		time.Sleep(180 * time.Second)
		hcancel()
		Expect(seen()).To(Equal([]string{"OK"}), "/health over 180 s of a quiet control channel")
		Expect(health()).To(Equal("OK"))
	}, SpecTimeout(5*time.Minute))
})
