package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/fixtures"
	"github.com/gotrickle/gotrickle/internal/mpegts"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// trickleServer is an in-process trickle server on loopback.
func trickleServer(t *testing.T) string {
	t.Helper()
	srv := trickle.NewServer(trickle.ServerConfig{Autocreate: true, RingSize: 64,
		Logger: quietLogger()})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); hs.Close() })
	return hs.URL + "/"
}

func fixturePath(t *testing.T, name string) (string, fixtures.Stream) {
	t.Helper()
	m, err := fixtures.Load()
	if err != nil {
		t.Fatal(err)
	}
	fx, err := m.Fixture(name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fx.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name+".ts")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	vs, _ := fx.Video()
	return p, vs
}

// publishAndRecord runs subscribe and publish side by side and returns
// the recording and both commands' output.
func publishAndRecord(t *testing.T, pubArgs ...string) (rec []byte, pubOut, subOut string) {
	t.Helper()
	base := trickleServer(t)
	ch := base + "rec"
	out := filepath.Join(t.TempDir(), "rec.ts")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var subBuf, pubBuf bytes.Buffer
	subDone := make(chan error, 1)
	go func() {
		root := newRoot()
		root.SetArgs([]string{"subscribe", ch, out, "--wait", "20s"})
		root.SetOut(io.Discard)
		root.SetErr(&subBuf)
		subDone <- root.ExecuteContext(ctx)
	}()
	// The recorder waits for the channel, then for its first segment; a
	// publisher flat out could otherwise create, fill and end the channel
	// between two of its polls.
	time.Sleep(300 * time.Millisecond)
	resp, err := http.Post(ch, "video/mp2t", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	time.Sleep(400 * time.Millisecond)
	if err := execute(ctx, append([]string{"publish"}, append(pubArgs, ch)...), &pubBuf); err != nil {
		t.Fatalf("publish: %v\n%s", err, pubBuf.String())
	}
	if err := <-subDone; err != nil {
		t.Fatalf("subscribe: %v\n%s", err, subBuf.String())
	}
	rec, err = os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return rec, pubBuf.String(), subBuf.String()
}

func TestPublishThenSubscribeCarriesEveryFrame(t *testing.T) {
	path, vs := fixturePath(t, "h264-aac-320x240")
	rec, pubOut, subOut := publishAndRecord(t, "--speed", "0", path)
	frames, err := mpegts.VideoFrames(rec)
	if err != nil {
		t.Fatalf("the recording is not whole MPEG-TS: %v", err)
	}
	if len(frames) != vs.Frames {
		t.Fatalf("recorded %d video frames, the file has %d\npublish: %s\nsubscribe: %s", len(frames), vs.Frames, pubOut, subOut)
	}
	if !strings.Contains(pubOut, "published 5 segments (5 accepted, 0 lost") || !strings.Contains(subOut, "recorded 5 segments") ||
		!strings.Contains(subOut, "the stream ended") {
		t.Errorf("summaries:\n%s\n%s", pubOut, subOut)
	}
}

func TestPublishLoopsWithTimestampsRunningOn(t *testing.T) {
	path, vs := fixturePath(t, "h264-aac-320x240")
	rec, pubOut, _ := publishAndRecord(t, "--speed", "0", "--loop", "--max-duration", "12s", path)
	frames, err := mpegts.VideoFrames(rec)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(frames); i++ {
		if frames[i].PTS <= frames[i-1].PTS {
			t.Fatalf("frame %d: PTS %d after %d: the loop jumped back", i, frames[i].PTS, frames[i-1].PTS)
		}
	}
	span := float64(frames[len(frames)-1].PTS-frames[0].PTS) / 90000
	if span < 11 || span > 12.5 || len(frames) < 2*vs.Frames {
		t.Fatalf("%d frames over %.2f s, want about 12 s of a %d-frame file looped\n%s", len(frames), span, vs.Frames, pubOut)
	}
}

func TestPublishPacesByTimestamps(t *testing.T) {
	path, _ := fixturePath(t, "h264-aac-320x240")
	began := time.Now()
	_, pubOut, _ := publishAndRecord(t, "--speed", "2", "--max-duration", "3s", path)
	// 3 s of media at twice real time: no less than 1.5 s (an upper bound
	// would only measure this machine).
	if d := time.Since(began); d < 1400*time.Millisecond {
		t.Fatalf("published 3 s of media in %v at --speed 2\n%s", d, pubOut)
	}
}

func TestPublishAndSubscribeRefuseBadInput(t *testing.T) {
	base := trickleServer(t)
	path, _ := fixturePath(t, "h264-aac-320x240")
	garbage := filepath.Join(t.TempDir(), "garbage.ts")
	os.WriteFile(garbage, bytes.Repeat([]byte("garbage "), 4000), 0o644)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"publish to something that is not a URL is a usage error", []string{"publish", path, "ftp://x/y"}, 2, "not an http(s) channel URL"},
		{"publish of a missing file fails", []string{"publish", filepath.Join(t.TempDir(), "nope.mp4"), base + "a"}, 1, "the file to publish: stat "},
		{"publish of a file that is not media fails", []string{"publish", "--speed", "0", garbage, base + "b"}, 1, "garbage.ts"},
		{"publish with a negative speed is a usage error", []string{"publish", "--speed", "-1", path, base + "c"}, 2, "--speed"},
		{"publish needs two arguments", []string{"publish", path}, 2, "accepts 2 arg"},
		{"subscribe to a channel that never appears fails", []string{"subscribe", "--wait", "0", base + "missing", "-"}, 1, "not found"},
		{"subscribe with a bad start is a usage error", []string{"subscribe", "--start", "-7", base + "x", "-"}, 2, "--start"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := runWith(context.Background(), c.args, io.Discard, &stderr)
			if code != c.code || !strings.Contains(stderr.String(), c.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d mentioning %q", code, stderr.String(), c.code, c.want)
			}
		})
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
