// Package kernels holds the image kernels of gotrickle's GPU frame path,
// twice: as CUDA C (kernels.cu, compiled to the PTX embedded in
// kernels.ptx) and as Go reference implementations with the same
// arithmetic, which the CPU build runs and the GPU tests compare against.
// It is pure Go.
//
// Every kernel works on 8-bit planes (Plane) or float32 tensors and runs
// one GPU thread per output unit (Table): x = blockIdx.x*blockDim.x +
// threadIdx.x, y likewise, threads outside the output return at once. The
// CUDA parameter order of each kernel is given in its Go function's
// documentation; pointers are device pointers, strides are in bytes, ints
// are 32-bit, floats 32-bit.
package kernels

// Plane is an 8-bit image plane: Height rows of Width samples (×3 for
// packed RGB24), row r starting at Pix[r*Stride].
type Plane struct {
	Pix           []byte
	Width, Height int
	Stride        int
}

// Unit says what one GPU thread computes.
type Unit int

const (
	// PerPixel: one thread per output pixel.
	PerPixel Unit = iota
	// Per2x2: one thread per 2×2 block of output luma pixels (the chroma
	// sample they share).
	Per2x2
)

// Kernel names a kernel in the PTX and says how it is launched.
type Kernel struct {
	Name string // the PTX entry (extern "C", unmangled)
	Unit Unit
}

// Table lists every kernel in the PTX.
var Table = []Kernel{
	{"yuv420p_to_rgb24", PerPixel},
	{"nv12_to_rgb24", PerPixel},
	{"rgb24_to_yuv420p", Per2x2},
	{"resize_rgb24", PerPixel},
	{"rgb24_to_f32", PerPixel},
	{"colorgrade_rgb24", PerPixel},
}

// YUV420PToRGB24 converts planar YUV 4:2:0 (BT.601, limited range, as
// FFmpeg's swscale does by default) to packed RGB24 of y's size. Width and
// height may be odd; chroma is y's size rounded up, halved.
//
// CUDA: yuv420p_to_rgb24(u8* dst, int dstStride, const u8* y, int yStride,
// const u8* u, int uStride, const u8* v, int vStride, int width, int height)
func YUV420PToRGB24(dst, y, u, v Plane) { yuv420pToRGB24(dst, y, u, v) }

// NV12ToRGB24 is YUV420PToRGB24 for NV12 (interleaved U, V), NVDEC's
// output format.
//
// CUDA: nv12_to_rgb24(u8* dst, int dstStride, const u8* y, int yStride,
// const u8* uv, int uvStride, int width, int height)
func NV12ToRGB24(dst, y, uv Plane) { nv12ToRGB24(dst, y, uv) }

// RGB24ToYUV420P converts packed RGB24 to planar YUV 4:2:0 (BT.601,
// limited range) for the encoder; each chroma sample is the mean of its
// 2×2 block (the pixels that exist, at odd edges).
//
// CUDA: rgb24_to_yuv420p(u8* y, int yStride, u8* u, int uStride, u8* v,
// int vStride, const u8* src, int srcStride, int width, int height)
func RGB24ToYUV420P(y, u, v, src Plane) { rgb24ToYUV420P(y, u, v, src) }

// ResizeRGB24 scales the crop rectangle (cx, cy, cw, ch) of src to dst's
// size, bilinear, sampling at pixel centres.
//
// CUDA: resize_rgb24(u8* dst, int dstStride, int dstWidth, int dstHeight,
// const u8* src, int srcStride, int cx, int cy, int cw, int ch)
func ResizeRGB24(dst, src Plane, cx, cy, cw, ch int) { resizeRGB24(dst, src, cx, cy, cw, ch) }

// RGB24ToF32 converts RGB24 to float32 in [0, 1]: planar (3×H×W, what
// models take) or packed (H×W×3, PyTrickle's tensor layout).
//
// CUDA: rgb24_to_f32(float* dst, const u8* src, int srcStride, int width,
// int height, int planar)
func RGB24ToF32(dst []float32, src Plane, planar bool) { rgb24ToF32(dst, src, planar) }

// ColorGradeRGB24 grades p in place exactly as pkg/effect's ColorGrade
// does at the given intensity (0..1).
//
// CUDA: colorgrade_rgb24(u8* p, int stride, int width, int height, float intensity)
func ColorGradeRGB24(p Plane, intensity float32) { colorGradeRGB24(p, intensity) }
