package server

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/gotrickle/gotrickle/conformance/harness"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// Specs for §6 of docs/spec/trickle.md: creating and deleting channels and
// closing segments (TRK-SRV-010 to TRK-SRV-019).

// chanNeedAutocreate skips a spec that is about servers with auto-create.
func chanNeedAutocreate() {
	GinkgoHelper()
	if !autocreate {
		Skip("the server does not auto-create channels (POST /{ch} answered 404 at start); this requirement is about servers that do")
	}
}

// chanNoAutocreateBase returns the base URL of a server without auto-create:
// the server under test when it has none, else (only when the suite runs
// gotrickle in-process) a second in-process gotrickle server configured
// without it. Otherwise the spec is skipped.
func chanNoAutocreateBase() string {
	GinkgoHelper()
	if !autocreate {
		return cfg.base
	}
	if !cfg.inProcess {
		Skip("the server under test auto-creates channels (POST /{ch} answered 200 at start); this requirement is about servers without auto-create")
	}
	srv := trickle.NewServer(trickle.ServerConfig{
		Autocreate:         false,
		RingSize:           cfg.ringSize,
		IdleTimeout:        cfg.idle,
		FirstByteKeepalive: cfg.keepalive,
		Logger:             slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	hs := httptest.NewServer(srv)
	DeferCleanup(func() {
		srv.Close()
		hs.Close()
	})
	return hs.URL + "/"
}

// chanCreate creates channel name with POST /{ch} and the given MIME type,
// and deletes it when the spec ends.
func chanCreate(name, mime string) {
	GinkgoHelper()
	DeferCleanup(func() { do("DELETE", cfg.base+name, nil) })
	r := do("POST", cfg.base+name, nil, "Expect-Content", mime)
	Expect(r.err).NotTo(HaveOccurred())
	Expect(r.status).To(Equal(http.StatusOK), "POST /%s: %q", name, r.body)
}

// chanExpectLatest checks latest through a GET far ahead, which a server
// answers 470 with Lp-Trickle-Latest (TRK-SRV-039).
func chanExpectLatest(ch string, far int, latest string) {
	GinkgoHelper()
	r := get(ch, far)
	Expect(r.err).NotTo(HaveOccurred())
	Expect(r.status).To(Equal(470), "GET /%s/%d: %q", ch, far, r.body)
	Expect(r.header.Get("Lp-Trickle-Latest")).To(Equal(latest), "latest of %s", ch)
}

// chanExpectSegment checks that a GET serves exactly body as segment seq.
func chanExpectSegment(ch string, seq int, body string) {
	GinkgoHelper()
	r := get(ch, seq)
	Expect(r.err).NotTo(HaveOccurred())
	Expect(r.status).To(Equal(http.StatusOK), "GET /%s/%d: %q", ch, seq, r.body)
	Expect(r.body).To(Equal(body), "GET /%s/%d", ch, seq)
	Expect(r.header.Get("Lp-Trickle-Seq")).To(Equal(fmt.Sprint(seq)), "GET /%s/%d", ch, seq)
}

// chanHasToken reports whether a comma-separated header holds token.
func chanHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

var _ = specs.Describe("Creating channels", func() {
	It("creates a new channel with POST /{ch}, with the Expect-Content MIME type and latest 0", harness.Req("TRK-SRV-010", harness.Must, harness.Channels), func() {
		chanNeedAutocreate()
		ch := randomName()
		chanCreate(ch, "application/x-trickle-conformance")
		chanExpectLatest(ch, 2, "0")
		// The segment's own Content-Type does not change the channel's.
		r := post(ch, -1, "abc", "Content-Type", "video/mp2t")
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.status).To(Equal(http.StatusOK))
		Expect(r.header.Get("Lp-Trickle-Seq")).To(Equal("0"), "the first POST /{ch}/-1 on a new channel")
		g := get(ch, 0)
		Expect(g.status).To(Equal(http.StatusOK))
		Expect(g.body).To(Equal("abc"))
		Expect(g.header.Get("Content-Type")).To(Equal("application/x-trickle-conformance"))
	})

	It("leaves an existing channel unchanged on POST /{ch}: latest, segments and MIME type", harness.Req("TRK-SRV-010", harness.Must, harness.Channels), func() {
		chanNeedAutocreate()
		ch := randomName()
		chanCreate(ch, "video/mp2t")
		mustPost(ch, 0, "abc")
		mustPost(ch, 1, "def")
		r := do("POST", cfg.base+ch, nil, "Expect-Content", "application/x-other")
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.status).To(Equal(http.StatusOK), "POST /%s again: %q", ch, r.body)
		chanExpectLatest(ch, 9, "2")
		chanExpectSegment(ch, 0, "abc")
		g := get(ch, 1)
		Expect(g.status).To(Equal(http.StatusOK))
		Expect(g.body).To(Equal("def"))
		Expect(strings.ToLower(g.header.Get("Content-Type"))).To(Equal("video/mp2t"), "the MIME type changed")
	})

	It("answers 404 to POST /{ch} without auto-create and creates nothing", harness.Req("TRK-SRV-011", harness.Must, harness.Channels), func() {
		base := chanNoAutocreateBase()
		name := randomName()
		for range 2 {
			r := do("POST", base+name, nil, "Expect-Content", "video/mp2t")
			Expect(r.err).NotTo(HaveOccurred())
			Expect(r.status).To(Equal(http.StatusNotFound), "POST %s%s: %q", base, name, r.body)
		}
		for _, seq := range []string{"0", "-1", "-2"} {
			r := do("GET", base+name+"/"+seq, nil)
			Expect(r.err).NotTo(HaveOccurred())
			Expect(r.status).To(Equal(http.StatusNotFound), "GET %s%s/%s after the refused create", base, name, seq)
		}
		r := do("DELETE", base+name, nil)
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.status).To(BeNumerically(">=", 400), "DELETE %s%s after the refused create", base, name)
		Expect(r.status).To(BeNumerically("<", 500))
	})

	DescribeTable("answers 404 with Connection: close to a segment POST for an unknown channel without auto-create, without reading the body",
		func(framing string) {
			base := chanNoAutocreateBase()
			u, err := url.Parse(base)
			Expect(err).NotTo(HaveOccurred())
			c := rawConnTo(base)
			name := randomName()
			// The headers promise a body that is never sent: the answer must
			// not wait for it.
			req := fmt.Sprintf("POST %s%s/0 HTTP/1.1\r\nHost: %s\r\nContent-Type: video/mp2t\r\n%s\r\n", u.Path, name, u.Host, framing)
			_, err = io.WriteString(c, req)
			Expect(err).NotTo(HaveOccurred())
			Expect(c.SetReadDeadline(time.Now().Add(cfg.reaction))).To(Succeed())
			br := bufio.NewReader(c)
			var resp *http.Response
			for {
				resp, err = http.ReadResponse(br, &http.Request{Method: "POST"})
				Expect(err).NotTo(HaveOccurred(), "no answer within %v while the body was held back", cfg.reaction)
				if resp.StatusCode != http.StatusContinue {
					break
				}
			}
			defer resp.Body.Close()
			Expect(resp.StatusCode).To(Equal(http.StatusNotFound))
			// net/http moves "Connection: close" of an HTTP/1.1 response
			// into resp.Close.
			Expect(resp.ProtoAtLeast(1, 1)).To(BeTrue(), "response protocol %s", resp.Proto)
			Expect(resp.Close || chanHasToken(resp.Header, "Connection", "close")).To(BeTrue(), "the 404 does not carry Connection: close")
			// Nothing was created.
			r := do("GET", base+name+"/0", nil)
			Expect(r.err).NotTo(HaveOccurred())
			Expect(r.status).To(Equal(http.StatusNotFound), "GET %s%s/0 after the refused write", base, name)
		},
		Entry("with a Content-Length body", harness.Req("TRK-SRV-012", harness.Must, harness.Channels), "Content-Length: 1048576\r\n"),
		Entry("with a chunked body", harness.Req("TRK-SRV-012", harness.Must, harness.Channels), "Transfer-Encoding: chunked\r\n"),
	)

	DescribeTable("creates an unknown channel on a segment POST, with the request's Content-Type, and accepts the segment",
		func(seq, want int) {
			chanNeedAutocreate()
			ch := randomName()
			DeferCleanup(func() { do("DELETE", cfg.base+ch, nil) })
			r := post(ch, seq, "hello", "Content-Type", "audio/x-trickle-conformance")
			Expect(r.err).NotTo(HaveOccurred())
			Expect(r.status).To(Equal(http.StatusOK), "POST /%s/%d: %q", ch, seq, r.body)
			Expect(r.header.Get("Lp-Trickle-Seq")).To(Equal(fmt.Sprint(want)))
			g := get(ch, want)
			Expect(g.err).NotTo(HaveOccurred())
			Expect(g.status).To(Equal(http.StatusOK), "GET /%s/%d: %q", ch, want, g.body)
			Expect(g.body).To(Equal("hello"))
			Expect(g.header.Get("Content-Type")).To(Equal("audio/x-trickle-conformance"))
		},
		Entry("seq 0", harness.Req("TRK-SRV-013", harness.Must, harness.Channels), 0, 0),
		Entry("seq -1 (writes 0)", harness.Req("TRK-SRV-013", harness.Must, harness.Channels), -1, 0),
		Entry("seq 3", harness.Req("TRK-SRV-013", harness.Must, harness.Channels), 3, 3),
	)
})

