package kernels

import (
	"math/rand/v2"
	"testing"
)

// tight is a w×h plane of bpp-byte samples, rows pad bytes of slack apart,
// whose Pix ends exactly after the last sample (so a write past it
// panics), all bytes fill.
func tight(w, h, bpp, pad int, fill byte) Plane {
	p := Plane{Width: w, Height: h, Stride: w*bpp + pad}
	if w > 0 && h > 0 {
		p.Pix = make([]byte, (h-1)*p.Stride+w*bpp)
	}
	for i := range p.Pix {
		p.Pix[i] = fill
	}
	return p
}

// FuzzKernels runs every kernel on planes of any size up to 64×64 with
// any row slack and crop, each plane exactly as long as its samples need:
// no kernel may panic, write outside its output's samples or leave one of
// them unwritten.
func FuzzKernels(f *testing.F) {
	f.Add(uint8(1), uint8(1), uint8(0), uint8(1), uint8(1), uint8(0), uint8(0), uint8(1), uint8(1), uint8(128), uint64(1))
	f.Add(uint8(5), uint8(3), uint8(7), uint8(9), uint8(2), uint8(1), uint8(1), uint8(3), uint8(2), uint8(10), uint64(2))
	f.Add(uint8(64), uint8(63), uint8(1), uint8(17), uint8(64), uint8(0), uint8(9), uint8(64), uint8(40), uint8(255), uint64(3))
	f.Fuzz(func(t *testing.T, w8, h8, pad8, dw8, dh8, cx8, cy8, cw8, ch8, k8 uint8, seed uint64) {
		w, h, pad := 1+int(w8)%64, 1+int(h8)%64, int(pad8)%17
		dw, dh := 1+int(dw8)%64, 1+int(dh8)%64
		cx, cy := int(cx8)%w, int(cy8)%h
		cw, ch := 1+int(cw8)%(w-cx), 1+int(ch8)%(h-cy)
		cwC, chC := (w+1)/2, (h+1)/2
		rng := rand.New(rand.NewPCG(seed, 1))

		src := tight(w, h, 3, pad, 0)
		for i := range src.Pix {
			src.Pix[i] = byte(rng.UintN(256))
		}
		yuv := func(fill byte) []Plane {
			return []Plane{tight(w, h, 1, pad, fill), tight(cwC, chC, 1, pad+1, fill), tight(cwC, chC, 1, pad+2, fill)}
		}
		o := poisoned(t, yuv, []int{w, cwC, cwC}, []int{h, chC, chC},
			func(o []Plane) { RGB24ToYUV420P(o[0], o[1], o[2], src) })
		y, u, v := tight(w, h, 1, pad, 0), tight(cwC, chC, 1, 3, 0), tight(cwC, chC, 1, 0, 0)
		for r := range h {
			copy(y.Pix[r*y.Stride:], o[0][r*w:(r+1)*w])
		}
		for r := range chC {
			copy(u.Pix[r*u.Stride:], o[1][r*cwC:(r+1)*cwC])
			copy(v.Pix[r*v.Stride:], o[2][r*cwC:(r+1)*cwC])
		}
		uv := tight(2*cwC, chC, 1, pad, 0)
		for r := range chC {
			for x := range cwC {
				uv.Pix[r*uv.Stride+2*x], uv.Pix[r*uv.Stride+2*x+1] = u.Pix[r*u.Stride+x], v.Pix[r*v.Stride+x]
			}
		}
		rgb := func(w, h int) func(byte) []Plane {
			return func(fill byte) []Plane { return []Plane{tight(w, h, 3, pad, fill)} }
		}
		a := poisoned(t, rgb(w, h), []int{3 * w}, []int{h}, func(o []Plane) { YUV420PToRGB24(o[0], y, u, v) })
		b := poisoned(t, rgb(w, h), []int{3 * w}, []int{h}, func(o []Plane) { NV12ToRGB24(o[0], y, uv) })
		if string(a[0]) != string(b[0]) {
			t.Fatal("NV12 and YUV420P disagree")
		}
		poisoned(t, rgb(dw, dh), []int{3 * dw}, []int{dh}, func(o []Plane) { ResizeRGB24(o[0], src, cx, cy, cw, ch) })
		g := tight(w, h, 3, pad, 0)
		copy(g.Pix, src.Pix)
		ColorGradeRGB24(g, float32(k8)/255)
		for r := range h {
			for i := 3 * w; i < g.Stride && r*g.Stride+i < len(g.Pix); i++ {
				if g.Pix[r*g.Stride+i] != src.Pix[r*src.Stride+i] {
					t.Fatal("grading wrote into the row slack")
				}
			}
		}
		tensor := make([]float32, 3*w*h)
		RGB24ToF32(tensor, src, seed&1 == 0)
	})
}
