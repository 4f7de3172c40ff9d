package client

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/gotrickle/gotrickle/conformance/harness"
	"github.com/gotrickle/gotrickle/fakes/trickleserver"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// opTimeout bounds one driver call that is expected to finish quickly.
const opTimeout = 10 * time.Second

// read fetches a whole segment from the server, bypassing the fake.
func (f *fixture) read(seq int64) (int, string) {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.feedURL(seq), nil)
	resp, err := f.client.Do(req)
	Expect(err).NotTo(HaveOccurred(), "reading seq %d back", seq)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred(), "reading seq %d back", seq)
	return resp.StatusCode, string(b)
}

func seqsOf(rs []trickleserver.Request) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.Seq
	}
	return out
}

var _ = specs.Describe("Publisher", func() {
	Describe("segments on the wire", func() {
		It("sends each segment as the body of one POST, to consecutive seqs", harness.Req("TRK-CLI-001", harness.Must, harness.Core), func() {
			f := newFixture(fixtureOpts{})
			p := f.publisher(pubOptions{})
			segs := [][]string{{"seg-zero-", "in-two"}, {"seg-one"}, {"s", "e", "g", "-", "two"}}
			for _, s := range segs {
				write(p, opTimeout, s, 20*time.Millisecond)
			}
			posts := f.carrying()
			Expect(posts).To(HaveLen(len(segs)), "expected one POST carrying each segment:%s", describe(f.reqs("")))
			for i, s := range segs {
				want := strings.Join(s, "")
				Expect(posts[i].Seq).To(Equal(posts[0].Seq+int64(i)), "seqs are not consecutive:%s", describe(posts))
				Expect(posts[i].BytesIn).To(BeEquivalentTo(len(want)), "POST seq %d", posts[i].Seq)
				Expect(posts[i].Status).To(Equal(http.StatusOK), "POST seq %d", posts[i].Seq)
				_, body := f.read(posts[i].Seq)
				Expect(body).To(Equal(want), "the server holds other bytes for seq %d", posts[i].Seq)
			}
		})

		It("uses up the seq of a segment abandoned after a failure", harness.Req("TRK-CLI-001", harness.Must, harness.Core), func() {
			f := newFixture(fixtureOpts{})
			f.fake.AddFault(trickleserver.Fault{Method: http.MethodPost, Seq: seqPtr(1), DropAfterBytes: seqPtr(4), Times: 1})
			p := f.publisher(pubOptions{FastRetries: true})
			write(p, opTimeout, []string{"zero"}, 0)
			r := tryWrite(p, opTimeout, []string{"one-abcd", "one-efgh"}, 100*time.Millisecond)
			Expect(r.Outcome).NotTo(Equal(outcomeOK), "the connection was dropped part-way through seq 1")
			write(p, opTimeout, []string{"two"}, 0)
			posts := f.carrying()
			Expect(seqsOf(posts)).To(Equal([]int64{0, 1, 2}), "the segment after the abandoned one must go to the next seq:%s", describe(f.reqs("")))
			_, body := f.read(2)
			Expect(body).To(Equal("two"))
		})

		It("sends the first segment to seq 0, -1 or the latest from /next on a new channel", harness.Req("TRK-CLI-002", harness.Must, harness.Core), func() {
			f := newFixture(fixtureOpts{})
			p := f.publisher(pubOptions{})
			write(p, opTimeout, []string{"first"}, 0)
			posts := f.carrying()
			Expect(posts).NotTo(BeEmpty())
			// On a new channel /next answers 0.
			Expect(posts[0].Seq).To(BeElementOf(int64(0), int64(-1)), "first segment:%s", describe(f.reqs("")))
		})

		It("sends the first segment to seq 0, -1 or the latest from /next on a channel that has segments", harness.Req("TRK-CLI-002", harness.Must, harness.Core), func() {
			f := newFixture(fixtureOpts{})
			f.publish(0, "a", "b", "c") // latest is 3
			p := f.publisher(pubOptions{FastRetries: true})
			tryWrite(p, opTimeout, []string{"first"}, 0)
			firstPostSeq(f, 3)
		})

		It("resumes at the server's latest seq when configured to", harness.Req("TRK-CLI-002", harness.Must, harness.Core), func() {
			f := newFixture(fixtureOpts{})
			f.publish(0, "a", "b", "c") // latest is 3
			p := f.publisher(pubOptions{Resume: true})
			write(p, opTimeout, []string{"first"}, 0)
			first := firstPostSeq(f, 3)
			Expect(first).To(BeElementOf(int64(3), int64(-1)), "a resuming publisher must not start at 0 on a channel at 3")
			_, body := f.read(3)
			Expect(body).To(Equal("first"))
		})

		It("puts Content-Type video/mp2t on every segment POST, retries included", harness.Req("TRK-CLI-003", harness.Must, harness.Core), func() {
			f := newFixture(fixtureOpts{})
			f.fake.AddFault(trickleserver.Fault{Method: http.MethodPost, Seq: seqPtr(1), Nth: 1, Status: http.StatusServiceUnavailable})
			p := f.publisher(pubOptions{FastRetries: true})
			for _, s := range []string{"zero", "one", "two"} {
				write(p, opTimeout, []string{s}, 0)
			}
			n := 0
			for _, e := range f.wire.snapshot() {
				if e.Method != http.MethodPost || !e.HasSeq {
					continue
				}
				n++
				ct := e.Header.Get("Content-Type")
				Expect(ct).NotTo(BeEmpty(), "POST %s has no Content-Type", e.Path)
				mt, _, err := mime.ParseMediaType(ct)
				Expect(err).NotTo(HaveOccurred(), "POST %s: Content-Type %q", e.Path, ct)
				Expect(strings.EqualFold(mt, trickle.ContentTypeMPEGTS)).To(BeTrue(), "POST %s: Content-Type %q, want video/mp2t", e.Path, ct)
			}
			Expect(n).To(BeNumerically(">=", 4), "expected at least three segments and a retry:%s", describe(f.reqs("")))
		})

		It("streams a segment's bytes as they are produced", harness.Req("TRK-CLI-004", harness.Must, harness.Timing), func() {
			f := newFixture(fixtureOpts{})
			p := f.publisher(pubOptions{})
			// A segment produced over 2 s.
			r := write(p, opTimeout, []string{"c0", "c1", "c2", "c3", "c4"}, 500*time.Millisecond)
			posts := f.carrying()
			Expect(posts).To(HaveLen(1))
			Expect(posts[0].FirstByteIn.Sub(r.Began)).To(BeNumerically("<", time.Second),
				"the server got the first bytes %v after the segment began", posts[0].FirstByteIn.Sub(r.Began))
			Expect(posts[0].FirstByteIn).To(BeTemporally("<", r.Ended), "the first bytes arrived only once the segment had ended")
		})
	})

	Describe("preconnects", func() {
		It("has the POST for the next segment open while a segment is being written", harness.Req("TRK-CLI-005", harness.Should, harness.Perf), func() {
			f := newFixture(fixtureOpts{})
			p := f.publisher(pubOptions{})
			for range 3 {
				// Each segment takes 0.4 s, well past net/http's 200 ms
				// hold on the headers of a body that has not started.
				write(p, opTimeout, []string{"a", "b", "c"}, 200*time.Millisecond)
			}
			posts := f.carrying()
			Expect(posts).To(HaveLen(3))
			all := f.reqs(http.MethodPost)
			for _, k := range posts[:2] {
				open := false
				for _, r := range all {
					if r.HasSeq && r.Seq == k.Seq+1 && r.Start.Before(k.LastByteIn) {
						open = true
					}
				}
				Expect(open).To(BeTrue(), "no POST for seq %d was open before segment %d's last byte:%s", k.Seq+1, k.Seq, describe(all))
			}
		})

		It("never opens a POST more than one seq ahead of the segment being written", harness.Req("TRK-CLI-006", harness.Must, harness.Core), func() {
			f := newFixture(fixtureOpts{})
			p := f.publisher(pubOptions{})
			var writes []writeResult
			for range 3 {
				writes = append(writes, write(p, opTimeout, []string{"a", "b", "c"}, 100*time.Millisecond))
				time.Sleep(50 * time.Millisecond)
			}
			posts := f.carrying()
			Expect(posts).To(HaveLen(3))
			all := f.reqs(http.MethodPost)
			for i, k := range posts {
				for _, b := range all {
					if !b.HasSeq || b.Seq < k.Seq+2 {
						continue
					}
					Expect(b.Start).NotTo(BeTemporally("<", writes[i].Ended),
						"POST seq %d opened while segment %d was still being written:%s", b.Seq, k.Seq, describe(all))
					Expect(b.Start).NotTo(BeTemporally("<", k.LastByteIn),
						"POST seq %d opened before segment %d's last byte:%s", b.Seq, k.Seq, describe(all))
				}
			}
		})

		It("carries on with a segment after several interim 100 Continue responses", harness.Req("TRK-CLI-007", harness.Must, harness.Timing), func() {
			f := newFixture(fixtureOpts{keepalive: 50 * time.Millisecond})
			p := f.publisher(pubOptions{})
			write(p, opTimeout, []string{"zero"}, 0)
			time.Sleep(600 * time.Millisecond) // the next POST idles and is sent interim responses
			write(p, opTimeout, []string{"one"}, 0)
			posts := f.carrying()
			Expect(posts).To(HaveLen(2))
			seq := posts[1].Seq
			Expect(f.segReqs(http.MethodPost, seq)).To(HaveLen(1), "the segment went out on a new POST instead of the preconnected one:%s", describe(f.reqs("")))
			interims := 0
			for _, e := range f.wire.snapshot() {
				if e.Method == http.MethodPost && e.HasSeq && e.Seq == seq {
					interims = max(interims, e.interims)
				}
			}
			if interims < 3 {
				harness.HarnessError(errSetup("the server sent only %d interim responses to the preconnected POST", interims))
			}
			Expect(posts[1].Status).To(Equal(http.StatusOK))
			_, body := f.read(seq)
			Expect(body).To(Equal("one"))
		})

		It("keeps an idle preconnect open (short form: 1.5 s)", harness.Req("TRK-CLI-008", harness.Should, harness.Timing), func() {
			idlePreconnect(1500*time.Millisecond, 250*time.Millisecond)
		})

		It("keeps an idle preconnect open for 60 s", harness.Req("TRK-CLI-008", harness.Should, harness.Timing), func() {
			needLong(61 * time.Second)
			idlePreconnect(61*time.Second, 0)
		})
	})

	Describe("failures", func() {
		DescribeTable("never POSTs a seq again once bytes of it were sent",
			func(chunks []string) {
				f := newFixture(fixtureOpts{})
				f.fake.AddFault(trickleserver.Fault{Method: http.MethodPost, Seq: seqPtr(1), DropAfterBytes: seqPtr(4), Times: 1})
				p := f.publisher(pubOptions{FastRetries: true})
				write(p, opTimeout, []string{"zero"}, 0)
				tryWrite(p, opTimeout, chunks, 100*time.Millisecond)
				tryWrite(p, opTimeout, []string{"two"}, 0)
				tryWrite(p, opTimeout, []string{"three"}, 0)
				var dropped *trickleserver.Request
				seq1 := f.segReqs(http.MethodPost, 1)
				for i := range seq1 {
					if seq1[i].Fault != "" {
						dropped = &seq1[i]
					}
				}
				if dropped == nil || dropped.BytesIn == 0 {
					Fail("the publisher never sent bytes on a POST to seq 1, so the check could not be made:" + describe(f.reqs("")))
				}
				for _, r := range seq1 {
					Expect(r.Start).NotTo(BeTemporally(">", dropped.FirstByteIn), "seq 1 was POSTed again after bytes of it were sent:%s", describe(f.reqs("")))
				}
			},
			Entry("a segment in several writes, dropped part-way", harness.Req("TRK-CLI-009", harness.Must, harness.Faults), []string{"one-abcd", "one-efgh"}),
			Entry("a segment in one write, dropped part-way", harness.Req("TRK-CLI-009", harness.Must, harness.Faults), []string{"one-abcdefgh"}),
		)

		DescribeTable("re-POSTs a segment that failed before any byte was sent",
			func(arm func(f *fixture)) {
				f := newFixture(fixtureOpts{})
				arm(f)
				p := f.publisher(pubOptions{})
				write(p, opTimeout, []string{"zero"}, 0)
				r := tryWrite(p, opTimeout, []string{"one"}, 0)
				// The wire log sees every attempt, those the fake never
				// handled included.
				var tries []wireEntry
				for _, e := range f.wire.snapshot() {
					if e.Method == http.MethodPost && e.HasSeq && e.Seq == 1 {
						tries = append(tries, e)
					}
				}
				Expect(len(tries)).To(BeNumerically(">=", 2), "seq 1 was not POSTed again:%s", describe(f.reqs("")))
				Expect(tries[1].Start.Sub(tries[0].End)).To(BeNumerically(">=", 100*time.Millisecond), "no pause before the retry")
				Expect(r.Outcome).To(Equal(outcomeOK), "segment 1: %v:%s", r, describe(f.reqs("")))
				_, body := f.read(1)
				Expect(body).To(Equal("one"))
			},
			Entry("503", harness.Req("TRK-CLI-010", harness.Should, harness.Faults), func(f *fixture) {
				f.fake.AddFault(trickleserver.Fault{Method: http.MethodPost, Seq: seqPtr(1), Nth: 1, Status: http.StatusServiceUnavailable})
			}),
			// The connection is closed before the server handles the
			// request, rather than with the fake's DropAfterBytes: 0,
			// because gotrickle's server closes a claimed segment when its
			// POST fails with no byte sent, refusing every retry with 409.
			Entry("connection closed before any answer", harness.Req("TRK-CLI-010", harness.Should, harness.Faults), func(f *fixture) {
				f.wire.hangUpOn(http.MethodPost, 1, 1)
			}),
		)

		It("retries an unstarted segment a bounded number of times, with growing pauses of at least 100 ms", harness.Req("TRK-CLI-010", harness.Should, harness.Faults), func() {
			f := newFixture(fixtureOpts{})
			f.fake.AddFault(trickleserver.Fault{Method: http.MethodPost, Seq: seqPtr(0), Status: http.StatusServiceUnavailable})
			p := f.publisher(pubOptions{})
			r := tryWrite(p, 30*time.Second, []string{"zero"}, 0)
			returned := time.Now()
			Expect(r.Outcome).NotTo(Equal(outcomeTimeout), "the publisher was still retrying after 30 s:%s", describe(f.reqs("")))
			Expect(r.Outcome).NotTo(Equal(outcomeOK))
			time.Sleep(300 * time.Millisecond)
			attempts := f.segReqs(http.MethodPost, 0)
			Expect(len(attempts)).To(BeNumerically(">=", 2), "the segment was not retried:%s", describe(attempts))
			for _, a := range attempts {
				Expect(a.Start).To(BeTemporally("<", returned), "POSTs went on after the segment was given up:%s", describe(attempts))
			}
			expectGrowingPauses(attempts)
		})

		It("closes a segment that failed part-way with DELETE /{ch}/{seq}", harness.Req("TRK-CLI-011", harness.Should, harness.Faults), func() {
			f := newFixture(fixtureOpts{})
			f.fake.AddFault(trickleserver.Fault{Method: http.MethodPost, Seq: seqPtr(1), DropAfterBytes: seqPtr(4), Times: 1})
			p := f.publisher(pubOptions{FastRetries: true})
			write(p, opTimeout, []string{"zero"}, 0)
			r := tryWrite(p, opTimeout, []string{"one-abcd", "one-efgh"}, 100*time.Millisecond)
			Expect(r.Outcome).NotTo(Equal(outcomeOK))
			Eventually(func() []trickleserver.Request { return f.segReqs(http.MethodDelete, 1) }).
				WithTimeout(cfg.reaction).WithPolling(20*time.Millisecond).
				ShouldNot(BeEmpty(), "no DELETE /{ch}/1 after the segment failed part-way:%s", describe(f.reqs("")))
		})

		DescribeTable("reports and counts a failed segment, then goes on at seq+1",
			func(o fixtureOpts, fault *trickleserver.Fault, chunks []string) {
				f := newFixture(o)
				if fault != nil {
					fault.Method, fault.Seq = http.MethodPost, seqPtr(1)
					f.fake.AddFault(*fault)
				}
				p := f.publisher(pubOptions{FastRetries: true})
				write(p, opTimeout, []string{"zero"}, 0)
				lost0, counts := p.Lost()
				r := tryWrite(p, 20*time.Second, chunks, 50*time.Millisecond)
				Expect(r.Outcome).To(Equal(outcomeError), "segment 1 should be reported failed:%s", describe(f.reqs("")))
				r2 := tryWrite(p, opTimeout, []string{"two"}, 0)
				Expect(r2.Outcome).To(Equal(outcomeOK), "the segment after the failed one: %v:%s", r2, describe(f.reqs("")))
				posts := f.carrying()
				Expect(posts).NotTo(BeEmpty())
				Expect(posts[len(posts)-1].Seq).To(BeEquivalentTo(2), "the next segment must go to seq 2:%s", describe(f.reqs("")))
				_, body := f.read(2)
				Expect(body).To(Equal("two"))
				Expect(counts).To(BeTrue(), "the client exposes no count of lost segments")
				lost, _ := p.Lost()
				Expect(lost-lost0).To(BeEquivalentTo(1), "the failed segment was not counted as lost (%v)", r)
			},
			Entry("409", harness.Req("TRK-CLI-012", harness.Should, harness.Faults),
				fixtureOpts{}, &trickleserver.Fault{Status: http.StatusConflict}, []string{"one"}),
			Entry("413 after part of the body", harness.Req("TRK-CLI-012", harness.Should, harness.Faults),
				fixtureOpts{maxSegment: 16}, (*trickleserver.Fault)(nil), []string{"one-0123456789", "-0123456789", "-0123456789"}),
			Entry("470", harness.Req("TRK-CLI-012", harness.Should, harness.Faults),
				fixtureOpts{}, &trickleserver.Fault{Status: trickle.StatusSequenceNonexistent}, []string{"one"}),
			Entry("another 4xx (403)", harness.Req("TRK-CLI-012", harness.Should, harness.Faults),
				fixtureOpts{}, &trickleserver.Fault{Status: http.StatusForbidden}, []string{"one"}),
			Entry("a dropped connection part-way", harness.Req("TRK-CLI-012", harness.Should, harness.Faults),
				fixtureOpts{}, &trickleserver.Fault{DropAfterBytes: seqPtr(4)}, []string{"one-abcd", "one-efgh"}),
			Entry("retries used up (503 every time)", harness.Req("TRK-CLI-012", harness.Should, harness.Faults),
				fixtureOpts{}, &trickleserver.Fault{Status: http.StatusServiceUnavailable}, []string{"one"}),
		)
	})

	Describe("end of publishing", func() {
		DescribeTable("stops publishing on 404 or Lp-Trickle-Closed",
			func(firstFailing int64, cause func(f *fixture), want outcome) {
				f := newFixture(fixtureOpts{})
				cause(f)
				p := f.publisher(pubOptions{FastRetries: true})
				for range firstFailing {
					write(p, opTimeout, []string{"segment"}, 0)
				}
				r := tryWrite(p, opTimeout, []string{"refused"}, 0)
				var refusal *trickleserver.Request
				for _, q := range f.segReqs(http.MethodPost, firstFailing) {
					if !q.End.IsZero() && (refusal == nil || q.End.Before(refusal.End)) {
						refusal = &q
					}
				}
				if refusal == nil {
					Fail(fmt.Sprintf("the publisher never finished a POST to seq %d:%s", firstFailing, describe(f.reqs(""))))
				}
				later := []writeResult{tryWrite(p, opTimeout, []string{"later-1"}, 0), tryWrite(p, opTimeout, []string{"later-2"}, 0)}
				checkStopped(f, refusal.End, fmt.Sprintf("the POST to seq %d was answered %d", firstFailing, refusal.Status), r, later, want)
			},
			Entry("404 on the first segment", harness.Req("TRK-CLI-013", harness.Should, harness.Channels), int64(0),
				func(f *fixture) {
					f.fake.AddFault(trickleserver.Fault{Method: http.MethodPost, Seq: seqPtr(0), Status: http.StatusNotFound})
				}, outcomeNotFound),
			Entry("404 after segments were written", harness.Req("TRK-CLI-013", harness.Should, harness.Channels), int64(2),
				func(f *fixture) {
					f.fake.AddFault(trickleserver.Fault{Method: http.MethodPost, Seq: seqPtr(2), Status: http.StatusNotFound})
				}, outcomeEndOfStream),
			Entry("Lp-Trickle-Closed on the answer to a written segment", harness.Req("TRK-CLI-013", harness.Should, harness.Channels), int64(2),
				func(f *fixture) {
					f.fake.AddFault(trickleserver.Fault{Method: http.MethodPost, Seq: seqPtr(2), Header: map[string]string{trickle.HeaderClosed: "yes"}})
				}, outcomeEndOfStream),
		)

		It("stops publishing when the channel ends under its preconnected POST", harness.Req("TRK-CLI-013", harness.Should, harness.Channels), func() {
			f := newFixture(fixtureOpts{})
			p := f.publisher(pubOptions{FastRetries: true})
			write(p, opTimeout, []string{"zero"}, 0)
			// The POST for seq 1 is waiting for its first byte (or not open
			// yet); the server ends the channel, answering 200 with
			// Lp-Trickle-Closed to any waiting POST.
			f.closeChannel()
			ended := time.Now()
			r := tryWrite(p, opTimeout, []string{"one"}, 0)
			later := []writeResult{tryWrite(p, opTimeout, []string{"later-1"}, 0), tryWrite(p, opTimeout, []string{"later-2"}, 0)}
			closedAnswers := 0
			for _, q := range f.reqs(http.MethodPost) {
				if q.HasSeq && q.Seq == 1 && q.Status == http.StatusOK && q.BytesIn == 0 {
					closedAnswers++
				}
			}
			if closedAnswers == 0 {
				Skip("the publisher had no POST waiting when the channel ended; nothing to check")
			}
			checkStopped(f, ended, "the channel ended", r, later, outcomeEndOfStream)
		})

		It("on close after its last segment, deletes the channel and leaves nothing open", harness.Req("TRK-CLI-014", harness.Should, harness.Channels), func() {
			f := newFixture(fixtureOpts{})
			p := f.publisher(pubOptions{})
			write(p, opTimeout, []string{"zero"}, 0)
			write(p, opTimeout, []string{"one"}, 0)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			o, err := p.Close(ctx)
			Expect(o).To(Equal(outcomeOK), "close: %v", err)
			checkClosed(f, 2)
		})

		It("on close during a segment, ends that segment properly before deleting the channel", harness.Req("TRK-CLI-014", harness.Should, harness.Channels), func() {
			f := newFixture(fixtureOpts{})
			p := f.publisher(pubOptions{})
			write(p, opTimeout, []string{"zero"}, 0)
			wr := goWrite(p, opTimeout, []string{"one-a", "one-b", "one-c"}, 400*time.Millisecond)
			Eventually(func() int { return len(f.carrying()) }).WithTimeout(cfg.reaction).WithPolling(10*time.Millisecond).
				Should(Equal(2), "segment 1's first bytes never reached the server")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			p.Close(ctx)
			await(wr, opTimeout+time.Second, "the segment being written")
			checkClosed(f, 2)
		})
	})
})