var _ = specs.Describe("Deleting channels", func() {
	It("ends a channel on DELETE /{ch}: every later GET or HEAD of a segment answers 404", harness.Req("TRK-SRV-014", harness.Must, harness.Channels), func() {
		ch := newChannel()
		mustPost(ch, 0, "abc")
		mustPost(ch, 1, "def")
		r := do("DELETE", cfg.base+ch, nil)
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.status).To(Equal(http.StatusOK), "DELETE /%s: %q", ch, r.body)
		for _, seq := range []string{"0", "1", "2", "3", "7", "-1", "-2"} {
			for _, m := range []string{"GET", "HEAD"} {
				r := do(m, segURL(ch, seq), nil)
				Expect(r.err).NotTo(HaveOccurred())
				Expect(r.status).To(Equal(http.StatusNotFound), "%s /%s/%s after DELETE", m, ch, seq)
			}
		}
		if !autocreate {
			r := post(ch, 2, "ghi")
			Expect(r.err).NotTo(HaveOccurred())
			Expect(r.status).To(Equal(http.StatusNotFound), "POST /%s/2 after DELETE on a server without auto-create", ch)
		}
	})

	DescribeTable("answers DELETE of an unknown channel with a 4xx status",
		func(ended bool) {
			ch := randomName()
			if ended {
				ch = newChannel()
				Expect(do("DELETE", cfg.base+ch, nil).status).To(Equal(http.StatusOK))
			}
			r := do("DELETE", cfg.base+ch, nil)
			Expect(r.err).NotTo(HaveOccurred())
			Expect(r.status).To(BeNumerically(">=", 400), "DELETE /%s: %d %q", ch, r.status, r.body)
			Expect(r.status).To(BeNumerically("<", 500), "DELETE /%s: %d %q", ch, r.status, r.body)
		},
		Entry("never created", harness.Req("TRK-SRV-015", harness.Must, harness.Channels), false),
		Entry("already ended", harness.Req("TRK-SRV-015", harness.Must, harness.Channels), true),
	)

	DescribeTable("answers DELETE of an unknown channel with 404",
		func(ended bool) {
			ch := randomName()
			if ended {
				ch = newChannel()
				Expect(do("DELETE", cfg.base+ch, nil).status).To(Equal(http.StatusOK))
			}
			r := do("DELETE", cfg.base+ch, nil)
			Expect(r.err).NotTo(HaveOccurred())
			Expect(r.status).To(Equal(http.StatusNotFound), "DELETE /%s: %q", ch, r.body)
		},
		Entry("never created", harness.Req("TRK-SRV-016", harness.Should, harness.Channels), false),
		Entry("already ended", harness.Req("TRK-SRV-016", harness.Should, harness.Channels), true),
	)

	It("starts a channel created again after it ended afresh: latest 0 and none of the old bytes", harness.Req("TRK-SRV-017", harness.Must, harness.Channels), func() {
		chanNeedAutocreate()
		ch := newChannel()
		mustPost(ch, 0, "old0")
		mustPost(ch, 1, "old1")
		mustPost(ch, 2, "old2")
		Expect(do("DELETE", cfg.base+ch, nil).status).To(Equal(http.StatusOK))
		r := do("POST", cfg.base+ch, nil, "Expect-Content", "video/mp2t")
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.status).To(Equal(http.StatusOK), "POST /%s again: %q", ch, r.body)

		reader := begin("GET", segURL(ch, 0), nil)
		chanExpectLatest(ch, 2, "0")
		chanExpectLatest(ch, 3, "0")
		w := post(ch, -1, "new")
		Expect(w.err).NotTo(HaveOccurred())
		Expect(w.status).To(Equal(http.StatusOK))
		Expect(w.header.Get("Lp-Trickle-Seq")).To(Equal("0"), "the first POST /{ch}/-1 on the re-created channel")
		resp := reader.response(cfg.reaction)
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		b, err := readAll(resp.Body, cfg.reaction)
		Expect(err).NotTo(HaveOccurred())
		Expect(b).To(Equal("new"), "a reader of seq 0 on the re-created channel")
		chanExpectSegment(ch, 0, "new")
	})

	It("starts a channel re-created by a segment POST afresh", harness.Req("TRK-SRV-017", harness.Must, harness.Channels), func() {
		chanNeedAutocreate()
		ch := newChannel()
		mustPost(ch, 0, "old0")
		mustPost(ch, 1, "old1")
		Expect(do("DELETE", cfg.base+ch, nil).status).To(Equal(http.StatusOK))
		w := post(ch, -1, "new")
		Expect(w.err).NotTo(HaveOccurred())
		Expect(w.status).To(Equal(http.StatusOK))
		Expect(w.header.Get("Lp-Trickle-Seq")).To(Equal("0"), "the first POST /{ch}/-1 on the re-created channel")
		chanExpectSegment(ch, 0, "new")
		chanExpectLatest(ch, 7, "1")
	})
})

