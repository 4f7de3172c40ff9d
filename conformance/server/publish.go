package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/gotrickle/gotrickle/conformance/harness"
)

// pubProbeSeq is a seq far ahead of anything the publishing specs write: a
// GET for it is answered 470 at once, with Lp-Trickle-Latest, and changes
// nothing (it is neither latest nor seq 1 on a fresh channel).
const pubProbeSeq = 1000003

// pubDo sends one request and reads the whole answer within d. length is
// the body's Content-Length; -1 sends the body chunked.
func pubDo(method, url string, body io.Reader, length int64, d time.Duration, hdr ...string) reply {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if length < 0 && body != nil {
		body = struct{ io.Reader }{body} // hide the type: net/http must not learn a length
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return reply{err: err}
	}
	if body != nil {
		req.ContentLength = length
		if length < 0 {
			req.TransferEncoding = []string{"chunked"}
		}
	}
	return send(req, hdr...)
}

// pubGet reads a whole segment within the reaction budget: the segment is
// expected to be complete, so a server that makes the reader wait fails the
// spec instead of slowing it down.
func pubGet(ch string, seq any) reply {
	GinkgoHelper()
	return pubDo("GET", segURL(ch, seq), nil, 0, cfg.reaction)
}

// pubExpectSegment asserts that GET /{ch}/{seq} answers 200 with exactly body.
func pubExpectSegment(ch string, seq any, body string) {
	GinkgoHelper()
	r := pubGet(ch, seq)
	Expect(r.err).NotTo(HaveOccurred(), "GET %s", segURL(ch, seq))
	Expect(r.status).To(Equal(http.StatusOK), "GET %s: %q", segURL(ch, seq), r.body)
	Expect(r.body).To(Equal(body), "the bytes of segment %v", seq)
}

// pubLatest reads the channel's latest from the 470 answer to a GET far
// ahead.
func pubLatest(ch string) int64 {
	GinkgoHelper()
	r := pubGet(ch, pubProbeSeq)
	Expect(r.err).NotTo(HaveOccurred())
	Expect(r.status).To(Equal(470), "GET %s should be answered 470 (SRV-039): %q", segURL(ch, pubProbeSeq), r.body)
	return pubHeaderSeq(r.header, "Lp-Trickle-Latest")
}

// pubHeaderSeq reads a decimal seq header, failing the spec when it is
// missing or malformed.
func pubHeaderSeq(h http.Header, name string) int64 {
	GinkgoHelper()
	v := h.Get(name)
	Expect(v).NotTo(BeEmpty(), "header %s is missing", name)
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	Expect(err).NotTo(HaveOccurred(), "header %s: %q is not a decimal integer", name, v)
	return n
}

// pubChunk frames s as one chunk of a chunked body.
func pubChunk(s string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(s), s) }

// pubLastChunk ends a chunked body.
const pubLastChunk = "0\r\n\r\n"

// pubRawPost is a segment POST written by hand on its own connection, so
// that a spec controls every byte of the body (and can cut it off), and
// sees every interim response.
type pubRawPost struct {
	conn   net.Conn
	resps  chan pubRawResp // responses in order, interim ones included
	failed chan error      // the connection ended before a final response
}

// pubRawResp is one response read from a raw connection.
type pubRawResp struct {
	status int
	header http.Header
	body   string
	close  bool // the response said Connection: close (net/http removes the header)
	at     time.Time
}

// pubRawOpen sends the request line and headers of POST /{ch}/{seq} on a
// fresh connection; framing is the header that frames the body, e.g.
// "Transfer-Encoding: chunked" or "Content-Length: 10". The body is sent
// with send.
func pubRawOpen(ch string, seq any, framing string) *pubRawPost {
	GinkgoHelper()
	c := rawConn()
	p := &pubRawPost{conn: c, resps: make(chan pubRawResp, 64), failed: make(chan error, 1)}
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: video/mp2t\r\n%s\r\n\r\n",
		rawPath(ch, seq), rawHost(), framing)
	Expect(p.send(head)).To(Succeed(), "sending the POST headers")
	go func() {
		br := bufio.NewReader(c)
		for {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				p.failed <- err
				return
			}
			at := time.Now()
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			p.resps <- pubRawResp{status: resp.StatusCode, header: resp.Header, body: string(b), close: resp.Close, at: at}
			if resp.StatusCode >= 200 {
				return
			}
		}
	}()
	return p
}

