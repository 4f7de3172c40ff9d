package processor_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/fixtures"
	"github.com/gotrickle/gotrickle/pkg/effect"
	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/gpu"
	"github.com/gotrickle/gotrickle/pkg/media"
	"github.com/gotrickle/gotrickle/pkg/processor"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// The device path runs end to end on the CPU build of pkg/gpu: the same
// uploads, kernels, conversions and counts as on a GPU.

// deviceGrade grades frames on the device; with half it returns a new
// half-size device frame instead, which the output must scale back.
type deviceGrade struct {
	half      bool
	sawDevice bool
}

func (g *deviceGrade) DeviceFrames() bool { return true }

func (g *deviceGrade) HandleVideo(ctx context.Context, v *frame.Video) (*frame.Video, error) {
	img, s, err := v.DeviceImage(ctx)
	if err != nil {
		return nil, err
	}
	g.sawDevice = g.sawDevice || v.Pix == nil
	if !g.half {
		return nil, s.ColorGrade(img, 1)
	}
	out, err := v.DeviceContext().NewVideo(v.Width/2, v.Height/2)
	if err != nil {
		return nil, err
	}
	out.PTS, out.TimeBase = v.PTS, v.TimeBase
	oi, _, _ := out.DeviceImage(ctx)
	if err := s.Resize(oi, img, image.Rect(0, 0, img.Width, img.Height)); err != nil {
		out.Release()
		return nil, err
	}
	return out, s.ColorGrade(oi, 1)
}

// hostGrade is the colour grade behind an adapter without DeviceFrames:
// a handler written for host frames only.
func hostGrade() processor.Funcs {
	g := &effect.ColorGrade{}
	return processor.Funcs{Video: g.HandleVideo, StreamStart: g.OnStreamStart}
}

// rawCounting wraps media's codecs and counts the video frames its
// decoders hand out raw (as the decoded picture, converted later).
type rawCounting struct {
	media.Codecs
	raw, all atomic.Int64
	asked    atomic.Bool // a decoder was asked for raw frames
}

func (c *rawCounting) NewDecoder(cfg processor.DecoderConfig) (processor.Decoder, error) {
	if cfg.Raw {
		c.asked.Store(true)
	}
	d, err := c.Codecs.NewDecoder(cfg)
	if err != nil {
		return nil, err
	}
	return rawCountingDecoder{d, c}, nil
}

type rawCountingDecoder struct {
	processor.Decoder
	c *rawCounting
}

func (d rawCountingDecoder) DecodeSegment(ctx context.Context, r io.Reader, h processor.DecodeHandlers) (processor.SegmentInfo, error) {
	if video := h.Video; video != nil {
		h.Video = func(v *frame.Video) error {
			d.c.all.Add(1)
			if v.IsRaw() {
				d.c.raw.Add(1)
			}
			return video(v)
		}
	}
	return d.Decoder.DecodeSegment(ctx, r, h)
}

type deviceRun struct {
	raw      int64   // frames the decoder handed out raw
	frames   int     // video frames in the input
	out      decoded // what came out
	luma     float64 // mean luma of the output
	counters processor.Counters
}

func runOnDevice(t *testing.T, h any, dev *gpu.Device, opts ...func(*processor.Config)) deviceRun {
	t.Helper()
	segs, vs := fixtureSegments(t)
	codecs := &rawCounting{}
	cfg := processor.Config{Codecs: codecs, Logger: quiet, Device: dev, NoSkip: true}
	for _, o := range opts {
		o(&cfg)
	}
	r, c := streamThrough(t, h, cfg, processor.Params{"width": 320, "height": 240, "max_framerate": 30, "intensity": 1.0},
		segs, vs.Frames, 200*time.Millisecond)
	if dev != nil && !codecs.asked.Load() {
		t.Fatal("the processor did not ask its decoder for raw frames")
	}
	return deviceRun{raw: codecs.raw.Load(), frames: vs.Frames, out: r, luma: r.lumaSum / float64(max(1, r.video)), counters: c}
}

