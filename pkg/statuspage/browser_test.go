//go:build linux || darwin

package statuspage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/fixtures"
	"github.com/gotrickle/gotrickle/pkg/api"
	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/media"
	"github.com/gotrickle/gotrickle/pkg/processor"
	"github.com/gotrickle/gotrickle/pkg/statuspage"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

var quiet = slog.New(slog.DiscardHandler)

// recordingHandler passes video through and keeps the parameters it is
// given.
type recordingHandler struct {
	mu     sync.Mutex
	params processor.Params
}

func (h *recordingHandler) HandleVideo(context.Context, *frame.Video) (*frame.Video, error) {
	return nil, nil
}

func (h *recordingHandler) UpdateParams(_ context.Context, p processor.Params) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.params = maps.Clone(p)
	return nil
}

func (h *recordingHandler) last() processor.Params {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.params
}

// TestBrowserStatusPage drives the status page in headless chromium over
// the DevTools protocol, against the real stack: a trickle server in
// process, a processor with FFmpeg codecs and a handler, pkg/api with the
// page under the route prefix /api, and a fixture published at live pace.
// Set STATUSPAGE_SCREENSHOT=file.png to keep a screenshot of the page.
func TestBrowserStatusPage(t *testing.T) {
	bin := findChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// The trickle server.
	tsrv := trickle.NewServer(trickle.ServerConfig{Autocreate: true, Logger: quiet})
	ths := httptest.NewServer(tsrv)
	defer func() { tsrv.Close(); ths.Close() }()
	for _, ch := range []string{"in", "out"} {
		if err := tsrv.CreateChannel(ch, trickle.ContentTypeMPEGTS); err != nil {
			t.Fatal(err)
		}
	}

	// The processor, its API and the page.
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	h := &recordingHandler{}
	p, err := processor.New(h, processor.Config{Codecs: media.Codecs{}, Logger: quiet, HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.LoadModel(ctx); err != nil {
		t.Fatal(err)
	}
	page := statuspage.New(p, statuspage.Config{RoutePrefix: "/api", Title: "browser test", Logger: quiet})
	defer page.Close()
	asrv := api.New(p, api.Config{RoutePrefix: "/api", StatusPage: page, Logger: quiet})
	p.SetObserver(processor.Observers(asrv.Observer(), page))
	ahs := httptest.NewServer(asrv)
	defer ahs.Close()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := p.Stop(sctx); err != nil && !errors.Is(err, processor.ErrNoStream) {
			t.Errorf("stopping the stream: %v", err)
		}
	}()

	b := startBrowser(t, ctx, bin)
	defer b.close() // before the servers close
	defer func() {
		if t.Failed() {
			for _, l := range b.pageLogs() {
				t.Log("page: " + l)
			}
		}
	}()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// The page loads, connects and shows IDLE before any stream.
	t0 := time.Now()
	must(b.navigate(ctx, ahs.URL+"/"))
	must(b.waitJS(ctx, `document.getElementById('conn').dataset.conn === 'open'`, 10*time.Second))
	must(b.waitJS(ctx, `document.getElementById('state').textContent === 'IDLE'`, 10*time.Second))
	if title := b.evalString(ctx, `document.title`); title != "browser test status" {
		t.Errorf("page title %q", title)
	}
	t.Logf("page loaded and live in %v", time.Since(t0))

	// A stream: the fixture published at live pace, looped, until the
	// test ends.
	start, _ := json.Marshal(map[string]any{
		"subscribe_url": ths.URL + "/in", "publish_url": ths.URL + "/out", "gateway_request_id": "browser",
		"params": map[string]any{"width": 320, "height": 240, "max_framerate": 30, "prompt": "start"},
	})
	if code, body := post(ctx, client, ahs.URL+"/api/stream/start", start); code != http.StatusOK {
		t.Fatalf("start: %d %s", code, body)
	}
	pubCtx, stopPub := context.WithCancel(ctx)
	pubDone := make(chan error, 1)
	go func() { pubDone <- publishLoop(pubCtx, ths.URL+"/in", client) }()
	defer func() {
		stopPub()
		if err := <-pubDone; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("publishing: %v", err)
		}
	}()

	// State OK during the stream, and the fps figure moves.
	must(b.waitJS(ctx, `document.getElementById('state').textContent === 'OK'`, 10*time.Second))
	must(b.waitJS(ctx, `parseFloat(document.getElementById('ingress-fps').textContent) > 0`, 15*time.Second))
	first := b.evalString(ctx, `document.getElementById('ingress-fps').textContent`)
	must(b.waitJS(ctx, `document.getElementById('ingress-fps').textContent !== `+strconv.Quote(first), 10*time.Second))
	second := b.evalString(ctx, `document.getElementById('ingress-fps').textContent`)
	t.Logf("ingress fps shown: %s, then %s", first, second)
	must(b.waitJS(ctx, `parseFloat(document.getElementById('egress-fps').textContent) > 0`, 10*time.Second))
	must(b.waitJS(ctx, `document.getElementById('latency-ms').textContent !== '–'`, 10*time.Second))

	// The preview shows the output.
	must(b.waitJS(ctx, `document.getElementById('preview').naturalWidth > 0`, 10*time.Second))
	var size [2]int
	must(b.eval(ctx, `[document.getElementById('preview').naturalWidth, document.getElementById('preview').naturalHeight]`, &size))
	if size != [2]int{320, 240} {
		t.Errorf("preview is %dx%d, want 320x240", size[0], size[1])
	}

	// The form shows the current params; a change from it reaches the
	// handler, and the server's answer is shown.
	prompt := `document.querySelector('#params-rows input[data-key="prompt"]')`
	must(b.waitJS(ctx, prompt+` && `+prompt+`.value === 'start'`, 10*time.Second))
	must(b.eval(ctx, `(() => {
		const input = `+prompt+`;
		input.focus();
		input.value = 'from the browser';
		input.dispatchEvent(new Event('input', {bubbles: true}));
		document.getElementById('new-key').value = 'strength';
		document.getElementById('new-value').value = '0.25';
		document.getElementById('params-form').requestSubmit();
	})()`, nil))
	must(b.waitJS(ctx, `document.getElementById('params-result').textContent.startsWith('200')`, 10*time.Second))
	if got := h.last(); got["prompt"] != "from the browser" || got["strength"] != 0.25 {
		t.Errorf("the handler got %v, want prompt=from the browser, strength=0.25", got)
	}
	if res := b.evalString(ctx, `document.getElementById('params-result').textContent`); res != "200: Parameters updated successfully" {
		t.Errorf("the page says %q after the update", res)
	}
	// The snapshot's params follow, and the event shows in the list.
	must(b.eval(ctx, `document.activeElement.blur()`, nil))
	must(b.waitJS(ctx, `document.querySelector('#params-rows input[data-key="strength"]') !== null`, 5*time.Second))
	must(b.waitJS(ctx, `[...document.querySelectorAll('#events b')].some(e => e.textContent === 'params_updated')`, 5*time.Second))

	// A refused update: the API's 400 message is shown.
	must(b.eval(ctx, `(() => {
		document.getElementById('new-key').value = 'max_framerate';
		document.getElementById('new-value').value = '0';
		document.getElementById('params-form').requestSubmit();
	})()`, nil))
	must(b.waitJS(ctx, `document.getElementById('params-result').textContent.startsWith('400')`, 10*time.Second))
	res := b.evalString(ctx, `document.getElementById('params-result').textContent`)
	if !strings.Contains(res, "max_framerate must be a positive integer") {
		t.Errorf("the page says %q after a bad update, want the API's message", res)
	}
	if got := h.last(); got["max_framerate"] != nil {
		t.Errorf("the handler got a refused update: %v", got)
	}

	if path := os.Getenv("STATUSPAGE_SCREENSHOT"); path != "" {
		if err := b.screenshot(ctx, path); err != nil {
			t.Errorf("screenshot: %v", err)
		}
	}
	if exc := exceptions(b.pageLogs()); len(exc) > 0 {
		t.Errorf("the page threw: %v", exc)
	}
	t.Logf("browser checks done in %v", time.Since(t0))
}