// firstPostSeq checks that the first segment went to 0, -1, or (after a
// GET /next) to latest, and returns that seq. The first segment's seq is
// the lowest seq POSTed: the arrival order of the POSTs does not tell, as
// the preconnect for the next seq may reach the server first.
func firstPostSeq(f *fixture, latest int64) int64 {
	GinkgoHelper()
	all := f.reqs("")
	askedNext := false
	var posts []trickleserver.Request
	for _, r := range all {
		switch {
		case r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/next"):
			askedNext = true
		case r.Method == http.MethodPost && r.HasSeq:
			posts = append(posts, r)
		}
	}
	if len(posts) == 0 {
		Fail("the publisher sent no segment POST:" + describe(all))
	}
	first := slices.MinFunc(posts, func(a, b trickleserver.Request) int { return cmp.Compare(a.Seq, b.Seq) }).Seq
	allowed := []int64{0, -1}
	if askedNext {
		allowed = append(allowed, latest)
	}
	Expect(first).To(BeElementOf(allowed), "first segment POST (GET /next asked before it: %v):%s", askedNext, describe(all))
	return first
}

// checkStopped checks a publisher told at end that the stream is over:
// no segment bytes go out afterwards, later segments are not accepted, and
// the refused segment was reported as want.
func checkStopped(f *fixture, end time.Time, what string, r writeResult, later []writeResult, want outcome) {
	GinkgoHelper()
	var problems []string
	if r.Outcome != want {
		problems = append(problems, fmt.Sprintf("the publisher reported %s, want %s (%v)", r.Outcome, want, r.Err))
	}
	for _, q := range f.carrying() {
		if q.Start.After(end) {
			problems = append(problems, fmt.Sprintf("POST seq %d carried %d segment bytes after %s", q.Seq, q.BytesIn, what))
		}
	}
	for i, l := range later {
		if l.Outcome == outcomeOK {
			problems = append(problems, fmt.Sprintf("segment %d after the end was accepted (seq %d)", i+1, l.Seq))
		}
	}
	Expect(problems).To(BeEmpty(), "%s:%s", strings.Join(problems, "; "), describe(f.reqs("")))
}