// streamThrough runs one stream of segs through a processor made of h and
// cfg, a segment every period, ending the input once the processor has
// read frames video frames (the CPU build's kernels are slow under the
// race detector), and returns what came out and the counters once the
// processor is idle again.
func streamThrough(t *testing.T, h any, cfg processor.Config, params processor.Params, segs []fixtures.Segment, frames int, period time.Duration) (decoded, processor.Counters) {
	t.Helper()
	e := newE2E(t)
	p, err := processor.New(h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.LoadModel(ctx); err != nil {
		t.Fatal(err)
	}
	err = p.Start(ctx, processor.StartRequest{SubscribeURL: e.url("in"), PublishURL: e.url("out"),
		GatewayRequestID: "device", Params: params})
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan decoded, 1)
	go func() { res <- e.readOutput(ctx) }()
	time.Sleep(200 * time.Millisecond)
	read := func() bool { return p.Status().Counters.VideoIn >= uint64(frames) }
	if err := e.publishUntil(ctx, segs, period, read); err != nil {
		t.Fatal(err)
	}
	r := <-res
	if !errors.Is(r.ended, trickle.ErrStreamClosed) {
		t.Fatalf("the output ended with %v, want the end of the stream", r.ended)
	}
	for p.Health() != processor.StateIdle && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	return r, *p.Status().Counters
}

func openCPUDevice(t *testing.T) *gpu.Device {
	t.Helper()
	dev, err := gpu.Open(gpu.Config{Kind: gpu.KindCPU})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	return dev
}

func TestTheDevicePathKeepsFramesOnTheDeviceFromDecodeToEncoder(t *testing.T) {
	dev := openCPUDevice(t)
	plain := runOnDevice(t, processor.Funcs{}, dev)

	for _, tc := range []struct {
		name      string
		handler   any
		downloads bool // every frame comes back to the host
		darker    bool
	}{
		{"a passthrough is converted on the device", processor.Funcs{}, false, false},
		{"a device handler's kernel output is encoded from the device", &deviceGrade{}, false, true},
		{"a device handler's half-size frame is scaled back on the device", &deviceGrade{half: true}, false, true},
		{"the built-in colour grade runs on the device", &effect.ColorGrade{}, false, true},
		{"a host handler gets host pixels, one download a frame", hostGrade(), true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := plain
			if tc.name != "a passthrough is converted on the device" {
				r = runOnDevice(t, tc.handler, dev)
			}
			c := r.counters
			if r.out.video != r.frames || c.VideoOut != uint64(r.frames) {
				t.Fatalf("%d frames in, %d out (counted %d); counters %+v", r.frames, r.out.video, c.VideoOut, c)
			}
			if r.out.w != 320 || r.out.h != 240 {
				t.Fatalf("output is %dx%d, want 320x240", r.out.w, r.out.h)
			}
			if r.raw != int64(c.VideoIn) {
				t.Fatalf("%d of %d frames came from the decoder raw: want every one converted on the device", r.raw, c.VideoIn)
			}
			if c.DeviceUploads != c.VideoIn || c.DeviceErrors != 0 {
				t.Fatalf("%d uploads for %d frames in, %d device errors", c.DeviceUploads, c.VideoIn, c.DeviceErrors)
			}
			if tc.downloads {
				if c.DeviceDownloads != c.VideoOut || c.DeviceEncoded != 0 {
					t.Fatalf("a host handler: %d downloads, %d encoded from the device; want %d and 0", c.DeviceDownloads, c.DeviceEncoded, c.VideoOut)
				}
			} else if c.DeviceDownloads != 0 || c.DeviceEncoded != c.VideoOut {
				t.Fatalf("%d downloads, %d encoded from the device; want 0 and %d", c.DeviceDownloads, c.DeviceEncoded, c.VideoOut)
			}
			if d := r.luma / plain.luma; tc.darker != (d < 0.85) {
				t.Fatalf("mean luma %.1f against the passthrough's %.1f (darker expected: %v)", r.luma, plain.luma, tc.darker)
			}
			if g, ok := tc.handler.(*deviceGrade); ok && !g.sawDevice {
				t.Fatal("the device handler never saw a frame without host pixels")
			}
		})
	}
}

