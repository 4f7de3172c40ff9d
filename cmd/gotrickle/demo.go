package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gotrickle/gotrickle/fixtures"
	"github.com/gotrickle/gotrickle/pkg/api"
	"github.com/gotrickle/gotrickle/pkg/effect"
	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/media"
	"github.com/gotrickle/gotrickle/pkg/processor"
	"github.com/gotrickle/gotrickle/pkg/statuspage"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

func newDemoCmd() *cobra.Command {
	var (
		out, fixture  string
		before, after float64
		logCfg        logFlags
	)
	c := &cobra.Command{
		Use:   "demo",
		Short: "Process a fixture end to end and record the result",
		Long: `Run the whole chain on this machine and stop: a trickle server and a processor with
the colour-grade handler start in this process; a bundled fixture (5 s of 854x480 test
pattern with a tone) is published to the input channel at live pace; the stream is
started through the HTTP API, its intensity is changed halfway with /stream/params, and
the output channel is recorded to --out (MPEG-TS: play it with ffplay or any player).
A summary follows: frames in and out, output fps, added latency, and the mean luma of
the output before and after the parameter change.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := logCfg.logger(c.ErrOrStderr())
			if err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			if before < 0 || before > 1 || after < 0 || after > 1 {
				return fmt.Errorf("%w: intensities must be within 0..1", errUsage)
			}
			return runDemo(c.Context(), c.OutOrStdout(), log, demoConfig{out: out, fixture: fixture, before: before, after: after})
		},
	}
	f := c.Flags()
	f.StringVar(&out, "out", "out/demo.ts", "file to record the processed stream to")
	f.StringVar(&fixture, "fixture", "h264-aac-854x480", "bundled fixture to publish (see fixtures/manifest.json)")
	f.Float64Var(&before, "intensity", 0.2, "colour-grade intensity at start")
	f.Float64Var(&after, "intensity-after", 0.9, "intensity sent with /stream/params halfway through")
	logCfg.register(c)
	c.Flags().Lookup("log-level").DefValue = "warn"
	logCfg.level = "warn"
	return c
}

type demoConfig struct {
	out, fixture  string
	before, after float64
}

// demoFrame is what the recorder saw of one output frame.
type demoFrame struct {
	pts  int64
	at   time.Time
	luma float64
}

func runDemo(ctx context.Context, stdout io.Writer, log *slog.Logger, cfg demoConfig) error {
	m, err := fixtures.Load()
	if err != nil {
		return err
	}
	fx, err := m.Fixture(cfg.fixture)
	if err != nil {
		return fmt.Errorf("%w: --fixture: %w", errUsage, err)
	}
	vs, ok := fx.Video()
	if !ok {
		return fmt.Errorf("%w: --fixture %s has no video", errUsage, cfg.fixture)
	}
	segs, err := fx.Segments(time.Second)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(cfg.out), 0o755); err != nil {
		return err
	}
	file, err := os.Create(cfg.out)
	if err != nil {
		return err
	}
	defer file.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	// The trickle server and the processor, each on its own loopback port.
	tsrv := trickle.NewServer(trickle.ServerConfig{Logger: log})
	defer tsrv.Close()
	trickleURL, stopTrickle, err := serveLoopback(tsrv)
	if err != nil {
		return err
	}
	defer stopTrickle()
	for _, ch := range []string{"input", "output"} {
		if err := tsrv.CreateChannel(ch, trickle.ContentTypeMPEGTS); err != nil {
			return err
		}
	}
	grade := &effect.ColorGrade{}
	p, err := processor.New(grade, processor.Config{Codecs: media.Codecs{}, Logger: log})
	if err != nil {
		return err
	}
	page := statuspage.New(p, statuspage.Config{Title: "gotrickle demo", Logger: log})
	defer page.Close() // after stopAPI: the HTTP server does not wait for websockets
	asrv := api.New(p, api.Config{Logger: log, Version: version, StatusPage: page})
	p.SetObserver(processor.Observers(asrv.Observer(), page))
	apiURL, stopAPI, err := serveLoopback(asrv)
	if err != nil {
		return err
	}
	defer stopAPI()
	if err := p.LoadModel(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "trickle server %s, processor API %s (status page %s/)\n", trickleURL, apiURL, strings.TrimSuffix(apiURL, "/"))

	// The recorder: every output byte to the file, every frame decoded.
	recorded := make(chan []demoFrame, 1)
	recErr := make(chan error, 1)
	go func() {
		frames, err := record(ctx, trickleURL+"/output", file, log)
		recorded <- frames
		recErr <- err
	}()

	client := &http.Client{Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	start, _ := json.Marshal(map[string]any{
		"subscribe_url": trickleURL + "/input", "publish_url": trickleURL + "/output",
		"gateway_request_id": "demo",
		"params":             map[string]any{"width": vs.Width, "height": vs.Height, "max_framerate": 30, "intensity": cfg.before},
	})
	if err := postJSON(ctx, client, apiURL+"/stream/start", start); err != nil {
		return fmt.Errorf("starting the stream: %w", err)
	}
	time.Sleep(200 * time.Millisecond) // the processor reads from the current segment on

	pub, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: trickleURL + "/input", Logger: log})
	if err != nil {
		return err
	}
	written := make([]time.Time, len(segs))
	var changedAt uint64
	for i, s := range segs {
		b, err := s.Bytes()
		if err != nil {
			return err
		}
		if _, err := pub.Write(ctx, bytes.NewReader(b)); err != nil {
			return fmt.Errorf("publishing segment %d: %w", i, err)
		}
		written[i] = time.Now()
		fmt.Fprintf(stdout, "published segment %d/%d\n", i+1, len(segs))
		if i == len(segs)/2-1 {
			changedAt = p.Status().Counters.VideoOut
			body, _ := json.Marshal(map[string]any{"intensity": cfg.after})
			if err := postJSON(ctx, client, apiURL+"/stream/params", body); err != nil {
				return fmt.Errorf("changing the intensity: %w", err)
			}
			fmt.Fprintf(stdout, "intensity %.2f -> %.2f after %d output frames\n", cfg.before, cfg.after, changedAt)
		}
		select {
		case <-time.After(time.Until(written[i].Add(time.Second))):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := pub.Close(ctx); err != nil { // the end of the input: the stream ends by itself
		return err
	}
	frames := <-recorded
	if err := <-recErr; err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	st := p.Status()
	if err := p.Stop(ctx); err != nil && !errors.Is(err, processor.ErrNoStream) {
		return err
	}
	summarize(stdout, cfg, vs, segs, written, frames, changedAt, st)
	return nil
}

// record copies the output channel into w and decodes it as it arrives.
func record(ctx context.Context, url string, w io.Writer, log *slog.Logger) ([]demoFrame, error) {
	sub, err := trickle.NewSubscriber(trickle.SubscriberConfig{URL: url, Start: trickle.StartAt(0), Logger: log})
	if err != nil {
		return nil, err
	}
	defer sub.Close()
	// One decoder thread: frame threading would hold each picture until
	// the next one arrives, which at the end of a burst is a second later.
	dec, err := media.NewDecoder(media.DecoderConfig{Width: 64, Height: 64, MaxFramerate: media.NoFramerateCap, Threads: 1})
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	var frames []demoFrame
	for {
		seg, err := sub.Next(ctx)
		if errors.Is(err, trickle.ErrStreamClosed) {
			return frames, nil
		}
		if err != nil {
			return frames, err
		}
		_, err = dec.DecodeSegment(ctx, io.TeeReader(seg, w), media.Handlers{Video: func(v *frame.Video) error {
			frames = append(frames, demoFrame{pts: frame.Rescale(v.PTS, v.TimeBase, frame.Rational{Num: 1, Den: 90000}),
				at: time.Now(), luma: lumaOf(v)})
			v.Release()
			return nil
		}})
		seg.Close()
		if err != nil {
			return frames, err
		}
	}
}

func summarize(w io.Writer, cfg demoConfig, vs fixtures.Stream, segs []fixtures.Segment, written []time.Time,
	frames []demoFrame, changedAt uint64, st processor.Status) {
	var lat []time.Duration
	for _, f := range frames {
		// A frame's input segment is the last one starting at or before it.
		i := 0
		for j, s := range segs {
			if s.FirstPTS.Ticks <= f.pts {
				i = j
			}
		}
		if !written[i].IsZero() {
			lat = append(lat, f.at.Sub(written[i]))
		}
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	mean := func(fs []demoFrame) float64 {
		var s float64
		for _, f := range fs {
			s += f.luma
		}
		return s / float64(max(1, len(fs)))
	}
	split := min(int(changedAt), len(frames))
	var dur float64
	if len(frames) > 1 {
		dur = frames[len(frames)-1].at.Sub(frames[0].at).Seconds()
	}
	fmt.Fprintln(w, strings.Repeat("-", 60))
	fmt.Fprintf(w, "recorded        %s (%d frames)\n", cfg.out, len(frames))
	if c := st.Counters; c != nil {
		fmt.Fprintf(w, "frames          %d in, %d out, %d skipped, %d failed (input has %d)\n",
			c.VideoIn, c.VideoOut, c.VideoSkipped, c.VideoFailed, vs.Frames)
		fmt.Fprintf(w, "audio frames    %d in, %d out\n", c.AudioIn, c.AudioOut)
	}
	if dur > 0 {
		fmt.Fprintf(w, "output rate     %.1f fps\n", float64(len(frames)-1)/dur)
	}
	fmt.Fprintf(w, "added latency   p50 %v, p95 %v (input segment written -> frame decoded from the output)\n",
		pct(0.50).Round(time.Millisecond), pct(0.95).Round(time.Millisecond))
	fmt.Fprintf(w, "mean luma       %.1f at intensity %.2f, %.1f at %.2f\n",
		mean(frames[:split]), cfg.before, mean(frames[min(len(frames), split+5):]), cfg.after)
}

func lumaOf(v *frame.Video) float64 {
	var sum int
	for y := range v.Height {
		row := v.Pix[y*v.Stride:]
		for x := range v.Width {
			sum += 299*int(row[3*x]) + 587*int(row[3*x+1]) + 114*int(row[3*x+2])
		}
	}
	return float64(sum) / 1000 / float64(v.Width*v.Height)
}

// serveLoopback serves h on a free loopback port.
func serveLoopback(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	return "http://" + ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
	}, nil
}

func postJSON(ctx context.Context, c *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
