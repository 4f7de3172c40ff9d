package kernels

// YUV → RGB, exactly as FFmpeg 5.1's swscale does it on x86 for
// yuv420p → rgb24 at the same size (its unscaled yuv2rgb path, which
// pkg/media's scaler and the ffmpeg CLI take for even heights): chroma is
// not interpolated (each 2×2 block uses its one sample), luma and chroma
// are scaled to 3 fractional bits and multiplied by 16-bit coefficients,
// keeping the high 16 bits of each product (an arithmetic shift, so it
// floors). The coefficients are swscale's BT.601 limited-range table
// (ff_yuv2rgb_coeffs: 104597, 132201, 25675, 53279 in 1/65536) scaled by
// 2^13/2^16 and rounded; luma's is 65536·255/219 likewise. The tests check
// the result equals swscale's for every (Y, U, V) triple.
const (
	yuvYCoeff  = 9539  // 1.164 · 2^13
	yuvVRCoeff = 13075 // 1.596 · 2^13
	yuvUBCoeff = 16525 // 2.017 · 2^13
	yuvUGCoeff = -3209 // −0.392 · 2^13
	yuvVGCoeff = -6660 // −0.813 · 2^13
)

// yuvToRGB converts one sample. The CUDA kernels do exactly this in int.
func yuvToRGB(yy, uu, vv byte) (r, g, b byte) {
	y := ((int32(yy)*8 - 128) * yuvYCoeff) >> 16
	u := int32(uu)*8 - 1024
	v := int32(vv)*8 - 1024
	r = clamp8(y + (v*yuvVRCoeff)>>16)
	g = clamp8(y + (u*yuvUGCoeff)>>16 + (v*yuvVGCoeff)>>16)
	b = clamp8(y + (u*yuvUBCoeff)>>16)
	return r, g, b
}

// yuv420pToRGB24 is YUV420PToRGB24. The arithmetic is swscale's x86
// yuv2rgb path exactly (see yuvToRGB; the tests compare all 2^24 triples):
// on amd64 the output equals pkg/media's for even heights. (For odd
// heights swscale takes its scaling path, which interpolates chroma, and
// differs from this by up to ~200 at sharp colour edges.) dst must be y's
// size; u and v need (w+1)/2 samples in each of (h+1)/2 rows (their Width
// and Height fields are not used). It panics when a plane is too small.
func yuv420pToRGB24(dst, y, u, v Plane) {
	w, h := size("y", y)
	sameSize("dst", dst, w, h)
	cw, ch := (w+1)/2, (h+1)/2
	span("y", y, w, h)
	span("u", u, cw, ch)
	span("v", v, cw, ch)
	span("dst", dst, 3*w, h)
	for row := range h {
		yuvRow(dst.Pix[row*dst.Stride:row*dst.Stride+3*w], y.Pix[row*y.Stride:row*y.Stride+w],
			u.Pix[(row/2)*u.Stride:(row/2)*u.Stride+cw], v.Pix[(row/2)*v.Stride:(row/2)*v.Stride+cw], 1)
	}
}

// nv12ToRGB24 is NV12ToRGB24: uv needs (w+1)/2 U, V pairs (2 bytes each)
// in each of (h+1)/2 rows.
func nv12ToRGB24(dst, y, uv Plane) {
	w, h := size("y", y)
	sameSize("dst", dst, w, h)
	cw, ch := (w+1)/2, (h+1)/2
	span("y", y, w, h)
	span("uv", uv, 2*cw, ch)
	span("dst", dst, 3*w, h)
	for row := range h {
		c := uv.Pix[(row/2)*uv.Stride : (row/2)*uv.Stride+2*cw]
		yuvRow(dst.Pix[row*dst.Stride:row*dst.Stride+3*w], y.Pix[row*y.Stride:row*y.Stride+w], c, c[1:], 2)
	}
}

// The terms of yuvToRGB, tabulated: each is floored on its own, so their
// sums are yuvToRGB's exactly. clampTab[s+clampOff] is clamp8(s) over
// every sum they can make.
var (
	yTab, vrTab, ugTab, vgTab, ubTab [256]int32
	clampTab                         [1024]byte
)

const clampOff = 384

