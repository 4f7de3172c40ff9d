package kernels

import "fmt"

// rgb24ToF32 is RGB24ToF32: each sample is float32(b) / 255, correctly
// rounded (the CUDA kernel divides with __fdiv_rn / div.rn.f32, so both
// agree bit for bit). Planar is channel c at c·H·W + y·W + x, packed at
// (y·W + x)·3 + c. dst needs 3·W·H floats; it panics otherwise.
func rgb24ToF32(dst []float32, src Plane, planar bool) {
	w, h := size("src", src)
	span("src", src, 3*w, h)
	n := w * h
	if len(dst) < 3*n {
		panic(fmt.Sprintf("kernels: dst has %d floats, need %d", len(dst), 3*n))
	}
	for y := range h {
		s := src.Pix[y*src.Stride : y*src.Stride+3*w]
		for x := range w {
			i := y*w + x
			for c := range 3 {
				v := float32(s[3*x+c]) / 255
				if planar {
					dst[c*n+i] = v
				} else {
					dst[3*i+c] = v
				}
			}
		}
	}
}
