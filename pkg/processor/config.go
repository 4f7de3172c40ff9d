package processor

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/gotrickle/gotrickle/pkg/gpu"
)

// Config configures a Processor. Only Codecs is required; every other zero
// value means the default documented on its field.
type Config struct {
	// Codecs makes decoders and encoders (media.Codecs for FFmpeg).
	Codecs Codecs
	// Width and Height are the default target size of input frames when a
	// start request does not set them: 512×512, like PyTrickle.
	Width, Height int
	// MaxFramerate is the default input frame-rate cap: 24 fps, like
	// PyTrickle. max_framerate in params overrides it, live.
	MaxFramerate int
	// HTTPClient carries the trickle requests of the input, output and
	// control channels; the default has its own transport. The events and
	// data channels each get a transport of their own, so that a stop
	// whose deadline has passed can cut just their connections.
	HTTPClient *http.Client
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Device, when set, runs the video frame path on it (pkg/gpu): frames
	// are uploaded once after decode, handlers that implement
	// DeviceVideoHandler work on them there, and the output converts them
	// to YUV420P on the device. Handlers without it get host frames (each
	// a download, counted in Counters.DeviceDownloads). nil (the default)
	// keeps every frame on the host. The processor does not close it.
	Device *gpu.Device
	// HWDecode decodes on the device: "cuda" has FFmpeg's NVDEC decode
	// the input, and the pictures go from its surfaces to the frame path
	// by a copy on the device, with no upload and no conversion on the
	// CPU. It needs Device to be a CUDA device; "" (the default) decodes
	// in software. With Device set either way, the decoder hands out the
	// pictures as they are (raw frames) and the video worker converts and
	// scales them on the device, instead of swscale doing it on the CPU.
	HWDecode string
	// Observer receives handler timings, and events and output frames
	// when it implements EventObserver or OutputObserver (see Observers
	// for more than one); nil means none.
	Observer Observer

	// VideoQueue is how many decoded video frames may wait for the video
	// handler; when it is full the oldest waiting frame is skipped. The
	// default is 32 frames (about a second) but at most 64 MiB of pixels at
	// the stream's target size (24 frames at 720p, 10 at 1080p), at least 4.
	VideoQueue int
	// NoSkip makes the decoder wait for room in a full queue instead of
	// skipping frames, and turns MaxLag off: for files and benchmarks,
	// where every frame matters more than latency.
	NoSkip bool
	// AudioQueue is the same for audio frames (default 128).
	AudioQueue int
	// MaxLag is how long a video frame may wait for the handler before it
	// is skipped instead (default 500 ms): a handler slower than the input
	// makes frames skip rather than latency grow.
	MaxLag time.Duration
	// FallbackAfter is how long the processor keeps passing input through
	// while a handler withholds its results (ErrWithheld) before it sends
	// the loading frame instead (default 1.5 s, PyTrickle's overlay
	// timeout).
	FallbackAfter time.Duration
	// HeartbeatInterval is the period of heartbeat events (default 10 s).
	HeartbeatInterval time.Duration
	// StopTimeout bounds how long a stop may take to drain the frames
	// already decoded and finish the output (default 5 s).
	StopTimeout time.Duration
	// HandlerTimeout is how long one video or audio handler call may run
	// before the processor stops waiting for it (default 5 s; negative: no
	// limit). The frame inside the late call is lost (counted in
	// Counters.VideoLost or AudioLost) and a handler_error event is sent;
	// until the call returns, frames pass through without reaching the
	// handler, counted as failed.
	HandlerTimeout time.Duration
	// InputStallTimeout is how long an input segment may go without a
	// byte before it is abandoned and the next one read (default 5 s;
	// negative: wait for ever). Longer than a live stream's pauses, short
	// enough that a stalled server does not freeze the stream.
	InputStallTimeout time.Duration
	// OutputBuffer is how many bytes of encoded output may wait for the
	// network (default 16 MiB, about 20 s of 1080p at 6 Mbit/s; negative:
	// none). The encoder hands its segments to a goroutine that POSTs
	// them, so a slow server or a POST being retried delays the output
	// instead of stopping the encoder and skipping frames. A segment that
	// would pass the limit is dropped whole and counted in
	// Counters.SegmentsLost. With no buffer the encoder writes straight to
	// the POST and waits for it.
	OutputBuffer int
	// OutputStallTimeout is how long one write of an output segment to the
	// publish server, the wait for its answer to the segment's end, or the
	// abort of a segment dropped part-way, may take before the segment is
	// given up (counted in Counters.SegmentsLost; if bytes of it were
	// sent, closed on the server by a DELETE that may take up to 2 s
	// more) and the next one sent
	// (default 5 s; negative: wait for ever). A write includes the
	// publisher's retries of a POST that sent nothing (1.4 to 2.1 s of
	// back-off by default) and up to 1 s for the server's 100 Continue, so
	// keep it well above 3 s. It needs the output buffer (OutputBuffer not
	// negative).
	OutputStallTimeout time.Duration
	// DataInterval is how often queued data items are sent (default
	// 333 ms), DataKeepalive how long the data channel may stay silent
	// before an empty batch goes out (default 25 s).
	DataInterval, DataKeepalive time.Duration
}

func (c Config) withDefaults() Config {
	if c.Width == 0 {
		c.Width = 512
	}
	if c.Height == 0 {
		c.Height = 512
	}
	if c.MaxFramerate == 0 {
		c.MaxFramerate = 24
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.AudioQueue <= 0 {
		c.AudioQueue = 128
	}
	if c.MaxLag <= 0 {
		c.MaxLag = 500 * time.Millisecond
	}
	if c.FallbackAfter <= 0 {
		c.FallbackAfter = 1500 * time.Millisecond
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 10 * time.Second
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 5 * time.Second
	}
	if c.HandlerTimeout == 0 {
		c.HandlerTimeout = 5 * time.Second
	}
	if c.InputStallTimeout == 0 {
		c.InputStallTimeout = 5 * time.Second
	}
	if c.OutputBuffer == 0 {
		c.OutputBuffer = 16 << 20
	}
	if c.OutputStallTimeout == 0 {
		c.OutputStallTimeout = 5 * time.Second
	}
	if c.DataInterval <= 0 {
		c.DataInterval = 333 * time.Millisecond
	}
	if c.DataKeepalive <= 0 {
		c.DataKeepalive = 25 * time.Second
	}
	return c
}
