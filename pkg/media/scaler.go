package media

// A swscale context of our own: go-astiav v0.16.0 scales only between
// AVFrames, so a picture bound for (or coming from) a Go frame would need
// an extra copy through an FFmpeg buffer. sws_scale can read from or write
// to the Go frame's pixels directly for the duration of the call.

//#cgo pkg-config: libswscale libavutil
//#include <stdint.h>
//#include <libavutil/frame.h>
//#include <libavutil/opt.h>
//#include <libswscale/swscale.h>
//
//static struct SwsContext *gt_sws_new(int sw, int sh, int sfmt, int dw, int dh, int dfmt, int threads) {
//	struct SwsContext *c = sws_alloc_context();
//	if (!c) return NULL;
//	if (av_opt_set_int(c, "srcw", sw, 0) < 0 || av_opt_set_int(c, "srch", sh, 0) < 0 ||
//	    av_opt_set_int(c, "src_format", sfmt, 0) < 0 || av_opt_set_int(c, "dstw", dw, 0) < 0 ||
//	    av_opt_set_int(c, "dsth", dh, 0) < 0 || av_opt_set_int(c, "dst_format", dfmt, 0) < 0 ||
//	    av_opt_set_int(c, "sws_flags", SWS_BICUBIC, 0) < 0 || av_opt_set_int(c, "threads", threads, 0) < 0 ||
//	    sws_init_context(c, NULL, NULL) < 0) {
//		sws_freeContext(c);
//		return NULL;
//	}
//	return c;
//}
//
//static void gt_keep(void *opaque, uint8_t *data) {}
//
//// gt_wrap points f at caller-owned packed pixels. The buffer reference
//// frees nothing, and every reference to it is gone when the scaling call
//// that uses it returns (sws_scale_frame unreferences both frames).
//static int gt_wrap(AVFrame *f, uint8_t *pix, int stride, int w, int h, int fmt) {
//	av_frame_unref(f);
//	f->buf[0] = av_buffer_create(pix, stride * h, gt_keep, NULL, 0);
//	if (!f->buf[0]) return AVERROR(ENOMEM);
//	f->data[0] = pix;
//	f->linesize[0] = stride;
//	f->width = w;
//	f->height = h;
//	f->format = fmt;
//	return 0;
//}
//
//// sws_scale_frame rather than sws_scale: only the frame API runs the
//// context's slice threads (FFmpeg 5.1).
//static int gt_sws_frame_to_packed(struct SwsContext *c, AVFrame *tmp, const AVFrame *src, uint8_t *dst, int dst_stride, int w, int h) {
//	int ret = gt_wrap(tmp, dst, dst_stride, w, h, AV_PIX_FMT_RGB24);
//	if (ret >= 0) ret = sws_scale_frame(c, tmp, src);
//	av_frame_unref(tmp);
//	return ret;
//}
//
//static int gt_sws_packed_to_frame(struct SwsContext *c, AVFrame *tmp, uint8_t *src, int src_stride, int w, int h, AVFrame *dst) {
//	int ret = gt_wrap(tmp, src, src_stride, w, h, AV_PIX_FMT_RGB24);
//	if (ret >= 0) ret = sws_scale_frame(c, dst, tmp);
//	av_frame_unref(tmp);
//	return ret;
//}
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/asticode/go-astiav"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// scaler converts between one source and one destination geometry.
// threads is its slice-thread count, fixed before first use; 0 means one
// per core, as the ffmpeg CLI's scale filter does.
type scaler struct {
	threads        int
	c              *C.struct_SwsContext
	tmp            *C.AVFrame // wraps the Go side's pixels for one call
	scratch        []byte     // a padded copy, for pixels without FFmpeg's padding
	sw, sh, dw, dh int
	sf, df         astiav.PixelFormat
}