var _ = specs.Describe("Closing segments", func() {
	It("closes a segment being written on DELETE /{ch}/{seq}: readers get the bytes so far, then the end", harness.Req("TRK-SRV-018", harness.Must, harness.Core), func() {
		ch := newChannel()
		p := beginPost(ch, 0)
		p.write("abc")
		reader := begin("GET", segURL(ch, 0), nil)
		resp := reader.response(cfg.reaction)
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		got, err := readN(resp.Body, 3, cfg.reaction)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal("abc"))

		r := do("DELETE", segURL(ch, 0), nil)
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.status).To(Equal(http.StatusOK), "DELETE /%s/0: %q", ch, r.body)
		rest, err := readAll(resp.Body, cfg.reaction)
		Expect(err).NotTo(HaveOccurred(), "the reader's body did not end cleanly after the DELETE")
		Expect(rest).To(BeEmpty())
		chanExpectSegment(ch, 0, "abc")
	})

	It("releases a reader waiting on a segment with no bytes with an empty 200 on DELETE /{ch}/{seq}", harness.Req("TRK-SRV-018", harness.Must, harness.Core), func() {
		ch := newChannel()
		reader := begin("GET", segURL(ch, 0), nil)
		// The segment is held once the reader waits on it; until then a
		// DELETE is refused with 400 and has no effect.
		Eventually(func() int { return do("DELETE", segURL(ch, 0), nil).status }).
			WithTimeout(cfg.reaction).WithPolling(50 * time.Millisecond).
			Should(Equal(http.StatusOK))
		resp := reader.response(cfg.reaction)
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		b, err := readAll(resp.Body, cfg.reaction)
		Expect(err).NotTo(HaveOccurred())
		Expect(b).To(BeEmpty())
		r := get(ch, 0)
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.status).To(Equal(http.StatusOK), "GET /%s/0 after closing it empty: %q", ch, r.body)
		Expect(r.body).To(BeEmpty())
	})

	It("answers 200 to DELETE /{ch}/{seq} of a complete segment and keeps its bytes", harness.Req("TRK-SRV-018", harness.Must, harness.Core), func() {
		ch := newChannel()
		mustPost(ch, 0, "abc")
		mustPost(ch, 1, "def")
		r := do("DELETE", segURL(ch, 0), nil)
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.status).To(Equal(http.StatusOK), "DELETE /%s/0: %q", ch, r.body)
		chanExpectSegment(ch, 0, "abc")
		chanExpectSegment(ch, 1, "def")
	})

	It("answers 400 to DELETE /{ch}/{seq} of a seq never written", harness.Req("TRK-SRV-019", harness.Must, harness.Core), func() {
		ch := newChannel()
		for _, seq := range []int{0, 3, 1000} {
			r := do("DELETE", segURL(ch, seq), nil)
			Expect(r.err).NotTo(HaveOccurred())
			Expect(r.status).To(Equal(http.StatusBadRequest), "DELETE /%s/%d on a new channel: %q", ch, seq, r.body)
		}
		mustPost(ch, 0, "abc")
		r := do("DELETE", segURL(ch, 2), nil)
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.status).To(Equal(http.StatusBadRequest), "DELETE /%s/2 with only 0 written: %q", ch, r.body)
	})

	It("answers 400 to DELETE /{ch}/{seq} of a seq no longer in the window, leaving the newer segment in its slot alone", harness.Req("TRK-SRV-019", harness.Must, harness.Core), func() {
		ch := newChannel()
		n := cfg.ringSize
		for i := range n {
			mustPost(ch, i, fmt.Sprintf("seg%d", i))
		}
		// Segment n is open in the slot segment 0 used.
		p := beginPost(ch, n)
		p.write("abc")
		Eventually(func() string { return get(ch, n+9).header.Get("Lp-Trickle-Latest") }).
			WithTimeout(cfg.reaction).WithPolling(20*time.Millisecond).
			Should(Equal(fmt.Sprint(n+1)), "latest after the first byte of segment %d", n)
		r := do("DELETE", segURL(ch, 0), nil)
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.status).To(Equal(http.StatusBadRequest), "DELETE /%s/0 after segments 0..%d: %q", ch, n, r.body)
		p.write("def")
		resp := p.end()
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		chanExpectSegment(ch, n, "abcdef")
	})

	DescribeTable("answers 404 to DELETE /{ch}/{seq} when the channel does not exist",
		func(ended bool) {
			ch := randomName()
			if ended {
				ch = newChannel()
				mustPost(ch, 0, "abc")
				Expect(do("DELETE", cfg.base+ch, nil).status).To(Equal(http.StatusOK))
			}
			r := do("DELETE", segURL(ch, 0), nil)
			Expect(r.err).NotTo(HaveOccurred())
			Expect(r.status).To(Equal(http.StatusNotFound), "DELETE /%s/0: %q", ch, r.body)
		},
		Entry("never created", harness.Req("TRK-SRV-019", harness.Must, harness.Core), false),
		Entry("ended", harness.Req("TRK-SRV-019", harness.Must, harness.Core), true),
	)
})
