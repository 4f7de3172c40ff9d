package kernels

import "fmt"

// resizeRGB24 is ResizeRGB24. Output pixel x samples the crop at
// sx = (x + ½)·cw/dw − ½, clamped to [0, cw−1] (likewise y), in fixed
// point with 8 fractional bits: pos = ⌊(2x+1)·cw·128 / dw⌋ − 128, in 64
// bits. The four neighbours are weighted (256−f, f) per axis and the sum
// rounded once (>> 16). Same size gives f = 0 (a copy); an exact 2×
// downscale gives f = ½ (the rounded mean of each 2×2 block). The crop
// must lie inside src; it panics otherwise, and when a plane is too small.
// An empty dst is a no-op.
func resizeRGB24(dst, src Plane, cx, cy, cw, ch int) {
	dw, dh := size("dst", dst)
	sw, sh := size("src", src)
	if dw == 0 || dh == 0 {
		return
	}
	if cx < 0 || cy < 0 || cw <= 0 || ch <= 0 || cx+cw > sw || cy+ch > sh {
		panic(fmt.Sprintf("kernels: crop %d,%d %dx%d is not inside the %dx%d source", cx, cy, cw, ch, sw, sh))
	}
	span("src", src, 3*sw, sh)
	span("dst", dst, 3*dw, dh)
	for y := range dh {
		y0, y1, fy := resizeTap(y, ch, dh)
		r0 := src.Pix[(cy+y0)*src.Stride+3*cx:]
		r1 := src.Pix[(cy+y1)*src.Stride+3*cx:]
		d := dst.Pix[y*dst.Stride : y*dst.Stride+3*dw]
		for x := range dw {
			x0, x1, fx := resizeTap(x, cw, dw)
			for c := range 3 {
				a := (int32(r0[3*x0+c])*(256-fx) + int32(r0[3*x1+c])*fx) * (256 - fy)
				b := (int32(r1[3*x0+c])*(256-fx) + int32(r1[3*x1+c])*fx) * fy
				d[3*x+c] = byte((a + b + 32768) >> 16)
			}
		}
	}
}

// resizeTap returns the two source indices (in 0..n−1) and the weight of
// the second (0..255) for output index i of m.
func resizeTap(i, n, m int) (i0, i1 int, f int32) {
	pos := (int64(2*i+1)*int64(n)*128)/int64(m) - 128
	if pos < 0 {
		pos = 0
	}
	if lim := int64(n-1) * 256; pos > lim {
		pos = lim
	}
	i0, f = int(pos>>8), int32(pos&255)
	i1 = min(i0+1, n-1)
	return i0, i1, f
}
