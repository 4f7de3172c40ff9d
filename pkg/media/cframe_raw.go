package media

// Picture planes for raw frames (raw.go, hwaccel.go). go-astiav v0.16.0
// gives no access to a picture's data pointers or line sizes, nor to the
// software format behind a hardware frame; these helpers do, with the
// bounds checks the Go side cannot make.

//#cgo pkg-config: libavutil
//#include <stdint.h>
//#include <string.h>
//#include <libavutil/frame.h>
//#include <libavutil/hwcontext.h>
//#include <libavutil/pixdesc.h>
//
//// gt_copy_plane copies rows rows of row_bytes bytes of plane into dst
//// (rows dst_stride apart): FFmpeg's rows are padded to linesize.
//static int gt_copy_plane(const AVFrame *f, int plane, uint8_t *dst, int dst_stride, int row_bytes, int rows) {
//	if (plane < 0 || plane >= AV_NUM_DATA_POINTERS || !f->data[plane] || row_bytes < 0 || rows < 0 ||
//	    f->linesize[plane] < row_bytes || dst_stride < row_bytes) return -1;
//	const uint8_t *src = f->data[plane];
//	int ls = f->linesize[plane];
//	if (ls == row_bytes && dst_stride == row_bytes) {
//		memcpy(dst, src, (size_t)row_bytes * rows);
//		return 0;
//	}
//	for (int y = 0; y < rows; y++) memcpy(dst + (size_t)y * dst_stride, src + (size_t)y * ls, row_bytes);
//	return 0;
//}
//
//// gt_plane_addr is a plane's address: a device address for a hardware
//// frame (AV_PIX_FMT_CUDA keeps CUdeviceptr values in data[]).
//static uintptr_t gt_plane_addr(const AVFrame *f, int plane) {
//	if (plane < 0 || plane >= AV_NUM_DATA_POINTERS) return 0;
//	return (uintptr_t)f->data[plane];
//}
//
//// gt_hw_sw_format is the format of the pictures behind a hardware frame,
//// or AV_PIX_FMT_NONE for a software one.
//static int gt_hw_sw_format(const AVFrame *f) {
//	if (!f->hw_frames_ctx) return AV_PIX_FMT_NONE;
//	return ((const AVHWFramesContext *)f->hw_frames_ctx->data)->sw_format;
//}
//
//static int gt_pix_fmt_is_hw(int fmt) {
//	const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(fmt);
//	return d && (d->flags & AV_PIX_FMT_FLAG_HWACCEL);
//}
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/asticode/go-astiav"

	"github.com/gotrickle/gotrickle/pkg/gpu"
)

// packPlanes copies the planes of a w×h picture f of format pf (YUV420P or
// NV12, matching f's own) into dst, packed as gpu.Layout gives them.
func packPlanes(f *astiav.Frame, pf gpu.Format, w, h int, dst []byte) error {
	planes, size, err := gpu.Layout(pf, w, h)
	if err != nil {
		return err
	}
	if len(dst) < size {
		return errPlane
	}
	n := 3
	if pf == gpu.NV12 {
		n = 2
	}
	for i := range n {
		rows := h
		if i > 0 {
			rows = (h + 1) / 2
		}
		p := planes[i]
		if C.gt_copy_plane(cFrame(f), C.int(i), (*C.uint8_t)(unsafe.Pointer(&dst[p.Offset])), C.int(p.Stride),
			C.int(p.Stride), C.int(rows)) != 0 {
			return fmt.Errorf("%w: %v plane %d of a %dx%d picture", errPlane, pf, i, w, h)
		}
	}
	return nil
}

// planeAddr is the address in f.data[plane].
func planeAddr(f *astiav.Frame, plane int) uintptr {
	return uintptr(C.gt_plane_addr(cFrame(f), C.int(plane)))
}

// hwSWFormat is the software format behind a hardware frame
// (PixelFormatNone for a software frame).
func hwSWFormat(f *astiav.Frame) astiav.PixelFormat {
	return astiav.PixelFormat(C.gt_hw_sw_format(cFrame(f)))
}

// isHWFormat reports whether p is a hardware pixel format (its pictures
// are surfaces of a device, not pixels).
func isHWFormat(p astiav.PixelFormat) bool { return C.gt_pix_fmt_is_hw(C.int(p)) != 0 }
