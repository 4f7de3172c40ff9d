package client

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/gotrickle/gotrickle/conformance/harness"
	"github.com/gotrickle/gotrickle/fakes/trickleserver"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// Run specs for subscribers: the subscriber is given a channel URL and an
// output file, and left to write every segment to the file until the
// stream ends; the specs publish segments, inject faults, and judge its
// requests, what it wrote, and how it exited. See driver_cmd.go.
//
// Where a spec does not care where the subscriber starts, it leaves the
// start at the subscriber's default (-1 when its template has {start}),
// waits for its first GET, and only then publishes segment 0, which either
// default waits for.

// needStart ends the spec as unsupported when the subscriber cannot be told
// where to start.
func needStart() {
	if can, _ := subRuns.StartConfig(); !can {
		harness.Unsupported("the subscriber cannot be told where to start: its template has no {start}")
	}
}

// deliver publishes bodies as segments 0.. once the subscriber waits, and
// waits until it has read them all.
func deliver(f *runFixture, r *run, bodies ...[]byte) {
	GinkgoHelper()
	f.awaitGets(r, 1)
	f.publish(0, toStrings(bodies)...)
	f.awaitRead(r, int64(len(bodies)))
}

// endStream ends the channel and waits for the subscriber to exit.
func endStream(f *runFixture, r *run) runResult {
	GinkgoHelper()
	f.closeChannel()
	return r.wait(exitTimeout, "the channel ended")
}

// expectWritten checks the subscriber's output file.
func expectWritten(f *runFixture, want []byte, res runResult) {
	GinkgoHelper()
	got := f.written()
	if !bytes.Equal(got, want) {
		Fail(fmt.Sprintf("the output file is not the segments read, in order: %s (%v)", firstDiff(got, want), res))
	}
}

// gone404Run sets up a 404 for a subscriber, before or after it has read a
// segment, and returns the fixture and how the subscriber exited.
func gone404Run(afterData bool) (*runFixture, runResult) {
	GinkgoHelper()
	if !afterData {
		f := newRunFixture(fixtureOpts{}) // the channel does not exist
		r := f.startSubscriber("", nil)
		return f, r.wait(exitTimeout, "its GET was answered 404")
	}
	f := newRunFixture(fixtureOpts{create: true})
	f.fake.AddFault(trickleserver.Fault{Method: http.MethodGet, Seq: seqPtr(1), Status: http.StatusNotFound})
	r := f.startSubscriber("", nil)
	segs, _ := inputSegments()
	f.awaitGets(r, 1)
	f.publish(0, string(segs[0]))
	return f, r.wait(exitTimeout, "its GET for seq 1 was answered 404")
}

// quietRun subscribes to a channel nobody writes for d. The subscriber must
// not exit, and ask only for the seq it waits for; with deliver, the segment
// written after d must then reach its output.
func quietRun(d time.Duration, deliver bool) {
	GinkgoHelper()
	f := newRunFixture(fixtureOpts{create: true})
	r := f.startSubscriber("", nil)
	time.Sleep(d)
	r.stillRunning("while the channel was quiet")
	gets := f.reqs(http.MethodGet)
	Expect(gets).NotTo(BeEmpty(), "the subscriber sent no GET")
	for _, g := range gets {
		// A re-issued request may name the seq the first one resolved to.
		Expect(g.Seq).To(BeElementOf(gets[0].Seq, int64(0)), "the subscriber moved off the seq it waits for:%s", describe(gets))
	}
	if !deliver {
		return
	}
	segs, _ := inputSegments()
	f.publish(0, string(segs[0]))
	f.awaitRead(r, 1)
	res := endStream(f, r)
	expectWritten(f, segs[0], res)
}

