package kernels

import "testing"

// The Go references at 1080p, the CPU side of make bench-gpu's kernel
// chain (NV12 → RGB → grade → YUV420P) and its parts.
func BenchmarkKernels1080p(b *testing.B) {
	const w, h = 1920, 1080
	rng := newRand()
	y := randPlane(rng, w, h, 1, 0, 0)
	uv := randPlane(rng, w, h/2, 1, 0, 0)
	u, v := randPlane(rng, w/2, h/2, 1, 0, 0), randPlane(rng, w/2, h/2, 1, 0, 0)
	rgb := plane(w, h, 3, 0, 0)
	small := plane(640, 360, 3, 0, 0)
	tensor := make([]float32, 3*w*h)
	b.Run("nv12_to_rgb24", func(b *testing.B) {
		for b.Loop() {
			NV12ToRGB24(rgb, y, uv)
		}
	})
	b.Run("yuv420p_to_rgb24", func(b *testing.B) {
		for b.Loop() {
			YUV420PToRGB24(rgb, y, u, v)
		}
	})
	b.Run("colorgrade_rgb24", func(b *testing.B) {
		for b.Loop() {
			ColorGradeRGB24(rgb, 0.5)
		}
	})
	b.Run("rgb24_to_yuv420p", func(b *testing.B) {
		for b.Loop() {
			RGB24ToYUV420P(y, u, v, rgb)
		}
	})
	b.Run("resize_rgb24 to 640x360", func(b *testing.B) {
		for b.Loop() {
			ResizeRGB24(small, rgb, 0, 0, w, h)
		}
	})
	b.Run("rgb24_to_f32 planar", func(b *testing.B) {
		for b.Loop() {
			RGB24ToF32(tensor, rgb, true)
		}
	})
	b.Run("chain nv12 → rgb → grade → yuv420p", func(b *testing.B) {
		for b.Loop() {
			NV12ToRGB24(rgb, y, uv)
			ColorGradeRGB24(rgb, 0.5)
			RGB24ToYUV420P(y, u, v, rgb)
		}
	})
}
