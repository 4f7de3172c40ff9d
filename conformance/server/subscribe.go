package server

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/gotrickle/gotrickle/conformance/harness"
)

// Trickle response headers, spelled as the spec (§12) spells them.
const (
	subHdrSeq    = "Lp-Trickle-Seq"
	subHdrLatest = "Lp-Trickle-Latest"
	subHdrClosed = "Lp-Trickle-Closed"
)

// subGet starts GET /{ch}/{seq} in the background.
func subGet(ch string, seq any) *call {
	return begin("GET", segURL(ch, seq), nil)
}

// subAnswered reports, without waiting, whether a background request has
// got its status line (or failed).
func subAnswered(c *call) bool {
	select {
	case r := <-c.resp:
		c.resp <- r
		return true
	case err := <-c.err:
		c.err <- err
		return true
	default:
		return false
	}
}

// subBody is a distinct body for segment seq of channel ch.
func subBody(ch string, seq int) string {
	return fmt.Sprintf("segment %d of %s", seq, ch)
}

// subWriteSegs writes segments 0..n-1 one after another.
func subWriteSegs(ch string, n int) {
	GinkgoHelper()
	for i := range n {
		mustPost(ch, i, subBody(ch, i))
	}
}

// subRandom returns n random bytes.
func subRandom(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return string(b)
}

// subExpectMIME checks a segment response's Content-Type against the MIME
// type the suite gave the channel (only known when the suite created it).
func subExpectMIME(h http.Header) {
	GinkgoHelper()
	if !autocreate {
		return // the channel came from TRICKLE_CHANNELS; its type is unknown
	}
	ct := h.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	Expect(err).NotTo(HaveOccurred(), "Content-Type %q", ct)
	Expect(strings.ToLower(mt)).To(Equal("video/mp2t"), "Content-Type %q", ct)
}

// subExpectSeq checks a response's Lp-Trickle-Seq.
func subExpectSeq(h http.Header, seq int) {
	GinkgoHelper()
	Expect(h.Values(subHdrSeq)).To(Equal([]string{strconv.Itoa(seq)}), "%s", subHdrSeq)
}

// subExpectLatest checks a response's Lp-Trickle-Latest.
func subExpectLatest(h http.Header, latest int) {
	GinkgoHelper()
	Expect(h.Values(subHdrLatest)).To(Equal([]string{strconv.Itoa(latest)}), "%s", subHdrLatest)
}

// subRest reads the rest of a body, which must end cleanly within the
// reaction budget.
func subRest(resp *http.Response) string {
	GinkgoHelper()
	s, err := readAll(resp.Body, cfg.reaction)
	Expect(err).NotTo(HaveOccurred(), "reading to the end of the body")
	return s
}

// subChunk reads exactly the next len(want) bytes of a body within the
// reaction budget and checks them.
func subChunk(resp *http.Response, want string) {
	GinkgoHelper()
	got, err := readN(resp.Body, len(want), cfg.reaction)
	Expect(err).NotTo(HaveOccurred())
	Expect(got).To(Equal(want))
}

// subProbe returns once the server holds the first bytes of segment seq:
// a reader of it has received them. It tells a spec that what it wrote has
// reached the server, not just left the client.
func subProbe(ch string, seq int, prefix string) {
	GinkgoHelper()
	rd := subGet(ch, seq)
	resp := rd.response(cfg.reaction)
	Expect(resp.StatusCode).To(Equal(http.StatusOK), "probe GET %s", segURL(ch, seq))
	subChunk(resp, prefix)
	rd.cancel()
}

// subSum is a short digest for comparing large bodies.
func subSum(s string) string {
	h := sha256.Sum256([]byte(s))
	return fmt.Sprintf("%d bytes, sha256 %x", len(s), h[:8])
}

