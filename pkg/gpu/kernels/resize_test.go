package kernels

import (
	"bytes"
	"fmt"
	"testing"
)

func TestResizeRGB24(t *testing.T) {
	rng := newRand()
	for _, s := range sizes {
		t.Run(s.name+" resized to its own size is a copy", func(t *testing.T) {
			src := randPlane(rng, s.w, s.h, 3, 7, 0x11)
			got := poisoned(t, func(fill byte) []Plane { return []Plane{plane(s.w, s.h, 3, 5, fill)} },
				[]int{3 * s.w}, []int{s.h}, func(o []Plane) { ResizeRGB24(o[0], src, 0, 0, s.w, s.h) })
			if !bytes.Equal(got[0], rows(src, 3*s.w, s.h)) {
				t.Fatal("not a copy")
			}
		})
	}
	t.Run("a crop to the output's size is a copy of the rectangle", func(t *testing.T) {
		src := randPlane(rng, 37, 23, 3, 3, 0)
		for _, c := range [][4]int{{0, 0, 1, 1}, {5, 3, 10, 7}, {36, 22, 1, 1}, {1, 2, 36, 21}, {0, 11, 37, 12}} {
			cx, cy, cw, ch := c[0], c[1], c[2], c[3]
			got := poisoned(t, func(fill byte) []Plane { return []Plane{plane(cw, ch, 3, 2, fill)} },
				[]int{3 * cw}, []int{ch}, func(o []Plane) { ResizeRGB24(o[0], src, cx, cy, cw, ch) })
			var want []byte
			for y := cy; y < cy+ch; y++ {
				want = append(want, src.Pix[y*src.Stride+3*cx:y*src.Stride+3*(cx+cw)]...)
			}
			if !bytes.Equal(got[0], want) {
				t.Fatalf("crop %v is not a copy", c)
			}
		}
	})
	for _, c := range []struct {
		name string
		fill func(x, y, c int) byte
	}{
		{"a constant picture", func(x, y, c int) byte { return byte(60 + 50*c) }},
		{"a gradient", func(x, y, c int) byte { return byte(3*x + 2*y + c) }},
		{"random noise", nil},
	} {
		t.Run(c.name+" halved is the rounded mean of each 2×2 block", func(t *testing.T) {
			const w, h = 40, 30
			src := randPlane(rng, w, h, 3, 4, 0)
			if c.fill != nil {
				for y := range h {
					for x := range w {
						for ch := range 3 {
							src.Pix[y*src.Stride+3*x+ch] = c.fill(x, y, ch)
						}
					}
				}
			}
			got := poisoned(t, func(fill byte) []Plane { return []Plane{plane(w/2, h/2, 3, 1, fill)} },
				[]int{3 * w / 2}, []int{h / 2}, func(o []Plane) { ResizeRGB24(o[0], src, 0, 0, w, h) })
			for y := range h / 2 {
				for x := range w / 2 {
					for ch := range 3 {
						at := func(x, y int) int { return int(src.Pix[y*src.Stride+3*x+ch]) }
						sum := at(2*x, 2*y) + at(2*x+1, 2*y) + at(2*x, 2*y+1) + at(2*x+1, 2*y+1)
						if g := got[0][3*(y*w/2+x)+ch]; int(g) != (sum+2)>>2 {
							t.Fatalf("pixel %d,%d channel %d is %d, want %d", x, y, ch, g, (sum+2)>>2)
						}
					}
				}
			}
			if c.name == "a constant picture" {
				for i, b := range got[0] {
					if b != byte(60+50*(i%3)) {
						t.Fatalf("sample %d is %d", i, b)
					}
				}
			}
		})
	}
	for _, d := range []struct{ w, h int }{{1, 1}, {7, 5}, {100, 3}, {3, 100}, {61, 47}} {
		t.Run(fmt.Sprintf("a constant crop scaled to %dx%d stays constant, edges clamped", d.w, d.h), func(t *testing.T) {
			src := randPlane(rng, 20, 20, 3, 0, 0)
			for y := 4; y < 9; y++ {
				for x := 2; x < 13; x++ {
					copy(src.Pix[y*src.Stride+3*x:], []byte{9, 99, 199})
				}
			}
			got := poisoned(t, func(fill byte) []Plane { return []Plane{plane(d.w, d.h, 3, 3, fill)} },
				[]int{3 * d.w}, []int{d.h}, func(o []Plane) { ResizeRGB24(o[0], src, 2, 4, 11, 5) })
			for i, b := range got[0] {
				if b != []byte{9, 99, 199}[i%3] {
					t.Fatalf("sample %d is %d: something outside the crop leaked in", i, b)
				}
			}
		})
	}
	t.Run("an upscaled horizontal ramp stays monotonic and within its ends", func(t *testing.T) {
		src := plane(16, 1, 3, 0, 0)
		for x := range 16 {
			src.Pix[3*x], src.Pix[3*x+1], src.Pix[3*x+2] = byte(16*x), byte(16*x), byte(16*x)
		}
		dst := plane(61, 1, 3, 0, 0)
		ResizeRGB24(dst, src, 0, 0, 16, 1)
		for x := 1; x < 61; x++ {
			if dst.Pix[3*x] < dst.Pix[3*x-3] {
				t.Fatalf("sample %d (%d) is below sample %d (%d)", x, dst.Pix[3*x], x-1, dst.Pix[3*x-3])
			}
		}
		if dst.Pix[0] != 0 || dst.Pix[3*60] != 240 {
			t.Fatalf("ends are %d and %d, want 0 and 240", dst.Pix[0], dst.Pix[3*60])
		}
	})
	for _, c := range [][4]int{{-1, 0, 4, 4}, {0, 0, 0, 4}, {0, 0, 4, -2}, {1, 0, 20, 4}, {0, 17, 4, 4}} {
		t.Run(fmt.Sprintf("a crop %v outside the 20x20 source panics", c), func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			ResizeRGB24(plane(4, 4, 3, 0, 0), plane(20, 20, 3, 0, 0), c[0], c[1], c[2], c[3])
		})
	}
}
