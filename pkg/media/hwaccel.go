package media

// NVDEC decoding through FFmpeg's cuda hwaccel (DecoderConfig.HWAccel).
//
// The device context is made once per CUDA device and process, on the
// device's primary context (option primary_ctx, libavutil/hwcontext_cuda.c
// in FFmpeg 5.1): pkg/gpu's cuda backend works in the primary context, and
// the device addresses of NVDEC's pictures are valid only in the context
// that decoded them. go-astiav v0.16.0 cannot free a device context, so it
// is kept for the life of the process.

//#cgo pkg-config: libavutil
//#include <stdarg.h>
//#include <stdio.h>
//#include <libavutil/log.h>
//
//// While a device context is being created, FFmpeg's errors on this thread
//// are collected here: av_hwdevice_ctx_create returns only an error code
//// (EPERM for a missing libcuda.so.1), the reason goes to the log. Other
//// threads' messages pass straight to the default callback, as before.
//static __thread char gt_cap[512];
//static __thread int gt_cap_on, gt_cap_len;
//
//static void gt_capture_cb(void *avcl, int level, const char *fmt, va_list vl) {
//	int room = (int)sizeof(gt_cap) - gt_cap_len;
//	if (gt_cap_on && level <= AV_LOG_ERROR && room > 1) {
//		va_list c;
//		va_copy(c, vl);
//		int n = vsnprintf(gt_cap + gt_cap_len, room, fmt, c);
//		va_end(c);
//		if (n > 0) gt_cap_len += n < room ? n : room - 1;
//	}
//	av_log_default_callback(avcl, level, fmt, vl);
//}
//
//static void gt_capture_begin(void) {
//	gt_cap_len = 0;
//	gt_cap[0] = 0;
//	gt_cap_on = 1;
//	av_log_set_callback(gt_capture_cb);
//}
//
//static const char *gt_capture_end(void) {
//	av_log_set_callback(av_log_default_callback);
//	gt_cap_on = 0;
//	return gt_cap;
//}
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/asticode/go-astiav"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/gpu"
)

// ErrHWAccel: the hardware decoding asked for cannot be set up here (no
// driver, no device, no NVDEC).
var ErrHWAccel = errors.New("media: hardware decoding unavailable")

// HWAccelCUDA is DecoderConfig.HWAccel for NVDEC.
const HWAccelCUDA = "cuda"

// defaultHeldFrames is DecoderConfig.HeldFrames's default.
const defaultHeldFrames = 8

// checkHW validates the hardware settings and returns the device context
// to decode on (nil for software decoding).
func checkHW(cfg DecoderConfig) (*astiav.HardwareDeviceContext, error) {
	if cfg.HeldFrames < 0 || cfg.HeldFrames > 64 {
		return nil, fmt.Errorf("media: %d held frames is out of range (0..64)", cfg.HeldFrames)
	}
	switch cfg.HWAccel {
	case "":
		if cfg.HWDevice != 0 {
			return nil, fmt.Errorf("media: HWDevice %d without HWAccel", cfg.HWDevice)
		}
		return nil, nil
	case HWAccelCUDA:
		if cfg.HWDevice < 0 {
			return nil, fmt.Errorf("media: HWDevice %d is not a CUDA device ordinal", cfg.HWDevice)
		}
		return cudaDevice(cfg.HWDevice)
	default:
		return nil, fmt.Errorf("media: HWAccel %q is not supported: use %q (software) or %q (NVDEC)", cfg.HWAccel, "", HWAccelCUDA)
	}
}

// cudaDevices holds the device context of each CUDA device, by index, once
// one has been made; a failed attempt leaves nothing, so a later decoder
// tries again.
var cudaDevices struct {
	mu sync.Mutex
	m  map[int]*astiav.HardwareDeviceContext
}

// cudaDevice returns the device context for CUDA device idx, making it on
// first use.
func cudaDevice(idx int) (*astiav.HardwareDeviceContext, error) {
	cudaDevices.mu.Lock()
	defer cudaDevices.mu.Unlock()
	if h := cudaDevices.m[idx]; h != nil {
		return h, nil
	}
	quietFFmpeg()
	opts := astiav.NewDictionary()
	defer opts.Free()
	// FFmpeg 5.1 retains the primary context with CU_CTX_SCHED_BLOCKING_SYNC
	// and refuses ("Primary context already active with incompatible
	// flags") one that other code made active with other flags first.
	if err := opts.Set("primary_ctx", "1", 0); err != nil {
		return nil, fmt.Errorf("%w: cuda: %w", ErrHWAccel, err)
	}
	var h *astiav.HardwareDeviceContext
	var err error
	why := ffmpegErrors(func() {
		h, err = astiav.CreateHardwareDeviceContext(astiav.HardwareDeviceTypeCUDA, strconv.Itoa(idx), opts)
	})
	if err != nil {
		if why != "" {
			return nil, fmt.Errorf("%w: cuda device %d: %w (FFmpeg: %s)", ErrHWAccel, idx, err, why)
		}
		return nil, fmt.Errorf("%w: cuda device %d: %w", ErrHWAccel, idx, err)
	}
	if cudaDevices.m == nil {
		cudaDevices.m = map[int]*astiav.HardwareDeviceContext{}
	}
	cudaDevices.m[idx] = h
	return h, nil
}