var _ = specs.Describe("Subscriber run", Label(runSubscriberLabel), func() {
	Describe("which segments it asks for", func() {
		DescribeTable("starts with GET /{ch}/{start}",
			func(start *int64, allowed []int64) {
				if start == nil {
					if _, always := subRuns.StartConfig(); always {
						harness.Unsupported("the subscriber is always given a start position ({start} in its template), so its default cannot be seen")
					}
				} else {
					needStart()
				}
				f := newRunFixture(fixtureOpts{create: true})
				f.publish(0, "a", "b", "c", "d")
				r := f.startSubscriber("", start)
				Eventually(func() []trickleserver.Request { return f.reqs("") }).WithTimeout(startTimeout).
					WithPolling(10*time.Millisecond).ShouldNot(BeEmpty(), "the subscriber sent no request (%s)", runState(r))
				first := f.reqs("")[0]
				Expect(first.Method).To(Equal(http.MethodGet), "first request:%s", describe(f.reqs("")))
				Expect(first.HasSeq).To(BeTrue(), "first request:%s", describe(f.reqs("")))
				Expect(first.Seq).To(BeElementOf(allowed), "first request:%s", describe(f.reqs("")))
			},
			Entry("configured -1", harness.Req("TRK-CLI-015", harness.Must, harness.Core), seqPtr(-1), []int64{-1}),
			Entry("configured -2", harness.Req("TRK-CLI-015", harness.Must, harness.Core), seqPtr(-2), []int64{-2}),
			Entry("configured 3", harness.Req("TRK-CLI-015", harness.Must, harness.Core), seqPtr(3), []int64{3}),
			Entry("unconfigured: -1 or -2", harness.Req("TRK-CLI-015", harness.Must, harness.Core), (*int64)(nil), []int64{-1, -2}),
		)

		It("asks for k+1 after segment k, after an alias and after an empty segment", harness.Req("TRK-CLI-016", harness.Must, harness.Core), func() {
			f := newRunFixture(fixtureOpts{create: true})
			r := f.startSubscriber("", nil)
			segs, _ := inputSegments()
			deliver(f, r, segs[0], nil, segs[2])
			gets := seqsOf(f.reqs(http.MethodGet))
			Expect(gets[1:]).To(Equal([]int64{1, 2, 3}), "after the segment its first GET (seq %d) got, 0, it must ask for 1, 2, 3:%s", gets[0], describe(f.reqs("")))
		})

		It("writes a segment's bytes to its output as they arrive", harness.Req("TRK-CLI-018", harness.Must, harness.Timing), func() {
			f := newRunFixture(fixtureOpts{create: true})
			r := f.startSubscriber("", nil)
			f.awaitGets(r, 1)
			segs, _ := inputSegments()
			seg := segs[0]
			half := len(seg) / 2
			fp := f.stream(0)
			fp.write(string(seg[:half]))
			halfAt := time.Now()
			Eventually(func() int { return len(f.written()) }).WithTimeout(cfg.reaction).WithPolling(10*time.Millisecond).
				Should(BeNumerically(">=", half), "the first %d bytes of a segment were not in the output %v after the server had them (the rest was held back)", half, cfg.reaction)
			GinkgoWriter.Printf("the first half reached the output in %v\n", time.Since(halfAt))
			fp.write(string(seg[half:]))
			fp.end()
			f.awaitRead(r, 1)
			res := endStream(f, r)
			expectWritten(f, seg, res)
		})
	})

	Describe("470", func() {
		DescribeTable("does not keep requesting a seq answered 470",
			func(published int) {
				needStart()
				f := newRunFixture(fixtureOpts{create: true})
				for i := range published {
					f.publish(int64(i), "segment")
				}
				f.fake.AddFault(trickleserver.Fault{Method: http.MethodGet, Seq: seqPtr(0), Status: trickle.StatusSequenceNonexistent})
				r := f.startSubscriber("", seqPtr(0))
				deadline := time.Now().Add(20 * time.Second)
				for time.Now().Before(deadline) && r.running() {
					gets := f.reqs(http.MethodGet)
					Expect(len(f.segReqs(http.MethodGet, 0))).To(BeNumerically("<=", 10), "seq 0 requested again and again:%s", describe(gets))
					if len(gets) > 0 && gets[len(gets)-1].Seq != 0 {
						break // moved to another seq
					}
					time.Sleep(20 * time.Millisecond)
				}
				time.Sleep(300 * time.Millisecond)
				Expect(len(f.segReqs(http.MethodGet, 0))).To(BeNumerically("<=", 10), "seq 0 requested again and again:%s", describe(f.reqs("")))
			},
			Entry("the 470 names a newer latest", harness.Req("TRK-CLI-019", harness.Must, harness.Faults), 3),
			Entry("the 470 names the same seq as latest", harness.Req("TRK-CLI-019", harness.Must, harness.Faults), 0),
		)

		DescribeTable("after a 470 asks at once for Lp-Trickle-Latest, or -1 without it",
			func(stripLatest bool, want int64) {
				needStart()
				f := newRunFixture(fixtureOpts{create: true, no470Latest: stripLatest})
				f.publish(0, "zero", "one", "two") // latest 3
				f.fake.AddFault(trickleserver.Fault{Method: http.MethodGet, Seq: seqPtr(0), Status: trickle.StatusSequenceNonexistent, Times: 1})
				r := f.startSubscriber("", seqPtr(0))
				Eventually(func() int { return len(f.reqs(http.MethodGet)) }).WithTimeout(startTimeout).
					WithPolling(10*time.Millisecond).Should(BeNumerically(">=", 2), "no request after the 470 (%s):%s", runState(r), describe(f.reqs("")))
				gets := f.reqs(http.MethodGet)
				Expect(gets[0].Status).To(Equal(trickle.StatusSequenceNonexistent))
				gap := gets[1].Start.Sub(gets[0].End).Round(time.Millisecond)
				Expect(gets[1].Seq).To(Equal(want), "after the 470 for seq 0 the next request was for seq %d (%v later), want %d:%s", gets[1].Seq, gap, want, describe(gets))
				Expect(gap).To(BeNumerically("<", atOnce), "the request after the 470 was made %v later, not at once:%s", gap, describe(gets))
			},
			Entry("with Lp-Trickle-Latest", harness.Req("TRK-CLI-020", harness.Should, harness.Faults), false, int64(3)),
			Entry("without Lp-Trickle-Latest", harness.Req("TRK-CLI-020", harness.Should, harness.Faults), true, int64(-1)),
		)
	})

	Describe("end of the stream", func() {
		DescribeTable("exits after a 404 and sends nothing more",
			func(afterData bool) {
				f, _ := gone404Run(afterData)
				quietAfter(f.fixture, answerEnd(f.fixture, http.StatusNotFound))
			},
			Entry("before any segment", harness.Req("TRK-CLI-021", harness.Must, harness.Channels), false),
			Entry("after a segment", harness.Req("TRK-CLI-021", harness.Must, harness.Channels), true),
		)

		DescribeTable("exits non-zero for a 404 before any segment (not found), 0 for one after a segment (end of stream)",
			func(afterData bool) {
				f, res := gone404Run(afterData)
				if !afterData {
					Expect(res.Code).NotTo(BeZero(), "a channel that does not exist is not the end of a stream: %v", res)
					return
				}
				Expect(res.Code).To(BeZero(), "a 404 after a segment is the end of the stream: %v", res)
				segs, _ := inputSegments()
				expectWritten(f, segs[0], res)
			},
			Entry("before any segment", harness.Req("TRK-CLI-022", harness.Should, harness.Channels), false),
			Entry("after a segment", harness.Req("TRK-CLI-022", harness.Should, harness.Channels), true),
		)

		It("exits 0 when the channel ends while it waits, and sends nothing more", harness.Req("TRK-CLI-023", harness.Must, harness.Channels), func() {
			f := newRunFixture(fixtureOpts{create: true})
			r := f.startSubscriber("", nil)
			segs, _ := inputSegments()
			deliver(f, r, segs[0])
			time.Sleep(100 * time.Millisecond)
			res := endStream(f, r)
			Expect(res.Code).To(BeZero(), "the end of the stream is not a failure: %v", res)
			var last time.Time
			for _, q := range f.reqs("") {
				if q.End.After(last) {
					last = q.End
				}
			}
			quietAfter(f.fixture, last)
		})

		DescribeTable("exits 0 on any answer carrying Lp-Trickle-Closed, and sends nothing more",
			func(status int, published int) {
				f := newRunFixture(fixtureOpts{create: true})
				for i := range published {
					f.publish(int64(i), "segment")
				}
				f.fake.AddFault(trickleserver.Fault{Method: http.MethodGet, Status: status, Header: map[string]string{trickle.HeaderClosed: "bye"}})
				r := f.startSubscriber("", nil)
				res := r.wait(exitTimeout, "it was answered Lp-Trickle-Closed")
				Expect(res.Code).To(BeZero(), "the end of the stream is not a failure: %v", res)
				quietAfter(f.fixture, answerEnd(f.fixture, status))
			},
			Entry("a 404", harness.Req("TRK-CLI-023", harness.Must, harness.Channels), http.StatusNotFound, 0),
			Entry("a 470 naming a newer latest", harness.Req("TRK-CLI-023", harness.Must, harness.Channels), trickle.StatusSequenceNonexistent, 3),
		)

		It("writes every segment, an empty one included, in seq order, and exits 0 only at the end of the stream", harness.Req("TRK-CLI-024", harness.Must, harness.Core), func() {
			f := newRunFixture(fixtureOpts{create: true})
			r := f.startSubscriber("", nil)
			segs, _ := inputSegments()
			bodies := append([][]byte{segs[0], nil}, segs[1:]...)
			deliver(f, r, bodies...)
			time.Sleep(100 * time.Millisecond)
			r.stillRunning("before the stream ended (it had read every segment, an empty one among them)")
			res := endStream(f, r)
			Expect(res.Code).To(BeZero(), "the end of the stream is not a failure: %v", res)
			expectWritten(f, bytes.Join(segs, nil), res)
		})
	})

	Describe("failures", func() {
		DescribeTable("gives up after a bounded number of failed attempts and exits non-zero",
			func(status int) {
				f := newRunFixture(fixtureOpts{create: true})
				url := ""
				if status != 0 {
					f.fake.AddFault(trickleserver.Fault{Status: status})
				} else {
					l, err := net.Listen("tcp", "127.0.0.1:0")
					if err != nil {
						harness.HarnessError(err)
					}
					url = "http://" + l.Addr().String() + "/" + f.ch
					l.Close() // nothing listens there now: every connection is refused
				}
				r := f.startSubscriber(url, nil)
				res := r.wait(60*time.Second, "every request failed")
				Expect(res.Code).NotTo(BeZero(), "failing requests are not the end of the stream: %v", res)
				if status != 0 {
					quietAfter(f.fixture, time.Now())
				}
			},
			Entry("503 to every request", harness.Req("TRK-CLI-025", harness.Must, harness.Faults), http.StatusServiceUnavailable),
			Entry("500 to every request", harness.Req("TRK-CLI-025", harness.Must, harness.Faults), http.StatusInternalServerError),
			Entry("an unexpected status (418) to every request", harness.Req("TRK-CLI-025", harness.Must, harness.Faults), http.StatusTeapot),
			Entry("connection refused", harness.Req("TRK-CLI-025", harness.Must, harness.Faults), 0),
		)

		DescribeTable("retries the same seq after a pause of at least 100 ms",
			func(arm func(f *runFixture)) {
				f := newRunFixture(fixtureOpts{create: true})
				arm(f)
				r := f.startSubscriber("", nil)
				f.awaitGets(r, 2)
				tries := f.segGets()
				Expect(tries[1].Seq).To(Equal(tries[0].Seq), "the retry went to another seq:%s", describe(f.reqs("")))
				Expect(tries[1].Start.Sub(tries[0].End)).To(BeNumerically(">=", 100*time.Millisecond), "the pause before the retry")
				segs, _ := inputSegments()
				f.publish(0, string(segs[0]))
				f.awaitRead(r, 1)
				res := endStream(f, r)
				expectWritten(f, segs[0], res)
			},
			Entry("one 503", harness.Req("TRK-CLI-026", harness.Should, harness.Faults), func(f *runFixture) {
				f.fake.AddFault(trickleserver.Fault{Method: http.MethodGet, Nth: 1, Status: http.StatusServiceUnavailable})
			}),
			Entry("one 502", harness.Req("TRK-CLI-026", harness.Should, harness.Faults), func(f *runFixture) {
				f.fake.AddFault(trickleserver.Fault{Method: http.MethodGet, Nth: 1, Status: http.StatusBadGateway})
			}),
			Entry("one connection closed before any answer", harness.Req("TRK-CLI-026", harness.Should, harness.Faults), func(f *runFixture) {
				// Whichever seq the subscriber starts with.
				for _, seq := range []int64{trickle.SeqCurrent, trickle.SeqNext, 0} {
					f.wire.hangUpOn(http.MethodGet, seq, 1)
				}
			}),
		)
	})

	Describe("quiet channels", func() {
		It("waits on a quiet channel without exiting (short form: 1.5 s)", harness.Req("TRK-CLI-027", harness.Must, harness.Timing), func() {
			quietRun(1500*time.Millisecond, false)
		})
		It("waits on a quiet channel for 25 s without exiting", harness.Req("TRK-CLI-027", harness.Must, harness.Timing), func() {
			needLong(26 * time.Second)
			quietRun(26*time.Second, false)
		})
		It("writes the segment that ends a quiet spell (short form: 1.5 s)", harness.Req("TRK-CLI-028", harness.Should, harness.Timing), func() {
			quietRun(1500*time.Millisecond, true)
		})
		It("writes the segment that ends a 180 s quiet spell", harness.Req("TRK-CLI-028", harness.Should, harness.Timing), func() {
			needLong(181 * time.Second)
			quietRun(181*time.Second, true)
		})
	})

	Describe("stopping", func() {
		It("closes the GET being read, and any other, when stopped", harness.Req("TRK-CLI-029", harness.Must, harness.Core), func() {
			f := newRunFixture(fixtureOpts{create: true})
			r := f.startSubscriber("", nil)
			f.awaitGets(r, 1)
			fp := f.stream(0)
			fp.write("part-of-a-segment")
			Eventually(func() int64 {
				var n int64
				for _, g := range f.reqs(http.MethodGet) {
					n += g.BytesOut
				}
				return n
			}).WithTimeout(cfg.reaction).WithPolling(10*time.Millisecond).ShouldNot(BeZero(), "segment 0 never reached the subscriber")
			time.Sleep(300 * time.Millisecond)
			Expect(f.openRequests()).NotTo(BeEmpty(), "nothing open before stopping")
			r.h.Stop()
			Eventually(f.openRequests).WithTimeout(cfg.reaction).WithPolling(20*time.Millisecond).
				Should(BeEmpty(), "requests left open after the subscriber was stopped")
		})

		It("closes the GET waiting on a quiet channel when stopped", harness.Req("TRK-CLI-029", harness.Must, harness.Core), func() {
			f := newRunFixture(fixtureOpts{create: true})
			r := f.startSubscriber("", nil)
			Eventually(f.openRequests).WithTimeout(startTimeout).WithPolling(10 * time.Millisecond).ShouldNot(BeEmpty())
			r.h.Stop()
			Eventually(f.openRequests).WithTimeout(cfg.reaction).WithPolling(20*time.Millisecond).
				Should(BeEmpty(), "requests left open after the subscriber was stopped")
		})
	})
})
