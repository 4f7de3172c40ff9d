package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/fixtures"
	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/media"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// startCmd runs a long-running command and returns the URL it prints.
func startCmd(t *testing.T, ctx context.Context, args ...string) (string, <-chan error) {
	t.Helper()
	return startListening(t, args, func(stdout io.Writer) error { return execute(ctx, args, stdout) })
}

// startListening runs a command through run on a goroutine, waits for its
// "listening URL" line and returns the URL and run's result when it ends.
func startListening[T any](t *testing.T, args []string, run func(stdout io.Writer) T) (string, <-chan T) {
	t.Helper()
	pr, pw := io.Pipe()
	done := make(chan T, 1)
	go func() {
		done <- run(pw)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	go io.Copy(io.Discard, pr)
	u, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if !ok {
		t.Fatalf("%v: first line %q", args, line)
	}
	return strings.TrimSuffix(u, "/"), done
}

// waitIdle polls /health through call until the processor reports IDLE.
func waitIdle(t *testing.T, call func(method, path, body string) (int, map[string]any)) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, h := call("GET", "/health", ""); h["status"] == "IDLE" {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("health never became IDLE: %v", h)
		}
	}
}

// The flow of PyTrickle's README, with its curl commands as HTTP requests:
// a trickle server on one port, the processor on another with the /api
// prefix, start with params, update them, check status, stop.
func TestServeRunsPyTrickleReadmeFlow(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	trickleURL, trickleDone := startCmd(t, ctx, "server", "--addr", "127.0.0.1:0", "--log-level", "error")
	apiURL, serveDone := startCmd(t, ctx, "serve", "--addr", "127.0.0.1:0", "--route-prefix", "/api",
		"--handler", "colorgrade", "--log-level", "error")

	client := &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
	defer client.CloseIdleConnections()
	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		return callJSON(t, context.Background(), client, apiURL+path, method, body)
	}
	waitIdle(t, call)

	// The channels exist before anyone reads them, as a gateway makes them.
	for _, ch := range []string{"input", "output"} {
		resp, err := client.Post(trickleURL+"/"+ch, "video/mp2t", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("creating %s: %s", ch, resp.Status)
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	out, err := trickle.NewSubscriber(trickle.SubscriberConfig{URL: trickleURL + "/output", Start: trickle.StartAt(0), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	code, body := call("POST", "/api/stream/start", `{
		"subscribe_url": "`+trickleURL+`/input",
		"publish_url": "`+trickleURL+`/output",
		"gateway_request_id": "demo_stream",
		"params": {"width": 320, "height": 240, "intensity": 0.7}}`)
	if code != 200 || body["status"] != "success" || body["request_id"] != "demo_stream" {
		t.Fatalf("start: %d %v", code, body)
	}
	if code, _ := call("POST", "/api/stream/start", `{"gateway_request_id": "second"}`); code != 503 {
		t.Fatalf("a second start while streaming: %d, want 503", code)
	}

	m, err := fixtures.Load()
	if err != nil {
		t.Fatal(err)
	}
	fx, err := m.Fixture("h264-aac-320x240")
	if err != nil {
		t.Fatal(err)
	}
	segs, err := fx.Segments(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the processor's first GET land
	pub, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: trickleURL + "/input", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range segs {
		b, _ := s.Bytes()
		w, err := pub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		w.Close()
		if i == 1 {
			if code, body := call("POST", "/api/stream/params", `{"intensity": 0.9, "effect": "enhanced"}`); code != 200 {
				t.Fatalf("params: %d %v", code, body)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The output is watchable: it decodes, at the requested size.
	dec, err := media.NewDecoder(media.DecoderConfig{Width: 320, Height: 240, MaxFramerate: media.NoFramerateCap})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	frames := 0
	for frames == 0 {
		seg, err := out.Next(ctx)
		if err != nil {
			t.Fatalf("reading the output: %v", err)
		}
		if _, err := dec.DecodeSegment(ctx, seg, media.Handlers{Video: func(v *frame.Video) error {
			frames++
			if v.Width != 320 || v.Height != 240 {
				t.Errorf("output frame is %dx%d", v.Width, v.Height)
			}
			v.Release()
			return nil
		}}); err != nil {
			t.Fatal(err)
		}
		seg.Close()
	}

	code, st := call("GET", "/api/stream/status", "")
	if code != 200 || st["client_active"] != true || st["status"] != "OK" {
		t.Fatalf("status: %d %v", code, st)
	}
	if cp, _ := st["current_params"].(map[string]any); cp["gateway_request_id"] != "demo_stream" {
		t.Fatalf("status current_params: %v", st["current_params"])
	}
	if code, body := call("POST", "/api/stream/stop", ""); code != 200 || body["message"] != "Stream stopped successfully" {
		t.Fatalf("stop: %d %v", code, body)
	}
	for {
		seg, err := out.Next(ctx)
		if errors.Is(err, trickle.ErrStreamClosed) {
			break
		}
		if err != nil {
			t.Fatalf("after stop the output ended with %v, want the end of the stream", err)
		}
		io.Copy(io.Discard, seg)
		seg.Close()
	}
	if _, h := call("GET", "/health", ""); h["status"] != "IDLE" {
		t.Fatalf("health after stop: %v", h)
	}
	pub.Close(ctx)
	client.CloseIdleConnections()
	cancel()
	waitStopped(t, serveDone, trickleDone)
}

// waitStopped waits for commands started by startCmd to return nil.
func waitStopped(t *testing.T, dones ...<-chan error) {
	t.Helper()
	for _, d := range dones {
		select {
		case err := <-d:
			if err != nil {
				t.Fatalf("shutdown: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("a command did not stop")
		}
	}
}

func TestServeRegistersWithAnOrchestratorOnceListening(t *testing.T) {
	type reg struct {
		auth string
		body map[string]any
	}
	got := make(chan reg, 4)
	orch := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		if r.URL.Path == "/capability/register" {
			got <- reg{r.Header.Get("Authorization"), body}
		}
	}))
	defer orch.Close()
	t.Setenv("ORCH_SECRET", "from-env")
	t.Setenv("CAPABILITY_CAPACITY", "2")
	ctx, cancel := context.WithCancel(context.Background())
	base, done := startCmd(t, ctx, "serve", "--addr", "127.0.0.1:0", "--port", "0", "--orch-url", orch.URL,
		"--capability-name", "gotrickle-test", "--log-level", "error")
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	select {
	case r := <-got:
		_, port, _ := strings.Cut(strings.TrimPrefix(base, "http://"), ":")
		if r.auth != "from-env" || r.body["name"] != "gotrickle-test" || r.body["capacity"] != 2.0 ||
			r.body["url"] != "http://localhost:"+strings.TrimSuffix(port, "/") {
			t.Fatalf("registration %q %v (serving at %s)", r.auth, r.body, base)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no registration reached the orchestrator")
	}
}

func TestServeRefusesHalfAnOrchestratorSetting(t *testing.T) {
	t.Setenv("ORCH_SECRET", "")
	var stderr bytes.Buffer
	code := runWith(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--orch-url", "http://127.0.0.1:1"}, io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "ORCH_SECRET") {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}