// ensure (re)creates the context when the geometry changes.
func (s *scaler) ensure(sw, sh int, sf astiav.PixelFormat, dw, dh int, df astiav.PixelFormat) error {
	if s.c != nil && s.sw == sw && s.sh == sh && s.sf == sf && s.dw == dw && s.dh == dh && s.df == df {
		return nil
	}
	s.free()
	c := C.gt_sws_new(C.int(sw), C.int(sh), C.int(sf), C.int(dw), C.int(dh), C.int(df), C.int(s.threads))
	if c == nil {
		return fmt.Errorf("media: no scaler for %dx%d %v -> %dx%d %v", sw, sh, sf, dw, dh, df)
	}
	if s.tmp = C.av_frame_alloc(); s.tmp == nil {
		C.sws_freeContext(c)
		return fmt.Errorf("media: no memory for a scaler frame")
	}
	s.c, s.sw, s.sh, s.sf, s.dw, s.dh, s.df = c, sw, sh, sf, dw, dh, df
	return nil
}

// ffPadding is the slack FFmpeg's SIMD code may read or write past the
// last pixel of a picture; frames from pkg/frame carry it, for others the
// scaler goes through a padded copy.
const ffPadding = frame.PixPadding

// padded returns buf when it has ffPadding bytes of capacity past need,
// else the scaler's scratch buffer (need bytes long, padded).
func (s *scaler) padded(buf []byte, need int) ([]byte, bool) {
	if cap(buf)-need >= ffPadding {
		return buf, true
	}
	if cap(s.scratch) < need+ffPadding {
		s.scratch = make([]byte, need+ffPadding)
	}
	return s.scratch[:need], false
}

// frameToPacked scales src into packed pixels in dst (rows stride apart).
//
// Unscaled, swscale's x86 YUV→RGB converter works in blocks of 8 pixels
// and, when a block of 8 would run past the row's stride, leaves the last
// width%8 pixels of every row unwritten (FFmpeg 5.1,
// libswscale/x86/yuv2rgb_template.c): an 854-wide picture kept at its size
// came out with 6 black columns. Such rows go through a scratch picture
// whose stride has room for the whole last block and its spill, and are
// copied out.
func (s *scaler) frameToPacked(src *astiav.Frame, dst []byte, stride int) error {
	need := (s.dh-1)*stride + s.dw*3
	if len(dst) < need {
		return errPlane
	}
	outStride := stride
	if s.sw == s.dw && s.sh == s.dh && stride < 3*((s.dw+7)&^7) {
		// The SIMD stores of the last block also run a few bytes past
		// it, and slice threads write rows out of order: a row's spill
		// must not reach the next row.
		outStride = 3*((s.dw+7)&^7) + ffPadding
	}
	var out []byte
	direct := outStride == stride
	if direct {
		out, direct = s.padded(dst, need)
	} else {
		n := (s.dh-1)*outStride + s.dw*3
		if cap(s.scratch) < n+ffPadding {
			s.scratch = make([]byte, n+ffPadding)
		}
		out = s.scratch[:n]
	}
	if ret := C.gt_sws_frame_to_packed(s.c, s.tmp, cFrame(src), (*C.uint8_t)(unsafe.Pointer(&out[0])), C.int(outStride),
		C.int(s.dw), C.int(s.dh)); ret < 0 {
		return fmt.Errorf("media: scaling: %w", astiav.Error(ret))
	}
	switch {
	case direct:
	case outStride == stride:
		copy(dst[:need], out)
	default:
		row := 3 * s.dw
		for y := range s.dh {
			copy(dst[y*stride:y*stride+row], out[y*outStride:y*outStride+row])
		}
	}
	return nil
}

// packedToFrame scales packed pixels (rows stride apart) into dst.
func (s *scaler) packedToFrame(src []byte, stride int, dst *astiav.Frame) error {
	need := (s.sh-1)*stride + s.sw*3
	if len(src) < need {
		return errPlane
	}
	in, direct := s.padded(src, need)
	if !direct {
		copy(in, src[:need])
	}
	if ret := C.gt_sws_packed_to_frame(s.c, s.tmp, (*C.uint8_t)(unsafe.Pointer(&in[0])), C.int(stride),
		C.int(s.sw), C.int(s.sh), cFrame(dst)); ret < 0 {
		return fmt.Errorf("media: scaling: %w", astiav.Error(ret))
	}
	return nil
}

func (s *scaler) free() {
	if s.c != nil {
		C.sws_freeContext(s.c)
		s.c = nil
	}
	if s.tmp != nil {
		C.av_frame_free(&s.tmp)
	}
}
