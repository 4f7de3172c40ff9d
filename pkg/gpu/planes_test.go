package gpu

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"
)

// foreignPlanes places a w×h picture of format f in a buffer of the
// device with rows pitch bytes apart (as NVDEC's surfaces are padded), as
// other code would, and describes it as DevicePlanes; it also returns the
// packed picture it wrote.
func foreignPlanes(t *testing.T, d *Device, s *Stream, f Format, w, h, pad int, rng *rand.Rand) (DevicePlanes, []byte) {
	t.Helper()
	p := DevicePlanes{Format: f, Width: w, Height: h}
	var offs [3]int
	size := 0
	for i := 0; i < f.planes(); i++ {
		rb, rows := f.plane(i, w, h)
		p.Pitch[i] = rb + pad
		offs[i] = size
		size += p.Pitch[i] * rows
	}
	buf, err := d.Alloc(size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = buf.Free() })
	raw := make([]byte, size)
	for i := range raw {
		raw[i] = byte(rng.IntN(256))
	}
	if err := s.Upload(context.Background(), buf, raw); err != nil {
		t.Fatal(err)
	}
	var packed []byte
	for i := 0; i < f.planes(); i++ {
		rb, rows := f.plane(i, w, h)
		for y := range rows {
			packed = append(packed, raw[offs[i]+y*p.Pitch[i]:][:rb]...)
		}
		if m, ok := buf.mem.([]byte); ok {
			p.Mem[i] = m[offs[i]:]
		} else {
			p.Ptr[i] = devAddr(buf.mem) + uintptr(offs[i])
		}
	}
	return p, packed
}

func TestCopyPlanesCopiesEveryRowAndNothingElse(t *testing.T) {
	ctx := context.Background()
	for _, d := range devices(t) {
		s := mustStream(t, d)
		rng := rand.New(rand.NewPCG(7, 8))
		for _, tc := range []struct {
			f    Format
			w, h int
		}{{NV12, 64, 36}, {NV12, 33, 17}, {YUV420P, 48, 30}, {YUV420P, 7, 5}} {
			src, want := foreignPlanes(t, d, s, tc.f, tc.w, tc.h, 13, rng)
			// A destination with padded rows of its own, poisoned, so a
			// row left unwritten or a write into the padding shows.
			var pl [3]Plane
			off := 0
			for i := 0; i < tc.f.planes(); i++ {
				rb, rows := tc.f.plane(i, tc.w, tc.h)
				pl[i] = Plane{Offset: off, Stride: rb + 5}
				off += (rb + 5) * rows
			}
			buf, err := d.Alloc(off)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Upload(ctx, buf, bytes.Repeat([]byte{0xA5}, off)); err != nil {
				t.Fatal(err)
			}
			dst := Image{Buf: buf, Format: tc.f, Width: tc.w, Height: tc.h, Planes: pl}
			if err := s.CopyPlanes(ctx, dst, src); err != nil {
				t.Fatalf("%s %v %dx%d: %v", d.Kind(), tc.f, tc.w, tc.h, err)
			}
			out := make([]byte, off)
			if err := s.Download(ctx, out, buf); err != nil {
				t.Fatal(err)
			}
			var got []byte
			for i := 0; i < tc.f.planes(); i++ {
				rb, rows := tc.f.plane(i, tc.w, tc.h)
				for y := range rows {
					row := out[pl[i].Offset+y*pl[i].Stride:][:pl[i].Stride]
					got = append(got, row[:rb]...)
					if !bytes.Equal(row[rb:], []byte{0xA5, 0xA5, 0xA5, 0xA5, 0xA5}) {
						t.Errorf("%s %v: padding of plane %d row %d written: %x", d.Kind(), tc.f, i, y, row[rb:])
					}
				}
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s %v %dx%d: copied planes differ from the source", d.Kind(), tc.f, tc.w, tc.h)
			}
			_ = buf.Free()
		}
	}
}

func TestCopyPlanesRefusesWhatDoesNotFit(t *testing.T) {
	ctx := context.Background()
	for _, d := range devices(t) {
		s := mustStream(t, d)
		rng := rand.New(rand.NewPCG(1, 2))
		src, _ := foreignPlanes(t, d, s, NV12, 32, 16, 0, rng)
		dst, err := d.NewImage(NV12, 32, 16)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = dst.Buf.Free() })
		yuv, err := d.NewImage(YUV420P, 32, 16)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = yuv.Buf.Free() })
		rgb, err := d.NewImage(RGB24, 32, 16)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rgb.Buf.Free() })
		small := src
		small.Width = 16
		short := src
		short.Pitch[1] = 31
		unknown := src
		unknown.Format = RGB24
		missing := src
		missing.Ptr, missing.Mem = [3]uintptr{}, [3][]byte{}
		for _, tc := range []struct {
			name string
			dst  Image
			src  DevicePlanes
			want error
		}{
			{"an image of another format", yuv, src, ErrInvalid},
			{"an RGB image", rgb, src, ErrFormat},
			{"planes of another size", dst, small, ErrInvalid},
			{"a pitch shorter than a row", dst, short, ErrSize},
			{"planes of an unknown format", dst, unknown, ErrInvalid},
			{"planes with no memory", dst, missing, ErrSize},
		} {
			err := s.CopyPlanes(ctx, tc.dst, tc.src)
			if tc.name == "planes with no memory" && d.Kind() == KindCUDA {
				tc.want = ErrInvalid
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: copying %s: got %v, want %v", d.Kind(), tc.name, err, tc.want)
			}
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.CopyPlanes(cctx, dst, src); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: a cancelled copy: %v", d.Kind(), err)
		}
	}
}

func TestTheCPUDeviceReportsOrdinalZero(t *testing.T) {
	d, err := Open(Config{Kind: KindCPU, Index: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Index() != 0 {
		t.Errorf("the cpu device's Index is %d, want 0: it has no CUDA ordinal to share", d.Index())
	}
}
