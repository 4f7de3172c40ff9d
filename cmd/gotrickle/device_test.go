package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/fixtures"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

func TestServeDeviceFlag(t *testing.T) {
	for _, tc := range []struct {
		name, device, want string
	}{
		{"an unknown device is a usage error", "tpu", `--device "tpu": want none, auto, cpu or cuda`},
		{"cuda in a build without the cuda tag is a usage error", "cuda", "build with -tags cuda"},
		{"NVDEC without a cuda device is a usage error", "cpu --hwdecode cuda", "--hwdecode cuda needs --device cuda"},
		{"an unknown hardware decoder is a usage error", "none --hwdecode vaapi", `--hwdecode "vaapi": want cuda or nothing`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--device"}, strings.Fields(tc.device)...)
			code := runWith(context.Background(), args, io.Discard, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tc.want)
			}
		})
	}
}

// `serve --device cpu` runs the colour grade on device frames end to end:
// the status counts uploads and device conversions and no downloads.
func TestServeOnADeviceGradesFramesOnTheDevice(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	trickleURL, trickleDone := startCmd(t, ctx, "server", "--addr", "127.0.0.1:0", "--log-level", "error")
	apiURL, serveDone := startCmd(t, ctx, "serve", "--addr", "127.0.0.1:0", "--handler", "colorgrade",
		"--device", "cpu", "--log-level", "error")
	client := &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
	defer client.CloseIdleConnections()
	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		return callJSON(t, context.Background(), client, apiURL+path, method, body)
	}
	waitIdle(t, call)
	for _, ch := range []string{"in", "out"} {
		resp, err := client.Post(trickleURL+"/"+ch, "video/mp2t", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if code, body := call("POST", "/stream/start", `{"subscribe_url": "`+trickleURL+`/in", "publish_url": "`+trickleURL+
		`/out", "gateway_request_id": "dev", "params": {"width": 320, "height": 240, "intensity": 1}}`); code != 200 {
		t.Fatalf("start: %d %v", code, body)
	}
	fx, err := fixtures.Load()
	if err != nil {
		t.Fatal(err)
	}
	f, err := fx.Fixture("h264-aac-320x240")
	if err != nil {
		t.Fatal(err)
	}
	segs, err := f.Segments(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	time.Sleep(200 * time.Millisecond)
	pub, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: trickleURL + "/in", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range segs[:3] {
		b, _ := s.Bytes()
		w, err := pub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		w.Close()
		time.Sleep(200 * time.Millisecond)
	}
	var c map[string]any
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, st := call("GET", "/stream/status", "")
		c, _ = st["counters"].(map[string]any)
		if n, _ := c["device_encoded"].(float64); n > 0 && n == c["video_frames_out"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters never showed device-encoded frames: %v", c)
		}
	}
	if c["device_uploads"] == nil || c["device_downloads"] != nil {
		t.Fatalf("counters %v: want uploads and no downloads (omitted when zero)", c)
	}
	if code, _ := call("POST", "/stream/stop", ""); code != 200 {
		t.Fatalf("stop: %d", code)
	}
	pub.Close(ctx)
	client.CloseIdleConnections()
	cancel()
	waitStopped(t, serveDone, trickleDone)
}
