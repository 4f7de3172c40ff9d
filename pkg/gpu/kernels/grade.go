package kernels

import "math"

// colorGradeRGB24 is ColorGradeRGB24. It computes pkg/effect.ColorGrade's
// curves in float64 with the same operations in the same order, with
//
//	k = float64(intensity), v = i/255, dark = 1 − k/4
//	R = dark · min(1, (1 + k/4)·v)
//	G = dark · v
//	B = (dark · (1 − 0.3·k)) · v
//
// each clamped to [0, 1], times 255, rounded half away from zero. The
// explicit float64 conversions forbid fused multiply-adds (which Go may
// use on arm64 and nvcc/clang would use on the GPU); the CUDA kernel uses
// __dmul_rn/__dadd_rn/__ddiv_rn for the same reason, so both round every
// operation and agree exactly. It builds the three 256-entry tables once
// per call (the GPU recomputes per pixel). At an intensity that float32
// represents exactly the output equals ColorGrade's; for others k differs
// from ColorGrade's float64 by under 2^-24 relative, which can move a
// value lying on a rounding boundary by 1 (the tests bound this).
func colorGradeRGB24(p Plane, intensity float32) {
	w, h := size("p", p)
	span("p", p, 3*w, h)
	if w == 0 || h == 0 {
		return
	}
	var lr, lg, lb [256]byte
	for i := range 256 {
		lr[i], lg[i], lb[i] = gradeRGB(float64(intensity), byte(i))
	}
	for y := range h {
		row := p.Pix[y*p.Stride : y*p.Stride+3*w]
		for x := 0; x < len(row); x += 3 {
			row[x], row[x+1], row[x+2] = lr[row[x]], lg[row[x+1]], lb[row[x+2]]
		}
	}
}

// gradeRGB grades the value i of each channel at intensity k.
func gradeRGB(k float64, i byte) (r, g, b byte) {
	v := float64(i) / 255
	q := float64(k / 4)
	dark := float64(1 - q)
	rv := float64(dark * math.Min(1, float64(float64(1+q)*v)))
	gv := float64(dark * v)
	bv := float64(float64(dark*float64(1-float64(0.3*k))) * v)
	return grade8(rv), grade8(gv), grade8(bv)
}

func grade8(v float64) byte {
	return byte(math.Round(float64(math.Max(0, math.Min(1, v)) * 255)))
}