// exceptions are the JavaScript exceptions among the page's logs.
func exceptions(logs []string) []string {
	var out []string
	for _, l := range logs {
		if strings.HasPrefix(l, "Runtime.exceptionThrown") {
			out = append(out, l)
		}
	}
	return out
}

// post sends a JSON body and returns the status code and body.
func post(ctx context.Context, c *http.Client, url string, body []byte) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// publishLoop publishes a fixture's 1 s segments to url at live pace, over
// and over, until ctx ends (the encoder keeps output timestamps rising
// when the input's jump back at each loop).
func publishLoop(ctx context.Context, url string, c *http.Client) error {
	m, err := fixtures.Load()
	if err != nil {
		return err
	}
	fx, err := m.Fixture("h264-noaudio-320x240")
	if err != nil {
		return err
	}
	segs, err := fx.Segments(time.Second)
	if err != nil {
		return err
	}
	var bodies [][]byte
	for _, s := range segs {
		b, err := s.Bytes()
		if err != nil {
			return err
		}
		bodies = append(bodies, b)
	}
	// The processor reads from the segment being written when it
	// subscribes: give its first GET a moment, as a live stream would.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(200 * time.Millisecond):
	}
	pub, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: url, Client: c, Logger: quiet})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pub.Close(cctx)
	}()
	next := time.Now()
	for i := 0; ; i++ {
		if _, err := pub.Write(ctx, bytes.NewReader(bodies[i%len(bodies)])); err != nil {
			return fmt.Errorf("segment %d: %w", i, err)
		}
		next = next.Add(time.Second)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(next)):
		}
	}
}