var _ = specs.Describe("Subscribing", func() {
	It("serves a held segment with exactly its bytes, its seq and the channel's MIME type", harness.Req("TRK-SRV-033", harness.Must, harness.Core), func() {
		ch := newChannel()
		var bodies []string
		for i := range 3 {
			// Every byte value, in a different order per segment.
			b := make([]byte, 0, 1024)
			for j := range 1024 {
				b = append(b, byte(j*(2*i+1)+i))
			}
			bodies = append(bodies, string(b))
			mustPost(ch, i, bodies[i])
		}
		for i := range 3 {
			r := get(ch, i)
			Expect(r.err).NotTo(HaveOccurred())
			Expect(r.status).To(Equal(http.StatusOK), "GET %s", segURL(ch, i))
			Expect(r.body == bodies[i]).To(BeTrue(), "GET %s: got %s, want %s", segURL(ch, i), subSum(r.body), subSum(bodies[i]))
			subExpectSeq(r.header, i)
			subExpectMIME(r.header)
		}
	})

	Describe("reporting latest", func() {
		It("reports latest to a reader of an older complete segment", harness.Req("TRK-SRV-034", harness.Must, harness.Core), func() {
			ch := newChannel()
			subWriteSegs(ch, 3)
			for _, seq := range []int{0, 1, 2} {
				r := get(ch, seq)
				Expect(r.status).To(Equal(http.StatusOK))
				subExpectSeq(r.header, seq)
				subExpectLatest(r.header, 3)
			}
		})

		It("reports latest to a reader that joins the segment being written", harness.Req("TRK-SRV-034", harness.Must, harness.Core), func() {
			ch := newChannel()
			p := beginPost(ch, 0)
			p.write("ab")
			subProbe(ch, 0, "ab") // latest is now 1
			rd := subGet(ch, 0)
			resp := rd.response(cfg.reaction)
			Expect(resp.StatusCode).To(Equal(http.StatusOK))
			subExpectSeq(resp.Header, 0)
			subExpectLatest(resp.Header, 1)
			subChunk(resp, "ab")
			Expect(p.end().StatusCode).To(Equal(http.StatusOK))
			Expect(subRest(resp)).To(BeEmpty())
		})

		It("reports the latest of the request's arrival to a reader that waited for segment 1 on a new channel", harness.Req("TRK-SRV-034", harness.Must, harness.Core), func() {
			ch := newChannel()
			rd := subGet(ch, 1) // latest is 0 when it arrives
			rd.waiting(300 * time.Millisecond)
			mustPost(ch, 0, "zero")
			p := beginPost(ch, 1)
			p.write("one")
			resp := rd.response(cfg.reaction)
			Expect(resp.StatusCode).To(Equal(http.StatusOK))
			subExpectSeq(resp.Header, 1)
			subExpectLatest(resp.Header, 0)
			Expect(p.end().StatusCode).To(Equal(http.StatusOK))
			Expect(subRest(resp)).To(Equal("one"))
		})
	})

	Describe("seq -1", func() {
		It("waits for the segment that is latest when the request arrives", harness.Req("TRK-SRV-035", harness.Must, harness.Core), func() {
			ch := newChannel()
			subWriteSegs(ch, 2)
			first := subGet(ch, -1) // latest is 2
			first.waiting(time.Second)

			p2 := beginPost(ch, 2)
			p2.write("tw") // latest is now 3
			resp := first.response(cfg.reaction)
			Expect(resp.StatusCode).To(Equal(http.StatusOK))
			subExpectSeq(resp.Header, 2)
			subChunk(resp, "tw")

			second := subGet(ch, -1) // latest is 3: it must not be given segment 2
			second.waiting(time.Second)
			p2.write("o")
			Expect(p2.end().StatusCode).To(Equal(http.StatusOK))
			Expect(subRest(resp)).To(Equal("o"))

			mustPost(ch, 3, "three")
			resp2 := second.response(cfg.reaction)
			Expect(resp2.StatusCode).To(Equal(http.StatusOK))
			subExpectSeq(resp2.Header, 3)
			Expect(subRest(resp2)).To(Equal("three"))
		})
	})

	Describe("seq -2", func() {
		It("serves the last segment started when it is complete", harness.Req("TRK-SRV-036", harness.Must, harness.Core), func() {
			ch := newChannel()
			subWriteSegs(ch, 2)
			r := get(ch, -2)
			Expect(r.status).To(Equal(http.StatusOK))
			subExpectSeq(r.header, 1)
			Expect(r.body).To(Equal(subBody(ch, 1)))
		})

		It("serves the segment being written from its first byte", harness.Req("TRK-SRV-036", harness.Must, harness.Core), func() {
			ch := newChannel()
			subWriteSegs(ch, 2)
			p := beginPost(ch, 2)
			p.write("ab")
			subProbe(ch, 2, "ab") // latest is now 3
			rd := subGet(ch, -2)
			resp := rd.response(cfg.reaction)
			Expect(resp.StatusCode).To(Equal(http.StatusOK))
			subExpectSeq(resp.Header, 2)
			subChunk(resp, "ab")
			p.write("cd")
			subChunk(resp, "cd")
			Expect(p.end().StatusCode).To(Equal(http.StatusOK))
			Expect(subRest(resp)).To(BeEmpty())
		})

		It("waits for segment 0 on a new channel", harness.Req("TRK-SRV-036", harness.Must, harness.Core), func() {
			ch := newChannel()
			rd := subGet(ch, -2)
			rd.waiting(time.Second)
			mustPost(ch, 0, "zero")
			resp := rd.response(cfg.reaction)
			Expect(resp.StatusCode).To(Equal(http.StatusOK))
			subExpectSeq(resp.Header, 0)
			Expect(subRest(resp)).To(Equal("zero"))
		})
	})

	Describe("waiting for the next segment", func() {
		It("holds a GET for latest until the first byte, then streams the segment", harness.Req("TRK-SRV-037", harness.Must, harness.Timing), func() {
			ch := newChannel()
			mustPost(ch, 0, "zero")
			rd := subGet(ch, 1)
			rd.waiting(time.Second)
			p := beginPost(ch, 1)
			p.write("x")
			resp := rd.response(cfg.reaction)
			Expect(resp.StatusCode).To(Equal(http.StatusOK))
			subExpectSeq(resp.Header, 1)
			subChunk(resp, "x")
			Expect(subAnswered(p.call)).To(BeFalse(), "the POST must still be open")
			p.write("yz")
			subChunk(resp, "yz")
			Expect(p.end().StatusCode).To(Equal(http.StatusOK))
			Expect(subRest(resp)).To(BeEmpty())
		})

		It("holds a GET for segment 1 on a channel whose latest is 0", harness.Req("TRK-SRV-037", harness.Must, harness.Timing), func() {
			ch := newChannel()
			rd := subGet(ch, 1)
			rd.waiting(time.Second)
			mustPost(ch, 0, "zero")
			rd.waiting(200 * time.Millisecond) // segment 0 is not what it waits for
			p := beginPost(ch, 1)
			p.write("one")
			resp := rd.response(cfg.reaction)
			Expect(resp.StatusCode).To(Equal(http.StatusOK))
			subExpectSeq(resp.Header, 1)
			subChunk(resp, "one")
			Expect(p.end().StatusCode).To(Equal(http.StatusOK))
			Expect(subRest(resp)).To(BeEmpty())
		})
	})

	It("lets a reader wait for a claimed segment ahead of latest", harness.Req("TRK-SRV-038", harness.Must, harness.Timing), func() {
		ch := newChannel()
		subWriteSegs(ch, 3)
		p3 := beginPost(ch, 3)
		p4 := beginPost(ch, 4)
		// Let both preconnects reach the server (net/http sends the headers
		// of a silent body after 200 ms).
		time.Sleep(500 * time.Millisecond)
		Expect(subAnswered(p3.call)).To(BeFalse(), "POST /3 with no body yet was answered")
		Expect(subAnswered(p4.call)).To(BeFalse(), "POST /4 with no body yet was answered")

		rd := subGet(ch, 4) // latest is 3
		rd.waiting(time.Second)
		p3.write("three")
		Expect(p3.end().StatusCode).To(Equal(http.StatusOK))
		rd.waiting(200 * time.Millisecond)
		p4.write("fo")
		resp := rd.response(cfg.reaction)
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		subExpectSeq(resp.Header, 4)
		subChunk(resp, "fo")
		p4.write("ur")
		Expect(p4.end().StatusCode).To(Equal(http.StatusOK))
		Expect(subRest(resp)).To(Equal("ur"))
	})

	Describe("segments too far ahead", func() {
		check := func(ch string, seq, latest int) {
			GinkgoHelper()
			start := time.Now()
			r := get(ch, seq)
			Expect(r.err).NotTo(HaveOccurred())
			Expect(time.Since(start)).To(BeNumerically("<", cfg.reaction), "GET %s was not answered at once", segURL(ch, seq))
			Expect(r.status).To(Equal(470), "GET %s", segURL(ch, seq))
			subExpectSeq(r.header, seq)
			subExpectLatest(r.header, latest)
		}

		It("answers 470 at once for seq 2 on a new channel", harness.Req("TRK-SRV-039", harness.Must, harness.Core), func() {
			ch := newChannel()
			check(ch, 2, 0)
		})

		It("answers 470 at once for seqs beyond latest that nothing claimed", harness.Req("TRK-SRV-039", harness.Must, harness.Core), func() {
			ch := newChannel()
			subWriteSegs(ch, 3)
			check(ch, 4, 3)
			check(ch, 1000, 3)
			// The refusals changed nothing.
			r := get(ch, 2)
			Expect(r.status).To(Equal(http.StatusOK))
			Expect(r.body).To(Equal(subBody(ch, 2)))
		})
	})

	It("sends no status line until the segment's first byte, even once its writer is connected", harness.Req("TRK-SRV-040", harness.Must, harness.Timing), func() {
		ch := newChannel()
		rd := subGet(ch, 0)
		rd.waiting(time.Second)
		p := beginPost(ch, 0)
		rd.waiting(700 * time.Millisecond) // the writer connected but sent nothing
		p.write("x")
		resp := rd.response(cfg.reaction)
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		subExpectSeq(resp.Header, 0)
		subChunk(resp, "x")
		Expect(p.end().StatusCode).To(Equal(http.StatusOK))
		Expect(subRest(resp)).To(BeEmpty())
	})

	It("gives a reader joining mid-segment every byte from the first, then the rest", harness.Req("TRK-SRV-041", harness.Must, harness.Core), func() {
		ch := newChannel()
		head := subRandom(40 << 10)
		p := beginPost(ch, 0)
		p.write(head[:1000])
		p.write(head[1000:])
		subProbe(ch, 0, head) // all of head reached the server
		rd := subGet(ch, 0)
		resp := rd.response(cfg.reaction)
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		got, err := readN(resp.Body, len(head), cfg.reaction)
		Expect(err).NotTo(HaveOccurred())
		Expect(got == head).To(BeTrue(), "first %d bytes: got %s, want %s", len(head), subSum(got), subSum(head))
		p.write("tail")
		subChunk(resp, "tail")
		Expect(p.end().StatusCode).To(Equal(http.StatusOK))
		Expect(subRest(resp)).To(BeEmpty())
	})

	It("relays each chunk to every reader while the POST is still open", harness.Req("TRK-SRV-042", harness.Must, harness.Timing), func() {
		const (
			pause  = 300 * time.Millisecond
			margin = 250 * time.Millisecond
		)
		ch := newChannel()
		readers := []*call{subGet(ch, 0), subGet(ch, 0), subGet(ch, 0)}
		time.Sleep(200 * time.Millisecond)
		p := beginPost(ch, 0)
		resps := make([]*http.Response, len(readers))
		var all string
		for i := range 3 {
			chunk := fmt.Sprintf("chunk-%d|", i)
			all += chunk
			written := time.Now()
			p.write(chunk)
			for j, rd := range readers {
				if resps[j] == nil {
					resps[j] = rd.response(margin)
					Expect(resps[j].StatusCode).To(Equal(http.StatusOK))
				}
				left := margin - time.Since(written)
				got, err := readN(resps[j].Body, len(chunk), max(left, time.Millisecond))
				Expect(err).NotTo(HaveOccurred(), "reader %d, chunk %d: not relayed within %v of being written", j, i, margin)
				Expect(got).To(Equal(chunk))
			}
			Expect(subAnswered(p.call)).To(BeFalse(), "the POST was answered before its body ended")
			time.Sleep(time.Until(written.Add(pause)))
		}
		Expect(p.end().StatusCode).To(Equal(http.StatusOK))
		for j := range readers {
			Expect(subRest(resps[j])).To(BeEmpty(), "reader %d", j)
		}
		Expect(get(ch, 0).body).To(Equal(all))
	})

	It("gives 16 readers joining before, during and after the write the identical segment", harness.Req("TRK-SRV-043", harness.Must, harness.Core), func() {
		ch := newChannel()
		body := subRandom(96 << 10)
		const chunks = 6
		size := len(body) / chunks
		var readers []*call
		for range 6 {
			readers = append(readers, subGet(ch, 0))
		}
		time.Sleep(200 * time.Millisecond)
		p := beginPost(ch, 0)
		for i := range chunks {
			p.write(body[i*size : (i+1)*size])
			if i == 1 || i == 3 {
				for range 3 {
					readers = append(readers, subGet(ch, 0))
				}
			}
			time.Sleep(30 * time.Millisecond)
		}
		Expect(p.end().StatusCode).To(Equal(http.StatusOK))
		for range 4 {
			readers = append(readers, subGet(ch, 0))
		}
		Expect(readers).To(HaveLen(16))
		for i, rd := range readers {
			resp := rd.response(5 * cfg.reaction)
			Expect(resp.StatusCode).To(Equal(http.StatusOK), "reader %d", i)
			got, err := readAll(resp.Body, 5*cfg.reaction)
			Expect(err).NotTo(HaveOccurred(), "reader %d", i)
			Expect(subSum(got)).To(Equal(subSum(body)), "reader %d", i)
		}
	})

	Describe("empty segments", func() {
		It("serves a complete empty segment as an empty 200 with seq and latest", harness.Req("TRK-SRV-044", harness.Must, harness.Core), func() {
			ch := newChannel()
			mustPost(ch, 0, "zero")
			mustPost(ch, 1, "")
			r := get(ch, 1)
			Expect(r.err).NotTo(HaveOccurred())
			Expect(r.status).To(Equal(http.StatusOK))
			Expect(r.body).To(BeEmpty())
			subExpectSeq(r.header, 1)
			subExpectLatest(r.header, 2)
			Expect(r.header.Values(subHdrClosed)).To(BeEmpty())

			mustPost(ch, 2, "two") // latest is reported as it is when answered
			r = get(ch, 1)
			Expect(r.status).To(Equal(http.StatusOK))
			Expect(r.body).To(BeEmpty())
			subExpectSeq(r.header, 1)
			subExpectLatest(r.header, 3)
			Expect(r.header.Values(subHdrClosed)).To(BeEmpty())
		})

		It("answers a reader waiting on a segment that turns out empty with an empty 200", harness.Req("TRK-SRV-044", harness.Must, harness.Core), func() {
			ch := newChannel()
			mustPost(ch, 0, "zero")
			rd := subGet(ch, 1)
			rd.waiting(300 * time.Millisecond)
			mustPost(ch, 1, "")
			resp := rd.response(cfg.reaction)
			Expect(resp.StatusCode).To(Equal(http.StatusOK))
			Expect(subRest(resp)).To(BeEmpty())
			subExpectSeq(resp.Header, 1)
			subExpectLatest(resp.Header, 2)
			Expect(resp.Header.Values(subHdrClosed)).To(BeEmpty())
		})
	})

	Describe("HEAD", func() {
		It("answers HEAD of a complete segment like GET, with no body", harness.Req("TRK-SRV-045", harness.Must, harness.Core), func() {
			ch := newChannel()
			subWriteSegs(ch, 2)
			g := get(ch, 0)
			Expect(g.status).To(Equal(http.StatusOK))

			h := do("HEAD", segURL(ch, 0), nil)
			Expect(h.err).NotTo(HaveOccurred())
			Expect(h.status).To(Equal(http.StatusOK))
			subExpectSeq(h.header, 0)
			subExpectLatest(h.header, 2)
			subExpectMIME(h.header)
			Expect(h.header.Get("Content-Type")).To(Equal(g.header.Get("Content-Type")))
			Expect(h.header.Values(subHdrClosed)).To(BeEmpty())

			// On the wire: the head is all that comes back.
			conn := rawConn()
			fmt.Fprintf(conn, "HEAD %s HTTP/1.1\r\nHost: %s\r\n\r\n", rawPath(ch, 0), rawHost())
			conn.SetReadDeadline(time.Now().Add(cfg.reaction))
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
			Expect(err).NotTo(HaveOccurred())
			Expect(resp.StatusCode).To(Equal(http.StatusOK))
			subExpectSeq(resp.Header, 0)
			conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			n, err := br.Read(make([]byte, 64))
			Expect(n).To(BeZero(), "bytes followed the HEAD response's header")
			var ne net.Error
			if !(errors.As(err, &ne) && ne.Timeout()) {
				Expect(err).To(MatchError(io.EOF))
			}
		})

		It("answers HEAD of an evicted segment with 470 and latest, like GET", harness.Req("TRK-SRV-045", harness.Must, harness.Core), func() {
			ch := newChannel()
			n := cfg.ringSize + 2
			subWriteSegs(ch, n)
			g := get(ch, 0)
			Expect(g.status).To(Equal(470))
			h := do("HEAD", segURL(ch, 0), nil)
			Expect(h.err).NotTo(HaveOccurred())
			Expect(h.status).To(Equal(470))
			Expect(h.body).To(BeEmpty())
			subExpectSeq(h.header, 0)
			subExpectLatest(h.header, n)
		})
	})

	It("lets readers leave mid-segment without affecting the writer or other readers", harness.Req("TRK-SRV-046", harness.Must, harness.Faults), func() {
		ch := newChannel()
		mustPost(ch, 0, "zero")
		p := beginPost(ch, 1)
		p.write("ab")

		leaver := subGet(ch, 1)
		stayer := subGet(ch, 1)
		old := subGet(ch, 0)
		lr := leaver.response(cfg.reaction)
		subChunk(lr, "ab")
		sr := stayer.response(cfg.reaction)
		subChunk(sr, "ab")
		waiter := subGet(ch, 2) // latest is 2: a reader of another segment that leaves while waiting

		// One more leaves abruptly: a raw connection reset mid-body.
		conn := rawConn()
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", rawPath(ch, 1), rawHost())
		conn.SetReadDeadline(time.Now().Add(cfg.reaction))
		rawResp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: "GET"})
		Expect(err).NotTo(HaveOccurred())
		Expect(rawResp.StatusCode).To(Equal(http.StatusOK))
		subChunk(rawResp, "ab")

		waiter.waiting(200 * time.Millisecond)
		leaver.cancel()
		waiter.cancel()
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		conn.Close()
		time.Sleep(100 * time.Millisecond)

		p.write("cd")
		subChunk(sr, "cd")
		Expect(p.end().StatusCode).To(Equal(http.StatusOK))
		Expect(subRest(sr)).To(BeEmpty())

		or := old.response(cfg.reaction)
		Expect(or.StatusCode).To(Equal(http.StatusOK))
		Expect(subRest(or)).To(Equal("zero"))
		Expect(get(ch, 1).body).To(Equal("abcd"))
		mustPost(ch, 2, "two")
		Expect(get(ch, 2).body).To(Equal("two"))
	})

	Describe("abandoned readers", func() {
		It("closes the connection of a waiting reader that shut down its sending side", harness.Req("TRK-SRV-047", harness.Should, harness.Perf), func() {
			ch := newChannel()
			conn := rawConn()
			tc, ok := conn.(*net.TCPConn)
			if !ok {
				Skip("needs a TCP connection")
			}
			fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", rawPath(ch, 0), rawHost())
			// The server waits (segment 0 has not started).
			conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			n, err := conn.Read(make([]byte, 1))
			var ne net.Error
			Expect(errors.As(err, &ne) && ne.Timeout()).To(BeTrue(), "expected the server to wait, got %d bytes, err %v", n, err)

			Expect(tc.CloseWrite()).To(Succeed())
			start := time.Now()
			conn.SetReadDeadline(start.Add(cfg.reaction))
			_, err = io.Copy(io.Discard, conn)
			switch {
			case err == nil, errors.Is(err, syscall.ECONNRESET):
				// closed
			case errors.As(err, &ne) && ne.Timeout():
				Fail(fmt.Sprintf("the server kept the connection open for %v after the waiting reader shut down its side", cfg.reaction))
			default:
				Expect(err).NotTo(HaveOccurred())
			}
		})

		It("keeps serving the segment's writer and later readers promptly after many waiting readers left", harness.Req("TRK-SRV-047", harness.Should, harness.Perf), func() {
			ch := newChannel()
			var gone []*call
			for range 32 {
				gone = append(gone, subGet(ch, 0))
			}
			time.Sleep(300 * time.Millisecond)
			for _, c := range gone {
				Expect(subAnswered(c)).To(BeFalse())
				c.cancel()
			}
			time.Sleep(100 * time.Millisecond)

			start := time.Now()
			mustPost(ch, 0, "zero")
			r := get(ch, 0)
			Expect(time.Since(start)).To(BeNumerically("<", cfg.reaction))
			Expect(r.body).To(Equal("zero"))

			rd := subGet(ch, 1)
			rd.waiting(200 * time.Millisecond)
			mustPost(ch, 1, "one")
			resp := rd.response(cfg.reaction)
			Expect(resp.StatusCode).To(Equal(http.StatusOK))
			Expect(subRest(resp)).To(Equal("one"))
		})
	})
})
