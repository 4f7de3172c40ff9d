package kernels

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// TestCUDASourceOnHost compiles kernels.cu for the CPU (testdata/host.cpp,
// with a C++ compiler: clang++-14, clang++ or c++) and checks each kernel,
// run over a grid larger than its output, gives exactly the Go reference's
// output on random pictures of odd sizes and strides, poisoned outputs
// included. It checks the CUDA source's arithmetic and indexing without a
// GPU; the GPU tests of pkg/gpu check the compiled PTX.
func TestCUDASourceOnHost(t *testing.T) {
	if _, err := os.Stat("testdata/host.cpp"); err != nil {
		t.Skip("no source tree here (testdata/host.cpp)")
	}
	var cxx string
	for _, c := range []string{"clang++-14", "clang++", "c++"} {
		if p, err := exec.LookPath(c); err == nil {
			cxx = p
			break
		}
	}
	if cxx == "" {
		t.Skip("no C++ compiler on PATH")
	}
	bin := filepath.Join(t.TempDir(), "host")
	if msg, err := exec.Command(cxx, "-std=c++17", "-O2", "-ffp-contract=off", "-o", bin, "testdata/host.cpp").CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cxx, err, msg)
	}
	run := func(t *testing.T, stdin []byte, args ...any) []byte {
		t.Helper()
		s := make([]string, len(args))
		for i, a := range args {
			s[i] = fmt.Sprint(a)
		}
		cmd := exec.Command(bin, s...)
		cmd.Stdin = bytes.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("host %v: %v", s, err)
		}
		return out
	}
	// exact is a plane whose Pix ends at its last row's slack, as host.cpp
	// reads it.
	exact := func(p Plane) Plane { p.Pix = p.Pix[:p.Height*p.Stride]; return p }
	cat := func(ps ...Plane) []byte {
		var b []byte
		for _, p := range ps {
			b = append(b, p.Pix...)
		}
		return b
	}
	rng := newRand()
	for _, s := range sizes {
		for _, pad := range []int{0, 3} {
			w, h := s.w, s.h
			cw, ch := (w+1)/2, (h+1)/2
			name := fmt.Sprintf("%s with %d bytes of slack", s.name, pad)
			t.Run("yuv420p_to_rgb24 and nv12_to_rgb24 on "+name+" equal the Go reference", func(t *testing.T) {
				y := exact(randPlane(rng, w, h, 1, pad, 1))
				u := exact(randPlane(rng, cw, ch, 1, pad+1, 2))
				v := exact(randPlane(rng, cw, ch, 1, pad+2, 3))
				uv := exact(randPlane(rng, 2*cw, ch, 1, pad, 4))
				for _, fill := range poisons {
					d := exact(plane(w, h, 3, pad, fill))
					got := run(t, cat(y, u, v, d), "yuv420p_to_rgb24", w, h, y.Stride, u.Stride, v.Stride, d.Stride)
					YUV420PToRGB24(d, y, u, v)
					if !bytes.Equal(got, d.Pix) {
						t.Fatal("yuv420p_to_rgb24 differs")
					}
					d = exact(plane(w, h, 3, pad+1, fill))
					got = run(t, cat(y, uv, d), "nv12_to_rgb24", w, h, y.Stride, uv.Stride, d.Stride)
					NV12ToRGB24(d, y, uv)
					if !bytes.Equal(got, d.Pix) {
						t.Fatal("nv12_to_rgb24 differs")
					}
				}
			})
			t.Run("rgb24_to_yuv420p on "+name+" equals the Go reference", func(t *testing.T) {
				src := exact(randPlane(rng, w, h, 3, pad, 5))
				for _, fill := range poisons {
					y, u, v := exact(plane(w, h, 1, pad, fill)), exact(plane(cw, ch, 1, pad+2, fill)), exact(plane(cw, ch, 1, pad+1, fill))
					got := run(t, cat(src, y, u, v), "rgb24_to_yuv420p", w, h, src.Stride, y.Stride, u.Stride, v.Stride)
					RGB24ToYUV420P(y, u, v, src)
					if !bytes.Equal(got, cat(y, u, v)) {
						t.Fatal("rgb24_to_yuv420p differs")
					}
				}
			})
			t.Run("resize_rgb24 from "+name+" equals the Go reference", func(t *testing.T) {
				src := exact(randPlane(rng, w, h, 3, pad, 6))
				for _, c := range [][6]int{{0, 0, w, h, w, h}, {0, 0, w, h, 2*w + 1, h + 3}, {w / 3, h / 2, w - w/3, h - h/2, 7, 5}, {0, 0, w, h, 1, 1}} {
					for _, fill := range poisons {
						d := exact(plane(c[4], c[5], 3, pad, fill))
						got := run(t, cat(src, d), "resize_rgb24", c[4], c[5], d.Stride, h, src.Stride, c[0], c[1], c[2], c[3])
						ResizeRGB24(d, src, c[0], c[1], c[2], c[3])
						if !bytes.Equal(got, d.Pix) {
							t.Fatalf("resize_rgb24 of crop %v differs", c)
						}
					}
				}
			})
			t.Run("rgb24_to_f32 on "+name+" equals the Go reference bit for bit", func(t *testing.T) {
				src := exact(randPlane(rng, w, h, 3, pad, 7))
				for _, planar := range []int{0, 1} {
					poison := make([]byte, 12*w*h)
					got := run(t, append(append([]byte(nil), src.Pix...), poison...), "rgb24_to_f32", w, h, src.Stride, planar)
					want := make([]float32, 3*w*h)
					RGB24ToF32(want, src, planar == 1)
					for i, f := range want {
						if g := binary.LittleEndian.Uint32(got[4*i:]); g != math.Float32bits(f) {
							t.Fatalf("float %d (planar %d) is %#x, want %#x", i, planar, g, math.Float32bits(f))
						}
					}
				}
			})
		}
	}
	t.Run("colorgrade_rgb24 grades every value as the Go reference at many intensities", func(t *testing.T) {
		const w, h, pad = 256, 1, 5
		p := exact(plane(w, h, 3, pad, 0xA5))
		for i := range 256 {
			p.Pix[3*i], p.Pix[3*i+1], p.Pix[3*i+2] = byte(i), byte(i), byte(i)
		}
		ks := []float32{0, 0.1, 0.25, 0.3, 1.0 / 3, 0.5, 0.7, 0.75, 0.9, 1}
		for range 100 {
			ks = append(ks, rng.Float32())
		}
		for _, k := range ks {
			q := Plane{Pix: append([]byte(nil), p.Pix...), Width: w, Height: h, Stride: p.Stride}
			got := run(t, q.Pix, "colorgrade_rgb24", w, h, q.Stride, strconv.FormatUint(uint64(math.Float32bits(k)), 10))
			ColorGradeRGB24(q, k)
			if !bytes.Equal(got, q.Pix) {
				t.Fatalf("intensity %v differs", k)
			}
		}
	})
}
