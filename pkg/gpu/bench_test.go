package gpu

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/gpu/kernels"
)

// BenchmarkChain1080p is make bench-gpu's figure: a 1080p frame through
// NV12 → RGB24 → colour grade → YUV420P, on the device this build opens
// (cuda on a GPU build with a device, else cpu), with and without the
// copies a frame path pays (NV12 up, YUV420P down), beside the Go
// reference kernels called directly on host memory in the same run. Issue
// 8's target on an H100 is 2000 frames/s for the on-device chain.
func BenchmarkChain1080p(b *testing.B) {
	const w, h = 1920, 1080
	ctx := context.Background()
	dev, err := Open(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer dev.Close()
	s, err := dev.NewStream()
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	nv12, err := dev.NewImage(NV12, w, h)
	if err != nil {
		b.Fatal(err)
	}
	rgb, _ := dev.NewImage(RGB24, w, h)
	yuv, _ := dev.NewImage(YUV420P, w, h)
	in := make([]byte, nv12.Buf.Len())
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range in {
		in[i] = byte(rng.Uint32())
	}
	out := make([]byte, yuv.Buf.Len())
	if err := s.Upload(ctx, nv12.Buf, in); err != nil {
		b.Fatal(err)
	}
	chain := func() {
		if err := s.NV12ToRGB(rgb, nv12); err != nil {
			b.Fatal(err)
		}
		if err := s.ColorGrade(rgb, 0.5); err != nil {
			b.Fatal(err)
		}
		if err := s.RGBToYUV420P(yuv, rgb); err != nil {
			b.Fatal(err)
		}
	}
	fps := func(b *testing.B, start time.Time) {
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "frames/s")
	}
	b.Run("device="+string(dev.Kind()), func(b *testing.B) {
		start := time.Now()
		for b.Loop() {
			chain()
		}
		if err := s.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		fps(b, start)
	})
	b.Run("device="+string(dev.Kind())+"+copies", func(b *testing.B) {
		b.SetBytes(int64(len(in) + len(out)))
		start := time.Now()
		for b.Loop() {
			if err := s.Upload(ctx, nv12.Buf, in); err != nil {
				b.Fatal(err)
			}
			chain()
			if err := s.Download(ctx, out, yuv.Buf); err != nil {
				b.Fatal(err)
			}
		}
		fps(b, start)
	})
	b.Run("host-reference", func(b *testing.B) {
		y := kernels.Plane{Pix: in[:w*h], Width: w, Height: h, Stride: w}
		uv := kernels.Plane{Pix: in[w*h:], Width: w / 2, Height: h / 2, Stride: w}
		hrgb := kernels.Plane{Pix: make([]byte, 3*w*h), Width: w, Height: h, Stride: 3 * w}
		hy := kernels.Plane{Pix: make([]byte, w*h), Width: w, Height: h, Stride: w}
		hu := kernels.Plane{Pix: make([]byte, w*h/4), Width: w / 2, Height: h / 2, Stride: w / 2}
		hv := kernels.Plane{Pix: make([]byte, w*h/4), Width: w / 2, Height: h / 2, Stride: w / 2}
		start := time.Now()
		for b.Loop() {
			kernels.NV12ToRGB24(hrgb, y, uv)
			kernels.ColorGradeRGB24(hrgb, 0.5)
			kernels.RGB24ToYUV420P(hy, hu, hv, hrgb)
		}
		fps(b, start)
	})
}
