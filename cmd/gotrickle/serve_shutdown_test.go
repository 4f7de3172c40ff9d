package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/internal/mpegts"
	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/media"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// startServeChild runs gotrickle serve in a child process and waits until
// it is IDLE.
func startServeChild(t *testing.T, client *http.Client, args ...string) *child {
	t.Helper()
	c := startChild(t, true, append([]string{"serve", "--addr", "127.0.0.1:0", "--no-status-page", "--log-level", "info"}, args...)...)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, h := callJSON(t, context.Background(), client, c.url+"/health", "GET", ""); h["status"] == "IDLE" {
			return c
		} else if time.Now().After(deadline) {
			t.Fatalf("health never became IDLE: %v\n%s", h, c.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func createChannels(t *testing.T, base string, names ...string) {
	t.Helper()
	for _, ch := range names {
		resp, err := http.Post(base+ch, "video/mp2t", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("creating %s: %s", ch, resp.Status)
		}
	}
}

// readAll collects a channel's segments until the end of the stream;
// stamp, when set, is fed each chunk with its arrival time.
func readAll(ctx context.Context, url string, stamp func(seg int, p []byte, at time.Time), endSeg func(int)) ([][]byte, error) {
	sub, err := trickle.NewSubscriber(trickle.SubscriberConfig{URL: url, Start: trickle.StartAt(0), Logger: quietLogger()})
	if err != nil {
		return nil, err
	}
	defer sub.Close()
	var segs [][]byte
	buf := make([]byte, 16<<10)
	for {
		seg, err := sub.Next(ctx)
		if err != nil {
			return segs, err
		}
		var b bytes.Buffer
		for {
			n, rerr := seg.Read(buf)
			if n > 0 {
				b.Write(buf[:n])
				if stamp != nil {
					stamp(len(segs), buf[:n], time.Now())
				}
			}
			if rerr != nil {
				break
			}
		}
		seg.Close()
		if endSeg != nil {
			endSeg(len(segs))
		}
		segs = append(segs, b.Bytes())
	}
}

// inputTap counts the input's video frames by when their last byte arrived.
type inputTap struct {
	mu     sync.Mutex
	tr     *mpegts.Tracker
	stamps []int64 // arrival of each complete frame's last byte, ns
}

func (in *inputTap) chunk(_ int, p []byte, at time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.tr == nil {
		in.tr = mpegts.NewTracker(func(p mpegts.PES) { in.stamps = append(in.stamps, p.Last) })
	}
	in.tr.Write(p, at.UnixNano())
}

func (in *inputTap) segmentEnd(int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.tr != nil {
		in.tr.End()
		in.tr = nil
	}
}

func (in *inputTap) framesBefore(t time.Time) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := 0
	for _, s := range in.stamps {
		if s <= t.UnixNano() {
			n++
		}
	}
	return n
}

type channelResult struct {
	segs [][]byte
	err  error
}

// The fault matrix's "processor gets SIGTERM mid-stream": a live-paced
// stream runs through gotrickle serve, which gets SIGTERM. It must exit 0
// within --shutdown-timeout having ended its output as a stop does: the
// output channel closed (readers see the end of the stream), every output
// segment whole, the last one decoding completely, and stream_stopped on
// the events channel. The frames lost (input frames whose last byte
// arrived before the signal, less the frames out) are reported.
func TestServeShutsDownCleanlyOnSIGTERMMidStream(t *testing.T) {
	const bound = 10 * time.Second
	base := trickleServer(t)
	createChannels(t, base, "input", "output", "events")
	client := &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
	defer client.CloseIdleConnections()
	proc := startServeChild(t, client, "--max-framerate", "30", "--shutdown-timeout", bound.String())

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tap := &inputTap{}
	outc, evc, inc := make(chan channelResult, 1), make(chan channelResult, 1), make(chan channelResult, 1)
	firstOut := make(chan struct{})
	var once sync.Once
	go func() {
		segs, err := readAll(ctx, base+"output", func(int, []byte, time.Time) { once.Do(func() { close(firstOut) }) }, nil)
		outc <- channelResult{segs, err}
	}()
	go func() { segs, err := readAll(ctx, base+"events", nil, nil); evc <- channelResult{segs, err} }()
	go func() {
		segs, err := readAll(ctx, base+"input", tap.chunk, tap.segmentEnd)
		inc <- channelResult{segs, err}
	}()

	code, body := callJSON(t, ctx, client, proc.url+"/stream/start", "POST", `{
		"subscribe_url": "`+base+`input", "publish_url": "`+base+`output", "events_url": "`+base+`events",
		"gateway_request_id": "sigterm", "params": {"width": 320, "height": 240}}`)
	if code != 200 {
		t.Fatalf("start: %d %v", code, body)
	}
	time.Sleep(300 * time.Millisecond) // let the processor's first GET land
	path, _ := fixturePath(t, "h264-aac-320x240")
	pubCtx, stopPub := context.WithCancel(ctx)
	pubDone := make(chan error, 1)
	go func() {
		pubDone <- execute(pubCtx, []string{"publish", "--loop", "--max-duration", "60s", path, base + "input"}, io.Discard)
	}()
	select {
	case <-firstOut:
	case <-time.After(20 * time.Second):
		t.Fatalf("no output\n%s", proc.stderr)
	}
	time.Sleep(3300 * time.Millisecond) // mid-stream: past an output segment boundary, inside an input segment
	sigAt := proc.signal(t, syscall.SIGTERM)
	exit := proc.wait(t, bound+5*time.Second)
	took := proc.at.Sub(sigAt)
	stopPub()
	if err := <-pubDone; err != nil {
		t.Errorf("publish: %v", err)
	}
	if exit != 0 || took > bound {
		t.Errorf("exit %d after %v, want 0 within %v\n%s", exit, took, bound, proc.stderr)
	}

	var out, ev, in channelResult
	for _, r := range []struct {
		c   chan channelResult
		dst *channelResult
	}{{outc, &out}, {evc, &ev}, {inc, &in}} {
		select {
		case *r.dst = <-r.c:
		case <-time.After(10 * time.Second):
			t.Fatal("a channel did not end")
		}
	}
	if !errors.Is(out.err, trickle.ErrStreamClosed) {
		t.Fatalf("the output ended with %v, want the end of the stream", out.err)
	}
	if !errors.Is(ev.err, trickle.ErrStreamClosed) || !hasEvent(t, ev.segs, "stream_stopped") {
		t.Errorf("events: %d, ended with %v; want stream_stopped, then the end of the stream", len(ev.segs), ev.err)
	}
	outFrames := decodeWhole(t, out.segs)
	inFrames := tap.framesBefore(sigAt)
	if outFrames == 0 || inFrames == 0 {
		t.Fatalf("%d frames in before the signal, %d out", inFrames, outFrames)
	}
	// Frames skipped for lag (--max-lag) are the machine being slow all
	// along, not the shutdown: they are counted apart.
	skipped := logCount(t, proc.stderr.String(), "video_skipped")
	lost := inFrames - outFrames - skipped
	t.Logf("SIGTERM mid-stream: exit %d after %v (bound %v); %d input frames before the signal, %d output frames in %d segments, %d skipped for lag, %d lost",
		exit, took.Round(time.Millisecond), bound, inFrames, outFrames, len(out.segs), skipped, lost)
	// What was decoded is drained; what is lost is the part of the input
	// segment being received that was not decoded yet, and the decoder's
	// lag when the machine is busy: under two seconds' worth.
	if lost > 60 {
		t.Errorf("%d frames lost, more than two seconds' worth\n%s", lost, proc.stderr)
	}
}

// logCount reads key=N from the processor's "stream ended" log line.
func logCount(t *testing.T, log, key string) int {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `msg="stream ended"`) {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, key+"="); ok {
				n, err := strconv.Atoi(v)
				if err != nil {
					t.Fatalf("%s in %q: %v", key, line, err)
				}
				return n
			}
		}
	}
	t.Fatalf("no %s in a stream ended line\n%s", key, log)
	return 0
}

