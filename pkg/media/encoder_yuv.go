package media

// Pictures that arrive already in YUV420P (a GPU converted them) are copied
// into the encoder's picture plane by plane; go-astiav v0.16.0 has no way
// to write an AVFrame's planes from Go.

//#cgo pkg-config: libavutil
//#include <stdint.h>
//#include <string.h>
//#include <libavutil/frame.h>
//
//// gt_copy_yuv420p_in copies a packed YUV420P picture (Y w×h, then U and V
//// of ((w+1)/2)×((h+1)/2), rows without padding) into f, which is w×h
//// yuv420p with its own buffers.
//static int gt_copy_yuv420p_in(AVFrame *f, const uint8_t *src, int w, int h) {
//	if (f->width != w || f->height != h || f->format != AV_PIX_FMT_YUV420P) return -1;
//	int cw = (w + 1) / 2, ch = (h + 1) / 2;
//	int rows[3] = {h, ch, ch}, bytes[3] = {w, cw, cw};
//	for (int p = 0; p < 3; p++) {
//		if (!f->data[p] || f->linesize[p] < bytes[p]) return -1;
//		for (int y = 0; y < rows[p]; y++) memcpy(f->data[p] + (size_t)y * f->linesize[p], src + (size_t)y * bytes[p], bytes[p]);
//		src += (size_t)rows[p] * bytes[p];
//	}
//	return 0;
//}
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// YUV420PSize is the length of a packed w×h YUV420P picture: Y w×h, then U
// and V of ⌈w/2⌉×⌈h/2⌉ each, rows without padding (gpu.Layout's YUV420P).
func YUV420PSize(w, h int) int { return w*h + 2*((w+1)/2)*((h+1)/2) }

// WriteYUV420P encodes one picture given as packed YUV420P (see
// YUV420PSize) of exactly the output size, skipping the RGB→YUV conversion
// WriteVideo does: for pictures a GPU has already converted. With no size
// configured, the first picture's fixes it and must be even. Timestamps as
// for WriteVideo.
func (e *Encoder) WriteYUV420P(pix []byte, width, height int, pts int64, tb frame.Rational) error {
	if e.closed {
		return errors.New("media: encoder is closed")
	}
	if width <= 0 || height <= 0 || width > frame.MaxDimension || height > frame.MaxDimension {
		return fmt.Errorf("media: yuv420p picture of %dx%d", width, height)
	}
	if n := YUV420PSize(width, height); len(pix) < n {
		return fmt.Errorf("media: yuv420p picture of %dx%d needs %d bytes, got %d", width, height, n, len(pix))
	}
	if e.enc == nil {
		if err := e.open(width, height); err != nil {
			e.free()
			return err
		}
	}
	if width != e.cfg.Width || height != e.cfg.Height {
		return fmt.Errorf("media: yuv420p picture of %dx%d for a %dx%d output (scale it first)", width, height, e.cfg.Width, e.cfg.Height)
	}
	if err := makeWritable(e.yuv); err != nil {
		return fmt.Errorf("media: picture buffer: %w", err)
	}
	if C.gt_copy_yuv420p_in(cFrame(e.yuv), (*C.uint8_t)(unsafe.Pointer(&pix[0])), C.int(width), C.int(height)) != 0 {
		return errPlane
	}
	return e.encodePicture(pts, tb)
}
