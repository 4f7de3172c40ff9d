// kernels.cu: the CUDA side of package kernels (see kernels.go). Each
// kernel mirrors its Go reference's arithmetic exactly (the same integer
// formulas; float64/float32 operations individually rounded), runs one
// thread per output unit (Table in kernels.go) with x, y from blockIdx,
// blockDim and threadIdx, and returns at once outside the output. Strides
// are in bytes. make-ptx.sh compiles it to kernels.ptx.
#include "cuda_compat.h"

typedef unsigned char u8;
typedef long long i64;

static __device__ __forceinline__ u8 clamp8(int v) {
	return (u8)(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// yuv.go: yuvToRGB (swscale's x86 yuv2rgb arithmetic).
static __device__ __forceinline__ void yuv_to_rgb(int yy, int uu, int vv, u8 *d) {
	int y = ((yy * 8 - 128) * 9539) >> 16;
	int u = uu * 8 - 1024;
	int v = vv * 8 - 1024;
	d[0] = clamp8(y + ((v * 13075) >> 16));
	d[1] = clamp8(y + ((u * -3209) >> 16) + ((v * -6660) >> 16));
	d[2] = clamp8(y + ((u * 16525) >> 16));
}

extern "C" __global__ void yuv420p_to_rgb24(u8 *dst, int dstStride, const u8 *y, int yStride,
		const u8 *u, int uStride, const u8 *v, int vStride, int width, int height) {
	int x = GT_TID_X, r = GT_TID_Y;
	if (x >= width || r >= height) return;
	i64 c = (i64)(r >> 1);
	yuv_to_rgb(y[(i64)r * yStride + x], u[c * uStride + (x >> 1)], v[c * vStride + (x >> 1)],
		dst + (i64)r * dstStride + 3 * (i64)x);
}

extern "C" __global__ void nv12_to_rgb24(u8 *dst, int dstStride, const u8 *y, int yStride,
		const u8 *uv, int uvStride, int width, int height) {
	int x = GT_TID_X, r = GT_TID_Y;
	if (x >= width || r >= height) return;
	const u8 *c = uv + (i64)(r >> 1) * uvStride + (x & ~1);
	yuv_to_rgb(y[(i64)r * yStride + x], c[0], c[1], dst + (i64)r * dstStride + 3 * (i64)x);
}

// yuv.go: rgbToY, rgbToUV (swscale's luma; chroma of the 2×2 mean).
static __device__ __forceinline__ u8 rgb_to_y(int r, int g, int b) {
	int s = 8414 * r + 16519 * g + 3208 * b;
	return clamp8((((s + (32 << 14) + (1 << 8)) >> 9) + 32) >> 6);
}

extern "C" __global__ void rgb24_to_yuv420p(u8 *y, int yStride, u8 *u, int uStride, u8 *v,
		int vStride, const u8 *src, int srcStride, int width, int height) {
	int bx = GT_TID_X, by = GT_TID_Y;
	if (bx >= (width + 1) >> 1 || by >= (height + 1) >> 1) return;
	int nx = width - 2 * bx < 2 ? 1 : 2, ny = height - 2 * by < 2 ? 1 : 2;
	int rs = 0, gs = 0, bs = 0;
	for (int dy = 0; dy < ny; dy++) {
		i64 row = 2 * by + dy;
		const u8 *s = src + row * srcStride + 6 * (i64)bx;
		u8 *yd = y + row * yStride + 2 * (i64)bx;
		for (int dx = 0; dx < nx; dx++) {
			int r = s[3 * dx], g = s[3 * dx + 1], b = s[3 * dx + 2];
			yd[dx] = rgb_to_y(r, g, b);
			rs += r;
			gs += g;
			bs += b;
		}
	}
	int sh = 15 + (nx == 2) + (ny == 2);
	int half = (128 << sh) + (1 << (sh - 1));
	u[(i64)by * uStride + bx] = clamp8((-4857 * rs - 9535 * gs + 14392 * bs + half) >> sh);
	v[(i64)by * vStride + bx] = clamp8((14392 * rs - 12052 * gs - 2340 * bs + half) >> sh);
}

// resize.go: resizeTap.
static __device__ __forceinline__ int resize_tap(int i, int n, int m, int *i1) {
	i64 pos = ((i64)(2 * i + 1) * (i64)n * 128) / (i64)m - 128;
	if (pos < 0) pos = 0;
	if (pos > (i64)(n - 1) * 256) pos = (i64)(n - 1) * 256;
	int i0 = (int)(pos >> 8);
	*i1 = i0 + 1 < n ? i0 + 1 : n - 1;
	return (i0 << 8) | (int)(pos & 255);
}

extern "C" __global__ void resize_rgb24(u8 *dst, int dstStride, int dstWidth, int dstHeight,
		const u8 *src, int srcStride, int cx, int cy, int cw, int ch) {
	int x = GT_TID_X, y = GT_TID_Y;
	if (x >= dstWidth || y >= dstHeight || cw <= 0 || ch <= 0) return;
	int x1, y1;
	int tx = resize_tap(x, cw, dstWidth, &x1), ty = resize_tap(y, ch, dstHeight, &y1);
	int x0 = tx >> 8, fx = tx & 255, y0 = ty >> 8, fy = ty & 255;
	const u8 *r0 = src + (i64)(cy + y0) * srcStride + 3 * (i64)cx;
	const u8 *r1 = src + (i64)(cy + y1) * srcStride + 3 * (i64)cx;
	u8 *d = dst + (i64)y * dstStride + 3 * (i64)x;
	for (int c = 0; c < 3; c++) {
		int a = (r0[3 * x0 + c] * (256 - fx) + r0[3 * x1 + c] * fx) * (256 - fy);
		int b = (r1[3 * x0 + c] * (256 - fx) + r1[3 * x1 + c] * fx) * fy;
		d[c] = (u8)((a + b + 32768) >> 16);
	}
}

// tensor.go: rgb24ToF32.
extern "C" __global__ void rgb24_to_f32(float *dst, const u8 *src, int srcStride, int width,
		int height, int planar) {
	int x = GT_TID_X, y = GT_TID_Y;
	if (x >= width || y >= height) return;
	const u8 *s = src + (i64)y * srcStride + 3 * (i64)x;
	i64 n = (i64)width * height, i = (i64)y * width + x;
	for (int c = 0; c < 3; c++) {
		float v = GT_FDIV((float)s[c], 255.0f);
		if (planar)
			dst[c * n + i] = v;
		else
			dst[3 * i + c] = v;
	}
}

// grade.go: grade8, gradeRGB (pkg/effect.ColorGrade's curves).
static __device__ __forceinline__ u8 grade8(double v) {
	v = v < 1.0 ? v : 1.0;
	v = v > 0.0 ? v : 0.0;
	v = GT_DMUL(v, 255.0);
	int t = (int)v; // truncates; v >= 0, so v - t is exact
	return (u8)(v - (double)t >= 0.5 ? t + 1 : t);
}

extern "C" __global__ void colorgrade_rgb24(u8 *p, int stride, int width, int height,
		float intensity) {
	int x = GT_TID_X, y = GT_TID_Y;
	if (x >= width || y >= height) return;
	u8 *d = p + (i64)y * stride + 3 * (i64)x;
	double k = (double)intensity;
	double q = GT_DDIV(k, 4.0);
	double dark = GT_DADD(1.0, -q);
	double fr = GT_DADD(1.0, q);
	double fb = GT_DMUL(dark, GT_DADD(1.0, -GT_DMUL(0.3, k)));
	double vr = GT_DDIV((double)d[0], 255.0);
	double vg = GT_DDIV((double)d[1], 255.0);
	double vb = GT_DDIV((double)d[2], 255.0);
	double r = GT_DMUL(fr, vr);
	r = r < 1.0 ? r : 1.0;
	d[0] = grade8(GT_DMUL(dark, r));
	d[1] = grade8(GT_DMUL(dark, vg));
	d[2] = grade8(GT_DMUL(fb, vb));
}