// send writes raw bytes of the request.
func (p *pubRawPost) send(s string) error {
	p.conn.SetWriteDeadline(time.Now().Add(5 * cfg.reaction))
	_, err := io.WriteString(p.conn, s)
	return err
}

// drop ends the connection abruptly, as a publisher that went away: both
// directions are shut down, so the server sees the body end early. (The
// socket itself is closed when the spec ends.)
func (p *pubRawPost) drop() {
	GinkgoHelper()
	tc, ok := p.conn.(*net.TCPConn)
	Expect(ok).To(BeTrue(), "raw connections are TCP connections")
	// Errors are of no interest: the server may have reset the
	// connection already.
	tc.CloseWrite()
	tc.CloseRead()
}

// final waits up to d for the final (non-1xx) response. err is set when the
// connection ended without one.
func (p *pubRawPost) final(d time.Duration) (pubRawResp, error) {
	GinkgoHelper()
	deadline := time.After(d)
	for {
		select {
		case r := <-p.resps:
			if r.status >= 200 {
				return r, nil
			}
		case err := <-p.failed:
			p.failed <- err
			for {
				select {
				case r := <-p.resps:
					if r.status >= 200 {
						return r, nil
					}
				default:
					return pubRawResp{}, err
				}
			}
		case <-deadline:
			Fail(fmt.Sprintf("no final response to the POST within %v", d))
		}
	}
}

// quiet asserts that no final response arrives for d (interim ones may).
func (p *pubRawPost) quiet(d time.Duration) {
	GinkgoHelper()
	deadline := time.After(d)
	for {
		select {
		case r := <-p.resps:
			if r.status >= 200 {
				Fail(fmt.Sprintf("expected the server to keep the POST open, but it answered %d %q", r.status, r.body))
			}
		case err := <-p.failed:
			p.failed <- err
			Fail(fmt.Sprintf("expected the server to keep the POST open, but the connection ended: %v", err))
		case <-deadline:
			return
		}
	}
}

// pubQuietChannel returns a fresh channel that may stay without writes for
// d. When the idle timeout could end a channel sooner (SRV-053), it is a
// channel whose name starts with "_", which never expires (SRV-054).
func pubQuietChannel(d time.Duration) string {
	GinkgoHelper()
	if cfg.idle > d {
		return newChannel()
	}
	if !autocreate {
		Skip(fmt.Sprintf("the idle timeout %v could end a channel during the %v this spec keeps it quiet, and the server cannot create a never-expiring \"_\" channel on demand", cfg.idle, d))
	}
	name := "_" + randomName()
	r := do("POST", cfg.base+name, nil, "Expect-Content", "video/mp2t")
	if r.err != nil || r.status != http.StatusOK {
		harness.HarnessError(fmt.Errorf("creating channel %s: status %d err %v", name, r.status, r.err))
	}
	DeferCleanup(func() { do("DELETE", cfg.base+name, nil) })
	return name
}

// pubSettle is how long a spec lets a request it just sent reach the server
// before relying on the server having seen it.
const pubSettle = 300 * time.Millisecond

