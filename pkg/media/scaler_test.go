package media

import (
	"bytes"
	"testing"

	"github.com/asticode/go-astiav"
)

// Slice threads must not change a single byte: the scaler's output with
// four threads equals its output with one, both directions, on a size
// whose height does not split evenly.
func TestScalerThreadsGiveTheSameBytes(t *testing.T) {
	const w, h = 322, 183
	src := make([]byte, w*3*h)
	for i := range src {
		src[i] = byte(i*7 + i/(w*3)*13)
	}
	toYUV := func(threads int) *astiav.Frame {
		s := scaler{threads: threads}
		defer s.free()
		if err := s.ensure(w, h, astiav.PixelFormatRgb24, w&^1, h&^1, astiav.PixelFormatYuv420P); err != nil {
			t.Fatal(err)
		}
		f := astiav.AllocFrame()
		f.SetWidth(w &^ 1)
		f.SetHeight(h &^ 1)
		f.SetPixelFormat(astiav.PixelFormatYuv420P)
		if err := f.AllocBuffer(0); err != nil {
			t.Fatal(err)
		}
		if err := s.packedToFrame(src, w*3, f); err != nil {
			t.Fatal(err)
		}
		return f
	}
	back := func(f *astiav.Frame, threads int) []byte {
		s := scaler{threads: threads}
		defer s.free()
		if err := s.ensure(f.Width(), f.Height(), astiav.PixelFormatYuv420P, w, h, astiav.PixelFormatRgb24); err != nil {
			t.Fatal(err)
		}
		out := make([]byte, w*3*h)
		if err := s.frameToPacked(f, out, w*3); err != nil {
			t.Fatal(err)
		}
		return out
	}
	one, four := toYUV(1), toYUV(4)
	defer one.Free()
	defer four.Free()
	a, err := one.Data().Bytes(1)
	b, err2 := four.Data().Bytes(1)
	if err != nil || err2 != nil {
		t.Fatal(err, err2)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("rgb24 → yuv420p differs between 1 and 4 threads")
	}
	if !bytes.Equal(back(one, 1), back(one, 4)) {
		t.Fatal("yuv420p → rgb24 differs between 1 and 4 threads")
	}
}

// Pixels without FFmpeg's padding (a caller's exact-size buffer) go
// through a padded copy and give the same bytes as padded ones.
func TestScalerGivesTheSameBytesWithAndWithoutPadding(t *testing.T) {
	const w, h = 64, 48
	exact := make([]byte, w*3*h) // cap == len: no slack past the last pixel
	for i := range exact {
		exact[i] = byte(i * 31)
	}
	roomy := make([]byte, len(exact), len(exact)+ffPadding)
	copy(roomy, exact)
	toYUV := func(src []byte) []byte {
		s := scaler{threads: 2}
		defer s.free()
		if err := s.ensure(w, h, astiav.PixelFormatRgb24, w, h, astiav.PixelFormatYuv420P); err != nil {
			t.Fatal(err)
		}
		f := astiav.AllocFrame()
		defer f.Free()
		f.SetWidth(w)
		f.SetHeight(h)
		f.SetPixelFormat(astiav.PixelFormatYuv420P)
		if err := f.AllocBuffer(0); err != nil {
			t.Fatal(err)
		}
		if err := s.packedToFrame(src, w*3, f); err != nil {
			t.Fatal(err)
		}
		b, err := f.Data().Bytes(1)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if !bytes.Equal(toYUV(exact), toYUV(roomy)) {
		t.Fatal("the padded copy changed the result")
	}
}