// decodeWhole checks that every output segment is whole MPEG-TS and decodes
// without a broken frame (so the last one was finished, not cut), and
// returns the video frames decoded.
func decodeWhole(t *testing.T, segs [][]byte) int {
	t.Helper()
	dec, err := media.NewDecoder(media.DecoderConfig{KeepSize: true, MaxFramerate: media.NoFramerateCap})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	total := 0
	for i, seg := range segs {
		last := i == len(segs)-1
		if len(seg) == 0 {
			t.Errorf("output segment %d of %d is empty", i, len(segs))
			continue
		}
		frames, err := mpegts.VideoFrames(seg)
		if err != nil {
			t.Errorf("output segment %d of %d (last: %v): %v", i, len(segs), last, err)
			continue
		}
		st, err := dec.DecodeSegment(context.Background(), bytes.NewReader(seg), media.Handlers{Video: func(v *frame.Video) error {
			v.Release()
			return nil
		}})
		if err != nil || st.Corrupt > 0 || st.VideoFrames != len(frames) {
			t.Errorf("output segment %d of %d (last: %v): decoded %d of %d frames, %d corrupt, %v",
				i, len(segs), last, st.VideoFrames, len(frames), st.Corrupt, err)
		}
		total += st.VideoFrames
	}
	return total
}

