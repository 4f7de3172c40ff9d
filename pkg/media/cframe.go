package media

// go-astiav v0.16.0 cannot copy an AVFrame's audio planes from Go without
// allocating, make a frame writable, or read best_effort_timestamp. These
// few C helpers do exactly that. (Pictures cross the boundary through
// swscale, in scaler.go.)

//#cgo pkg-config: libavutil
//#include <stdint.h>
//#include <string.h>
//#include <libavutil/frame.h>
//#include <libavutil/samplefmt.h>
//
//static int gt_make_writable(AVFrame *f) { return av_frame_make_writable(f); }
//
//static int gt_copy_audio_in(AVFrame *f, int plane, const uint8_t *src, int nbytes) {
//	int planes = av_sample_fmt_is_planar(f->format) ? f->ch_layout.nb_channels : 1;
//	if (plane < 0 || plane >= planes || nbytes < 0 || nbytes > f->linesize[0] || !f->extended_data[plane]) return -1;
//	memcpy(f->extended_data[plane], src, nbytes);
//	return 0;
//}
//
//static int64_t gt_best_effort_ts(const AVFrame *f) { return f->best_effort_timestamp; }
//
//// Audio planes share linesize[0]; planar channels live in extended_data.
//static int gt_copy_audio_out(const AVFrame *f, int plane, uint8_t *dst, int nbytes) {
//	int planes = av_sample_fmt_is_planar(f->format) ? f->ch_layout.nb_channels : 1;
//	if (plane < 0 || plane >= planes || nbytes < 0 || nbytes > f->linesize[0] || !f->extended_data[plane]) return -1;
//	memcpy(dst, f->extended_data[plane], nbytes);
//	return 0;
//}
import "C"

import (
	"errors"
	"unsafe"

	"github.com/asticode/go-astiav"
)

var errPlane = errors.New("media: plane copy out of the frame's bounds")

func cFrame(f *astiav.Frame) *C.AVFrame { return (*C.AVFrame)(f.UnsafePointer()) }

// makeWritable gives f buffers of its own if an encoder still holds them.
func makeWritable(f *astiav.Frame) error {
	if ret := C.gt_make_writable(cFrame(f)); ret < 0 {
		return astiav.Error(ret)
	}
	return nil
}

// copyAudioOut copies nbytes of one audio plane (a channel of planar audio,
// or the only plane of interleaved audio) into dst.
func copyAudioOut(f *astiav.Frame, plane int, dst []byte, nbytes int) error {
	if nbytes == 0 {
		return nil
	}
	if len(dst) < nbytes {
		return errPlane
	}
	if C.gt_copy_audio_out(cFrame(f), C.int(plane), (*C.uint8_t)(unsafe.Pointer(&dst[0])), C.int(nbytes)) != 0 {
		return errPlane
	}
	return nil
}

// noPTS is FFmpeg's AV_NOPTS_VALUE.
const noPTS = int64(-1 << 63)

// framePTS is the frame's best-effort timestamp: FFmpeg's guess from the
// packets when the frame carries none itself (several AAC frames share one
// PES timestamp). noPTS when even that is unknown.
func framePTS(f *astiav.Frame) int64 {
	if p := f.Pts(); p != noPTS {
		return p
	}
	return int64(C.gt_best_effort_ts(cFrame(f)))
}

// copyAudioIn copies src into one audio plane of f.
func copyAudioIn(f *astiav.Frame, plane int, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	if C.gt_copy_audio_in(cFrame(f), C.int(plane), (*C.uint8_t)(unsafe.Pointer(&src[0])), C.int(len(src))) != 0 {
		return errPlane
	}
	return nil
}
