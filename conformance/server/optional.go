package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/gotrickle/gotrickle/conformance/harness"
)

// Specs for the optional features of §14 of docs/spec/trickle.md
// (TRK-SRV-058 to TRK-SRV-060). Each detects its feature first and reports
// the spec unsupported when it is absent.

// optNextURL is the URL of GET /{ch}/next.
func optNextURL(ch string) string { return cfg.base + ch + "/next" }

// optDetectNext reports GET /{ch}/next unsupported unless it answers 200
// with a decimal body on the existing channel ch.
func optDetectNext(ch string) reply {
	GinkgoHelper()
	r := do("GET", optNextURL(ch), nil)
	if r.err != nil {
		harness.Unsupported("GET /{ch}/next failed: %v", r.err)
	}
	if _, err := strconv.ParseUint(strings.TrimSpace(r.body), 10, 63); r.status != http.StatusOK || err != nil {
		harness.Unsupported("GET /{ch}/next on an existing channel answered %d %q", r.status, r.body)
	}
	return r
}

// optExpectNext checks GET /{ch}/next against latest.
func optExpectNext(ch string, latest string) {
	GinkgoHelper()
	r := do("GET", optNextURL(ch), nil)
	Expect(r.err).NotTo(HaveOccurred())
	Expect(r.status).To(Equal(http.StatusOK), "GET /%s/next: %q", ch, r.body)
	Expect(strings.TrimSpace(r.body)).To(Equal(latest), "GET /%s/next body", ch)
	Expect(r.header.Get("Lp-Trickle-Latest")).To(Equal(latest), "GET /%s/next Lp-Trickle-Latest", ch)
	Expect(r.header.Get("Content-Type")).To(HavePrefix("text/plain"), "GET /%s/next Content-Type", ch)
}

// optGetWithin reads a whole segment within d, so that a segment that never
// starts fails the spec quickly.
func optGetWithin(url string, d time.Duration) reply {
	GinkgoHelper()
	c := begin("GET", url, nil)
	select {
	case resp := <-c.resp:
		c.resp <- resp
		b, err := readAll(resp.Body, d)
		return reply{status: resp.StatusCode, header: resp.Header, body: b, err: err}
	case err := <-c.err:
		c.err <- err
		return reply{err: err}
	case <-time.After(d):
		return reply{err: fmt.Errorf("GET %s: no answer within %v", url, d)}
	}
}

// optChange is one changefeed message.
type optChange struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
}

var _ = specs.Describe("Optional: GET /{ch}/next", func() {
	It("reports latest as a decimal text/plain body and in Lp-Trickle-Latest", harness.Req("TRK-SRV-058", harness.May, harness.Channels), func() {
		ch := newChannel()
		optDetectNext(ch)
		optExpectNext(ch, "0")
		mustPost(ch, 0, "abc")
		mustPost(ch, 1, "def")
		optExpectNext(ch, "2")
		// Latest moves with the first byte of a segment being written.
		p := beginPost(ch, 2)
		p.write("x")
		Eventually(func() string { return strings.TrimSpace(do("GET", optNextURL(ch), nil).body) }).
			WithTimeout(cfg.reaction).WithPolling(50 * time.Millisecond).Should(Equal("3"))
		optExpectNext(ch, "3")
		Expect(p.end().StatusCode).To(Equal(http.StatusOK))
		optExpectNext(ch, "3")
	})

	It("answers HEAD /{ch}/next with 200 and Lp-Trickle-Latest", harness.Req("TRK-SRV-058", harness.May, harness.Channels), func() {
		ch := newChannel()
		optDetectNext(ch)
		mustPost(ch, 0, "abc")
		r := do("HEAD", optNextURL(ch), nil)
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.status).To(Equal(http.StatusOK), "HEAD /%s/next", ch)
		Expect(r.header.Get("Lp-Trickle-Latest")).To(Equal("1"))
		Expect(r.body).To(BeEmpty())
	})

	It("answers 404 to GET /{ch}/next for an unknown or ended channel", harness.Req("TRK-SRV-058", harness.May, harness.Channels), func() {
		ch := newChannel()
		optDetectNext(ch)
		r := do("GET", optNextURL(randomName()), nil)
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.status).To(Equal(http.StatusNotFound), "GET /{unknown}/next: %q", r.body)
		mustPost(ch, 0, "abc")
		Expect(do("DELETE", cfg.base+ch, nil).status).To(Equal(http.StatusOK))
		r = do("GET", optNextURL(ch), nil)
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.status).To(Equal(http.StatusNotFound), "GET /%s/next after DELETE: %q", ch, r.body)
		r = do("HEAD", optNextURL(ch), nil)
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.status).To(Equal(http.StatusNotFound), "HEAD /%s/next after DELETE", ch)
	})
})