// hangOnce is a device handler whose first call hangs past the deadline
// (still holding the device stream); the calls after it grade.
type hangOnce struct {
	deviceGrade
	calls atomic.Int32
}

func (h *hangOnce) HandleVideo(ctx context.Context, v *frame.Video) (*frame.Video, error) {
	if h.calls.Add(1) == 1 {
		time.Sleep(300 * time.Millisecond)
	}
	return h.deviceGrade.HandleVideo(ctx, v)
}

// While a device handler call that overran the deadline still runs, the
// worker keeps frames on the host rather than share the device stream
// with it; once it returns, frames go to the device again.
func TestFramesStayOnTheHostWhileALateDeviceCallRuns(t *testing.T) {
	dev := openCPUDevice(t)
	r := runOnDevice(t, &hangOnce{}, dev, func(c *processor.Config) { c.HandlerTimeout = 100 * time.Millisecond })
	c := r.counters
	if c.DeviceErrors != 0 {
		t.Fatalf("%d device errors", c.DeviceErrors)
	}
	if r.raw != int64(c.VideoIn) {
		t.Fatalf("%d of %d frames came raw: the ones kept on the host must have been converted there", r.raw, c.VideoIn)
	}
	if c.DeviceUploads >= c.VideoIn || c.DeviceUploads == 0 {
		t.Fatalf("%d uploads for %d frames: want some frames kept on the host while the late call ran, and the rest uploaded", c.DeviceUploads, c.VideoIn)
	}
	t.Logf("%d frames in, %d uploaded, %d of %d out encoded from the device", c.VideoIn, c.DeviceUploads, c.DeviceEncoded, c.VideoOut)
	if c.DeviceEncoded == 0 || c.DeviceEncoded >= c.VideoOut {
		t.Fatalf("%d of %d frames encoded from the device: want both paths used", c.DeviceEncoded, c.VideoOut)
	}
	if r.out.video != int(c.VideoOut) || c.VideoOut != c.VideoIn-1 {
		t.Fatalf("%d frames in, %d out (%d decoded): want all but the hung call's frame", c.VideoIn, c.VideoOut, r.out.video)
	}
}

