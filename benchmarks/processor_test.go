package benchmarks

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/internal/mpegts"
	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/gpu"
	"github.com/gotrickle/gotrickle/pkg/media"
	"github.com/gotrickle/gotrickle/pkg/processor"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// The whole processor (pkg/processor with pkg/media's codecs) at 720p30
// passthrough, driven over an in-process trickle server on loopback:
// subscribe → decode → (handler) → encode → publish, with the benchmark
// publishing the input channel and reading the output channel.
//
//   flat-out/{gotrickle,media-only,ffmpeg-cli}: frames per second with the
//       input sent as fast as it goes (NoSkip), beside BenchmarkPassthrough's
//       media-only chain and the ffmpeg CLI on the same input in the same run;
//   latency-live: input written frame by frame at real-time pace; latency is
//       a frame's last input byte → its last output byte (matched by PTS);
//   latency-pytrickle-method: whole 1 s segments posted once a second;
//       latency is the segment's last byte → each of its frames' last
//       output byte;
//   overload-memory: input sent flat out twice over to a handler that takes
//       50 ms a frame; peak resident memory and frames skipped.
//
// The input is benchInput's: 10 s of 720p30, IDR every second, ten 1 s
// segments, no audio.

const (
	procSize   = "1280x720"
	procFrames = 300 // frames in the 10 s input
	procRate   = 30
)

var procParams = processor.Params{"width": 1280, "height": 720, "max_framerate": 60}

func BenchmarkProcessor(b *testing.B) {
	b.Run("flat-out/gotrickle", func(b *testing.B) { benchProcFlatOut(b, nil, "") })
	// The device frame path (processor.Config.Device): a cuda device when
	// this build has it and a GPU is there, else pkg/gpu's CPU build.
	b.Run("flat-out/gotrickle-device", func(b *testing.B) {
		dev, err := gpu.Open(gpu.Config{})
		if err != nil {
			b.Fatal(err)
		}
		defer dev.Close()
		b.Logf("device: %s", dev.Name())
		benchProcFlatOut(b, dev, "")
	})
	// The same with NVDEC decoding (processor.Config.HWDecode): only on a
	// CUDA device, in a -tags cuda build.
	b.Run("flat-out/gotrickle-nvdec", func(b *testing.B) {
		dev, err := gpu.Open(gpu.Config{Kind: gpu.KindCUDA})
		if err != nil {
			b.Skipf("no CUDA device: %v", err)
		}
		defer dev.Close()
		if d, err := media.NewDecoder(media.DecoderConfig{HWAccel: media.HWAccelCUDA}); err != nil {
			b.Skipf("no NVDEC: %v", err)
		} else {
			d.Close()
		}
		b.Logf("device: %s", dev.Name())
		benchProcFlatOut(b, dev, media.HWAccelCUDA)
	})
	b.Run("flat-out/media-only", func(b *testing.B) {
		w, h := parseSize(procSize)
		segs := segmentsOf(b, benchInput(b, procSize))
		frames := 0
		b.ResetTimer()
		start, cpu0 := time.Now(), cpuTime()
		for range b.N {
			frames += mediaPassthrough(b, segs, w, h)
		}
		b.ReportMetric(float64(frames)/time.Since(start).Seconds(), "fps")
		reportCPU(b, cpuTime()-cpu0, time.Since(start), frames)
	})
	b.Run("flat-out/ffmpeg-cli", func(b *testing.B) {
		dir := benchInput(b, procSize)
		var cpu time.Duration
		b.ResetTimer()
		start := time.Now()
		for range b.N {
			cpu += cliPassthrough(b, dir)
		}
		b.ReportMetric(float64(procFrames*b.N)/time.Since(start).Seconds(), "fps")
		reportCPU(b, cpu, time.Since(start), procFrames*b.N)
	})
	b.Run("latency-live", func(b *testing.B) { benchProcLatency(b, true) })
	b.Run("latency-pytrickle-method", func(b *testing.B) { benchProcLatency(b, false) })
	b.Run("overload-memory", benchProcOverload)
}

