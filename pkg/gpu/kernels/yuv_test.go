package kernels

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func TestYUVSample(t *testing.T) {
	t.Run("every Y, U, V triple is within 3 (swscale truncates) of the exact BT.601 limited-range formula", func(t *testing.T) {
		if testing.Short() {
			t.Skip("2^24 triples")
		}
		worst := 0
		for y := range 256 {
			for u := range 256 {
				for v := range 256 {
					r, g, b := yuvToRGB(byte(y), byte(u), byte(v))
					fy, fu, fv := 255.0/219*float64(y-16), float64(u-128), float64(v-128)
					want := [3]float64{
						fy + 255.0/224*1.402*fv,
						fy - 255.0/224*(1.772*0.114/0.587)*fu - 255.0/224*(1.402*0.299/0.587)*fv,
						fy + 255.0/224*1.772*fu,
					}
					for i, got := range [3]byte{r, g, b} {
						w := math.Round(math.Max(0, math.Min(255, want[i])))
						worst = max(worst, int(math.Abs(float64(got)-w)))
					}
				}
			}
		}
		t.Logf("largest difference from the exact formula: %d", worst)
		if worst > 3 {
			t.Fatalf("largest difference from the exact formula is %d", worst)
		}
	})
	t.Run("the tabulated row conversion equals the formula for every triple", func(t *testing.T) {
		yr, u, v := make([]byte, 256), make([]byte, 128), make([]byte, 128)
		d := make([]byte, 3*256)
		for i := range yr {
			yr[i] = byte(i)
		}
		for uu := range 256 {
			for vv := range 256 {
				for i := range u {
					u[i], v[i] = byte(uu), byte(vv)
				}
				yuvRow(d, yr, u, v, 1)
				for i := range 256 {
					r, g, b := yuvToRGB(byte(i), byte(uu), byte(vv))
					if d[3*i] != r || d[3*i+1] != g || d[3*i+2] != b {
						t.Fatalf("Y=%d U=%d V=%d: row gives %v, formula %d,%d,%d", i, uu, vv, d[3*i:3*i+3], r, g, b)
					}
				}
			}
		}
	})
	t.Run("black, white and grey stay neutral", func(t *testing.T) {
		for _, c := range []struct {
			y    byte
			want byte
		}{{16, 0}, {235, 255}, {126, 128}} {
			r, g, b := yuvToRGB(c.y, 128, 128)
			if r != g || g != b || absDiff(r, c.want) > 1 {
				t.Errorf("Y=%d, U=V=128 gives %d,%d,%d, want about %d", c.y, r, g, b, c.want)
			}
		}
	})
}

// refYUV420P is the obvious per-pixel loop, for indexing checks.
func refYUV420P(y, u, v Plane) []byte {
	out := make([]byte, 0, 3*y.Width*y.Height)
	for r := range y.Height {
		for x := range y.Width {
			R, G, B := yuvToRGB(y.Pix[r*y.Stride+x], u.Pix[r/2*u.Stride+x/2], v.Pix[r/2*v.Stride+x/2])
			out = append(out, R, G, B)
		}
	}
	return out
}

func TestYUV420PToRGB24(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range sizes {
		for _, pad := range []int{0, 13} {
			t.Run(fmt.Sprintf("%s with %d bytes of row slack converts every pixel with its block's chroma", s.name, pad), func(t *testing.T) {
				cw, ch := (s.w+1)/2, (s.h+1)/2
				y := randPlane(rng, s.w, s.h, 1, pad, 0)
				u := randPlane(rng, cw, ch, 1, pad+1, 0)
				v := randPlane(rng, cw, ch, 1, pad+2, 0)
				want := refYUV420P(y, u, v)
				got := poisoned(t, func(fill byte) []Plane { return []Plane{plane(s.w, s.h, 3, pad, fill)} },
					[]int{3 * s.w}, []int{s.h}, func(out []Plane) { YUV420PToRGB24(out[0], y, u, v) })
				if !bytes.Equal(got[0], want) {
					t.Fatal("output differs from the per-pixel reference")
				}
				// The same picture as NV12 gives the same RGB.
				uv := plane(2*cw, ch, 1, pad, 0)
				for r := range ch {
					for x := range cw {
						uv.Pix[r*uv.Stride+2*x] = u.Pix[r*u.Stride+x]
						uv.Pix[r*uv.Stride+2*x+1] = v.Pix[r*v.Stride+x]
					}
				}
				got = poisoned(t, func(fill byte) []Plane { return []Plane{plane(s.w, s.h, 3, pad+3, fill)} },
					[]int{3 * s.w}, []int{s.h}, func(out []Plane) { NV12ToRGB24(out[0], y, uv) })
				if !bytes.Equal(got[0], want) {
					t.Fatal("NV12 output differs from YUV420P's")
				}
			})
		}
	}
	t.Run("a plane too small panics instead of writing out of range", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Fatal("no panic")
			}
		}()
		y := plane(8, 8, 1, 0, 0)
		u := Plane{Pix: make([]byte, 4*3), Width: 4, Height: 4, Stride: 4} // one chroma row short
		YUV420PToRGB24(plane(8, 8, 3, 0, 0), y, u, plane(4, 4, 1, 0, 0))
	})
}