// ffmpegErrors runs fn and returns the errors FFmpeg logged on its thread
// meanwhile, on one line. pkg/media installs no log callback of its own
// (log.go), so the default one is put back afterwards.
func ffmpegErrors(fn func()) string {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	C.gt_capture_begin()
	fn()
	var lines []string
	for _, l := range strings.Split(C.GoString(C.gt_capture_end()), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}

// cudaCapable reports whether codec can decode on a CUDA device context.
func cudaCapable(codec *astiav.Codec) bool {
	for _, c := range codec.HardwareConfigs() {
		if c.HardwareDeviceType() == astiav.HardwareDeviceTypeCUDA &&
			c.MethodFlags().Has(astiav.CodecHardwareConfigMethodFlagHwDeviceCtx) {
			return true
		}
	}
	return false
}

// useCUDA sets cc up to decode on dev: the device, get_format choosing
// CUDA pictures, and surfaces for held extra frames beyond the decoder's
// own. The caller clears the get_format callback before freeing cc
// (streamDecoder.free): astiav keeps it in a map by the context's address
// and CodecContext.Free does not remove it.
func useCUDA(cc *astiav.CodecContext, dev *astiav.HardwareDeviceContext, extra int) {
	// CodecContext.Free unreferences the HardwareDeviceContext it was
	// given (besides hw_device_ctx's own reference), which would drop
	// the cached one's only reference. So cc gets a copy that is emptied
	// once hw_device_ctx holds its reference: Free then unreferences
	// nil, a no-op, and avcodec_free_context drops hw_device_ctx.
	own := new(astiav.HardwareDeviceContext)
	*own = *dev
	cc.SetHardwareDeviceContext(own)
	*own = astiav.HardwareDeviceContext{}
	cc.SetPixelFormatCallback(pickCUDA)
	cc.SetExtraHardwareFrames(extra)
}

// pickCUDA is get_format: CUDA pictures when offered, else the first
// software format (FFmpeg offers it when NVDEC cannot take the stream,
// and decodes in software then).
func pickCUDA(pfs []astiav.PixelFormat) astiav.PixelFormat {
	for _, p := range pfs {
		if p == astiav.PixelFormatCuda {
			return p
		}
	}
	for _, p := range pfs {
		if !isHWFormat(p) {
			return p
		}
	}
	return astiav.PixelFormatNone
}

// rawDevice makes a w×h raw frame of an NVDEC picture whose planes are NV12
// on the device: the frame holds a reference to the picture (so the
// decoder's own frame can take the next one) until its planes have been
// copied or converted.
func (d *Decoder) rawDevice(pic *astiav.Frame, w, h int) (*frame.Video, error) {
	c := pic.Clone()
	if c == nil {
		return nil, errors.New("media: cannot reference a decoded picture")
	}
	pw, ph := c.Width(), c.Height()
	ls := c.Linesize()
	hf := &hwPicture{f: c, w: pw, h: ph}
	return d.newRaw(w, h, frame.Raw{Format: gpu.NV12, Width: pw, Height: ph, Crop: coverCrop(pw, ph, w, h),
		Device: gpu.DevicePlanes{Format: gpu.NV12, Width: pw, Height: ph,
			Ptr: [3]uintptr{planeAddr(c, 0), planeAddr(c, 1)}, Pitch: [3]int{ls[0], ls[1]}},
		Download: hf.download, Release: hf.release})
}

// hwPicture is a raw frame's reference to an NVDEC picture.
type hwPicture struct {
	mu   sync.Mutex
	f    *astiav.Frame
	w, h int
}

var errPictureGone = errors.New("media: the NVDEC picture was released")

// download copies the picture to the host, packed NV12, into dst.
func (p *hwPicture) download(dst []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f == nil {
		return errPictureGone
	}
	sw := astiav.AllocFrame()
	defer sw.Free()
	if err := p.f.TransferHardwareData(sw); err != nil {
		return fmt.Errorf("media: copying an NVDEC picture to the host: %w", err)
	}
	if sw.PixelFormat() != astiav.PixelFormatNv12 {
		return fmt.Errorf("media: an NVDEC picture came to the host as %v, want nv12", sw.PixelFormat())
	}
	return packPlanes(sw, gpu.NV12, p.w, p.h, dst)
}

func (p *hwPicture) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f != nil {
		p.f.Free()
		p.f = nil
	}
}

// fromDevice copies a hardware picture to the host (d.swPic) for the
// converted path: when Raw is off, or the picture is not NV12 (P010 from
// 10-bit streams).
func (d *Decoder) fromDevice(pic *astiav.Frame) (*astiav.Frame, error) {
	if d.swPic == nil {
		d.swPic = astiav.AllocFrame()
	}
	d.swPic.Unref()
	if err := pic.TransferHardwareData(d.swPic); err != nil {
		return nil, fmt.Errorf("media: copying an NVDEC picture to the host: %w", err)
	}
	return d.swPic, nil
}
