package kernels_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/effect"
	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/gpu/kernels"
)

// graded returns pkg/effect's ColorGrade of every value 0..255 (pixel i is
// i, i, i) at intensity k, and the kernel's at float32(k).
func graded(t *testing.T, k float64) (want, got []byte) {
	t.Helper()
	f, err := frame.NewVideo(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 256 {
		f.Pix[3*i], f.Pix[3*i+1], f.Pix[3*i+2] = byte(i), byte(i), byte(i)
	}
	got = append([]byte(nil), f.Pix...)
	var g effect.ColorGrade
	if err := g.SetIntensity(k); err != nil {
		t.Fatal(err)
	}
	if _, err := g.HandleVideo(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	kernels.ColorGradeRGB24(kernels.Plane{Pix: got, Width: 256, Height: 1, Stride: 3 * 256}, float32(k))
	return f.Pix, got
}

func TestColorGradeRGB24MatchesEffect(t *testing.T) {
	exact := []float64{0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1, 0.1, 0.3, 1.0 / 3, 0.7, 0.9}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 200 {
		exact = append(exact, float64(rng.Float32())) // float32 values
	}
	t.Run("every value at intensities float32 holds exactly is graded exactly as pkg/effect grades it", func(t *testing.T) {
		for _, k := range exact {
			k = float64(float32(k))
			want, got := graded(t, k)
			for i := range want {
				if want[i] != got[i] {
					t.Fatalf("intensity %v, value %d, channel %d: kernel %d, effect %d", k, i/3, i%3, got[i], want[i])
				}
			}
		}
	})
	t.Run("at float64 intensities float32 rounds, every value is within 1 of pkg/effect", func(t *testing.T) {
		ks := []float64{0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 1.0 / 3, 2.0 / 3, math.Pi / 4}
		for range 500 {
			ks = append(ks, rng.Float64())
		}
		off := 0
		for _, k := range ks {
			want, got := graded(t, k)
			for i := range want {
				d := int(want[i]) - int(got[i])
				if d != 0 {
					off++
				}
				if d < -1 || d > 1 {
					t.Fatalf("intensity %v, value %d, channel %d: kernel %d, effect %d", k, i/3, i%3, got[i], want[i])
				}
			}
		}
		t.Logf("%d of %d samples 1 off", off, len(ks)*768)
	})
	t.Run("grading honours the stride and leaves the slack alone", func(t *testing.T) {
		for _, s := range []struct{ w, h, pad int }{{1, 1, 0}, {3, 5, 7}, {17, 4, 1}} {
			stride := 3*s.w + s.pad
			pix := make([]byte, s.h*stride+5)
			for i := range pix {
				pix[i] = byte(i * 37)
			}
			orig := append([]byte(nil), pix...)
			kernels.ColorGradeRGB24(kernels.Plane{Pix: pix, Width: s.w, Height: s.h, Stride: stride}, 0.5)
			for i := range pix {
				y, x := i/stride, i%stride
				inside := y < s.h && x < 3*s.w
				if !inside && pix[i] != orig[i] {
					t.Fatalf("%v: byte %d outside the picture changed", s, i)
				}
				if inside && orig[i] > 20 && pix[i] == orig[i] && x%3 != 0 {
					t.Fatalf("%v: sample %d (%d) was not graded", s, i, orig[i])
				}
			}
		}
	})
}

func ExampleColorGradeRGB24() {
	p := kernels.Plane{Pix: []byte{200, 200, 200}, Width: 1, Height: 1, Stride: 3}
	kernels.ColorGradeRGB24(p, 0.5)
	fmt.Println(p.Pix)
	// Output: [197 175 149]
}
