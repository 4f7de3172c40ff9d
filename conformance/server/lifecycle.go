package server

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/gotrickle/gotrickle/conformance/harness"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// lifeIdleSpan is how long idle expiry may take (T + slack); specs that
// wait for it are skipped when that is too long for a test run.
func lifeIdleSpan() time.Duration {
	GinkgoHelper()
	span := cfg.idle + cfg.idleSlack
	if span > 30*time.Second {
		Skip(fmt.Sprintf("idle timeout %v + slack %v is over 30s: run the server with a short idle timeout "+
			"and set TRICKLE_IDLE_TIMEOUT (and TRICKLE_IDLE_SLACK, how late its sweeper may be) to match", cfg.idle, cfg.idleSlack))
	}
	return span
}

// lifeChannelNamed creates a channel with a chosen prefix (e.g. "_" for one
// that never expires) and deletes it afterwards. Without auto-create it
// takes a TRICKLE_CHANNELS name with that prefix, or skips.
func lifeChannelNamed(prefix string) string {
	GinkgoHelper()
	if !autocreate {
		channelsMu.Lock()
		defer channelsMu.Unlock()
		for i, c := range cfg.channels {
			if strings.HasPrefix(c, prefix) {
				cfg.channels = append(cfg.channels[:i:i], cfg.channels[i+1:]...)
				return c
			}
		}
		Skip(fmt.Sprintf("needs a channel named %q…: the server does not auto-create and TRICKLE_CHANNELS has none", prefix))
	}
	name := prefix + randomName()
	r := do("POST", cfg.base+name, nil, "Expect-Content", "video/mp2t")
	if r.err != nil || r.status != http.StatusOK {
		harness.HarnessError(fmt.Errorf("creating channel %s: status %d err %v", name, r.status, r.err))
	}
	DeferCleanup(func() { do("DELETE", cfg.base+name, nil) })
	return name
}

// lifeExpectEnded checks that a channel is gone: reads answer 404.
func lifeExpectEnded(ch string) {
	GinkgoHelper()
	for _, seq := range []any{0, -1} {
		r := get(ch, seq)
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.status).To(Equal(http.StatusNotFound), "GET %s after the channel ended", segURL(ch, seq))
		Expect(do("HEAD", segURL(ch, seq), nil).status).To(Equal(http.StatusNotFound), "HEAD %s after the channel ended", segURL(ch, seq))
	}
}

// lifeExpectTerminated checks a waiting reader's answer when its channel ended.
func lifeExpectTerminated(rd *call, d time.Duration) {
	GinkgoHelper()
	resp := rd.response(d)
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	Expect(resp.Header.Get(subHdrClosed)).To(Equal("terminated"), "%s", subHdrClosed)
	body, err := readAll(resp.Body, cfg.reaction)
	Expect(err).NotTo(HaveOccurred())
	Expect(body).To(BeEmpty())
}

// lifeExpectWriterReleased checks a preconnected POST's answer when its
// channel ended.
func lifeExpectWriterReleased(p *openPost, seq int, d time.Duration) {
	GinkgoHelper()
	resp := p.response(d)
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	subExpectSeq(resp.Header, seq)
	Expect(resp.Header.Get(subHdrClosed)).To(Equal("terminated"), "%s", subHdrClosed)
}

// lifeShortText checks a short human-readable body.
func lifeShortText(s string) {
	GinkgoHelper()
	Expect(s).NotTo(BeEmpty(), "expected a short text body")
	Expect(len(s)).To(BeNumerically("<=", 1024), "expected a short text body")
	Expect(utf8.ValidString(s)).To(BeTrue(), "body is not text: %q", s)
	for _, r := range s {
		Expect(unicode.IsPrint(r) || unicode.IsSpace(r)).To(BeTrue(), "body is not text: %q", s)
	}
}

var _ = specs.Describe("Window and 470", func() {
	DescribeTable("keeps the last R segments readable in full",
		func(extra int) {
			ch := newChannel()
			n := max(1, cfg.ringSize+extra)
			subWriteSegs(ch, n)
			for seq := max(0, n-cfg.ringSize); seq < n; seq++ {
				r := get(ch, seq)
				Expect(r.err).NotTo(HaveOccurred())
				Expect(r.status).To(Equal(http.StatusOK), "GET %s after writing 0..%d", segURL(ch, seq), n-1)
				Expect(r.body).To(Equal(subBody(ch, seq)))
				subExpectSeq(r.header, seq)
			}
		},
		Entry("when fewer than R segments were written", harness.Req("TRK-SRV-048", harness.Must, harness.Core), -2),
		Entry("when exactly R segments were written", harness.Req("TRK-SRV-048", harness.Must, harness.Core), 0),
		Entry("when R+3 segments were written", harness.Req("TRK-SRV-048", harness.Must, harness.Core), 3),
	)

	It("answers 470 with seq, latest and a short text body for segments older than the window", harness.Req("TRK-SRV-049", harness.Must, harness.Core), func() {
		ch := newChannel()
		n := cfg.ringSize + 3
		subWriteSegs(ch, n)
		for seq := range n - cfg.ringSize {
			r := get(ch, seq)
			Expect(r.err).NotTo(HaveOccurred())
			Expect(r.status).To(Equal(470), "GET %s after writing 0..%d", segURL(ch, seq), n-1)
			subExpectSeq(r.header, seq)
			subExpectLatest(r.header, n)
			lifeShortText(r.body)
			if ct := r.header.Get("Content-Type"); ct != "" {
				Expect(strings.ToLower(ct)).To(HavePrefix("text/"), "Content-Type of the 470 body")
			}
		}
	})
})

