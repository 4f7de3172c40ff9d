package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/internal/mpegts"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// TestSoak runs a 720p30 stream through `gotrickle serve` for
// GOTRICKLE_SOAK (e.g. 60s, 10m; unset: skipped) and checks that the
// processor does not leak: the fixture's 2 s segments, looped and written
// frame by frame at real-time pace to a trickle server in this process,
// the processor started through its API (1280×720, 30 fps, passthrough),
// its output read to the end. Every GOTRICKLE_SOAK_INTERVAL (default 5s,
// less on runs under 200 s: soakInterval) it samples the processor's RSS and open files (/proc) and goroutines
// (/metrics), and each frame's latency (last input byte → last output
// byte, matched by PTS). judgeSoak gives the verdict. Samples (CSV), the
// verdict (JSON) and the processor's log go to GOTRICKLE_SOAK_REPORT
// (default reports/soak). GOTRICKLE_SOAK_BIN names a built gotrickle;
// without it the test builds one.
func TestSoak(t *testing.T) {
	spec := os.Getenv("GOTRICKLE_SOAK")
	if spec == "" {
		t.Skip("set GOTRICKLE_SOAK=60s (or make soak) to run the soak")
	}
	d, err := time.ParseDuration(spec)
	if err != nil || d < 20*time.Second {
		t.Fatalf("GOTRICKLE_SOAK=%q: want a duration of 20s or more", spec)
	}
	every := soakInterval(d)
	if s := os.Getenv("GOTRICKLE_SOAK_INTERVAL"); s != "" {
		if every, err = time.ParseDuration(s); err != nil || every <= 0 {
			t.Fatalf("GOTRICKLE_SOAK_INTERVAL=%q: want a positive duration", s)
		}
	}
	reports := os.Getenv("GOTRICKLE_SOAK_REPORT")
	if reports == "" {
		reports = filepath.Join("..", "reports", "soak")
	}
	if err := os.MkdirAll(reports, 0o755); err != nil {
		t.Fatal(err)
	}
	name := "soak-" + spec
	input, err := loadSoakInput()
	if err != nil {
		t.Fatal(err)
	}

	srv := trickle.NewServer(trickle.ServerConfig{Autocreate: true, Logger: quiet})
	hs := httptest.NewServer(srv)
	defer func() { srv.Close(); hs.Close() }()
	for _, ch := range []string{"in", "out"} {
		if err := srv.CreateChannel(ch, trickle.ContentTypeMPEGTS); err != nil {
			t.Fatal(err)
		}
	}
	proc := startProcessor(t, soakBinary(t, t.TempDir()), filepath.Join(reports, name+"-processor.log"))

	ctx, cancel := context.WithTimeout(context.Background(), d+3*time.Minute)
	defer cancel()
	base := time.Now()
	lat := newLatencyLog(base)
	out := readSoakOutput(ctx, hs.URL+"/out", lat)
	err = proc.post(ctx, "/stream/start", map[string]any{
		"subscribe_url": hs.URL + "/in", "publish_url": hs.URL + "/out", "gateway_request_id": "soak",
		"params": map[string]any{"width": 1280, "height": 720, "max_framerate": 30},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The processor reads "in" from seq -2: let its first GET land before
	// the first segment starts, as a live stream would.
	time.Sleep(200 * time.Millisecond)

	pub, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: hs.URL + "/in", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	pubCtx, stopPub := context.WithCancel(ctx)
	pubDone := make(chan error, 1)
	start := time.Now()
	go func() { pubDone <- input.publish(pubCtx, pub, start, lat.sent) }()

	csvPath := filepath.Join(reports, name+"-samples.csv")
	rec, err := newSoakCSV(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	samples, err := sampleSoak(ctx, proc, lat, start, d, every, pubDone, rec)
	stopPub()
	if cerr := rec.close(); cerr != nil {
		t.Error(cerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := <-pubDone; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("publishing: %v", err)
	}
	if err := proc.post(ctx, "/stream/stop", map[string]any{}); err != nil {
		t.Errorf("stopping the stream: %v", err)
	}
	if err := proc.shutdown(30 * time.Second); err != nil {
		t.Errorf("gotrickle serve, on SIGTERM: %v", err)
	}
	if err := pub.Close(ctx); err != nil {
		t.Logf("closing the input: %v", err)
	}
	select {
	case res := <-out:
		if res.err != nil {
			t.Errorf("reading the output: %v", res.err)
		} else if res.bad > 0 || res.noPTS > 0 {
			t.Errorf("output: %d stray packets, %d video PES without PTS", res.bad, res.noPTS)
		}
	case <-time.After(30 * time.Second):
		t.Error("the output did not end within 30 s of the stop")
	}

	points, _ := lat.since(0)
	v := judgeSoak(d, samples, offsetPoints(points, start.Sub(base)))
	if err := writeSoakSummary(filepath.Join(reports, name+"-summary.json"), v); err != nil {
		t.Error(err)
	}
	logSoak(t, d, every, samples, v)
	for _, f := range v.Failures {
		t.Error(f)
	}
}

// offsetPoints makes latency points' times relative to the start of
// publishing, as the samples are.
func offsetPoints(p []latencyPoint, off time.Duration) []latencyPoint {
	for i := range p {
		p[i].At -= off
	}
	return p
}

// sampleSoak samples the processor at 0, every, 2×every … d after start.
// Each sample also goes to rec as it is taken.
func sampleSoak(ctx context.Context, proc *soakProcessor, lat *latencyLog, start time.Time, d, every time.Duration,
	pubDone <-chan error, rec *soakCSV) ([]soakSample, error) {
	var samples []soakSample
	seen := 0
	for at := time.Duration(0); at <= d; at += every {
		sleepUntil(ctx, start.Add(at))
		select {
		case err := <-pubDone:
			return samples, fmt.Errorf("publishing stopped after %v: %v", time.Since(start).Round(time.Second), err)
		case <-proc.exited:
			return samples, fmt.Errorf("gotrickle serve exited after %v: %v", time.Since(start).Round(time.Second), proc.err)
		default:
		}
		s, err := proc.sample(ctx)
		if err != nil {
			return samples, err
		}
		s.T = time.Since(start).Seconds()
		var pts []latencyPoint
		pts, seen = lat.since(seen)
		ms := make([]float64, len(pts))
		for i, p := range pts {
			ms[i] = p.Ms
		}
		slices.Sort(ms)
		s.Matched = len(ms)
		s.LatP50, s.LatP95 = mpegts.Percentile(ms, 50), mpegts.Percentile(ms, 95)
		samples = append(samples, s)
		if err := rec.add(s); err != nil {
			return samples, err
		}
		lat.prune(30 * time.Second)
	}
	return samples, nil
}

// soakOutput is how reading the output ended.
type soakOutput struct {
	err        error
	bad, noPTS int
}

// readSoakOutput reads the output channel from its first segment to the
// end of the stream, reporting each video frame's PTS and arrival to lat.
func readSoakOutput(ctx context.Context, url string, lat *latencyLog) <-chan soakOutput {
	res := make(chan soakOutput, 1)
	go func() {
		var o soakOutput
		defer func() { res <- o }()
		sub, err := trickle.NewSubscriber(trickle.SubscriberConfig{URL: url, Start: trickle.StartAt(0), Logger: quiet})
		if err != nil {
			o.err = err
			return
		}
		defer sub.Close()
		t := mpegts.NewTracker(func(p mpegts.PES) {
			if p.PTS < 0 {
				o.noPTS++
				return
			}
			lat.received(p.PTS, p.Last)
		})
		buf := make([]byte, 64<<10)
		for {
			seg, err := sub.Next(ctx)
			if errors.Is(err, trickle.ErrStreamClosed) {
				return
			}
			if err != nil {
				o.err = err
				return
			}
			for {
				n, err := seg.Read(buf)
				t.Write(buf[:n], lat.stamp())
				if err == io.EOF {
					break
				}
				if err != nil {
					o.err = err
					seg.Close()
					return
				}
			}
			t.End()
			seg.Close()
			o.bad = t.Bad()
		}
	}()
	return res
}

func logSoak(t *testing.T, d, every time.Duration, samples []soakSample, v soakVerdict) {
	t.Logf("soak: %v of 720p30 through gotrickle serve (passthrough), sampled every %v; %d CPUs here, GOMAXPROCS %d",
		d, every, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	if n := len(samples); n > 0 {
		s := samples[n-1]
		t.Logf("frames: %d decoded, %d skipped, %d encoded", s.FramesIn, s.Skipped, s.FramesOut)
	}
	t.Logf("warm-up %.0f s, quarters of %.0f s: RSS %.1f → %.1f MB (%+.1f %%), goroutines %d → %d, open files %d → %d",
		v.Warmup, v.Quarter, v.RSSBaseMB, v.RSSLastMB, v.RSSGrowthPct, v.GoroutinesBase, v.GoroutinesLast, v.FDsBase, v.FDsLast)
	t.Logf("latency first quarter p50 %.1f / p95 %.1f ms, last quarter p50 %.1f / p95 %.1f ms: drift %+.1f ms; %d stalled intervals",
		v.LatFirstP50, v.LatFirstP95, v.LatLastP50, v.LatLastP95, v.DriftMs, v.Stalls)
	if len(v.Failures) == 0 {
		t.Log("verdict: pass")
	}
}
