package kernels

import (
	"fmt"
	"math"
	"testing"
)

func TestRGB24ToF32(t *testing.T) {
	rng := newRand()
	for _, s := range sizes {
		for _, planar := range []bool{true, false} {
			layout := map[bool]string{true: "planar", false: "packed"}[planar]
			t.Run(fmt.Sprintf("%s becomes %s float32 b/255, every sample written", s.name, layout), func(t *testing.T) {
				src := randPlane(rng, s.w, s.h, 3, 9, 0)
				n := s.w * s.h
				for _, poison := range []float32{float32(math.NaN()), -7} {
					dst := make([]float32, 3*n+5)
					for i := range dst {
						dst[i] = poison
					}
					RGB24ToF32(dst, src, planar)
					for i := 3 * n; i < len(dst); i++ {
						if !same(dst[i], poison) {
							t.Fatalf("float %d past the tensor was written", i)
						}
					}
					for y := range s.h {
						for x := range s.w {
							for c := range 3 {
								i := 3*(y*s.w+x) + c
								if planar {
									i = c*n + y*s.w + x
								}
								want := float32(src.Pix[y*src.Stride+3*x+c]) / 255
								if dst[i] != want {
									t.Fatalf("pixel %d,%d channel %d is %v, want %v", x, y, c, dst[i], want)
								}
							}
						}
					}
				}
			})
		}
	}
	t.Run("the ends of the range are exactly 0 and 1", func(t *testing.T) {
		src := Plane{Pix: []byte{0, 255, 128}, Width: 1, Height: 1, Stride: 3}
		dst := make([]float32, 3)
		RGB24ToF32(dst, src, true)
		if dst[0] != 0 || dst[1] != 1 {
			t.Fatalf("got %v", dst)
		}
	})
	t.Run("a tensor too short panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Fatal("no panic")
			}
		}()
		RGB24ToF32(make([]float32, 11), plane(2, 2, 3, 0, 0), false)
	})
}

func same(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }
