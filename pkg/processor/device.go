package processor

import (
	"context"
	"errors"
	"fmt"
	"image"
	"sync/atomic"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/gpu"
)

// The device frame path. With Config.Device set, the decoder hands out
// raw frames (the decoded YUV picture, in host memory or, with HWDecode,
// in NVDEC's surfaces) and the video worker brings each onto the device
// once, converting and scaling it there (frame.DeviceContext.Upload); a
// decoder that converts frames itself gets them uploaded as RGB. Handlers that say
// they work on device frames get it there, others get its pixels brought
// back to the host first (a download, counted); a frame still on the
// device when it reaches the output is scaled (when its size is not the
// output's) and converted to YUV420P there, and only the YUV420P picture
// comes back, for an encoder that takes it (YUVWriter). Every device call
// of a stream is made from its video worker, the one goroutine a
// gpu.Stream allows.

// DeviceVideoHandler is a VideoHandler that works on device frames. With
// Config.Device set and DeviceFrames returning true, HandleVideo gets frames
// whose pixels are on the device (frame.Video.DeviceImage gives the image
// and the stream to run kernels on; Host brings them to Pix, counted). A
// VideoHandler without this method gets host frames, so host code runs
// unchanged on a processor with a device.
type DeviceVideoHandler interface {
	VideoHandler
	DeviceFrames() bool
}

// YUVWriter is an Encoder that also takes pictures already converted to
// packed YUV420P (Y, then U and V of ⌈w/2⌉×⌈h/2⌉, rows without padding) of
// exactly the output size: the device path converts on the device and
// hands those over. media's encoder implements it; with an encoder that
// does not, device frames are brought to the host and written as RGB.
type YUVWriter interface {
	WriteYUV420P(pix []byte, width, height int, pts int64, tb frame.Rational) error
}

// streamDevice is a stream's share of the device.
type streamDevice struct {
	gs     *gpu.Stream
	frames *frame.DeviceContext
	// The output's pictures: the frame scaled to the output size (when it
	// is not), its YUV420P conversion, and the host copy of that.
	scaled gpu.Image
	yuv    gpu.Image
	host   []byte

	encoded atomic.Uint64 // frames that reached the encoder as YUV420P from the device
	failed  atomic.Uint64 // device operations that failed (the frame went the host way or was lost)
}

// openDevice gives the stream its own gpu.Stream on Config.Device.
func (s *stream) openDevice() error {
	dev := s.p.cfg.Device
	if dev == nil {
		return nil
	}
	gs, err := dev.NewStream()
	if err != nil {
		return fmt.Errorf("device %s: %w", dev.Name(), err)
	}
	s.dev = &streamDevice{gs: gs, frames: frame.NewDeviceContext(dev, gs)}
	return nil
}

// closeDevice frees the stream's device memory once every frame is
// released (the workers have ended).
func (s *stream) closeDevice() {
	d := s.dev
	if d == nil {
		return
	}
	for _, img := range []gpu.Image{d.scaled, d.yuv} {
		if img.Buf != nil {
			_ = img.Buf.Free()
		}
	}
	if err := d.frames.Close(); err != nil {
		s.log.Warn("freeing device frames", "err", err)
	}
	if err := d.gs.Close(); err != nil {
		s.log.Warn("closing the device stream", "err", err)
	}
}

// heldBeyondQueue is how many decoded frames the processor may hold
// besides its video queue: the worker's frame, a late handler call's, and
// the one the ingest is queueing.
const heldBeyondQueue = 3

// checkHWDecode refuses a HWDecode the processor cannot use.
func checkHWDecode(cfg Config) error {
	switch cfg.HWDecode {
	case "":
		return nil
	case "cuda":
		if cfg.Device == nil || cfg.Device.Kind() != gpu.KindCUDA {
			return errors.New(`processor: HWDecode "cuda" needs Config.Device to be a CUDA device: NVDEC's pictures stay in device memory`)
		}
		return nil
	}
	return fmt.Errorf(`processor: HWDecode %q: want "" or "cuda"`, cfg.HWDecode)
}

// hwDevice is the device ordinal a hardware decoder must use (0 when
// none is asked for).
func (s *stream) hwDevice() int {
	if d := s.p.cfg.Device; d != nil && s.p.cfg.HWDecode != "" {
		return d.Index()
	}
	return 0
}

// toDevice uploads a decoded frame (converting a raw one on the device);
// when it cannot, the frame goes on from the host, a raw one converted
// there. While a video handler call that overran HandlerTimeout is still
// running, it may be using the device stream, so frames stay on the host
// until it returns. It reports false when the frame is lost (a raw
// picture that reached neither), counted as a device error.
func (s *stream) toDevice(v *frame.Video) bool {
	if s.dev != nil && !s.videoCalls.busy.Load() {
		if err := s.dev.frames.Upload(s.ctx, v); err != nil {
			s.deviceFailed("upload", err)
		}
	}
	if v.IsRaw() {
		if err := v.Host(s.ctx); err != nil {
			s.deviceFailed("convert on the host", err)
			return false
		}
	}
	return true
}

// forHandler brings v to the host unless the video handler takes device
// frames; it reports false when the frame is lost.
func (s *stream) forHandler(v *frame.Video) bool {
	if !v.OnDevice() {
		return true
	}
	if dh, ok := s.p.h.video.(DeviceVideoHandler); ok && dh.DeviceFrames() {
		return true
	}
	return s.toHost(v)
}

// toHost brings a device frame's pixels to the host (counted by its
// DeviceContext); it reports false when that failed.
func (s *stream) toHost(v *frame.Video) bool {
	if err := v.Host(s.ctx); err != nil {
		s.deviceFailed("download", err)
		return false
	}
	return true
}

func (s *stream) deviceFailed(op string, err error) {
	if s.dev == nil {
		s.log.Warn("frame conversion failed", "op", op, "err", err)
		return
	}
	if n := s.dev.failed.Add(1); n == 1 || n%100 == 0 {
		s.log.Warn("device operation failed", "op", op, "err", err, "failures", n)
	}
}

// devicePicture converts a frame on the device into the output's YUV420P
// picture of w×h and returns its host copy, valid until the next call.
func (s *stream) devicePicture(v *frame.Video, w, h int) ([]byte, error) {
	d := s.dev
	img, gs, err := v.DeviceImage(s.ctx)
	if err != nil {
		return nil, err
	}
	src := img
	if img.Width != w || img.Height != h {
		// Stretched to the output size, as the encoder's scaler does with
		// host frames.
		if d.scaled, err = ensureImage(gs, d.scaled, gpu.RGB24, w, h); err != nil {
			return nil, err
		}
		if err := gs.Resize(d.scaled, img, image.Rect(0, 0, img.Width, img.Height)); err != nil {
			return nil, err
		}
		src = d.scaled
	}
	if d.yuv, err = ensureImage(gs, d.yuv, gpu.YUV420P, w, h); err != nil {
		return nil, err
	}
	if err := gs.RGBToYUV420P(d.yuv, src); err != nil {
		return nil, err
	}
	n := d.yuv.Buf.Len()
	if len(d.host) != n {
		d.host = make([]byte, n)
	}
	// Download waits for the kernels before it: no Sync needed.
	if err := gs.Download(s.ctx, d.host, d.yuv.Buf); err != nil {
		return nil, err
	}
	return d.host, nil
}

// ensureImage returns img when it already is a w×h image of format f, else
// frees it and allocates one.
func ensureImage(gs *gpu.Stream, img gpu.Image, f gpu.Format, w, h int) (gpu.Image, error) {
	if img.Buf != nil && img.Width == w && img.Height == h && img.Format == f {
		return img, nil
	}
	if img.Buf != nil {
		// Earlier kernels on the stream may still read it.
		if err := gs.Sync(context.Background()); err != nil {
			return gpu.Image{}, err
		}
		_ = img.Buf.Free()
	}
	return gs.Device().NewImage(f, w, h)
}

// deviceCounters adds the device path's figures to c.
func (s *stream) deviceCounters(c *Counters) {
	if d := s.dev; d != nil {
		c.DeviceUploads = d.frames.Uploads()
		c.DeviceDownloads = d.frames.Downloads()
		c.DeviceEncoded = d.encoded.Load()
		c.DeviceErrors = d.failed.Load()
	}
}