func hasEvent(t *testing.T, segs [][]byte, typ string) bool {
	t.Helper()
	for _, s := range segs {
		var env struct {
			Event map[string]any `json:"event"`
		}
		if err := json.Unmarshal(s, &env); err != nil {
			t.Errorf("event %q: %v", s, err)
			continue
		}
		if env.Event["type"] == typ {
			return true
		}
	}
	return false
}

// stalledOutput is a trickle server that never answers: a processor
// publishing to it blocks when it closes the channel.
func stalledOutput(t *testing.T) string {
	t.Helper()
	release := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); hs.Close() })
	return hs.URL + "/"
}

// startBlockedStop starts a stream whose output server stalls, sends
// SIGTERM and waits until the shutdown is under way, blocked on the close
// of the output channel (for --stop-timeout, 30 s). It returns when the
// signal was sent.
func startBlockedStop(t *testing.T, args ...string) (*child, time.Time) {
	t.Helper()
	base := trickleServer(t)
	createChannels(t, base, "input")
	client := &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
	defer client.CloseIdleConnections()
	proc := startServeChild(t, client, append([]string{"--stop-timeout", "30s"}, args...)...)
	code, body := callJSON(t, context.Background(), client, proc.url+"/stream/start", "POST",
		`{"subscribe_url": "`+base+`input", "publish_url": "`+stalledOutput(t)+`output", "gateway_request_id": "stall"}`)
	if code != 200 {
		t.Fatalf("start: %d %v", code, body)
	}
	proc.waitLog(t, "stream started")
	client.CloseIdleConnections()
	at := proc.signal(t, syscall.SIGTERM)
	proc.waitLog(t, "shutting down")
	return proc, at
}

func TestServeExitsAtOnceOnASecondSignal(t *testing.T) {
	for _, c := range []struct {
		name   string
		second os.Signal
		want   int
	}{{"SIGINT", syscall.SIGINT, 130}, {"SIGTERM", syscall.SIGTERM, 143}} {
		t.Run(fmt.Sprintf("a %s while the stop is blocked exits %d", c.name, c.want), func(t *testing.T) {
			proc, _ := startBlockedStop(t, "--shutdown-timeout", "60s")
			time.Sleep(300 * time.Millisecond) // well into the blocked stop
			select {
			case <-proc.exited:
				t.Fatalf("exited %d before the second signal\n%s", proc.code, proc.stderr)
			default:
			}
			at := proc.signal(t, c.second)
			code := proc.wait(t, 5*time.Second)
			took := proc.at.Sub(at)
			if code != c.want || took > 2*time.Second {
				t.Fatalf("exit %d after %v, want %d at once\n%s", code, took, c.want, proc.stderr)
			}
			t.Logf("exit %d %v after the second signal", code, took.Round(time.Millisecond))
			if !strings.Contains(proc.stderr.String(), "second signal") {
				t.Errorf("the log does not say why\n%s", proc.stderr)
			}
		})
	}
}

func TestServeExits1WhenTheShutdownOverrunsItsBound(t *testing.T) {
	proc, at := startBlockedStop(t, "--shutdown-timeout", "1s")
	code := proc.wait(t, 10*time.Second)
	if code != 1 || !strings.Contains(proc.stderr.String(), "shutdown did not finish in time") {
		t.Fatalf("exit %d, want 1 with the reason logged\n%s", code, proc.stderr)
	}
	// At the bound, not at the end of the 30 s the stop would block for.
	took := proc.at.Sub(at)
	if took < time.Second || took > 4*time.Second {
		t.Fatalf("exited %v after the signal, want about the bound, 1s", took)
	}
	t.Logf("exit 1 %v after SIGTERM (bound 1s)", took.Round(time.Millisecond))
}