// smooth is a w×h picture whose colours change slowly (by at most 2 a
// pixel), as in video.
func smooth(w, h, pad int) Plane {
	p := plane(w, h, 3, pad, 0)
	for y := range h {
		for x := range w {
			o := y*p.Stride + 3*x
			p.Pix[o] = byte(40 + 170*x/max(85, w))
			p.Pix[o+1] = byte(30 + 190*y/max(95, h))
			p.Pix[o+2] = byte(200 - 150*(x+y)/max(150, w+h))
		}
	}
	return p
}

func psnr(a, b []byte) float64 {
	var se float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		se += d * d
	}
	if se == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255*float64(len(a))/se)
}

func TestRGB24ToYUV420P(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, s := range sizes {
		cw, ch := (s.w+1)/2, (s.h+1)/2
		outputs := func(pad int) func(fill byte) []Plane {
			return func(fill byte) []Plane {
				return []Plane{plane(s.w, s.h, 1, pad, fill), plane(cw, ch, 1, pad+1, fill), plane(cw, ch, 1, pad+2, fill)}
			}
		}
		rb, nr := []int{s.w, cw, cw}, []int{s.h, ch, ch}
		t.Run(s.name+" gives luma per pixel and chroma from the mean of each block, edge blocks included", func(t *testing.T) {
			src := randPlane(rng, s.w, s.h, 3, 5, 0xEE)
			got := poisoned(t, outputs(3), rb, nr, func(o []Plane) { RGB24ToYUV420P(o[0], o[1], o[2], src) })
			for y := range s.h {
				for x := range s.w {
					p := src.Pix[y*src.Stride+3*x:]
					if want := rgbToY(int32(p[0]), int32(p[1]), int32(p[2])); got[0][y*s.w+x] != want {
						t.Fatalf("Y at %d,%d is %d, want %d", x, y, got[0][y*s.w+x], want)
					}
				}
			}
			for by := range ch {
				for bx := range cw {
					var sum [3]int32
					n := 0
					for y := 2 * by; y < min(2*by+2, s.h); y++ {
						for x := 2 * bx; x < min(2*bx+2, s.w); x++ {
							n++
							for c := range 3 {
								sum[c] += int32(src.Pix[y*src.Stride+3*x+c])
							}
						}
					}
					log2n := map[int]uint{1: 0, 2: 1, 4: 2}[n]
					wu, wv := rgbToUV(sum[0], sum[1], sum[2], log2n)
					if gu, gv := got[1][by*cw+bx], got[2][by*cw+bx]; gu != wu || gv != wv {
						t.Fatalf("U, V of block %d,%d are %d,%d, want %d,%d", bx, by, gu, gv, wu, wv)
					}
				}
			}
		})
		t.Run(s.name+" of one colour has that colour's chroma in every block", func(t *testing.T) {
			src := plane(s.w, s.h, 3, 2, 0)
			for y := range s.h {
				for x := range s.w {
					copy(src.Pix[y*src.Stride+3*x:], []byte{200, 100, 30})
				}
			}
			got := poisoned(t, outputs(0), rb, nr, func(o []Plane) { RGB24ToYUV420P(o[0], o[1], o[2], src) })
			wu, wv := rgbToUV(200, 100, 30, 0)
			for i := range got[1] {
				if got[1][i] != wu || got[2][i] != wv {
					t.Fatalf("chroma sample %d is %d,%d, want %d,%d", i, got[1][i], got[2][i], wu, wv)
				}
			}
		})
	}
	t.Run("a smooth picture survives RGB → YUV → RGB above 40 dB PSNR", func(t *testing.T) {
		for _, s := range []struct{ w, h int }{{64, 36}, {33, 17}, {320, 240}} {
			src := smooth(s.w, s.h, 4)
			cw, ch := (s.w+1)/2, (s.h+1)/2
			y, u, v := plane(s.w, s.h, 1, 0, 0), plane(cw, ch, 1, 0, 0), plane(cw, ch, 1, 0, 0)
			RGB24ToYUV420P(y, u, v, src)
			back := plane(s.w, s.h, 3, 0, 0)
			YUV420PToRGB24(back, y, u, v)
			p := psnr(rows(src, 3*s.w, s.h), rows(back, 3*s.w, s.h))
			t.Logf("%dx%d: %.1f dB, largest difference %d", s.w, s.h, p, maxDiff(rows(src, 3*s.w, s.h), rows(back, 3*s.w, s.h)))
			if p < 40 {
				t.Fatalf("%dx%d: PSNR %.1f dB", s.w, s.h, p)
			}
		}
	})
}