// mediaPassthrough is BenchmarkPassthrough's gotrickle chain once over
// segs: decode → RGB24 at w×h → x264 → MPEG-TS segments (discarded). It
// returns the number of frames.
func mediaPassthrough(b *testing.B, segs [][]byte, w, h int) int {
	b.Helper()
	d, err := media.NewDecoder(media.DecoderConfig{Width: w, Height: h, MaxFramerate: media.NoFramerateCap})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	enc, err := media.NewEncoder(media.EncoderConfig{Preset: benchPreset}, discardSink{})
	if err != nil {
		b.Fatal(err)
	}
	frames := 0
	for _, s := range segs {
		_, err := d.DecodeSegment(context.Background(), bytes.NewReader(s), media.Handlers{
			Video: func(v *frame.Video) error { frames++; defer v.Release(); return enc.WriteVideo(v) },
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		b.Fatal(err)
	}
	return frames
}

// cliPassthrough is BenchmarkPassthrough's ffmpeg-cli row once; it returns
// the CPU time ffmpeg used.
func cliPassthrough(b *testing.B, dir string) time.Duration {
	b.Helper()
	cmd := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-y", "-i", filepath.Join(dir, "in.ts"),
		"-vf", "format=rgb24,format=yuv420p", "-c:v", "libx264", "-preset", benchPreset, "-tune", "zerolatency",
		"-bf", "0", "-an", "-f", "mpegts", os.DevNull)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// cpuTime is the CPU time (user + system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports CPU time per frame and the cores kept busy on average.
func reportCPU(b *testing.B, cpu, wall time.Duration, frames int) {
	if cpu <= 0 || frames == 0 {
		return
	}
	b.ReportMetric(float64(cpu.Milliseconds())/float64(frames), "cpu-ms/frame")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
}

// procRig is one processor streaming from "in" to "out" on its own
// in-process trickle server.
type procRig struct {
	srv  *trickle.Server
	hs   *httptest.Server
	p    *processor.Processor
	base time.Time // stamps are nanoseconds since base
	// decoded receives one value per input segment the processor has
	// finished decoding: the input channel may be closed only after that,
	// or the processor loses what it has not read yet.
	decoded chan processor.SegmentInfo

	mu        sync.Mutex
	decodedAt map[int64]int64 // PTS → stamp when the decoder handed the frame out
}

func newProcRig(b *testing.B, ctx context.Context, h any, cfg processor.Config) *procRig {
	b.Helper()
	r := &procRig{
		srv:       trickle.NewServer(trickle.ServerConfig{Autocreate: true, RingSize: 64, Logger: quiet}),
		decoded:   make(chan processor.SegmentInfo, 256),
		base:      time.Now(),
		decodedAt: map[int64]int64{},
	}
	r.hs = httptest.NewServer(r.srv)
	for _, ch := range []string{"in", "out"} {
		if err := r.srv.CreateChannel(ch, trickle.ContentTypeMPEGTS); err != nil {
			b.Fatal(err)
		}
	}
	cfg.Codecs = watchedCodecs{Codecs: media.Codecs{}, decoded: r.decoded, onFrame: func(pts int64) {
		t := r.stamp()
		r.mu.Lock()
		r.decodedAt[pts] = t
		r.mu.Unlock()
	}}
	cfg.Logger = quiet
	var err error
	if r.p, err = processor.New(h, cfg); err != nil {
		b.Fatal(err)
	}
	if err := r.p.LoadModel(ctx); err != nil {
		b.Fatal(err)
	}
	err = r.p.Start(ctx, processor.StartRequest{SubscribeURL: r.url("in"), PublishURL: r.url("out"),
		GatewayRequestID: "bench", Params: procParams})
	if err != nil {
		b.Fatal(err)
	}
	// The processor reads "in" from seq -2: let its first GET land before
	// the first segment starts, as a live stream would.
	time.Sleep(200 * time.Millisecond)
	return r
}

func (r *procRig) url(ch string) string { return r.hs.URL + "/" + ch }

func (r *procRig) stamp() int64 { return int64(time.Since(r.base)) }

// waitDecoded waits until the processor has decoded n input segments.
func (r *procRig) waitDecoded(b *testing.B, ctx context.Context, n int) {
	b.Helper()
	for range n {
		select {
		case <-r.decoded:
		case <-ctx.Done():
			b.Fatalf("the processor did not decode all %d input segments: %v", n, ctx.Err())
		}
	}
}

// finish waits for the stream to end on its own (the input channel was
// closed), then shuts the server down. It returns the stream's counters.
func (r *procRig) finish(b *testing.B, ctx context.Context) processor.Counters {
	b.Helper()
	for r.p.Health() != processor.StateIdle && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	st := r.p.Status()
	if err := r.p.Stop(ctx); err != nil && !errors.Is(err, processor.ErrNoStream) {
		b.Logf("stop: %v", err)
	}
	r.srv.Close()
	r.hs.Close()
	if st.Counters == nil {
		b.Fatal("no counters in the status")
	}
	return *st.Counters
}

// watchedCodecs is media.Codecs with a note sent after each input segment
// is decoded.
type watchedCodecs struct {
	media.Codecs
	decoded chan<- processor.SegmentInfo
	onFrame func(pts int64) // called as the decoder hands out each video frame
}

// ptsIn90k is a frame's PTS in 1/90000 s, the TS clock.
func ptsIn90k(v *frame.Video) int64 {
	if v.TimeBase.Num == 0 || v.TimeBase == (frame.Rational{Num: 1, Den: 90000}) {
		return v.PTS
	}
	return v.PTS * 90000 * int64(v.TimeBase.Num) / int64(v.TimeBase.Den)
}

func (c watchedCodecs) NewDecoder(cfg processor.DecoderConfig) (processor.Decoder, error) {
	d, err := c.Codecs.NewDecoder(cfg)
	if err != nil {
		return nil, err
	}
	return watchedDecoder{Decoder: d, decoded: c.decoded, onFrame: c.onFrame}, nil
}

type watchedDecoder struct {
	processor.Decoder
	decoded chan<- processor.SegmentInfo
	onFrame func(pts int64)
}

func (d watchedDecoder) DecodeSegment(ctx context.Context, r io.Reader, h processor.DecodeHandlers) (processor.SegmentInfo, error) {
	if d.onFrame != nil && h.Video != nil {
		next := h.Video
		h.Video = func(v *frame.Video) error {
			d.onFrame(ptsIn90k(v))
			return next(v)
		}
	}
	info, err := d.Decoder.DecodeSegment(ctx, r, h)
	select {
	case d.decoded <- info:
	default:
	}
	return info, err
}

// outStream is what readOutput saw on the output channel.
type outStream struct {
	last   map[int64]int64 // PTS → stamp of the frame's last packet
	frames int             // video frames (PES) seen
	noPTS  int
	bad    int   // packets without the sync byte, or segments not ending on a packet boundary
	end    int64 // stamp of the end of the stream
	err    error // what ended it other than the end of the stream
}

// readOutput reads the output channel from its first segment to the end of
// the stream, stamping every packet as it arrives.
func (r *procRig) readOutput(ctx context.Context) <-chan *outStream {
	res := make(chan *outStream, 1)
	go func() {
		o := &outStream{last: map[int64]int64{}}
		defer func() { res <- o }()
		sub, err := trickle.NewSubscriber(trickle.SubscriberConfig{URL: r.url("out"), Start: trickle.StartAt(0), Logger: quiet})
		if err != nil {
			o.err = err
			return
		}
		defer sub.Close()
		t := mpegts.NewTracker(func(p mpegts.PES) {
			o.frames++
			if p.PTS < 0 {
				o.noPTS++
				return
			}
			o.last[p.PTS] = p.Last
		})
		buf := make([]byte, 64<<10)
		for {
			seg, err := sub.Next(ctx)
			if err != nil {
				o.end = r.stamp()
				if !errors.Is(err, trickle.ErrStreamClosed) {
					o.err = err
				}
				return
			}
			for {
				n, err := seg.Read(buf)
				t.Write(buf[:n], r.stamp())
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

func (r *procRig) publisher(b *testing.B, ctx context.Context) *trickle.Publisher {
	b.Helper()
	pub, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: r.url("in"), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	return pub
}

func checkOutput(b *testing.B, o *outStream) {
	b.Helper()
	if o.err != nil {
		b.Fatalf("the output ended with %v, not the end of the stream", o.err)
	}
	if o.bad > 0 || o.noPTS > 0 {
		b.Fatalf("output: %d stray bytes, %d video PES without PTS", o.bad, o.noPTS)
	}
}

func benchProcFlatOut(b *testing.B, dev *gpu.Device, hwdecode string) {
	segs := segmentsOf(b, benchInput(b, procSize))
	var frames int
	var wall, cpu time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		r := newProcRig(b, ctx, processor.Funcs{}, processor.Config{NoSkip: true, Device: dev, HWDecode: hwdecode})
		out := r.readOutput(ctx)
		pub := r.publisher(b, ctx)
		b.StartTimer()
		t0, cpu0 := r.stamp(), cpuTime()
		for _, s := range segs {
			if _, err := pub.Write(ctx, bytes.NewReader(s)); err != nil {
				b.Fatal(err)
			}
		}
		r.waitDecoded(b, ctx, len(segs))
		if err := pub.Close(ctx); err != nil {
			b.Fatal(err)
		}
		o := <-out
		cpu += cpuTime() - cpu0
		b.StopTimer()
		c := r.finish(b, ctx)
		cancel()
		checkOutput(b, o)
		if dev != nil && c.DeviceEncoded != c.VideoOut {
			b.Fatalf("%d of %d frames encoded from the device", c.DeviceEncoded, c.VideoOut)
		}
		if c.VideoOut != procFrames || o.frames != procFrames {
			b.Fatalf("%d frames encoded, %d on the wire, want %d (counters %+v)", c.VideoOut, o.frames, procFrames, c)
		}
		frames += int(c.VideoOut)
		wall += time.Duration(o.end - t0)
		b.StartTimer()
	}
	b.ReportMetric(float64(frames)/wall.Seconds(), "fps")
	reportCPU(b, cpu, wall, frames)
}

// benchProcLatency measures each frame's latency through the processor
// with the input at real-time pace: frame by frame (live) or whole 1 s
// segments once a second (PyTrickle's method). The first segment's frames
// are a warm-up and are not counted.
func benchProcLatency(b *testing.B, live bool) {
	segs := segmentsOf(b, benchInput(b, procSize))
	frames := make([][]mpegts.Frame, len(segs))
	n := 0
	for k, s := range segs {
		var err error
		if frames[k], err = mpegts.VideoFrames(s); err != nil {
			b.Fatalf("segment %d: %v", k, err)
		}
		n += len(frames[k])
	}
	if n != procFrames {
		b.Fatalf("the input has %d video frames, want %d", n, procFrames)
	}
	var lat, dec []float64 // ms
	lost := 0
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		r := newProcRig(b, ctx, processor.Funcs{}, processor.Config{})
		out := r.readOutput(ctx)
		pub := r.publisher(b, ctx)
		b.StartTimer()
		in := map[int64]int64{} // PTS → stamp of its last input byte, after the warm-up
		t0 := time.Now()
		i := 0
		for k, s := range segs {
			w, err := pub.Next(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if live {
				prev := 0
				for _, f := range frames[k] {
					time.Sleep(time.Until(t0.Add(time.Duration(i) * time.Second / procRate)))
					if _, err := w.Write(s[prev:f.End]); err != nil {
						b.Fatal(err)
					}
					prev = f.End
					if k > 0 {
						in[f.PTS] = r.stamp()
					}
					i++
				}
				if prev < len(s) {
					if _, err := w.Write(s[prev:]); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				time.Sleep(time.Until(t0.Add(time.Duration(k) * time.Second)))
				if _, err := w.Write(s); err != nil {
					b.Fatal(err)
				}
				st := r.stamp()
				for _, f := range frames[k] {
					if k > 0 {
						in[f.PTS] = st
					}
				}
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
		r.waitDecoded(b, ctx, len(segs))
		if err := pub.Close(ctx); err != nil {
			b.Fatal(err)
		}
		o := <-out
		b.StopTimer()
		r.finish(b, ctx)
		cancel()
		checkOutput(b, o)
		r.mu.Lock()
		for pts, t := range in {
			if d, ok := r.decodedAt[pts]; ok {
				dec = append(dec, float64(d-t)/1e6)
			}
			if last, ok := o.last[pts]; ok {
				lat = append(lat, float64(last-t)/1e6)
			} else {
				lost++
			}
		}
		r.mu.Unlock()
		b.StartTimer()
	}
	if len(lat) == 0 {
		b.Fatal("no input frame came out")
	}
	slices.Sort(lat)
	b.ReportMetric(mpegts.Percentile(lat, 50), "p50-ms")
	b.ReportMetric(mpegts.Percentile(lat, 95), "p95-ms")
	b.ReportMetric(mpegts.Percentile(lat, 99), "p99-ms")
	b.ReportMetric(lat[len(lat)-1], "max-ms")
	b.ReportMetric(float64(lost)/float64(b.N), "frames-lost")
	if len(dec) > 0 {
		slices.Sort(dec)
		b.ReportMetric(mpegts.Percentile(dec, 50), "decoded-p50-ms")
		b.ReportMetric(mpegts.Percentile(dec, 95), "decoded-p95-ms")
	}
}

// overloadInputEnv, set, makes the overload benchmark measure in this
// process, reading the input from the directory it names: the parent runs
// each measurement in a fresh child process, so the peak resident memory is
// one processor's from its start and not what earlier benchmarks left.
const overloadInputEnv = "GOTRICKLE_BENCH_OVERLOAD_INPUT"

// benchProcOverload sends the input twice over (20 segments, the second
// ten with timestamps moved 10 s on) as fast as it goes to a handler that
// takes 50 ms a frame, with the default (skipping) configuration, in a
// fresh process (the test binary run again). Reported: that process's peak
// resident memory (VmHWM; it includes the benchmark's own publisher and
// reader, which hold the 20 input segments, about 8 MB, and little else),
// its resident memory before the processor started, and the frames in,
// out and skipped.
func benchProcOverload(b *testing.B) {
	if dir := os.Getenv(overloadInputEnv); dir != "" {
		overloadRun(b, dir)
		return
	}
	dir := benchInput(b, procSize)
	sum := map[string]float64{}
	b.ResetTimer()
	for range b.N {
		cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkProcessor$/^overload-memory$",
			"-test.benchtime=1x", "-test.count=1")
		cmd.Env = append(os.Environ(), overloadInputEnv+"="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("the overload run failed: %v\n%s", err, out)
		}
		got := benchLineMetrics(string(out), "BenchmarkProcessor/overload-memory")
		if got["peak-rss-MB"] == 0 {
			b.Fatalf("no peak-rss-MB in the overload run's output:\n%s", out)
		}
		for unit, v := range got {
			if unit == "peak-rss-MB" {
				sum[unit] = max(sum[unit], v)
			} else {
				sum[unit] += v / float64(b.N)
			}
		}
	}
	for _, unit := range []string{"peak-rss-MB", "start-rss-MB", "frames-in", "frames-out", "frames-skipped"} {
		b.ReportMetric(sum[unit], unit)
	}
}

// benchLineMetrics returns the metrics (unit → value) of the first result
// line of the named benchmark in go test -bench output.
func benchLineMetrics(out, name string) map[string]float64 {
	m := map[string]float64{}
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], name) {
			continue
		}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				m[f[i+1]] = v
			}
		}
		break
	}
	return m
}

// overloadRun is the overload measurement itself, in the child process.
func overloadRun(b *testing.B, dir string) {
	segs := segmentsOf(b, dir)
	if len(segs) == 0 {
		b.Fatalf("no input segments in %s", dir)
	}
	for _, s := range slices.Clone(segs) {
		segs = append(segs, mpegts.Shift(s, 10*90000))
	}
	if f, err := mpegts.VideoFrames(segs[len(segs)/2]); err != nil || len(f) == 0 {
		b.Fatalf("shifted input: %v", err)
	}
	slow := processor.Funcs{Video: func(ctx context.Context, v *frame.Video) (*frame.Video, error) {
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		}
		return nil, nil
	}}
	var peak, start, in, out, skipped float64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		runtime.GC()
		debug.FreeOSMemory()
		start = max(start, procStatusKB(b, "VmRSS")/1024)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		r := newProcRig(b, ctx, slow, processor.Config{})
		o := r.readOutput(ctx)
		pub := r.publisher(b, ctx)
		b.StartTimer()
		for _, s := range segs {
			if _, err := pub.Write(ctx, bytes.NewReader(s)); err != nil {
				b.Fatal(err)
			}
		}
		r.waitDecoded(b, ctx, len(segs))
		if err := pub.Close(ctx); err != nil {
			b.Fatal(err)
		}
		res := <-o
		b.StopTimer()
		peak = max(peak, procStatusKB(b, "VmHWM")/1024)
		c := r.finish(b, ctx)
		cancel()
		checkOutput(b, res)
		if int(c.VideoOut) != res.frames {
			b.Fatalf("%d frames encoded, %d on the wire", c.VideoOut, res.frames)
		}
		in += float64(c.VideoIn)
		out += float64(c.VideoOut)
		skipped += float64(c.VideoSkipped)
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(peak, "peak-rss-MB")
	b.ReportMetric(start, "start-rss-MB")
	b.ReportMetric(in/n, "frames-in")
	b.ReportMetric(out/n, "frames-out")
	b.ReportMetric(skipped/n, "frames-skipped")
}

// procStatusKB reads a "kB" field of /proc/self/status.
func procStatusKB(b *testing.B, field string) float64 {
	b.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				b.Fatalf("%s: %v", field, err)
			}
			return kb
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}
