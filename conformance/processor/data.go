package processor

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/gotrickle/gotrickle/conformance/harness"
	"github.com/gotrickle/gotrickle/fakes/trickleserver"
	"github.com/gotrickle/gotrickle/pkg/processor"
)

// chanBatch is one data segment, parsed.
type chanBatch struct {
	seq   int64
	items []string
	body  []byte
	ok    bool // a JSON array of strings followed by "\n"
}

func chanParseBatch(s chanSeg) chanBatch {
	b := chanBatch{seq: s.seq, body: s.body}
	if n := len(s.body); n > 0 && s.body[n-1] == '\n' {
		b.ok = json.Unmarshal(s.body[:n-1], &b.items) == nil && b.items != nil
	}
	return b
}

func chanBatches(f *chanFollower) []chanBatch {
	segs := f.snapshot()
	out := make([]chanBatch, len(segs))
	for i, s := range segs {
		out[i] = chanParseBatch(s)
	}
	return out
}

// chanItems is every item of the batches, in order.
func chanItems(bs []chanBatch) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.items...)
	}
	return out
}

// chanDataRun starts a stream whose data channel the spec follows; with
// fresh, the processor creates the data channel itself.
func chanDataRun(ctx context.Context, fresh bool) (*run, *chanFollower) {
	GinkgoHelper()
	needDriver()
	r := newRun()
	if fresh {
		r.chanFresh(&r.data)
	}
	f := chanFollow(ctx, r.data)
	r.start(nil)
	return r, f
}