var _ = specs.Describe("Optional: Lp-Trickle-Reset", func() {
	It("completes every held older segment where it stands and leaves newer ones alone", harness.Req("TRK-SRV-059", harness.May, harness.Faults), func() {
		ch := newChannel()
		mustPost(ch, 0, "zero")
		// Segment 1 is left open by a writer that stopped sending.
		w1 := beginPost(ch, 1)
		w1.write("abc")
		r1 := begin("GET", segURL(ch, 1), nil)
		resp1 := r1.response(cfg.reaction)
		Expect(resp1.StatusCode).To(Equal(http.StatusOK))
		got, err := readN(resp1.Body, 3, cfg.reaction)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal("abc"))
		// Segment 3 is claimed by a preconnected writer.
		w3 := beginPost(ch, 3)
		w3.waiting(500 * time.Millisecond)

		reset := beginPost(ch, 2, "Lp-Trickle-Reset", "1")
		reset.write("new")
		rest, err := readAll(resp1.Body, cfg.reaction)
		if err != nil && err.Error() == "body did not end in time" {
			harness.Unsupported("segment 1 was not completed within %v after a POST /{ch}/2 with Lp-Trickle-Reset", cfg.reaction)
		}
		Expect(err).NotTo(HaveOccurred(), "the reader of segment 1 did not get a clean end of body")
		Expect(rest).To(BeEmpty())

		// Older segments keep their bytes.
		r := optGetWithin(segURL(ch, 1), cfg.reaction)
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.status).To(Equal(http.StatusOK))
		Expect(r.body).To(Equal("abc"))
		r = optGetWithin(segURL(ch, 0), cfg.reaction)
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.body).To(Equal("zero"))

		// The reset segment itself and the newer one are untouched.
		r2 := begin("GET", segURL(ch, 2), nil)
		resp2 := r2.response(cfg.reaction)
		Expect(resp2.StatusCode).To(Equal(http.StatusOK))
		got, err = readN(resp2.Body, 3, cfg.reaction)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal("new"))
		reset.write("er")
		Expect(reset.end().StatusCode).To(Equal(http.StatusOK))
		rest, err = readAll(resp2.Body, cfg.reaction)
		Expect(err).NotTo(HaveOccurred())
		Expect(rest).To(Equal("er"))

		w3.write("three")
		Expect(w3.end().StatusCode).To(Equal(http.StatusOK))
		r = optGetWithin(segURL(ch, 3), cfg.reaction)
		Expect(r.err).NotTo(HaveOccurred())
		Expect(r.status).To(Equal(http.StatusOK))
		Expect(r.body).To(Equal("three"))
	})
})

var _ = specs.Describe("Optional: changefeed channel", func() {
	It("announces channels created and ended, one JSON object per segment, in order", harness.Req("TRK-SRV-060", harness.May, harness.Channels), func() {
		// Detection: GET /_changes/-2 answering 404 means no changefeed.
		// A changefeed with no segment yet makes the GET wait.
		start := int64(0)
		det := begin("GET", segURL("_changes", -2), nil)
		select {
		case resp := <-det.resp:
			det.resp <- resp
			if resp.StatusCode == http.StatusNotFound {
				harness.Unsupported("GET /_changes/-2 answered 404")
			}
			Expect(resp.StatusCode).To(Equal(http.StatusOK), "GET /_changes/-2")
			seq, err := strconv.ParseInt(resp.Header.Get("Lp-Trickle-Seq"), 10, 64)
			Expect(err).NotTo(HaveOccurred(), "Lp-Trickle-Seq of GET /_changes/-2")
			start = seq + 1
			if l := resp.Header.Get("Lp-Trickle-Latest"); l != "" {
				start, err = strconv.ParseInt(l, 10, 64)
				Expect(err).NotTo(HaveOccurred(), "Lp-Trickle-Latest of GET /_changes/-2")
			}
			_, err = readAll(resp.Body, cfg.reaction)
			Expect(err).NotTo(HaveOccurred())
		case err := <-det.err:
			Fail(fmt.Sprintf("GET /_changes/-2 failed: %v", err))
		case <-time.After(cfg.reaction):
			det.cancel() // waiting on segment 0: the feed exists but is empty
		}
		if !autocreate {
			Skip("needs a server that creates channels on demand, to see them announced")
		}

		ch := randomName()
		chanCreate(ch, "video/mp2t")
		Expect(do("DELETE", cfg.base+ch, nil).status).To(Equal(http.StatusOK))

		// Read the feed from where it stood; other channels may come and go
		// meanwhile.
		var events []string
		added, removed := -1, -1
		for seq := start; removed < 0 && seq < start+20; seq++ {
			r := optGetWithin(segURL("_changes", seq), cfg.reaction)
			Expect(r.err).NotTo(HaveOccurred(), "GET /_changes/%d (events so far %v)", seq, events)
			Expect(r.status).To(Equal(http.StatusOK), "GET /_changes/%d: %q (events so far %v)", seq, r.body, events)
			dec := json.NewDecoder(strings.NewReader(r.body))
			var c optChange
			Expect(dec.Decode(&c)).To(Succeed(), "segment %d is not a JSON object: %q", seq, r.body)
			var extra json.RawMessage
			Expect(errors.Is(dec.Decode(&extra), io.EOF)).To(BeTrue(), "segment %d holds more than one JSON object: %q", seq, r.body)
			Expect(len(c.Added)+len(c.Removed)).To(BeNumerically(">", 0), "segment %d announces nothing: %q", seq, r.body)
			for _, n := range c.Added {
				events = append(events, "+"+n)
				if n == ch && added < 0 {
					added = len(events)
				}
			}
			for _, n := range c.Removed {
				events = append(events, "-"+n)
				if n == ch {
					removed = len(events)
				}
			}
		}
		Expect(added).To(BeNumerically(">", 0), "the feed never announced %s as added: %v", ch, events)
		Expect(removed).To(BeNumerically(">", added), "the feed did not announce %s as removed after it was added: %v", ch, events)
	})
})
