package client

import (
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

// atOnce is how soon a request counts as made "at once": less than the
// shortest retry pause a client should take (CLI-026).
const atOnce = 100 * time.Millisecond

// expectSegment checks a Next result.
func expectSegment(r readResult, seq int64, body string) {
	GinkgoHelper()
	Expect(r.Outcome).To(Equal(outcomeOK), "Next: %v", r)
	Expect(r.Seq).To(Equal(seq), "Next: %v", r)
	Expect(r.Body()).To(Equal(body), "Next: %v", r)
}

// quietAfter waits a while and checks that the client started no request
// after t.
func quietAfter(f *fixture, t time.Time) {
	GinkgoHelper()
	time.Sleep(300 * time.Millisecond)
	for _, r := range f.reqs("") {
		Expect(r.Start).NotTo(BeTemporally(">", t), "a request was sent after the client was told the stream is over:%s", describe(f.reqs("")))
	}
}

// closeWithin stops a subscriber, failing if its Close takes longer than d.
func closeWithin(s subscriberDriver, d time.Duration) {
	GinkgoHelper()
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	await(done, d, "closing the subscriber")
}

// gone404 sets up a 404 for a subscriber, before or after it has read a
// segment, and returns the fixture and what Next reported for the 404.
func gone404(afterData bool) (*fixture, readResult) {
	GinkgoHelper()
	if !afterData {
		f := newFixture(fixtureOpts{}) // the channel does not exist
		s := f.subscriber(subOptions{})
		return f, next(s, opTimeout)
	}
	f := newFixture(fixtureOpts{create: true})
	f.publish(0, "zero")
	f.fake.AddFault(trickleserver.Fault{Method: http.MethodGet, Seq: seqPtr(1), Status: http.StatusNotFound})
	s := f.subscriber(subOptions{Start: seqPtr(0)})
	expectSegment(next(s, opTimeout), 0, "zero")
	return f, next(s, opTimeout)
}

// answerEnd returns when the first request answered with status ended.
func answerEnd(f *fixture, status int) time.Time {
	GinkgoHelper()
	for _, r := range f.reqs("") {
		if r.Status == status && !r.End.IsZero() {
			return r.End
		}
	}
	Fail(fmt.Sprintf("no request was answered %d:%s", status, describe(f.reqs(""))))
	return time.Time{}
}

var _ = specs.Describe("Subscriber", func() {
	Describe("which segments it asks for", func() {
		DescribeTable("starts with GET /{ch}/{start}",
			func(start *int64, allowed []int64) {
				f := newFixture(fixtureOpts{create: true})
				f.publish(0, "a", "b", "c", "d")
				s := f.subscriber(subOptions{Start: start})
				res := goNext(s, opTimeout)
				Eventually(func() []trickleserver.Request { return f.reqs("") }).WithTimeout(cfg.reaction).
					WithPolling(10 * time.Millisecond).ShouldNot(BeEmpty())
				first := f.reqs("")[0]
				Expect(first.Method).To(Equal(http.MethodGet), "first request:%s", describe(f.reqs("")))
				Expect(first.HasSeq).To(BeTrue(), "first request:%s", describe(f.reqs("")))
				Expect(first.Seq).To(BeElementOf(allowed), "first request:%s", describe(f.reqs("")))
				closeWithin(s, cfg.reaction)
				await(res, cfg.reaction, "Next after close")
			},
			Entry("unconfigured: -1 or -2", harness.Req("TRK-CLI-015", harness.Must, harness.Core), (*int64)(nil), []int64{-1, -2}),
			Entry("configured -1", harness.Req("TRK-CLI-015", harness.Must, harness.Core), seqPtr(-1), []int64{-1}),
			Entry("configured -2", harness.Req("TRK-CLI-015", harness.Must, harness.Core), seqPtr(-2), []int64{-2}),
			Entry("configured 3", harness.Req("TRK-CLI-015", harness.Must, harness.Core), seqPtr(3), []int64{3}),
		)

		It("asks for k+1 after segment k, an empty segment included", harness.Req("TRK-CLI-016", harness.Must, harness.Core), func() {
			f := newFixture(fixtureOpts{create: true})
			f.publish(0, "zero", "", "two")
			s := f.subscriber(subOptions{Start: seqPtr(0)})
			expectSegment(next(s, opTimeout), 0, "zero")
			expectSegment(next(s, opTimeout), 1, "")
			expectSegment(next(s, opTimeout), 2, "two")
			res := goNext(s, opTimeout)
			Eventually(func() int { return len(f.reqs(http.MethodGet)) }).WithTimeout(cfg.reaction).
				WithPolling(10*time.Millisecond).Should(BeNumerically(">=", 4), "requests:%s", describe(f.reqs("")))
			Expect(seqsOf(f.reqs(http.MethodGet))).To(Equal([]int64{0, 1, 2, 3}), "requests:%s", describe(f.reqs("")))
			f.publish(3, "three")
			expectSegment(await(res, opTimeout, "Next"), 3, "three")
		})

		It("follows Lp-Trickle-Seq from an alias to the next seq, from an empty segment", harness.Req("TRK-CLI-016", harness.Must, harness.Core), func() {
			f := newFixture(fixtureOpts{create: true})
			f.publish(0, "zero", "one", "") // the current segment, 2, is empty
			s := f.subscriber(subOptions{Start: seqPtr(trickle.SeqCurrent)})
			expectSegment(next(s, opTimeout), 2, "")
			res := goNext(s, opTimeout)
			Eventually(func() int { return len(f.reqs(http.MethodGet)) }).WithTimeout(cfg.reaction).
				WithPolling(10*time.Millisecond).Should(BeNumerically(">=", 2), "requests:%s", describe(f.reqs("")))
			Expect(seqsOf(f.reqs(http.MethodGet))).To(Equal([]int64{-2, 3}), "after Lp-Trickle-Seq: 2 the next request must be for 3:%s", describe(f.reqs("")))
			f.publish(3, "three")
			expectSegment(await(res, opTimeout, "Next"), 3, "three")
		})

		It("opens the GET for k+1 while segment k is still arriving", harness.Req("TRK-CLI-017", harness.Should, harness.Perf), func() {
			f := newFixture(fixtureOpts{create: true})
			fp := f.stream(0)
			fp.write("first-half-")
			s := f.subscriber(subOptions{Start: seqPtr(0)})
			res := goNext(s, opTimeout)
			time.Sleep(time.Second)
			restAt := time.Now()
			fp.write("second-half")
			fp.end()
			expectSegment(await(res, opTimeout, "Next"), 0, "first-half-second-half")
			g1 := f.segReqs(http.MethodGet, 1)
			Expect(g1).NotTo(BeEmpty(), "no GET for seq 1:%s", describe(f.reqs("")))
			Expect(g1[0].Start).To(BeTemporally("<", restAt), "the GET for seq 1 was opened only after segment 0 ended:%s", describe(f.reqs("")))
		})

		It("hands over a segment's bytes as they arrive", harness.Req("TRK-CLI-018", harness.Must, harness.Timing), func() {
			f := newFixture(fixtureOpts{create: true})
			fp := f.stream(0)
			s := f.subscriber(subOptions{Start: seqPtr(0)})
			res := goNext(s, opTimeout)
			half := "the-first-half-of-the-segment;"
			time.Sleep(100 * time.Millisecond)
			halfAt := time.Now()
			fp.write(half)
			time.Sleep(cfg.reaction + time.Second)
			restAt := time.Now()
			fp.write("the-second-half")
			fp.end()
			r := await(res, opTimeout, "Next")
			expectSegment(r, 0, half+"the-second-half")
			got := r.bytesBy(len(half))
			Expect(got).To(BeTemporally("<", restAt), "the first half reached the application only with the rest")
			Expect(got.Sub(halfAt)).To(BeNumerically("<=", cfg.reaction), "the first half took %v to reach the application", got.Sub(halfAt))
		})
	})

	Describe("470", func() {
		DescribeTable("does not keep requesting a seq answered 470",
			func(published int) {
				f := newFixture(fixtureOpts{create: true})
				for i := range published {
					f.publish(int64(i), "segment")
				}
				f.fake.AddFault(trickleserver.Fault{Method: http.MethodGet, Seq: seqPtr(0), Status: trickle.StatusSequenceNonexistent})
				s := f.subscriber(subOptions{Start: seqPtr(0), FastRetries: true})
				res := goNext(s, 60*time.Second)
				deadline := time.Now().Add(60 * time.Second)
				var r *readResult
				for time.Now().Before(deadline) {
					gets := f.reqs(http.MethodGet)
					Expect(len(f.segReqs(http.MethodGet, 0))).To(BeNumerically("<=", 10), "seq 0 requested again and again:%s", describe(gets))
					if len(gets) > 0 && gets[len(gets)-1].Seq != 0 {
						break // moved to another seq
					}
					select {
					case x := <-res:
						r = &x
					case <-time.After(20 * time.Millisecond):
					}
					if r != nil {
						break // gave up
					}
				}
				if r != nil {
					Expect(r.Outcome).NotTo(Equal(outcomeTimeout), "still requesting seq 0 after 60 s")
				}
				time.Sleep(300 * time.Millisecond)
				Expect(len(f.segReqs(http.MethodGet, 0))).To(BeNumerically("<=", 10), "seq 0 requested again and again:%s", describe(f.reqs("")))
				closeWithin(s, cfg.reaction)
				if r == nil {
					await(res, cfg.reaction, "Next after close")
				}
			},
			Entry("the 470 names a newer latest", harness.Req("TRK-CLI-019", harness.Must, harness.Faults), 3),
			Entry("the 470 names the same seq as latest", harness.Req("TRK-CLI-019", harness.Must, harness.Faults), 0),
		)

		DescribeTable("after a 470 asks at once for Lp-Trickle-Latest, or -1 without it",
			func(stripLatest bool, want int64) {
				f := newFixture(fixtureOpts{create: true, no470Latest: stripLatest})
				f.publish(0, "zero", "one", "two") // latest 3
				f.fake.AddFault(trickleserver.Fault{Method: http.MethodGet, Seq: seqPtr(0), Status: trickle.StatusSequenceNonexistent, Times: 1})
				s := f.subscriber(subOptions{Start: seqPtr(0)})
				res := goNext(s, opTimeout)
				Eventually(func() int { return len(f.reqs(http.MethodGet)) }).WithTimeout(cfg.reaction).
					WithPolling(10*time.Millisecond).Should(BeNumerically(">=", 2), "no request after the 470:%s", describe(f.reqs("")))
				gets := f.reqs(http.MethodGet)
				Expect(gets[0].Status).To(Equal(trickle.StatusSequenceNonexistent))
				gap := gets[1].Start.Sub(gets[0].End).Round(time.Millisecond)
				Expect(gets[1].Seq).To(Equal(want), "after the 470 for seq 0 the next request was for seq %d (%v later), want %d:%s", gets[1].Seq, gap, want, describe(gets))
				Expect(gap).To(BeNumerically("<", atOnce), "the request after the 470 was made %v later, not at once:%s", gap, describe(gets))
				f.publish(3, "three")
				expectSegment(await(res, opTimeout, "Next"), 3, "three")
			},
			Entry("with Lp-Trickle-Latest", harness.Req("TRK-CLI-020", harness.Should, harness.Faults), false, int64(3)),
			Entry("without Lp-Trickle-Latest", harness.Req("TRK-CLI-020", harness.Should, harness.Faults), true, int64(-1)),
		)
	})

	Describe("end of the stream", func() {
		DescribeTable("stops after a 404 and reports the stream gone",
			func(afterData bool) {
				f, r := gone404(afterData)
				Expect(r.Outcome).To(BeElementOf(outcomeNotFound, outcomeEndOfStream), "Next after a 404: %v", r)
				quietAfter(f, answerEnd(f, http.StatusNotFound))
			},
			Entry("before any segment", harness.Req("TRK-CLI-021", harness.Must, harness.Channels), false),
			Entry("after a segment", harness.Req("TRK-CLI-021", harness.Must, harness.Channels), true),
		)

		DescribeTable("reports a 404 as not found before any segment, as the end of the stream after one",
			func(afterData bool, want outcome) {
				_, r := gone404(afterData)
				Expect(r.Outcome).To(Equal(want), "Next after a 404: %v", r)
			},
			Entry("before any segment", harness.Req("TRK-CLI-022", harness.Should, harness.Channels), false, outcomeNotFound),
			Entry("after a segment", harness.Req("TRK-CLI-022", harness.Should, harness.Channels), true, outcomeEndOfStream),
		)

		It("reports the end of the stream when the channel ends while it waits", harness.Req("TRK-CLI-023", harness.Must, harness.Channels), func() {
			f := newFixture(fixtureOpts{create: true})
			f.publish(0, "zero")
			s := f.subscriber(subOptions{Start: seqPtr(0)})
			expectSegment(next(s, opTimeout), 0, "zero")
			res := goNext(s, opTimeout)
			Eventually(func() []trickleserver.Request { return f.segReqs(http.MethodGet, 1) }).WithTimeout(cfg.reaction).
				WithPolling(10*time.Millisecond).ShouldNot(BeEmpty(), "no GET for seq 1:%s", describe(f.reqs("")))
			time.Sleep(100 * time.Millisecond)
			f.closeChannel()
			r := await(res, opTimeout, "Next")
			Expect(r.Outcome).To(Equal(outcomeEndOfStream), "Next after the channel ended: %v", r)
			var last time.Time
			for _, q := range f.reqs("") {
				if q.End.After(last) {
					last = q.End
				}
			}
			quietAfter(f, last)
		})

		DescribeTable("reports the end of the stream on any answer carrying Lp-Trickle-Closed",
			func(status int, published int) {
				f := newFixture(fixtureOpts{create: true})
				for i := range published {
					f.publish(int64(i), "segment")
				}
				f.fake.AddFault(trickleserver.Fault{Method: http.MethodGet, Status: status, Header: map[string]string{trickle.HeaderClosed: "bye"}})
				s := f.subscriber(subOptions{Start: seqPtr(0)})
				r := next(s, opTimeout)
				Expect(r.Outcome).To(Equal(outcomeEndOfStream), "Next: %v", r)
				quietAfter(f, answerEnd(f, status))
			},
			Entry("a 404", harness.Req("TRK-CLI-023", harness.Must, harness.Channels), http.StatusNotFound, 0),
			Entry("a 470 naming a newer latest", harness.Req("TRK-CLI-023", harness.Must, harness.Channels), trickle.StatusSequenceNonexistent, 3),
		)

		It("tells the end of a segment, an empty one included, from the end of the stream", harness.Req("TRK-CLI-024", harness.Must, harness.Core), func() {
			f := newFixture(fixtureOpts{create: true})
			f.publish(0, "abc", "", "def")
			s := f.subscriber(subOptions{Start: seqPtr(0)})
			expectSegment(next(s, opTimeout), 0, "abc")
			expectSegment(next(s, opTimeout), 1, "")
			expectSegment(next(s, opTimeout), 2, "def")
			res := goNext(s, opTimeout)
			time.Sleep(100 * time.Millisecond)
			f.closeChannel()
			r := await(res, opTimeout, "Next")
			Expect(r.Outcome).To(Equal(outcomeEndOfStream), "Next after the channel ended: %v", r)
		})
	})

	Describe("failures", func() {
		DescribeTable("gives up after a bounded number of failed attempts and reports an error",
			func(status int) {
				f := newFixture(fixtureOpts{create: true})
				o := subOptions{Start: seqPtr(0), FastRetries: true}
				if status != 0 {
					f.fake.AddFault(trickleserver.Fault{Status: status})
				} else {
					l, err := net.Listen("tcp", "127.0.0.1:0")
					if err != nil {
						harness.HarnessError(err)
					}
					o.URL = "http://" + l.Addr().String() + "/" + f.ch
					l.Close() // nothing listens there now: every connection is refused
				}
				s := f.subscriber(o)
				r := next(s, 60*time.Second)
				Expect(r.Outcome).NotTo(Equal(outcomeTimeout), "still retrying after 60 s:%s", describe(f.reqs("")))
				Expect(r.Outcome).To(Equal(outcomeError), "Next: %v", r)
				if status != 0 {
					quietAfter(f, time.Now())
				}
			},
			Entry("503 to every request", harness.Req("TRK-CLI-025", harness.Must, harness.Faults), http.StatusServiceUnavailable),
			Entry("500 to every request", harness.Req("TRK-CLI-025", harness.Must, harness.Faults), http.StatusInternalServerError),
			Entry("an unexpected status (418) to every request", harness.Req("TRK-CLI-025", harness.Must, harness.Faults), http.StatusTeapot),
			Entry("connection refused", harness.Req("TRK-CLI-025", harness.Must, harness.Faults), 0),
		)

		DescribeTable("retries the same seq after a pause of at least 100 ms",
			func(setup func(f *fixture)) {
				f := newFixture(fixtureOpts{create: true})
				f.publish(0, "zero")
				setup(f)
				s := f.subscriber(subOptions{Start: seqPtr(0)})
				r := next(s, opTimeout)
				var tries []wireEntry
				for _, e := range f.wire.snapshot() {
					if e.Method == http.MethodGet && e.HasSeq {
						tries = append(tries, e)
					}
				}
				expectSegment(r, 0, "zero")
				Expect(len(tries)).To(BeNumerically(">=", 2), "no retry")
				Expect(tries[1].Seq).To(BeEquivalentTo(0), "the retry went to another seq")
				Expect(tries[1].Start.Sub(tries[0].End)).To(BeNumerically(">=", 100*time.Millisecond), "the pause before the retry")
			},
			Entry("one 503", harness.Req("TRK-CLI-026", harness.Should, harness.Faults), func(f *fixture) {
				f.fake.AddFault(trickleserver.Fault{Method: http.MethodGet, Seq: seqPtr(0), Status: http.StatusServiceUnavailable, Times: 1})
			}),
			Entry("one 502", harness.Req("TRK-CLI-026", harness.Should, harness.Faults), func(f *fixture) {
				f.fake.AddFault(trickleserver.Fault{Method: http.MethodGet, Seq: seqPtr(0), Status: http.StatusBadGateway, Times: 1})
			}),
			Entry("one connection closed before any answer", harness.Req("TRK-CLI-026", harness.Should, harness.Faults), func(f *fixture) {
				f.wire.hangUpOn(http.MethodGet, 0, 1)
			}),
		)

		DescribeTable("reports a segment whose body ends abnormally as an error",
			func(complete bool) {
				f := newFixture(fixtureOpts{create: true})
				f.fake.AddFault(trickleserver.Fault{Method: http.MethodGet, Seq: seqPtr(0), DropAfterBytes: seqPtr(5), Times: 1})
				if complete {
					f.publish(0, "0123456789")
				} else {
					fp := f.stream(0)
					fp.write("0123456789")
				}
				s := f.subscriber(subOptions{Start: seqPtr(0)})
				r := next(s, opTimeout)
				Expect(r.Outcome).To(Equal(outcomeError), "Next on a cut segment: %v", r)
				Expect(len(r.Body())).To(BeNumerically("<=", 5))
			},
			Entry("a complete segment", harness.Req("TRK-CLI-030", harness.Should, harness.Faults), true),
			Entry("a segment still being written", harness.Req("TRK-CLI-030", harness.Should, harness.Faults), false),
		)
	})

	Describe("quiet channels", func() {
		It("waits on a quiet channel without reporting an error (short form: 1.5 s)", harness.Req("TRK-CLI-027", harness.Must, harness.Timing), func() {
			quietChannel(1500*time.Millisecond, false)
		})
		It("waits on a quiet channel for 25 s without reporting an error", harness.Req("TRK-CLI-027", harness.Must, harness.Timing), func() {
			needLong(26 * time.Second)
			quietChannel(26*time.Second, false)
		})
		It("gets the segment that ends a quiet spell (short form: 1.5 s)", harness.Req("TRK-CLI-028", harness.Should, harness.Timing), func() {
			quietChannel(1500*time.Millisecond, true)
		})
		It("gets the segment that ends a 180 s quiet spell", harness.Req("TRK-CLI-028", harness.Should, harness.Timing), func() {
			needLong(181 * time.Second)
			quietChannel(181*time.Second, true)
		})
	})

	Describe("stopping", func() {
		It("closes the GET being read and the preconnected GET when stopped", harness.Req("TRK-CLI-029", harness.Must, harness.Core), func() {
			f := newFixture(fixtureOpts{create: true})
			fp := f.stream(0)
			fp.write("part-of-a-segment")
			s := f.subscriber(subOptions{Start: seqPtr(0)})
			res := goNext(s, opTimeout)
			Eventually(func() int64 {
				if g := f.segReqs(http.MethodGet, 0); len(g) > 0 {
					return g[0].BytesOut
				}
				return 0
			}).WithTimeout(cfg.reaction).WithPolling(10*time.Millisecond).ShouldNot(BeZero(), "segment 0 never reached the subscriber")
			// Leave it time to preconnect the GET for seq 1 (CLI-017); the
			// check holds for whatever is open.
			time.Sleep(300 * time.Millisecond)
			open := f.openRequests()
			Expect(open).NotTo(BeEmpty(), "nothing open before stopping")
			closeWithin(s, cfg.reaction)
			Eventually(f.openRequests).WithTimeout(cfg.reaction).WithPolling(20*time.Millisecond).
				Should(BeEmpty(), "requests left open after the subscriber stopped")
			await(res, cfg.reaction, "Next after close")
		})

		It("closes the GET waiting on a quiet channel when stopped", harness.Req("TRK-CLI-029", harness.Must, harness.Core), func() {
			f := newFixture(fixtureOpts{create: true})
			s := f.subscriber(subOptions{})
			res := goNext(s, opTimeout)
			Eventually(f.openRequests).WithTimeout(cfg.reaction).WithPolling(10 * time.Millisecond).ShouldNot(BeEmpty())
			closeWithin(s, cfg.reaction)
			Eventually(f.openRequests).WithTimeout(cfg.reaction).WithPolling(20*time.Millisecond).
				Should(BeEmpty(), "requests left open after the subscriber stopped")
			await(res, cfg.reaction, "Next after close")
		})
	})
})

// quietChannel subscribes to a channel nobody writes for d. The subscriber
// must report nothing and ask only for the seq it waits for; with deliver,
// the segment written after d must then reach it.
func quietChannel(d time.Duration, deliver bool) {
	GinkgoHelper()
	f := newFixture(fixtureOpts{create: true})
	s := f.subscriber(subOptions{})
	res := goNext(s, d+opTimeout)
	select {
	case r := <-res:
		Fail("the subscriber reported " + r.String() + " while the channel was quiet")
	case <-time.After(d):
	}
	gets := f.reqs(http.MethodGet)
	Expect(gets).NotTo(BeEmpty())
	for _, g := range gets {
		// A re-issued request may name the seq the first one resolved to.
		Expect(g.Seq).To(BeElementOf(gets[0].Seq, int64(0)), "the subscriber moved off the seq it waits for:%s", describe(gets))
	}
	if !deliver {
		return
	}
	f.publish(0, "zero")
	expectSegment(await(res, opTimeout, "Next"), 0, "zero")
}