var _ = specs.Describe("Publishing (POST /{ch}/{seq})", func() {
	DescribeTable("answers a whole body 200 with an empty body and Lp-Trickle-Seq",
		func(seq int64, body string, length int64) {
			ch := newChannel()
			r := pubDo("POST", segURL(ch, seq), strings.NewReader(body), length, 5*cfg.reaction, "Content-Type", "video/mp2t")
			Expect(r.err).NotTo(HaveOccurred())
			Expect(r.status).To(Equal(http.StatusOK), "POST answered %q", r.body)
			Expect(r.body).To(BeEmpty(), "the body of the 200 answer")
			Expect(pubHeaderSeq(r.header, "Lp-Trickle-Seq")).To(Equal(seq))
			pubExpectSegment(ch, seq, body)
		},
		Entry("for a chunked body", harness.Req("TRK-SRV-020", harness.Must, harness.Core), int64(0), "chunked segment bytes", int64(-1)),
		Entry("for a body with Content-Length", harness.Req("TRK-SRV-020", harness.Must, harness.Core), int64(0), "sized segment bytes", int64(len("sized segment bytes"))),
		Entry("for a chunked body to a seq other than 0", harness.Req("TRK-SRV-020", harness.Must, harness.Core), int64(3), "seq three", int64(-1)),
	)

	It("writes POST /{ch}/-1 to latest and reports that seq", harness.Req("TRK-SRV-021", harness.Must, harness.Core), func() {
		ch := newChannel()
		for i, body := range []string{"first", "second"} {
			r := post(ch, -1, body)
			Expect(r.err).NotTo(HaveOccurred())
			Expect(r.status).To(Equal(http.StatusOK), "POST /-1 #%d: %q", i+1, r.body)
			Expect(pubHeaderSeq(r.header, "Lp-Trickle-Seq")).To(Equal(int64(i)), "Lp-Trickle-Seq of POST /-1 #%d", i+1)
		}
		pubExpectSegment(ch, 0, "first")
		pubExpectSegment(ch, 1, "second")

		// After a jump ahead, -1 follows latest again.
		mustPost(ch, 3, "jump")
		r := post(ch, -1, "after the jump")
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.status).To(Equal(http.StatusOK), "POST /-1 after writing 3: %q", r.body)
		Expect(pubHeaderSeq(r.header, "Lp-Trickle-Seq")).To(Equal(int64(4)))
		pubExpectSegment(ch, 4, "after the jump")
	})

	It("advances latest when the first body byte arrives, not when the POST connects", harness.Req("TRK-SRV-022", harness.Must, harness.Core), func() {
		ch := newChannel()
		p := pubRawOpen(ch, 0, "Transfer-Encoding: chunked")
		p.quiet(2 * pubSettle)

		r := pubGet(ch, 3)
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.status).To(Equal(470), "GET /3 while POST /0 has sent nothing: %q", r.body)
		Expect(pubHeaderSeq(r.header, "Lp-Trickle-Latest")).To(Equal(int64(0)), "latest while POST /0 has sent nothing")

		Expect(p.send(pubChunk("x"))).To(Succeed())
		Eventually(func(g Gomega) {
			r := pubGet(ch, 4)
			g.Expect(r.err).NotTo(HaveOccurred())
			g.Expect(r.status).To(Equal(470), "GET /4: %q", r.body)
			g.Expect(r.header.Get("Lp-Trickle-Latest")).To(Equal("1"), "latest once POST /0 has sent a byte")
		}).WithTimeout(cfg.reaction).WithPolling(50 * time.Millisecond).Should(Succeed())

		Expect(p.send(pubLastChunk)).To(Succeed())
		res, err := p.final(cfg.reaction)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.status).To(Equal(http.StatusOK))
	})

	DescribeTable("makes a complete empty segment of an empty POST and moves latest past it",
		func(seq int64, length int64) {
			ch := newChannel()
			r := pubDo("POST", segURL(ch, seq), strings.NewReader(""), length, 5*cfg.reaction, "Content-Type", "video/mp2t")
			Expect(r.err).NotTo(HaveOccurred())
			Expect(r.status).To(Equal(http.StatusOK), "empty POST answered %q", r.body)
			Expect(pubHeaderSeq(r.header, "Lp-Trickle-Seq")).To(Equal(seq))
			pubExpectSegment(ch, seq, "")
			Expect(pubLatest(ch)).To(Equal(seq+1), "latest after the empty segment %d", seq)
		},
		Entry("with Content-Length: 0", harness.Req("TRK-SRV-023", harness.Must, harness.Core), int64(0), int64(0)),
		Entry("with an empty chunked body", harness.Req("TRK-SRV-023", harness.Must, harness.Core), int64(2), int64(-1)),
	)

	It("keeps a POST that has sent no byte open with interim 100 Continue responses, then accepts its body", harness.Req("TRK-SRV-024", harness.Must, harness.Timing), func() {
		k := cfg.keepalive
		// An interim response may come this much later than K.
		tol := min(cfg.reaction, k/2)
		// Observe one interval; two where that costs little (short K).
		window, want := k+tol, 1
		if k+tol <= cfg.reaction {
			window, want = 2*k+tol, 2
		}
		ch := pubQuietChannel(window + cfg.reaction)
		p := pubRawOpen(ch, 0, "Transfer-Encoding: chunked")
		start := time.Now()
		var interims []time.Duration
		deadline := time.After(window)
	observe:
		for {
			select {
			case r := <-p.resps:
				if r.status >= 200 {
					Fail(fmt.Sprintf("the server answered the idle POST %d %q after %v; it should keep it open", r.status, r.body, r.at.Sub(start).Round(time.Millisecond)))
				}
				if r.status == http.StatusContinue {
					interims = append(interims, r.at.Sub(start))
				}
			case err := <-p.failed:
				Fail(fmt.Sprintf("the connection ended after %v while the POST had sent no byte: %v", time.Since(start).Round(time.Millisecond), err))
			case <-deadline:
				break observe
			}
		}
		Expect(len(interims)).To(BeNumerically(">=", want),
			"interim 100 Continue responses in %v with keepalive K = %v (got them at %v)", window, k, interims)
		prev := time.Duration(0)
		for i, at := range interims {
			Expect(at-prev).To(BeNumerically("<=", k+tol), "interim response %d came %v after the previous one (K = %v)", i+1, at-prev, k)
			prev = at
		}

		Expect(p.send(pubChunk("late body") + pubLastChunk)).To(Succeed())
		res, err := p.final(cfg.reaction)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.status).To(Equal(http.StatusOK), "POST answered %q", res.body)
		Expect(pubHeaderSeq(res.header, "Lp-Trickle-Seq")).To(Equal(int64(0)))
		pubExpectSegment(ch, 0, "late body")
	})

	It("accepts a second POST to a seq whose first POST has sent no byte, and its body becomes the segment", harness.Req("TRK-SRV-025", harness.Must, harness.Faults), func() {
		ch := newChannel()
		first := pubRawOpen(ch, 0, "Transfer-Encoding: chunked")
		first.quiet(pubSettle)

		r := post(ch, 0, "the retry")
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.status).To(Equal(http.StatusOK), "the retried POST answered %q", r.body)
		Expect(pubHeaderSeq(r.header, "Lp-Trickle-Seq")).To(Equal(int64(0)))
		pubExpectSegment(ch, 0, "the retry")
	})

	It("answers a superseded POST 409 at once and drops what it sends afterwards", harness.Req("TRK-SRV-026", harness.Should, harness.Faults), func() {
		ch := newChannel()
		first := pubRawOpen(ch, 0, "Transfer-Encoding: chunked")
		first.quiet(pubSettle)
		second := pubRawOpen(ch, 0, "Transfer-Encoding: chunked")

		res, err := first.final(cfg.reaction)
		Expect(err).NotTo(HaveOccurred(), "the superseded POST should be answered, not cut off")
		Expect(res.status).To(Equal(http.StatusConflict), "the superseded POST answered %q", res.body)

		first.send(pubChunk("from the superseded POST") + pubLastChunk) // may fail: the server may have closed it
		Expect(second.send(pubChunk("from the retry") + pubLastChunk)).To(Succeed())
		res, err = second.final(cfg.reaction)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.status).To(Equal(http.StatusOK), "the retry answered %q", res.body)
		pubExpectSegment(ch, 0, "from the retry")
	})

	It("refuses a second body for a complete segment with 409, leaving the segment and latest as they were", harness.Req("TRK-SRV-027", harness.Should, harness.Faults), func() {
		ch := newChannel()
		mustPost(ch, 0, "original")
		r := post(ch, 0, "second body")
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.status).To(Equal(http.StatusConflict), "a second POST to complete segment 0 answered %q", r.body)
		Expect(pubHeaderSeq(r.header, "Lp-Trickle-Seq")).To(Equal(int64(0)))
		Expect(pubHeaderSeq(r.header, "Lp-Trickle-Latest")).To(Equal(int64(1)))
		pubExpectSegment(ch, 0, "original")
		Expect(pubLatest(ch)).To(Equal(int64(1)))
	})

	It("refuses a second body for a segment whose writer has sent bytes with 409, leaving that writer undisturbed", harness.Req("TRK-SRV-027", harness.Should, harness.Faults), func() {
		ch := newChannel()
		w := beginPost(ch, 0)
		w.write("abc")
		rd := begin("GET", segURL(ch, 0), nil)
		resp := rd.response(cfg.reaction)
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		Expect(readN(resp.Body, 3, cfg.reaction)).To(Equal("abc"))

		r := post(ch, 0, "intruder")
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.status).To(Equal(http.StatusConflict), "a second POST to open segment 0 answered %q", r.body)
		Expect(pubHeaderSeq(r.header, "Lp-Trickle-Seq")).To(Equal(int64(0)))
		Expect(pubHeaderSeq(r.header, "Lp-Trickle-Latest")).To(Equal(int64(1)))

		w.write("def")
		wr := w.end()
		Expect(wr.StatusCode).To(Equal(http.StatusOK), "the first writer, after the refused POST")
		Expect(readAll(resp.Body, cfg.reaction)).To(Equal("def"), "the rest of segment 0 for the attached reader")
		pubExpectSegment(ch, 0, "abcdef")
	})

	It("does not move latest back when an older segment starts", harness.Req("TRK-SRV-028", harness.Should, harness.Core), func() {
		ch := newChannel()
		mustPost(ch, 0, "zero")
		mustPost(ch, 2, "two")
		Expect(pubLatest(ch)).To(Equal(int64(3)), "latest after writing 0 and 2")
		mustPost(ch, 1, "one")
		Expect(pubLatest(ch)).To(Equal(int64(3)), "latest after then writing 1")
	})

	It("answers a POST behind the window 470 and changes nothing", harness.Req("TRK-SRV-029", harness.Should, harness.Faults), func() {
		R := int64(cfg.ringSize)
		if R < 2 {
			Skip("needs a window of at least 2 segments")
		}
		ch := newChannel()
		last := 2*R - 2 // the newest segment; its slot is that of last-R
		for i := int64(0); i <= last; i++ {
			mustPost(ch, i, fmt.Sprintf("segment %d", i))
		}
		old := last - R
		r := post(ch, old, "too old")
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.status).To(Equal(470), "POST /%d after writing 0..%d (R = %d) answered %q", old, last, R, r.body)
		Expect(pubHeaderSeq(r.header, "Lp-Trickle-Seq")).To(Equal(old))
		Expect(pubHeaderSeq(r.header, "Lp-Trickle-Latest")).To(Equal(last + 1))
		Expect(pubLatest(ch)).To(Equal(last+1), "latest after the refused POST")
		pubExpectSegment(ch, last, fmt.Sprintf("segment %d", last))
	})

	DescribeTable("completes a segment whose POST body fails part-way with the bytes received",
		func(framing, body string, fail func(p *pubRawPost)) {
			ch := newChannel()
			attached := begin("GET", segURL(ch, 0), nil)
			p := pubRawOpen(ch, 0, framing)
			Expect(p.send(body)).To(Succeed())
			resp := attached.response(cfg.reaction)
			Expect(resp.StatusCode).To(Equal(http.StatusOK))
			Expect(readN(resp.Body, 3, cfg.reaction)).To(Equal("abc"))

			fail(p)
			rest, err := readAll(resp.Body, cfg.reaction)
			Expect(err).NotTo(HaveOccurred(), "the attached reader should get a clean end of body")
			Expect(rest).To(BeEmpty(), "bytes after abc for the attached reader")
			pubExpectSegment(ch, 0, "abc")
		},
		Entry("when the connection drops mid-chunk-stream", harness.Req("TRK-SRV-030", harness.Should, harness.Faults),
			"Transfer-Encoding: chunked", pubChunk("abc"), func(p *pubRawPost) { p.drop() }),
		Entry("when the connection drops before Content-Length is reached", harness.Req("TRK-SRV-030", harness.Should, harness.Faults),
			"Content-Length: 10", "abc", func(p *pubRawPost) { p.drop() }),
		Entry("when the chunked framing is broken", harness.Req("TRK-SRV-030", harness.Should, harness.Faults),
			"Transfer-Encoding: chunked", pubChunk("abc"), func(p *pubRawPost) { p.send("zz\r\nmore\r\n") }),
	)

	DescribeTable("answers a writer whose segment is closed by someone else at once",
		func(closeIt func(ch string), ended bool) {
			ch := newChannel()
			w := beginPost(ch, 0)
			w.write("abc")
			rd := begin("GET", segURL(ch, 0), nil)
			resp := rd.response(cfg.reaction)
			Expect(resp.StatusCode).To(Equal(http.StatusOK))
			Expect(readN(resp.Body, 3, cfg.reaction)).To(Equal("abc"))

			closeIt(ch)
			if _, err := readAll(resp.Body, cfg.reaction); err != nil {
				Skip(fmt.Sprintf("the segment was not closed, so this case does not arise (%v)", err))
			}
			wr := w.response(cfg.reaction)
			Expect(wr.StatusCode).To(Equal(http.StatusOK), "the writer of the closed segment")
			if ended {
				Expect(wr.Header.Get("Lp-Trickle-Closed")).To(Equal("terminated"))
			} else {
				Expect(wr.Header.Values("Lp-Trickle-Closed")).To(BeEmpty(), "the channel has not ended")
			}
		},
		Entry("by DELETE /{ch}/{seq}", harness.Req("TRK-SRV-031", harness.Should, harness.Channels),
			func(ch string) {
				Expect(do("DELETE", segURL(ch, 0), nil).status).To(Equal(http.StatusOK))
			}, false),
		Entry("by DELETE /{ch}, with Lp-Trickle-Closed", harness.Req("TRK-SRV-031", harness.Should, harness.Channels),
			func(ch string) {
				Expect(do("DELETE", cfg.base+ch, nil).status).To(Equal(http.StatusOK))
			}, true),
		Entry("by an Lp-Trickle-Reset POST to a later seq, where resets are honoured", harness.Req("TRK-SRV-031", harness.Should, harness.Channels),
			func(ch string) {
				Expect(post(ch, 1, "restart", "Lp-Trickle-Reset", "1").status).To(Equal(http.StatusOK))
			}, false),
	)

	It("releases readers of a segment that latest skipped with an empty 200", harness.Req("TRK-SRV-032", harness.Should, harness.Faults), func() {
		ch := newChannel()
		rd := begin("GET", segURL(ch, 0), nil)
		rd.waiting(pubSettle)
		w := beginPost(ch, 1)
		w.write("x")

		resp := rd.response(cfg.reaction)
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		Expect(readAll(resp.Body, cfg.reaction)).To(BeEmpty(), "the body for the skipped segment")
		Expect(pubHeaderSeq(resp.Header, "Lp-Trickle-Seq")).To(Equal(int64(0)))
		Expect(pubHeaderSeq(resp.Header, "Lp-Trickle-Latest")).To(Equal(int64(2)))
		Expect(w.end().StatusCode).To(Equal(http.StatusOK))
	})
})
