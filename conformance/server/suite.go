// Package server is the conformance suite for trickle servers: it
// checks the TRK-SRV requirements of docs/spec/trickle.md against the
// server at TRICKLE_SERVER_URL, or against gotrickle's own server started
// in-process when that is unset. It talks to the server only over HTTP, so
// it runs unchanged against any implementation.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/gotrickle/gotrickle/conformance/harness"
	"github.com/gotrickle/gotrickle/docs/spec"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// Suite is the server suite, for harness.Main (gotrickle conformance server) and
// harness.Run (go test).
var Suite = harness.Suite{Name: "server", Title: "Trickle server conformance",
	Catalog: harness.RequirementsWithPrefix(spec.Trickle, "TRK-SRV-"), Specs: &specs}

// specs holds the suite's top-level nodes until it runs.
var specs harness.Specs

var (
	cfg        settings
	client     *http.Client
	transport  *http.Transport
	autocreate bool

	// Set when the suite runs gotrickle's server in-process.
	inproc     *trickle.Server
	inprocHTTP *httptest.Server

	channelsMu sync.Mutex
)

var _ = specs.BeforeEach(harness.CategoryGate)

var _ = specs.BeforeSuite(func() {
	var err error
	cfg, err = loadSettings()
	if err != nil {
		harness.HarnessError(err)
	}
	if cfg.base == "" {
		// No target given: test gotrickle's own server, with short timers
		// so that idle expiry and keepalives are testable quickly.
		cfg.inProcess = true
		cfg.idle, cfg.idleSlack, cfg.keepalive = 3*time.Second, 2*time.Second, time.Second
		inproc = trickle.NewServer(trickle.ServerConfig{
			Autocreate:         true,
			RingSize:           cfg.ringSize,
			IdleTimeout:        cfg.idle,
			SweepInterval:      100 * time.Millisecond,
			FirstByteKeepalive: cfg.keepalive,
			MaxSegmentBytes:    cfg.maxSegment,
			Logger:             slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		inprocHTTP = httptest.NewServer(inproc)
		cfg.base = inprocHTTP.URL + "/"
		harness.SetTarget("gotrickle pkg/trickle.Server (in-process) at " + cfg.base)
	} else {
		harness.SetTarget(cfg.base)
	}
	transport = http.DefaultTransport.(*http.Transport).Clone()
	transport.DisableCompression = true
	client = &http.Client{Transport: transport}

	// Detect auto-create with a throw-away channel.
	name := randomName()
	r := do("POST", cfg.base+name, nil, trickle.HeaderExpectContent, "video/mp2t")
	switch {
	case r.err != nil:
		harness.HarnessError(fmt.Errorf("cannot reach %s: %w", cfg.base, r.err))
	case r.status == http.StatusOK:
		autocreate = true
		do("DELETE", cfg.base+name, nil)
	case r.status == http.StatusNotFound:
		autocreate = false
	default:
		harness.HarnessError(fmt.Errorf("POST %s%s answered %d %q; cannot tell whether channels can be created", cfg.base, name, r.status, r.body))
	}
})

var _ = specs.AfterSuite(func() {
	if transport != nil {
		transport.CloseIdleConnections()
	}
	if inproc != nil {
		inproc.Close()
		inprocHTTP.Close()
	}
})

func randomName() string {
	var b [6]byte
	rand.Read(b[:])
	return "conf-" + hex.EncodeToString(b[:])
}

// newChannel returns a fresh channel for one spec: created with POST /{ch}
// when the server auto-creates, else taken from TRICKLE_CHANNELS. The spec
// is skipped when no channel can be had. The channel is deleted afterwards.
func newChannel() string {
	GinkgoHelper()
	if !autocreate {
		channelsMu.Lock()
		defer channelsMu.Unlock()
		if len(cfg.channels) == 0 {
			Skip("needs a channel: the server does not auto-create and TRICKLE_CHANNELS has none left")
		}
		name := cfg.channels[0]
		cfg.channels = cfg.channels[1:]
		return name
	}
	name := randomName()
	r := do("POST", cfg.base+name, nil, trickle.HeaderExpectContent, "video/mp2t")
	if r.err != nil || r.status != http.StatusOK {
		harness.HarnessError(fmt.Errorf("creating channel %s: status %d err %v", name, r.status, r.err))
	}
	DeferCleanup(func() { do("DELETE", cfg.base+name, nil) })
	return name
}

// segURL is the URL of /{ch}/{seq}; seq may be a number or a string.
func segURL(ch string, seq any) string { return fmt.Sprintf("%s%s/%v", cfg.base, ch, seq) }

// reply is a finished request.
type reply struct {
	status int
	header http.Header
	body   string
	err    error
}

// do sends a request and reads the whole answer, within a bound so a
// misbehaving server fails the spec instead of hanging the suite.
// hdr holds header name/value pairs.
func do(method, url string, body io.Reader, hdr ...string) reply {
	return doWithin(5*cfg.reaction+5*time.Second, method, url, body, hdr...)
}

// doWithin is do under another time limit, e.g. a short one for requests
// that may hang on some servers.
func doWithin(d time.Duration, method, url string, body io.Reader, hdr ...string) reply {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return reply{err: err}
	}
	return send(req, hdr...)
}

// send adds the header pairs to req, sends it and reads the whole answer.
func send(req *http.Request, hdr ...string) reply {
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b), err: err}
}

