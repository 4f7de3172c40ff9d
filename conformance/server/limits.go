package server

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/gotrickle/gotrickle/conformance/harness"
)

// limSeed seeds the byte pattern of large segments. Every limPattern yields
// the same stream, however it is read, so a segment can be written and
// checked without ever being held in memory.
var limSeed = [32]byte{'g', 'o', 't', 'r', 'i', 'c', 'k', 'l', 'e', ' ', 's', 'i', 'z', 'e'}

// limPattern reads the first n bytes of the pattern.
type limPattern struct {
	rng  *rand.ChaCha8
	left int64
}

func limNewPattern(n int64) *limPattern { return &limPattern{rng: rand.NewChaCha8(limSeed), left: n} }

func (p *limPattern) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	p.rng.Read(b)
	p.left -= int64(len(b))
	return len(b), nil
}

// limVerifier is an io.Writer that checks what is written against the
// pattern, counting bytes and noting where they first differ.
type limVerifier struct {
	rng  *rand.ChaCha8
	want []byte
	n    int64
	bad  int64 // offset of the first wrong byte, -1 while all are right
}

func limNewVerifier() *limVerifier { return &limVerifier{rng: rand.NewChaCha8(limSeed), bad: -1} }

func (v *limVerifier) Write(p []byte) (int, error) {
	if cap(v.want) < len(p) {
		v.want = make([]byte, len(p))
	}
	want := v.want[:len(p)]
	v.rng.Read(want)
	if v.bad < 0 && !bytes.Equal(p, want) {
		for i := range p {
			if p[i] != want[i] {
				v.bad = v.n + int64(i)
				break
			}
		}
	}
	v.n += int64(len(p))
	return len(p), nil
}

// limTransfer bounds the time to move n bytes: the reaction budget plus
// one second per MiB, slow enough for any sane link.
func limTransfer(n int64) time.Duration {
	return 5*cfg.reaction + time.Duration(n>>20)*time.Second
}

// limCheck is the outcome of reading a segment body through a limVerifier.
type limCheck struct {
	n   int64 // bytes read
	bad int64 // offset of the first byte that differs from the pattern, or -1
	err error // how the body ended: nil for a clean end
}

// limReadBody checks a response body against the pattern in the
// background; the result arrives on the returned channel.
func limReadBody(body io.Reader) <-chan limCheck {
	out := make(chan limCheck, 1)
	go func() {
		v := limNewVerifier()
		_, err := io.Copy(v, body)
		out <- limCheck{n: v.n, bad: v.bad, err: err}
	}()
	return out
}

// limExpectBody waits up to d for a body checked by limReadBody and asserts
// that it is exactly the first size bytes of the pattern, cleanly ended.
func limExpectBody(res <-chan limCheck, size int64, d time.Duration, who string) {
	GinkgoHelper()
	select {
	case c := <-res:
		Expect(c.err).NotTo(HaveOccurred(), "%s: the body should end cleanly", who)
		Expect(c.bad).To(Equal(int64(-1)), "%s: byte %d differs from what was written", who, c.bad)
		Expect(c.n).To(Equal(size), "%s: body length", who)
	case <-time.After(d):
		Fail(fmt.Sprintf("%s: the body did not end within %v", who, d))
	}
}

var _ = specs.Describe("Size limits", func() {
	It("accepts, stores and relays a 16 MiB segment", harness.Req("TRK-SRV-056", harness.Must, harness.Perf), func() {
		const size = 16 << 20
		ch := newChannel()
		early := begin("GET", segURL(ch, 0), nil)
		w := begin("POST", segURL(ch, 0), limNewPattern(size), "Content-Type", "video/mp2t")

		resp := early.response(cfg.reaction)
		Expect(resp.StatusCode).To(Equal(http.StatusOK), "the reader waiting for the segment")
		earlyBody := limReadBody(resp.Body)

		wr := w.response(limTransfer(size))
		Expect(wr.StatusCode).To(Equal(http.StatusOK), "the 16 MiB POST")
		Expect(wr.Header.Get("Lp-Trickle-Seq")).To(Equal("0"))
		limExpectBody(earlyBody, size, limTransfer(size), "the reader attached while the segment was written")

		late := begin("GET", segURL(ch, 0), nil)
		resp = late.response(cfg.reaction)
		Expect(resp.StatusCode).To(Equal(http.StatusOK), "a reader after the segment was written")
		limExpectBody(limReadBody(resp.Body), size, limTransfer(size), "the reader after the segment was written")
	})

	It("cuts a segment that goes past the size limit at the limit and answers its POST 413 with Connection: close", harness.Req("TRK-SRV-057", harness.Should, harness.Faults), func() {
		limit := cfg.maxSegment
		if limit <= 0 {
			Skip("TRICKLE_MAX_SEGMENT_BYTES is 0: the server claims no size limit")
		}
		ch := newChannel()
		early := begin("GET", segURL(ch, 0), nil)
		p := pubRawOpen(ch, 0, fmt.Sprintf("Content-Length: %d", limit+1))
		wrote := make(chan error, 1)
		go func() {
			p.conn.SetWriteDeadline(time.Now().Add(limTransfer(limit)))
			_, err := io.Copy(p.conn, limNewPattern(limit+1))
			wrote <- err
		}()

		resp := early.response(cfg.reaction)
		Expect(resp.StatusCode).To(Equal(http.StatusOK), "the reader waiting for the segment")
		earlyBody := limReadBody(resp.Body)

		res, err := p.final(limTransfer(limit))
		if err == nil {
			Expect(res.status).To(Equal(http.StatusRequestEntityTooLarge), "a POST of %d bytes with limit %d answered %q", limit+1, limit, res.body)
			Expect(res.close).To(BeTrue(), "the 413 answer should carry Connection: close")
		} else {
			// The server may close the connection before the client reads its
			// 413; then only the segment tells what happened.
			GinkgoWriter.Printf("the connection ended without a response: %v\n", err)
		}
		limExpectBody(earlyBody, limit, limTransfer(limit), "the reader attached while the segment was written")

		late := begin("GET", segURL(ch, 0), nil)
		resp = late.response(cfg.reaction)
		Expect(resp.StatusCode).To(Equal(http.StatusOK), "a reader after the segment was cut")
		limExpectBody(limReadBody(resp.Body), limit, limTransfer(limit), "the reader after the segment was cut")
		select {
		case err := <-wrote:
			GinkgoWriter.Printf("the body writer ended: %v\n", err)
		case <-time.After(cfg.reaction):
		}
	})
})
