package client

import (
	"bytes"
	"cmp"
	"fmt"
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

// Run specs for publishers: the publisher is handed the input (segment
// files, or the whole stream) and a channel URL, publishes it all and
// exits; the specs judge what reached the fake server. See driver_cmd.go.

// publishAll runs the publisher to its end, then gives the server a
// moment to finish reading what the publisher sent before it exited.
func publishAll(f *runFixture) runResult {
	GinkgoHelper()
	res := f.startPublisher().wait(pubRunTimeout, "it was started with five segments to publish")
	settle(f)
	return res
}

// settle waits, up to the reaction budget, until the server has ended
// every request of the spec's channel.
func settle(f *runFixture) {
	deadline := time.Now().Add(cfg.reaction)
	for len(f.openRequests()) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// carryingBySeq returns the POSTs that carried segment bytes, by seq: the
// order of the segments. (The order in which their bytes reached the
// server need not be it for a publisher that sends them fast, or at once.)
func carryingBySeq(f *runFixture) []trickleserver.Request {
	posts := f.carrying()
	slices.SortStableFunc(posts, func(a, b trickleserver.Request) int { return cmp.Compare(a.Seq, b.Seq) })
	return posts
}

// needSegments ends the spec as unsupported when the publisher cuts the
// input itself, so that the suite does not know its segments.
func needSegments(what string) {
	if pubRuns.WholeFile() {
		harness.Unsupported("the publisher is given the whole stream ({file}) and cuts it itself, so the suite cannot know %s; give it {seg_dir} to have this checked", what)
	}
}

// firstDiff describes where two byte strings part.
func firstDiff(got, want []byte) string {
	n := min(len(got), len(want))
	for i := range n {
		if got[i] != want[i] {
			return fmt.Sprintf("%d bytes, want %d; they differ from byte %d", len(got), len(want), i)
		}
	}
	return fmt.Sprintf("%d bytes, want %d; one is a prefix of the other", len(got), len(want))
}

// expectAccepted checks that the server accepted input segment i at seq,
// with exactly its bytes.
func expectAccepted(f *runFixture, seq int64, i int, res runResult) {
	GinkgoHelper()
	segs, _ := inputSegments()
	body, ok := f.bodies.accepted(seq)
	if !ok {
		Fail(fmt.Sprintf("no POST to seq %d carrying input segment %d was accepted (%v):%s", seq, i, res, describe(f.reqs(""))))
	}
	if !bytes.Equal(body, segs[i]) {
		Fail(fmt.Sprintf("the POST to seq %d carried other bytes than input segment %d: %s", seq, i, firstDiff(body, segs[i])))
	}
}

// segmentFailsAt is a fault on one segment's POSTs for the CLI-012 table.
type segmentFailsAt struct {
	opts  fixtureOpts
	fault *trickleserver.Fault // its Method and Seq are set to POST and seq
	seq   int64                // the first segment that fails
}

var _ = specs.Describe("Publisher run", Label(runPublisherLabel), func() {
	Describe("segments on the wire", func() {
		It("publishes its input as one POST per segment, to consecutive seqs, each answered 200, and exits 0", harness.Req("TRK-CLI-001", harness.Must, harness.Core), func() {
			f := newRunFixture(fixtureOpts{})
			res := publishAll(f)
			posts := carryingBySeq(f)
			segs, _ := inputSegments()
			if pubRuns.WholeFile() {
				Expect(posts).NotTo(BeEmpty(), "no POST carried segment bytes (%v):%s", res, describe(f.reqs("")))
			} else {
				Expect(posts).To(HaveLen(len(segs)), "expected one POST carrying each of the %d segment files (%v):%s", len(segs), res, describe(f.reqs("")))
			}
			if posts[0].Seq == trickle.SeqNext {
				// A first POST to -1 is to latest, 0 on a new channel.
				posts = posts[1:]
			}
			for i, p := range posts {
				if i > 0 {
					Expect(p.Seq).To(Equal(posts[0].Seq+int64(i)), "the segments did not go to consecutive seqs (listed by seq):%s", describe(posts))
				}
				Expect(p.Status).To(Equal(http.StatusOK), "the POST to seq %d was not accepted:%s", p.Seq, describe(f.reqs("")))
			}
			Expect(res.Code).To(BeZero(), "the publisher failed on a run without faults: %v", res)
		})

		It("sends each segment file's exact bytes as the body of its POST, so the input is reassembled from the bodies", harness.Req("TRK-CLI-001", harness.Must, harness.Core), func() {
			needSegments("each segment's bytes")
			f := newRunFixture(fixtureOpts{})
			res := publishAll(f)
			posts := carryingBySeq(f)
			Expect(posts).NotTo(BeEmpty(), "no POST carried segment bytes (%v):%s", res, describe(f.reqs("")))
			first := posts[0].Seq
			if first == trickle.SeqNext {
				first = 0 // -1 is latest, 0 on a new channel
			}
			segs, _ := inputSegments()
			for i := range segs {
				seq := first + int64(i)
				if i == 0 {
					seq = posts[0].Seq // as the capture records it
				}
				expectAccepted(f, seq, i, res)
			}
		})

		It("uses up the seq of a segment abandoned part-way: the next segment goes to the next seq", harness.Req("TRK-CLI-001", harness.Must, harness.Core), func() {
			f := newRunFixture(fixtureOpts{})
			f.fake.AddFault(trickleserver.Fault{Method: http.MethodPost, Seq: seqPtr(1), DropAfterBytes: seqPtr(4), Times: 1})
			res := publishAll(f)
			var dropped *trickleserver.Request
			for _, q := range f.segReqs(http.MethodPost, 1) {
				if q.Fault != "" {
					dropped = &q
				}
			}
			if dropped == nil || dropped.BytesIn == 0 {
				Fail(fmt.Sprintf("the publisher never sent bytes to seq 1, so the check could not be made (%v):%s", res, describe(f.reqs(""))))
			}
			var after []trickleserver.Request
			for _, q := range carryingBySeq(f) {
				if q.FirstByteIn.After(dropped.FirstByteIn) {
					after = append(after, q)
				}
			}
			if len(after) == 0 {
				Skip("the publisher sent no segment after the failed one; the CLI-012 specs judge that")
			}
			if pubRuns.WholeFile() {
				Expect(after[0].Seq).To(BeEquivalentTo(2), "the segment after the one abandoned at seq 1 must go to seq 2:%s", describe(f.reqs("")))
			} else {
				expectAccepted(f, 2, 2, res)
			}
		})

		It("sends its first segment to seq 0 (or -1) on a new channel", harness.Req("TRK-CLI-002", harness.Must, harness.Core), func() {
			f := newRunFixture(fixtureOpts{})
			publishAll(f)
			firstPostSeq(f.fixture, 0)
		})

		It("sends its first segment to seq 0, -1 or the latest from /next on a channel that has segments", harness.Req("TRK-CLI-002", harness.Must, harness.Core), func() {
			f := newRunFixture(fixtureOpts{})
			f.publish(0, "a", "b", "c") // latest is 3
			publishAll(f)
			firstPostSeq(f.fixture, 3)
		})

		It("puts Content-Type video/mp2t on every segment POST, a retry included", harness.Req("TRK-CLI-003", harness.Must, harness.Core), func() {
			f := newRunFixture(fixtureOpts{})
			f.fake.AddFault(trickleserver.Fault{Method: http.MethodPost, Seq: seqPtr(1), Nth: 1, Status: http.StatusServiceUnavailable})
			res := publishAll(f)
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
			Expect(n).To(BeNumerically(">", 0), "the publisher sent no segment POST (%v)", res)
		})

		It("never opens a POST more than one seq ahead of the segment it is sending", harness.Req("TRK-CLI-006", harness.Must, harness.Core), func() {
			// A pause before the server reads each POST keeps every segment
			// on the wire for a while, so that POSTs opened too early show.
			f := newRunFixture(fixtureOpts{faults: []trickleserver.Fault{{Method: http.MethodPost, Latency: 150 * time.Millisecond}}})
			res := publishAll(f)
			posts := f.carrying()
			Expect(posts).NotTo(BeEmpty(), "no POST carried segment bytes (%v):%s", res, describe(f.reqs("")))
			all := f.reqs(http.MethodPost)
			for _, k := range posts {
				for _, b := range all {
					if b.HasSeq && b.Seq >= k.Seq+2 {
						Expect(b.Start).NotTo(BeTemporally("<", k.LastByteIn),
							"POST seq %d opened before segment %d's last byte:%s", b.Seq, k.Seq, describe(all))
					}
				}
			}
		})
	})

	Describe("failures", func() {
		DescribeTable("never POSTs a seq again once bytes of it were sent",
			func(after int64) {
				f := newRunFixture(fixtureOpts{})
				f.fake.AddFault(trickleserver.Fault{Method: http.MethodPost, Seq: seqPtr(1), DropAfterBytes: seqPtr(after), Times: 1})
				res := publishAll(f)
				var dropped *trickleserver.Request
				seq1 := f.segReqs(http.MethodPost, 1)
				for i := range seq1 {
					if seq1[i].Fault != "" {
						dropped = &seq1[i]
					}
				}
				if dropped == nil || dropped.BytesIn == 0 {
					Fail(fmt.Sprintf("the publisher never sent bytes on a POST to seq 1, so the check could not be made (%v):%s", res, describe(f.reqs(""))))
				}
				for _, r := range seq1 {
					Expect(r.Start).NotTo(BeTemporally(">", dropped.FirstByteIn), "seq 1 was POSTed again after bytes of it were sent:%s", describe(f.reqs("")))
				}
			},
			Entry("the connection dropped after 4 bytes", harness.Req("TRK-CLI-009", harness.Must, harness.Faults), int64(4)),
			Entry("the connection dropped after 16 KiB", harness.Req("TRK-CLI-009", harness.Must, harness.Faults), int64(16<<10)),
		)

		DescribeTable("re-POSTs a segment that failed before any byte was sent, after a pause",
			func(arm func(f *runFixture)) {
				f := newRunFixture(fixtureOpts{})
				arm(f)
				res := publishAll(f)
				var tries []wireEntry
				for _, e := range f.wire.snapshot() {
					if e.Method == http.MethodPost && e.HasSeq && e.Seq == 1 {
						tries = append(tries, e)
					}
				}
				Expect(len(tries)).To(BeNumerically(">=", 2), "seq 1 was not POSTed again (%v):%s", res, describe(f.reqs("")))
				Expect(tries[1].Start.Sub(tries[0].End)).To(BeNumerically(">=", 100*time.Millisecond), "no pause before the retry")
				if pubRuns.WholeFile() {
					_, ok := f.bodies.accepted(1)
					Expect(ok).To(BeTrue(), "the retried segment was not accepted (%v):%s", res, describe(f.reqs("")))
				} else {
					expectAccepted(f, 1, 1, res)
				}
			},
			Entry("503", harness.Req("TRK-CLI-010", harness.Should, harness.Faults), func(f *runFixture) {
				f.fake.AddFault(trickleserver.Fault{Method: http.MethodPost, Seq: seqPtr(1), Nth: 1, Status: http.StatusServiceUnavailable})
			}),
			Entry("connection closed before any answer", harness.Req("TRK-CLI-010", harness.Should, harness.Faults), func(f *runFixture) {
				f.wire.hangUpOn(http.MethodPost, 1, 1)
			}),
		)

		It("retries an unstarted segment a bounded number of times, with growing pauses of at least 100 ms", harness.Req("TRK-CLI-010", harness.Should, harness.Faults), func() {
			f := newRunFixture(fixtureOpts{})
			f.fake.AddFault(trickleserver.Fault{Method: http.MethodPost, Seq: seqPtr(0), Status: http.StatusServiceUnavailable})
			res := publishAll(f)
			attempts := f.segReqs(http.MethodPost, 0)
			Expect(len(attempts)).To(BeNumerically(">=", 2), "the segment was not retried (%v):%s", res, describe(attempts))
			expectGrowingPauses(attempts)
		})

		It("closes a segment that failed part-way with DELETE /{ch}/{seq}", harness.Req("TRK-CLI-011", harness.Should, harness.Faults), func() {
			f := newRunFixture(fixtureOpts{})
			f.fake.AddFault(trickleserver.Fault{Method: http.MethodPost, Seq: seqPtr(1), DropAfterBytes: seqPtr(4), Times: 1})
			res := publishAll(f)
			Expect(f.segReqs(http.MethodDelete, 1)).NotTo(BeEmpty(), "no DELETE /{ch}/1 after the segment failed part-way (%v):%s", res, describe(f.reqs("")))
		})

		DescribeTable("goes on with the next segment at seq+1 after a failed one",
			func(c segmentFailsAt) {
				f := newRunFixture(c.opts)
				if c.fault != nil {
					c.fault.Method, c.fault.Seq = http.MethodPost, seqPtr(c.seq)
					f.fake.AddFault(*c.fault)
				}
				res := publishAll(f)
				if pubRuns.WholeFile() {
					if c.opts.maxSegment > 0 {
						harness.Unsupported("the publisher cuts {file} itself, so the suite cannot pick a size limit that some of its segments exceed")
					}
					ok := false
					for _, q := range f.carrying() {
						ok = ok || (q.Seq > c.seq && q.Status == http.StatusOK)
					}
					Expect(ok).To(BeTrue(), "no segment after the failed seq %d was accepted (%v):%s", c.seq, res, describe(f.reqs("")))
					return
				}
				segs, _ := inputSegments()
				checked := 0
				for i := int(c.seq) + 1; i < len(segs); i++ {
					if c.opts.maxSegment > 0 && int64(len(segs[i])) > c.opts.maxSegment {
						continue
					}
					expectAccepted(f, int64(i), i, res)
					checked++
				}
				if checked == 0 {
					harness.HarnessError(errSetup("no input segment after seq %d fits the size limit", c.seq))
				}
			},
			Entry("409", harness.Req("TRK-CLI-012", harness.Should, harness.Faults),
				segmentFailsAt{fault: &trickleserver.Fault{Status: http.StatusConflict}, seq: 1}),
			Entry("413 after part of the body", harness.Req("TRK-CLI-012", harness.Should, harness.Faults),
				// Input segments 2 and 3 are over 50000 bytes; 0, 1 and 4 are not.
				segmentFailsAt{opts: fixtureOpts{maxSegment: 50000}, seq: 2}),
			Entry("470", harness.Req("TRK-CLI-012", harness.Should, harness.Faults),
				segmentFailsAt{fault: &trickleserver.Fault{Status: trickle.StatusSequenceNonexistent}, seq: 1}),
			Entry("another 4xx (403)", harness.Req("TRK-CLI-012", harness.Should, harness.Faults),
				segmentFailsAt{fault: &trickleserver.Fault{Status: http.StatusForbidden}, seq: 1}),
			Entry("a dropped connection part-way", harness.Req("TRK-CLI-012", harness.Should, harness.Faults),
				segmentFailsAt{fault: &trickleserver.Fault{DropAfterBytes: seqPtr(4)}, seq: 1}),
			Entry("retries used up (503 every time)", harness.Req("TRK-CLI-012", harness.Should, harness.Faults),
				segmentFailsAt{fault: &trickleserver.Fault{Status: http.StatusServiceUnavailable}, seq: 1}),
		)
	})

	Describe("end of publishing", func() {
		DescribeTable("stops publishing on 404 or Lp-Trickle-Closed",
			func(seq int64, fault trickleserver.Fault) {
				f := newRunFixture(fixtureOpts{})
				fault.Method, fault.Seq = http.MethodPost, seqPtr(seq)
				f.fake.AddFault(fault)
				res := publishAll(f)
				var refusal *trickleserver.Request
				for _, q := range f.segReqs(http.MethodPost, seq) {
					if q.Fault != "" && !q.End.IsZero() && (refusal == nil || q.End.Before(refusal.End)) {
						refusal = &q
					}
				}
				if refusal == nil {
					Fail(fmt.Sprintf("the publisher never finished a POST to seq %d (%v):%s", seq, res, describe(f.reqs(""))))
				}
				for _, q := range f.carrying() {
					Expect(q.Start).NotTo(BeTemporally(">", refusal.End), "POST seq %d carried %d segment bytes after the POST to seq %d was answered %d (%v):%s",
						q.Seq, q.BytesIn, seq, refusal.Status, res, describe(f.reqs("")))
				}
			},
			Entry("404 on the first segment", harness.Req("TRK-CLI-013", harness.Should, harness.Channels), int64(0),
				trickleserver.Fault{Status: http.StatusNotFound}),
			Entry("404 after segments were written", harness.Req("TRK-CLI-013", harness.Should, harness.Channels), int64(2),
				trickleserver.Fault{Status: http.StatusNotFound}),
			Entry("Lp-Trickle-Closed on the answer to a written segment", harness.Req("TRK-CLI-013", harness.Should, harness.Channels), int64(2),
				trickleserver.Fault{Header: map[string]string{trickle.HeaderClosed: "yes"}}),
		)

		It("once its input is published, deletes the channel after its last segment ended properly, and leaves nothing open", harness.Req("TRK-CLI-014", harness.Should, harness.Channels), func() {
			f := newRunFixture(fixtureOpts{})
			publishAll(f)
			segs, _ := inputSegments()
			n := len(segs)
			if pubRuns.WholeFile() {
				n = len(f.carrying())
			}
			checkClosed(f.fixture, n)
		})
	})
})