func TestHWDecodeNeedsACUDADevice(t *testing.T) {
	cpu := openCPUDevice(t)
	for _, tc := range []struct {
		name string
		cfg  processor.Config
		want string
	}{
		{"NVDEC without a device", processor.Config{HWDecode: "cuda"}, "needs Config.Device to be a CUDA device"},
		{"NVDEC with the CPU device", processor.Config{HWDecode: "cuda", Device: cpu}, "needs Config.Device to be a CUDA device"},
		{"an unknown hardware decoder", processor.Config{HWDecode: "vaapi", Device: cpu}, `HWDecode "vaapi"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Codecs = media.Codecs{}
			_, err := processor.New(processor.Funcs{}, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// nvdecShaped decodes like NVDEC does: every picture is a raw frame whose
// NV12 planes are in device memory (the CPU backend's device memory is
// host memory), with padded rows, and must be given back. The encoder is
// media's.
type nvdecShaped struct {
	media.Codecs
	perSegment int
	released   atomic.Int64
	made       atomic.Int64
	cfg        atomic.Pointer[processor.DecoderConfig]
}

func (c *nvdecShaped) NewDecoder(cfg processor.DecoderConfig) (processor.Decoder, error) {
	c.cfg.Store(&cfg)
	return &nvdecDecoder{c: c, w: cfg.Width, h: cfg.Height}, nil
}

type nvdecDecoder struct {
	c    *nvdecShaped
	w, h int
	pts  int64
}

// The picture: 64×48 (another aspect than the 320×240 frames, so the
// crop and scale run too), Y 180 and neutral chroma, rows 80 bytes apart.
const nvdecW, nvdecH, nvdecPitch, nvdecY = 64, 48, 80, 180

func (d *nvdecDecoder) DecodeSegment(ctx context.Context, r io.Reader, h processor.DecodeHandlers) (processor.SegmentInfo, error) {
	n, err := io.Copy(io.Discard, r)
	info := processor.SegmentInfo{Bytes: n}
	if err != nil {
		return info, err
	}
	h.Streams(true, false)
	for range d.c.perSegment {
		y := bytes.Repeat([]byte{nvdecY}, nvdecPitch*nvdecH)
		uv := bytes.Repeat([]byte{128}, nvdecPitch*nvdecH/2)
		raw := frame.Raw{Format: gpu.NV12, Width: nvdecW, Height: nvdecH,
			Device: gpu.DevicePlanes{Format: gpu.NV12, Width: nvdecW, Height: nvdecH,
				Mem: [3][]byte{y, uv}, Pitch: [3]int{nvdecPitch, nvdecPitch}},
			Release: func() { d.c.released.Add(1) }}
		v, err := frame.NewRawVideo(d.w, d.h, raw)
		if err != nil {
			return info, err
		}
		d.c.made.Add(1)
		v.PTS, v.TimeBase = d.pts, frame.Rational{Num: 1, Den: 90000}
		d.pts += 3000
		info.VideoFrames++
		if err := h.Video(v); err != nil {
			return info, err
		}
	}
	return info, nil
}

func (d *nvdecDecoder) SetMaxFramerate(frame.Rational) error { return nil }
func (d *nvdecDecoder) Close()                               {}

// Pictures a hardware decoder leaves on the device go through the whole
// processor without crossing to the host before the encoder: copied and
// converted on the device, every one given back to the decoder, the
// output the colour they carry.
func TestPicturesLeftOnTheDeviceByTheDecoderReachTheEncoder(t *testing.T) {
	dev := openCPUDevice(t)
	segs, _ := fixtureSegments(t)
	codecs := &nvdecShaped{perSegment: 10}
	want := len(segs) * codecs.perSegment
	out, c := streamThrough(t, processor.Funcs{}, processor.Config{Codecs: codecs, Logger: quiet, Device: dev, NoSkip: true},
		processor.Params{"width": 320, "height": 240}, segs, want, 100*time.Millisecond)
	if cfg := codecs.cfg.Load(); cfg == nil || !cfg.Raw || cfg.HeldFrames < 8 {
		t.Fatalf("decoder config %+v: want raw frames and at least 8 held frames", cfg)
	}
	if out.video != want || c.VideoOut != uint64(want) || out.w != 320 || out.h != 240 {
		t.Fatalf("%d pictures decoded, %d frames out (counted %d) at %dx%d", want, out.video, c.VideoOut, out.w, out.h)
	}
	if c.DeviceUploads != uint64(want) || c.DeviceDownloads != 0 || c.DeviceEncoded != uint64(want) || c.DeviceErrors != 0 {
		t.Fatalf("device counters: %d uploads, %d downloads, %d encoded, %d errors; want %d, 0, %d, 0",
			c.DeviceUploads, c.DeviceDownloads, c.DeviceEncoded, c.DeviceErrors, want, want)
	}
	if made, back := codecs.made.Load(), codecs.released.Load(); made != int64(want) || back != made {
		t.Fatalf("%d pictures made, %d given back", made, back)
	}
	// Y 180 in limited range is grey 191 in RGB; x264 and back move it a
	// little.
	if l := out.lumaSum / float64(out.video); l < 187 || l > 195 {
		t.Fatalf("mean luma of the output %.1f, want about 191", l)
	}
}
