package kernels

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// poisons are the sentinels outputs are filled with before a kernel runs:
// a kernel must give the same output whatever they were (so it wrote every
// sample) and leave every byte outside its output as it was.
var poisons = []byte{0x00, 0xA5, 0xFF}

// plane makes a w×h plane of bpp-byte samples whose rows have pad bytes
// of slack and which ends 7 bytes after its last row's slack, all bytes
// set to fill.
func plane(w, h, bpp, pad int, fill byte) Plane {
	stride := w*bpp + pad
	p := Plane{Pix: make([]byte, h*stride+7), Width: w, Height: h, Stride: stride}
	for i := range p.Pix {
		p.Pix[i] = fill
	}
	return p
}

// randPlane is plane with random samples (the slack stays fill).
func randPlane(rng *rand.Rand, w, h, bpp, pad int, fill byte) Plane {
	p := plane(w, h, bpp, pad, fill)
	for y := range h {
		for i := range w * bpp {
			p.Pix[y*p.Stride+i] = byte(rng.UintN(256))
		}
	}
	return p
}

// rows returns p's samples (rowBytes of each of rows rows), packed.
func rows(p Plane, rowBytes, n int) []byte {
	out := make([]byte, 0, rowBytes*n)
	for y := range n {
		out = append(out, p.Pix[y*p.Stride:y*p.Stride+rowBytes]...)
	}
	return out
}

// checkSlack fails unless every byte of p outside its rowBytes×n samples
// is fill.
func checkSlack(t *testing.T, name string, p Plane, rowBytes, n int, fill byte) {
	t.Helper()
	for i, b := range p.Pix {
		y, x := i/p.Stride, i%p.Stride
		if y < n && x < rowBytes {
			continue
		}
		if b != fill {
			t.Fatalf("%s: byte %d (row %d, column %d) outside the output is %#x, want the poison %#x", name, i, y, x, b, fill)
		}
	}
}

// poisoned runs kernel once per poison on outputs made by mk (filled with
// it) and checks the outputs agree and their slack is untouched; it
// returns the outputs' samples (of the first run).
func poisoned(t *testing.T, mk func(fill byte) []Plane, rowBytes, nrows []int, kernel func(out []Plane)) [][]byte {
	t.Helper()
	var first [][]byte
	for _, fill := range poisons {
		out := mk(fill)
		kernel(out)
		for i, p := range out {
			checkSlack(t, "output", p, rowBytes[i], nrows[i], fill)
			got := rows(p, rowBytes[i], nrows[i])
			if first == nil || len(first) <= i {
				first = append(first, got)
				continue
			}
			if !bytes.Equal(got, first[i]) {
				t.Fatalf("output %d differs between poisons %#x and %#x: a sample was not written", i, poisons[0], fill)
			}
		}
	}
	return first
}

func absDiff(a, b byte) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

// maxDiff is the largest |a[i] − b[i]|.
func maxDiff(a, b []byte) int {
	m := 0
	for i := range a {
		m = max(m, absDiff(a[i], b[i]))
	}
	return m
}

var sizes = []struct {
	name string
	w, h int
}{
	{"a 1×1 picture", 1, 1},
	{"a 2×2 picture", 2, 2},
	{"an odd 3×3 picture", 3, 3},
	{"an odd-width 5×4 picture", 5, 4},
	{"an odd-height 6×7 picture", 6, 7},
	{"a 17×9 picture", 17, 9},
	{"a 64×36 picture", 64, 36},
}

// newRand is a seeded generator, so failures reproduce.
func newRand() *rand.Rand { return rand.New(rand.NewPCG(5, 6)) }