var _ = specs.Describe("The data channel", func() {
	It("publishes strings emitted together as one JSON-array segment with Content-Type application/jsonl, within 500 ms", harness.Req("PROC-068", harness.Must, harness.Channels), func(ctx SpecContext) {
		fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		r, f := chanDataRun(fctx, true)
		time.Sleep(500 * time.Millisecond)
		emitted := time.Now()
		Expect(inprocProc.SendData("a")).To(BeTrue())
		Expect(inprocProc.SendData("b")).To(BeTrue())
		Eventually(f.snapshot).WithTimeout(cfg.reaction).WithPolling(10 * time.Millisecond).ShouldNot(BeEmpty())
		s := f.snapshot()[0]
		Expect(string(s.body)).To(Equal("[\"a\",\"b\"]\n"))
		Expect(s.seq).To(BeEquivalentTo(0))
		Expect(s.contentType).To(HavePrefix("application/jsonl"))
		Expect(chanPostArrival(r.data, s.seq).Sub(emitted)).To(BeNumerically("<=", 500*time.Millisecond), "from emission to the segment")
	})

	It("batches a steady trickle of strings: in order, at most one segment per 333 ms, each string within 500 ms, no empty segments", harness.Req("PROC-068", harness.Must, harness.Channels), func(ctx SpecContext) {
		fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		r, f := chanDataRun(fctx, false)
		time.Sleep(300 * time.Millisecond)
		const n = 75
		var sent []string
		at := map[string]time.Time{}
		for i := range n {
			s := fmt.Sprintf(`{"i":%d,"s":"x\"y"}`, i) // a JSON string travels as a string
			at[s] = time.Now()
			Expect(inprocProc.SendData(s)).To(BeTrue())
			sent = append(sent, s)
			time.Sleep(40 * time.Millisecond)
		}
		Eventually(func() []string { return chanItems(chanBatches(f)) }).WithTimeout(cfg.reaction).Should(HaveLen(n))
		time.Sleep(1500 * time.Millisecond) // an empty queue sends nothing
		bs := chanBatches(f)
		Expect(chanItems(bs)).To(Equal(sent))
		var prev time.Time
		for i, b := range bs {
			Expect(b.ok).To(BeTrue(), "data segment %d is not a JSON array of strings and \"\\n\": %q", i, b.body)
			Expect(b.items).NotTo(BeEmpty(), "data segment %d is empty (no keepalive is due yet)", i)
			arrived := chanPostArrival(r.data, b.seq)
			for _, s := range b.items {
				Expect(arrived.Sub(at[s])).To(BeNumerically("<=", 500*time.Millisecond), "from the emission of %s to its segment", s)
			}
			if i > 0 {
				Expect(arrived.Sub(prev)).To(BeNumerically(">=", 283*time.Millisecond), "between data segments %d and %d", i-1, i)
			}
			prev = arrived
		}
	})

	It("posts the keepalive []\\n after about 25 s without data, and again 25 s later (long)", harness.Req("PROC-069", harness.Must, harness.Timing), func(ctx SpecContext) {
		if !cfg.long {
			Skip("takes 55 s: runs with TRICKLE_LONG=1")
		}
		fctx, cancel := context.WithTimeout(ctx, 70*time.Second)
		defer cancel()
		r := newRun()
		f := chanFollow(fctx, r.data)
		r.start(nil)
		started := time.Now()
		Eventually(func() int { return len(f.snapshot()) }).WithTimeout(60 * time.Second).WithPolling(100 * time.Millisecond).Should(BeNumerically(">=", 2))
		segs := f.snapshot()
		for _, s := range segs[:2] {
			Expect(string(s.body)).To(Equal("[]\n"), "a data segment from a handler that emits nothing")
		}
		first, second := chanPostArrival(r.data, segs[0].seq), chanPostArrival(r.data, segs[1].seq)
		Expect(first.Sub(started)).To(BeNumerically("~", 25*time.Second, 5*time.Second), "the first keepalive after the start")
		Expect(second.Sub(first)).To(BeNumerically("~", 25*time.Second, 5*time.Second), "between keepalives")
	}, SpecTimeout(2*time.Minute))

	It("keeps at most 1000 strings waiting, dropping the oldest", harness.Req("PROC-070", harness.Must, harness.Channels), func(ctx SpecContext) {
		fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		_, f := chanDataRun(fctx, false)
		time.Sleep(300 * time.Millisecond)
		// Emit right after a batch went out, so that all 1500 wait for the next.
		Expect(inprocProc.SendData("sync")).To(BeTrue())
		Eventually(func() int { return len(f.snapshot()) }).WithTimeout(cfg.reaction).WithPolling(time.Millisecond).Should(Equal(1))
		Expect(chanItems(chanBatches(f))).To(Equal([]string{"sync"}))
		var want []string
		for i := range 1500 {
			Expect(inprocProc.SendData(strconv.Itoa(i))).To(BeTrue())
			if i >= 500 {
				want = append(want, strconv.Itoa(i))
			}
		}
		Eventually(func() []string { return chanItems(chanBatches(f)) }).WithTimeout(cfg.reaction).Should(ContainElement("1499"))
		time.Sleep(500 * time.Millisecond)
		bs := chanBatches(f)
		Expect(chanItems(bs[1:])).To(Equal(want), "the items after 1500 were emitted at once (in %d segments)", len(bs)-1)
	})

	It("publishes the strings still queued when the stream stops before closing the channel", harness.Req("PROC-071", harness.Must, harness.Channels), func(ctx SpecContext) {
		var queued atomic.Bool
		useHandler(processor.Funcs{StreamStop: func(context.Context) error {
			queued.Store(inprocProc.SendData("last-1") && inprocProc.SendData("last-2"))
			return nil
		}})
		fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		_, f := chanDataRun(fctx, false)
		time.Sleep(300 * time.Millisecond)
		Expect(inprocProc.SendData("first")).To(BeTrue())
		Expect(call("POST", stream("stop"), nil, "").status).To(Equal(200))
		waitHealth("IDLE", 15*time.Second)
		Expect(queued.Load()).To(BeTrue(), "SendData refused strings from the stream-stop handler")
		_, ok := f.wait(cfg.reaction)
		Expect(chanItems(chanBatches(f))).To(Equal([]string{"first", "last-1", "last-2"}))
		Expect(ok).To(BeTrue(), "the data channel was not closed after the stop")
	})

	It("goes on after a failed data POST: later data is published and the stream continues", harness.Req("PROC-067", harness.Should, harness.Faults), func(ctx SpecContext) {
		fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		needDriver()
		r := newRun()
		DeferCleanup(suite.ClearFaults)
		suite.AddFault(trickleserver.Fault{Name: "data POST 500", Method: "POST", Channel: r.data, Nth: 1, Times: 1, Status: 500})
		f := chanFollow(fctx, r.data)
		r.start(nil)
		Expect(inprocProc.SendData("lost?")).To(BeTrue())
		Eventually(func() bool {
			for _, q := range chanRequests(r.data, "POST") {
				if q.Fault != "" {
					return true
				}
			}
			return false
		}).WithTimeout(cfg.reaction).WithPolling(20*time.Millisecond).Should(BeTrue(), "the processor made no data POST")
		time.Sleep(400 * time.Millisecond)
		Expect(inprocProc.SendData("later")).To(BeTrue(), "the stream's data channel is gone")
		Eventually(func() []string { return chanItems(chanBatches(f)) }).WithTimeout(cfg.reaction).Should(ContainElement("later"))
		Expect(health()).To(Equal("OK"))
	})
})
