package media

// A swscale context of our own: go-astiav v0.16.0 scales only between
// AVFrames, so a picture bound for (or coming from) a Go frame would need
// an extra copy through an FFmpeg buffer. sws_scale can read from or write
// to the Go frame's pixels directly for the duration of the call.

//#cgo pkg-config: libswscale libavutil
//#include <stdint.h>
//#include <libavutil/frame.h>
//#include <libswscale/swscale.h>
//
//static struct SwsContext *gt_sws_new(int sw, int sh, int sfmt, int dw, int dh, int dfmt) {
//	return sws_getContext(sw, sh, sfmt, dw, dh, dfmt, SWS_BICUBIC, NULL, NULL, NULL);
//}
//
//static int gt_sws_frame_to_packed(struct SwsContext *c, const AVFrame *src, uint8_t *dst, int dst_stride) {
//	uint8_t *d[4] = {dst, NULL, NULL, NULL};
//	int ls[4] = {dst_stride, 0, 0, 0};
//	return sws_scale(c, (const uint8_t * const *)src->data, src->linesize, 0, src->height, d, ls);
//}
//
//static int gt_sws_packed_to_frame(struct SwsContext *c, const uint8_t *src, int src_stride, int src_h, AVFrame *dst) {
//	const uint8_t *s[4] = {src, NULL, NULL, NULL};
//	int ls[4] = {src_stride, 0, 0, 0};
//	return sws_scale(c, s, ls, 0, src_h, dst->data, dst->linesize);
//}
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// scaler converts between one source and one destination geometry.
type scaler struct {
	c              *C.struct_SwsContext
	sw, sh, dw, dh int
	sf, df         astiav.PixelFormat
}

// ensure (re)creates the context when the geometry changes.
func (s *scaler) ensure(sw, sh int, sf astiav.PixelFormat, dw, dh int, df astiav.PixelFormat) error {
	if s.c != nil && s.sw == sw && s.sh == sh && s.sf == sf && s.dw == dw && s.dh == dh && s.df == df {
		return nil
	}
	s.free()
	c := C.gt_sws_new(C.int(sw), C.int(sh), C.int(sf), C.int(dw), C.int(dh), C.int(df))
	if c == nil {
		return fmt.Errorf("media: no scaler for %dx%d %v -> %dx%d %v", sw, sh, sf, dw, dh, df)
	}
	s.c, s.sw, s.sh, s.sf, s.dw, s.dh, s.df = c, sw, sh, sf, dw, dh, df
	return nil
}

// frameToPacked scales src into packed pixels in dst (rows stride apart).
func (s *scaler) frameToPacked(src *astiav.Frame, dst []byte, stride int) error {
	if len(dst) < (s.dh-1)*stride+s.dw*3 {
		return errPlane
	}
	if C.gt_sws_frame_to_packed(s.c, cFrame(src), (*C.uint8_t)(unsafe.Pointer(&dst[0])), C.int(stride)) < 0 {
		return fmt.Errorf("media: scaling failed")
	}
	return nil
}

// packedToFrame scales packed pixels (rows stride apart) into dst.
func (s *scaler) packedToFrame(src []byte, stride int, dst *astiav.Frame) error {
	if len(src) < (s.sh-1)*stride+s.sw*3 {
		return errPlane
	}
	if C.gt_sws_packed_to_frame(s.c, (*C.uint8_t)(unsafe.Pointer(&src[0])), C.int(stride), C.int(s.sh), cFrame(dst)) < 0 {
		return fmt.Errorf("media: scaling failed")
	}
	return nil
}

func (s *scaler) free() {
	if s.c != nil {
		C.sws_freeContext(s.c)
		s.c = nil
	}
}