// idlePreconnect writes a segment, lets the next POST idle for d, then
// writes the next segment, which must go out on the POST that idled. K is
// the server's keepalive (0: its default).
func idlePreconnect(d, k time.Duration) {
	GinkgoHelper()
	f := newFixture(fixtureOpts{keepalive: k})
	p := f.publisher(pubOptions{})
	write(p, opTimeout, []string{"zero"}, 0)
	time.Sleep(d)
	write(p, opTimeout, []string{"one"}, 0)
	posts := f.carrying()
	Expect(posts).To(HaveLen(2))
	seq := posts[1].Seq
	all := f.segReqs(http.MethodPost, seq)
	Expect(all).To(HaveLen(1), "the preconnected POST was given up and re-opened:%s", describe(f.reqs("")))
	waited := posts[1].FirstByteIn.Sub(posts[1].Start)
	Expect(waited).To(BeNumerically(">=", d-100*time.Millisecond), "the POST that carried the segment was open only %v before its first byte:%s", waited, describe(f.reqs("")))
	Expect(posts[1].Status).To(Equal(http.StatusOK))
}

// checkClosed checks a publisher after Close: the channel was deleted
// after every segment body had ended properly (status 200 and every byte),
// no empty segment was made before the DELETE, and no request is left
// open. segments is how many segments carried bytes.
func checkClosed(f *fixture, segments int) {
	GinkgoHelper()
	var dels []trickleserver.Request
	for _, r := range f.reqs(http.MethodDelete) {
		if !r.HasSeq {
			dels = append(dels, r)
		}
	}
	Expect(dels).NotTo(BeEmpty(), "no DELETE /{ch} on close:%s", describe(f.reqs("")))
	del := dels[0]
	Expect(del.Status).To(Equal(http.StatusOK), "DELETE /{ch}")
	posts := f.carrying()
	Expect(posts).To(HaveLen(segments), "segments carried:%s", describe(f.reqs("")))
	for _, q := range posts {
		Expect(q.Status).To(Equal(http.StatusOK), "segment %d did not end properly:%s", q.Seq, describe(f.reqs("")))
		if q.End.IsZero() || q.End.After(del.Start) {
			Fail(fmt.Sprintf("segment %d's POST was still open when DELETE /{ch} was sent (it ended %v after the DELETE began):%s",
				q.Seq, q.End.Sub(del.Start).Round(time.Microsecond), describe(f.reqs(""))))
		}
	}
	for _, q := range f.reqs(http.MethodPost) {
		if q.HasSeq && q.BytesIn == 0 && q.Status == http.StatusOK && !q.End.IsZero() && q.End.Before(del.Start) {
			Fail(fmt.Sprintf("the idle POST for seq %d was ended with an empty body before the DELETE, making an empty segment:%s", q.Seq, describe(f.reqs(""))))
		}
	}
	Eventually(f.openRequests).WithTimeout(cfg.reaction).WithPolling(20*time.Millisecond).
		Should(BeEmpty(), "requests left open after close")
}