var _ = specs.Describe("End of stream", func() {
	It("releases a reader waiting for a first byte with an empty 200 and Lp-Trickle-Closed when the channel is deleted", harness.Req("TRK-SRV-050", harness.Must, harness.Channels), func() {
		ch := newChannel()
		mustPost(ch, 0, "zero")
		next := subGet(ch, 1)
		ahead := subGet(ch, -1)
		next.waiting(300 * time.Millisecond)
		Expect(subAnswered(ahead)).To(BeFalse())
		Expect(do("DELETE", cfg.base+ch, nil).status).To(Equal(http.StatusOK))
		lifeExpectTerminated(next, cfg.reaction)
		lifeExpectTerminated(ahead, cfg.reaction)
		lifeExpectEnded(ch)
	})

	It("gives a reader part-way through a segment the bytes written so far and then the end of the body when the channel is deleted", harness.Req("TRK-SRV-050", harness.Must, harness.Channels), func() {
		ch := newChannel()
		mustPost(ch, 0, "zero")
		p := beginPost(ch, 1)
		p.write("ab")
		rd := subGet(ch, 1)
		resp := rd.response(cfg.reaction)
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		subChunk(resp, "ab")
		p.write("cd")
		subChunk(resp, "cd")
		Expect(do("DELETE", cfg.base+ch, nil).status).To(Equal(http.StatusOK))
		Expect(subRest(resp)).To(BeEmpty())
	})

	DescribeTable("answers a preconnected writer 200 with its seq and Lp-Trickle-Closed when the channel is deleted",
		func(seq any) {
			ch := newChannel()
			mustPost(ch, 0, "zero")
			p := beginPost(ch, seq)
			time.Sleep(500 * time.Millisecond) // let the silent POST reach the server
			Expect(subAnswered(p.call)).To(BeFalse(), "the POST was answered before it sent a byte")
			Expect(do("DELETE", cfg.base+ch, nil).status).To(Equal(http.StatusOK))
			lifeExpectWriterReleased(p, 1, cfg.reaction)
		},
		Entry("POST /{ch}/1", harness.Req("TRK-SRV-051", harness.Must, harness.Channels), 1),
		Entry("POST /{ch}/-1", harness.Req("TRK-SRV-051", harness.Must, harness.Channels), -1),
	)

	It("ends every channel on shutdown, releasing readers and writers, then answers 503", harness.Req("TRK-SRV-052", harness.Should, harness.Channels), func() {
		if !cfg.inProcess {
			Skip("shutdown can only be tested on a server the suite starts itself (TRICKLE_SERVER_URL is set)")
		}
		srv := trickle.NewServer(trickle.ServerConfig{
			Autocreate:         true,
			RingSize:           cfg.ringSize,
			IdleTimeout:        -1,
			FirstByteKeepalive: cfg.keepalive,
			MaxSegmentBytes:    cfg.maxSegment,
			Logger:             slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		hs := httptest.NewServer(srv)
		DeferCleanup(hs.Close) // runs after the spec's requests are cancelled
		DeferCleanup(srv.Close)
		base := hs.URL + "/"
		url := func(ch string, seq any) string { return fmt.Sprintf("%s%s/%v", base, ch, seq) }
		create := func() string {
			name := randomName()
			Expect(do("POST", base+name, nil, "Expect-Content", "video/mp2t").status).To(Equal(http.StatusOK))
			return name
		}
		streamPost := func(u string) *openPost {
			pr, pw := io.Pipe()
			DeferCleanup(func() { pw.CloseWithError(fmt.Errorf("spec ended")) })
			return &openPost{pw: pw, call: begin("POST", u, pr, "Content-Type", "video/mp2t")}
		}

		a, b := create(), create()
		Expect(do("POST", url(a, 0), strings.NewReader("zero"), "Content-Type", "video/mp2t").status).To(Equal(http.StatusOK))
		writer := streamPost(url(a, 1))
		writer.write("ab")
		partway := begin("GET", url(a, 1), nil)
		pr := partway.response(cfg.reaction)
		Expect(pr.StatusCode).To(Equal(http.StatusOK))
		subChunk(pr, "ab")
		waiter := begin("GET", url(a, 2), nil)
		pre := streamPost(url(b, 0))
		time.Sleep(500 * time.Millisecond)
		Expect(subAnswered(waiter)).To(BeFalse())
		Expect(subAnswered(pre.call)).To(BeFalse())

		srv.Close()
		lifeExpectTerminated(waiter, cfg.reaction)
		Expect(subRest(pr)).To(BeEmpty())
		lifeExpectWriterReleased(pre, 0, cfg.reaction)

		for _, r := range []reply{
			do("GET", url(a, 0), nil),
			do("POST", url(b, 1), strings.NewReader("x"), "Content-Type", "video/mp2t"),
			do("POST", base+randomName(), nil, "Expect-Content", "video/mp2t"),
		} {
			Expect(r.err).NotTo(HaveOccurred())
			Expect(r.status).To(Equal(http.StatusServiceUnavailable))
		}
	})
})

var _ = specs.Describe("Idle expiry", func() {
	It("ends a channel nothing was written to for the idle timeout, and no sooner, even while it is read", harness.Req("TRK-SRV-053", harness.Must, harness.Timing), func() {
		span := lifeIdleSpan()
		ch := newChannel()
		before := time.Now()
		mustPost(ch, 0, "zero")
		after := time.Now()
		reader := subGet(ch, 1)
		writer := beginPost(ch, 1) // preconnected: sends nothing

		// Read the channel all along: reads are not activity.
		var released time.Time
		deadline := after.Add(span)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
	wait:
		for {
			select {
			case r := <-reader.resp:
				reader.resp <- r
				released = time.Now()
				break wait
			case err := <-reader.err:
				Fail(fmt.Sprintf("the waiting reader failed: %v", err))
			case <-tick.C:
				if time.Now().After(deadline) {
					Fail(fmt.Sprintf("the channel did not expire within the idle timeout %v + slack %v of its last segment", cfg.idle, cfg.idleSlack))
				}
				get(ch, 0)
				do("HEAD", segURL(ch, 0), nil)
			}
		}
		Expect(released.Sub(before)).To(BeNumerically(">=", cfg.idle),
			"the channel ended %v after its last segment started; the idle timeout is %v", released.Sub(before), cfg.idle)
		lifeExpectTerminated(reader, cfg.reaction)
		lifeExpectWriterReleased(writer, 1, cfg.reaction)
		lifeExpectEnded(ch)
	})

	It("never expires a channel whose name begins with an underscore", harness.Req("TRK-SRV-054", harness.Must, harness.Timing), func() {
		span := lifeIdleSpan()
		ch := lifeChannelNamed("_")
		mustPost(ch, 0, "zero")
		reader := subGet(ch, 1)
		reader.waiting(span + 500*time.Millisecond)
		r := get(ch, 0)
		Expect(r.status).To(Equal(http.StatusOK), "GET %s after %v idle", segURL(ch, 0), span)
		Expect(r.body).To(Equal("zero"))
		mustPost(ch, 1, "one")
		resp := reader.response(cfg.reaction)
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		Expect(resp.Header.Values(subHdrClosed)).To(BeEmpty())
		Expect(subRest(resp)).To(Equal("one"))
	})

	It("keeps a channel alive while bytes keep arriving, even within one long segment", harness.Req("TRK-SRV-055", harness.Should, harness.Timing), func() {
		span := lifeIdleSpan()
		ch := newChannel()
		every := min(cfg.idle/6, 10*time.Second)
		next := subGet(ch, 1) // must not be released by expiry
		p := beginPost(ch, 0)
		p.write("b")
		rd := subGet(ch, 0)
		resp := rd.response(cfg.reaction)
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		subChunk(resp, "b")
		sent := "b"
		start := time.Now()
		for time.Since(start) < span+every {
			time.Sleep(every)
			if subAnswered(next) {
				Fail(fmt.Sprintf("the channel ended %v into a segment that received a byte every %v (idle timeout %v)",
					time.Since(start), every, cfg.idle))
			}
			p.write("b")
			sent += "b"
			subChunk(resp, "b")
		}
		end := p.end()
		Expect(end.StatusCode).To(Equal(http.StatusOK))
		Expect(end.Header.Values(subHdrClosed)).To(BeEmpty())
		Expect(subRest(resp)).To(BeEmpty())
		r := get(ch, 0)
		Expect(r.status).To(Equal(http.StatusOK))
		Expect(r.body).To(Equal(sent))
		Expect(subAnswered(next)).To(BeFalse(), "the reader waiting on the next segment was answered")
	})
})