// post writes a whole segment.
func post(ch string, seq any, body string, hdr ...string) reply {
	GinkgoHelper()
	return do("POST", segURL(ch, seq), strings.NewReader(body), append([]string{"Content-Type", "video/mp2t"}, hdr...)...)
}

// get reads a whole segment.
func get(ch string, seq any) reply {
	GinkgoHelper()
	return do("GET", segURL(ch, seq), nil)
}

// mustPost writes a whole segment and expects 200.
func mustPost(ch string, seq any, body string) {
	GinkgoHelper()
	r := post(ch, seq, body)
	Expect(r.err).NotTo(HaveOccurred())
	Expect(r.status).To(Equal(http.StatusOK), "POST %s: %q", segURL(ch, seq), r.body)
}

// call is a request running in the background; its response arrives on
// resp when the server sends the status line.
type call struct {
	resp   chan *http.Response
	err    chan error
	cancel context.CancelFunc
}

// begin starts a request in the background. It is cancelled when the spec
// ends.
func begin(method, url string, body io.Reader, hdr ...string) *call {
	ctx, cancel := context.WithCancel(context.Background())
	c := &call{resp: make(chan *http.Response, 1), err: make(chan error, 1), cancel: cancel}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		c.err <- err
		return c
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			c.err <- err
			return
		}
		c.resp <- resp
	}()
	DeferCleanup(func() {
		cancel()
		select {
		case resp := <-c.resp:
			resp.Body.Close()
		default:
		}
	})
	return c
}

// waiting asserts that no status line arrives for d.
func (c *call) waiting(d time.Duration) {
	GinkgoHelper()
	select {
	case resp := <-c.resp:
		c.resp <- resp
		Fail(fmt.Sprintf("expected the server to wait, but it answered %d", resp.StatusCode))
	case err := <-c.err:
		c.err <- err
		Fail(fmt.Sprintf("expected the server to wait, but the request failed: %v", err))
	case <-time.After(d):
	}
}

// response waits up to d for the status line.
func (c *call) response(d time.Duration) *http.Response {
	GinkgoHelper()
	select {
	case resp := <-c.resp:
		c.resp <- resp // keep it for cleanup and later calls
		return resp
	case err := <-c.err:
		c.err <- err
		Fail(fmt.Sprintf("request failed: %v", err))
	case <-time.After(d):
		Fail(fmt.Sprintf("no response within %v", d))
	}
	return nil
}

// readAll reads a body to its end within d.
func readAll(r io.Reader, d time.Duration) (string, error) {
	type res struct {
		b   []byte
		err error
	}
	ch := make(chan res, 1)
	go func() {
		b, err := io.ReadAll(r)
		ch <- res{b, err}
	}()
	select {
	case x := <-ch:
		return string(x.b), x.err
	case <-time.After(d):
		return "", errors.New("body did not end in time")
	}
}

// readN reads exactly n bytes within d.
func readN(r io.Reader, n int, d time.Duration) (string, error) {
	type res struct {
		b   []byte
		err error
	}
	ch := make(chan res, 1)
	go func() {
		b := make([]byte, n)
		k, err := io.ReadFull(r, b)
		ch <- res{b[:k], err}
	}()
	select {
	case x := <-ch:
		return string(x.b), x.err
	case <-time.After(d):
		return "", fmt.Errorf("%d bytes did not arrive within %v", n, d)
	}
}

// openPost is a segment POST whose body is written piece by piece.
type openPost struct {
	pw *io.PipeWriter
	*call
}

// beginPost opens POST /{ch}/{seq} with a streaming body.
func beginPost(ch string, seq any, hdr ...string) *openPost {
	pr, pw := io.Pipe()
	c := begin("POST", segURL(ch, seq), pr, append([]string{"Content-Type", "video/mp2t"}, hdr...)...)
	DeferCleanup(func() { pw.CloseWithError(errors.New("spec ended")) })
	return &openPost{pw: pw, call: c}
}

// write sends part of the body.
func (p *openPost) write(s string) {
	GinkgoHelper()
	done := make(chan error, 1)
	go func() { _, err := io.WriteString(p.pw, s); done <- err }()
	select {
	case err := <-done:
		Expect(err).NotTo(HaveOccurred(), "writing the POST body")
	case <-time.After(5 * cfg.reaction):
		Fail("the server did not take the POST body")
	}
}

// end finishes the body and returns the response.
func (p *openPost) end() *http.Response {
	GinkgoHelper()
	p.pw.Close()
	return p.response(5 * cfg.reaction)
}