func init() {
	for i := range int32(256) {
		yTab[i] = ((i*8 - 128) * yuvYCoeff) >> 16
		vrTab[i] = ((i*8 - 1024) * yuvVRCoeff) >> 16
		ugTab[i] = ((i*8 - 1024) * yuvUGCoeff) >> 16
		vgTab[i] = ((i*8 - 1024) * yuvVGCoeff) >> 16
		ubTab[i] = ((i*8 - 1024) * yuvUBCoeff) >> 16
	}
	for i := range int32(len(clampTab)) {
		clampTab[i] = clamp8(i - clampOff)
	}
}

// yuvRow converts one row of len(yr) pixels; chroma sample i is u[step·i],
// v[step·i].
func yuvRow(d, yr, u, v []byte, step int) {
	w := len(yr)
	d = d[:3*w]
	for x := 0; x < w; x += 2 {
		c := step * (x / 2)
		uu, vv := u[c], v[c]
		rc, gc, bc := vrTab[vv]+clampOff, ugTab[uu]+vgTab[vv]+clampOff, ubTab[uu]+clampOff
		yy := yTab[yr[x]]
		p := d[3*x : 3*x+3]
		p[0], p[1], p[2] = clampTab[yy+rc], clampTab[yy+gc], clampTab[yy+bc]
		if x+1 < w {
			yy = yTab[yr[x+1]]
			p = d[3*x+3 : 3*x+6]
			p[0], p[1], p[2] = clampTab[yy+rc], clampTab[yy+gc], clampTab[yy+bc]
		}
	}
}

// RGB → YUV. Luma is exactly swscale's (FFmpeg 5.1, rgb24 → yuv420p at
// the same size, any flags): 15-bit coefficients (BT.601 limited range,
// 0.299·219/255·2^15 …), rounded to 1/64 and then to an integer. Chroma
// uses swscale's coefficients and rounds once, but of the 2×2 mean where
// swscale filters vertically with the scaler's kernel (bicubic in
// pkg/media), so chroma can differ from swscale's near vertical edges.
const (
	rgbRY, rgbGY, rgbBY = 8414, 16519, 3208
	rgbRU, rgbGU, rgbBU = -4857, -9535, 14392
	rgbRV, rgbGV, rgbBV = 14392, -12052, -2340
)

// rgbToY converts one pixel's luma. The CUDA kernel does exactly this.
func rgbToY(r, g, b int32) byte {
	s := rgbRY*r + rgbGY*g + rgbBY*b
	return clamp8(((s+(32<<14)+(1<<8))>>9 + 32) >> 6)
}

// rgbToUV converts the sums of n = 1<<log2n pixels' R, G, B to chroma.
func rgbToUV(r, g, b int32, log2n uint) (u, v byte) {
	sh := 15 + log2n
	half := int32(128)<<sh + int32(1)<<(sh-1)
	u = clamp8((rgbRU*r + rgbGU*g + rgbBU*b + half) >> sh)
	v = clamp8((rgbRV*r + rgbGV*g + rgbBV*b + half) >> sh)
	return u, v
}

// rgb24ToYUV420P is RGB24ToYUV420P: y must be src's size; u and v need (w+1)/2 samples in each of (h+1)/2
// rows (their Width and Height fields are not used). One call of the body
// below per 2×2 block is one CUDA thread.
func rgb24ToYUV420P(y, u, v, src Plane) {
	w, h := size("src", src)
	sameSize("y", y, w, h)
	cw, ch := (w+1)/2, (h+1)/2
	span("src", src, 3*w, h)
	span("y", y, w, h)
	span("u", u, cw, ch)
	span("v", v, cw, ch)
	for by := range ch {
		for bx := range cw {
			var rs, gs, bs int32
			var log2n uint
			nx, ny := min(2, w-2*bx), min(2, h-2*by)
			if nx == 2 {
				log2n++
			}
			if ny == 2 {
				log2n++
			}
			for dy := range ny {
				row := 2*by + dy
				s := src.Pix[row*src.Stride+6*bx : row*src.Stride+6*bx+3*nx]
				yd := y.Pix[row*y.Stride+2*bx : row*y.Stride+2*bx+nx]
				for dx := range nx {
					r, g, b := int32(s[3*dx]), int32(s[3*dx+1]), int32(s[3*dx+2])
					yd[dx] = rgbToY(r, g, b)
					rs, gs, bs = rs+r, gs+g, bs+b
				}
			}
			u.Pix[by*u.Stride+bx], v.Pix[by*v.Stride+bx] = rgbToUV(rs, gs, bs, log2n)
		}
	}
}
