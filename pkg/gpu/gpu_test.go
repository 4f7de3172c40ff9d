package gpu

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/gotrickle/gotrickle/pkg/gpu/kernels"
)

// These tests run in both builds: without the cuda tag on the CPU backend;
// with it (make test-gpu, on a GPU machine) on the CPU backend and on CUDA
// device 0, whose results are compared with the Go reference kernels.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// devices opens the devices this build can test; they close with the test.
func devices(t *testing.T) []*Device {
	t.Helper()
	kinds := []Kind{KindCPU}
	if cudaBuilt {
		kinds = append(kinds, KindCUDA)
	}
	var devs []*Device
	for _, k := range kinds {
		d, err := Open(Config{Kind: k})
		if err != nil {
			t.Fatalf("Open(%s): %v", k, err)
		}
		t.Cleanup(func() { _ = d.Close() })
		devs = append(devs, d)
	}
	return devs
}

func mustStream(t *testing.T, d *Device) *Stream {
	t.Helper()
	s, err := d.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOpen(t *testing.T) {
	tests := []struct {
		cfg      Config
		wantKind Kind
		wantErr  error
	}{
		{Config{}, map[bool]Kind{false: KindCPU, true: KindCUDA}[cudaBuilt], nil},
		{Config{Kind: KindAuto}, map[bool]Kind{false: KindCPU, true: KindCUDA}[cudaBuilt], nil},
		{Config{Kind: KindCPU}, KindCPU, nil},
		{Config{Kind: KindCPU, Index: 3}, KindCPU, nil},
		{Config{Kind: KindCUDA}, KindCUDA, map[bool]error{false: ErrNotBuilt, true: nil}[cudaBuilt]},
		{Config{Kind: KindCUDA, Index: 1 << 20}, "", map[bool]error{false: ErrNotBuilt, true: ErrNoDevice}[cudaBuilt]},
		{Config{Kind: KindAuto, Index: 1 << 20}, KindCPU, nil},
		{Config{Kind: "opencl"}, "", ErrInvalid},
		{Config{Index: -1}, "", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.cfg.Kind, tt.cfg.Index), func(t *testing.T) {
			d, err := Open(tt.cfg)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if d.Kind() != tt.wantKind {
				t.Errorf("Kind = %s, want %s", d.Kind(), tt.wantKind)
			}
			if d.Name() == "" {
				t.Error("empty Name")
			}
			t.Logf("%s: %s", d.Kind(), d.Name())
		})
	}
}

func TestNotBuiltMessage(t *testing.T) {
	if cudaBuilt {
		t.Skip("built with cuda")
	}
	_, err := Open(Config{Kind: KindCUDA})
	if err == nil || !strings.Contains(err.Error(), "without the cuda tag") {
		t.Fatalf("err = %v", err)
	}
}

func TestUploadDownload(t *testing.T) {
	ctx := context.Background()
	for _, d := range devices(t) {
		for _, n := range []int{1, 3, 4096, 1920*1080*3/2 + 7} {
			t.Run(fmt.Sprintf("%s/%d", d.Kind(), n), func(t *testing.T) {
				s := mustStream(t, d)
				defer s.Close()
				b, err := d.Alloc(n)
				if err != nil {
					t.Fatal(err)
				}
				defer b.Free()
				if b.Len() != n {
					t.Fatalf("Len = %d", b.Len())
				}
				src := make([]byte, n)
				for i := range src {
					src[i] = byte(rand.Uint32())
				}
				if err := s.Upload(ctx, b, src); err != nil {
					t.Fatal(err)
				}
				src2 := append([]byte(nil), src...)
				for i := range src { // src is free for reuse once Upload returns
					src[i] = 0
				}
				got := make([]byte, n)
				if err := s.Download(ctx, got, b); err != nil {
					t.Fatal(err)
				}
				if string(got) != string(src2) {
					t.Fatal("round trip differs")
				}
				// A shorter upload writes the start, a shorter download reads it.
				if err := s.Upload(ctx, b, []byte{9}); err != nil {
					t.Fatal(err)
				}
				one := make([]byte, 1)
				if err := s.Download(ctx, one, b); err != nil || one[0] != 9 {
					t.Fatalf("short download = %v, %v", one, err)
				}
				if err := s.Sync(ctx); err != nil {
					t.Fatal(err)
				}
				// Empty copies are no-ops.
				if err := s.Upload(ctx, b, nil); err != nil {
					t.Fatal(err)
				}
				if err := s.Download(ctx, nil, b); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestErrors(t *testing.T) {
	for _, d := range devices(t) {
		t.Run(string(d.Kind()), func(t *testing.T) {
			testErrors(t, d)
		})
	}
}

func testErrors(t *testing.T, d *Device) {
	ctx := context.Background()
	s := mustStream(t, d)
	defer s.Close()
	b, err := d.Alloc(16)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(Config{Kind: KindCPU})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ob, err := other.Alloc(16)
	if err != nil {
		t.Fatal(err)
	}
	freed, err := d.Alloc(16)
	if err != nil {
		t.Fatal(err)
	}
	if err := freed.Free(); err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()

	tests := []struct {
		name string
		err  error
		f    func() error
	}{
		{"alloc 0", ErrSize, func() error { _, err := d.Alloc(0); return err }},
		{"alloc -1", ErrSize, func() error { _, err := d.Alloc(-1); return err }},
		{"upload too long", ErrSize, func() error { return s.Upload(ctx, b, make([]byte, 17)) }},
		{"download too long", ErrSize, func() error { return s.Download(ctx, make([]byte, 17), b) }},
		{"upload nil buffer", ErrInvalid, func() error { return s.Upload(ctx, nil, []byte{1}) }},
		{"upload other device's buffer", ErrInvalid, func() error { return s.Upload(ctx, ob, []byte{1}) }},
		{"upload freed", ErrFreed, func() error { return s.Upload(ctx, freed, []byte{1}) }},
		{"download freed", ErrFreed, func() error { return s.Download(ctx, []byte{1}, freed) }},
		{"free twice", ErrFreed, func() error { return freed.Free() }},
		{"upload canceled", context.Canceled, func() error { return s.Upload(canceled, b, []byte{1}) }},
		{"download canceled", context.Canceled, func() error { return s.Download(canceled, []byte{1}, b) }},
		{"sync canceled", context.Canceled, func() error { return s.Sync(canceled) }},
		{"image of a freed buffer", ErrFreed, func() error {
			return s.ColorGrade(Image{Buf: freed, Format: RGB24, Width: 2, Height: 2}, 0.5)
		}},
		{"new image, bad format", ErrFormat, func() error { _, err := d.NewImage(Format(99), 2, 2); return err }},
		{"new image, bad size", ErrSize, func() error { _, err := d.NewImage(RGB24, 0, 2); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.f(); !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
		})
	}
}

func TestOpErrors(t *testing.T) {
	for _, d := range devices(t) {
		t.Run(string(d.Kind()), func(t *testing.T) {
			s := mustStream(t, d)
			img := func(f Format, w, h int) Image {
				im, err := d.NewImage(f, w, h)
				if err != nil {
					t.Fatal(err)
				}
				return im
			}
			rgb := img(RGB24, 8, 6)
			rgb2 := img(RGB24, 8, 6)
			small := img(RGB24, 4, 6)
			yuv := img(YUV420P, 8, 6)
			nv12 := img(NV12, 8, 6)
			f32 := img(F32Planar, 8, 6)
			big := img(RGB24, 64, 64) // room for custom layouts
			tests := []struct {
				name string
				err  error
				f    func() error
			}{
				{"yuv->rgb wrong src format", ErrFormat, func() error { return s.YUV420PToRGB(rgb, nv12) }},
				{"yuv->rgb wrong dst format", ErrFormat, func() error { return s.YUV420PToRGB(yuv, yuv) }},
				{"yuv->rgb size mismatch", ErrSize, func() error { return s.YUV420PToRGB(small, yuv) }},
				{"nv12->rgb wrong src", ErrFormat, func() error { return s.NV12ToRGB(rgb, yuv) }},
				{"rgb->yuv wrong dst", ErrFormat, func() error { return s.RGBToYUV420P(nv12, rgb) }},
				{"rgb->yuv size mismatch", ErrSize, func() error { return s.RGBToYUV420P(yuv, small) }},
				{"tofloat wrong dst", ErrFormat, func() error { return s.ToFloat32(rgb2, rgb) }},
				{"tofloat wrong src", ErrFormat, func() error { return s.ToFloat32(f32, yuv) }},
				{"colorgrade yuv", ErrFormat, func() error { return s.ColorGrade(yuv, 0.5) }},
				{"colorgrade unknown format", ErrFormat, func() error {
					return s.ColorGrade(Image{Buf: rgb.Buf, Format: 0, Width: 8, Height: 6}, 0.5)
				}},
				{"colorgrade NaN", ErrInvalid, func() error { return s.ColorGrade(rgb, float32(math.NaN())) }},
				{"colorgrade 1.5", ErrInvalid, func() error { return s.ColorGrade(rgb, 1.5) }},
				{"colorgrade -0.1", ErrInvalid, func() error { return s.ColorGrade(rgb, -0.1) }},
				{"nil buffer", ErrInvalid, func() error { return s.ColorGrade(Image{Format: RGB24, Width: 8, Height: 6}, 0.5) }},
				{"zero size", ErrSize, func() error { return s.ColorGrade(Image{Buf: rgb.Buf, Format: RGB24, Width: 0, Height: 6}, 0.5) }},
				{"buffer too small", ErrSize, func() error {
					return s.ColorGrade(Image{Buf: rgb.Buf, Format: RGB24, Width: 8, Height: 7}, 0.5)
				}},
				{"stride too small", ErrSize, func() error {
					return s.ColorGrade(Image{Buf: big.Buf, Format: RGB24, Width: 8, Height: 6, Planes: [3]Plane{{0, 23}}}, 0.5)
				}},
				{"negative offset", ErrSize, func() error {
					return s.ColorGrade(Image{Buf: big.Buf, Format: RGB24, Width: 8, Height: 6, Planes: [3]Plane{{-1, 24}}}, 0.5)
				}},
				{"plane past the end", ErrSize, func() error {
					return s.ColorGrade(Image{Buf: big.Buf, Format: RGB24, Width: 8, Height: 6, Planes: [3]Plane{{64*64*3 - 10, 24}}}, 0.5)
				}},
				{"float with stride", ErrSize, func() error {
					return s.ToFloat32(Image{Buf: big.Buf, Format: F32Packed, Width: 8, Height: 6, Planes: [3]Plane{{0, 100}}}, rgb)
				}},
				{"float misaligned", ErrSize, func() error {
					return s.ToFloat32(Image{Buf: big.Buf, Format: F32Packed, Width: 8, Height: 6, Planes: [3]Plane{{2, 96}}}, rgb)
				}},
				{"overlap", ErrInvalid, func() error {
					return s.Resize(Image{Buf: big.Buf, Format: RGB24, Width: 8, Height: 6, Planes: [3]Plane{{10, 24}}},
						Image{Buf: big.Buf, Format: RGB24, Width: 8, Height: 6}, image.Rectangle{})
				}},
				{"resize crop outside", ErrSize, func() error { return s.Resize(small, rgb, image.Rect(4, 0, 9, 6)) }},
				{"resize crop empty", ErrSize, func() error { return s.Resize(small, rgb, image.Rect(4, 4, 4, 6)) }},
				{"resize wrong format", ErrFormat, func() error { return s.Resize(small, yuv, image.Rectangle{}) }},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					if err := tt.f(); !errors.Is(err, tt.err) {
						t.Fatalf("err = %v, want %v", err, tt.err)
					}
				})
			}
		})
	}
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	kinds := []Kind{KindCPU}
	if cudaBuilt {
		kinds = append(kinds, KindCUDA)
	}
	for _, k := range kinds {
		t.Run(string(k), func(t *testing.T) {
			d, err := Open(Config{Kind: k})
			if err != nil {
				t.Fatal(err)
			}
			s := mustStream(t, d)
			s2 := mustStream(t, d)
			img, err := d.NewImage(RGB24, 4, 4)
			if err != nil {
				t.Fatal(err)
			}
			if err := s2.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s2.Close(); !errors.Is(err, ErrClosed) {
				t.Fatalf("second stream Close = %v", err)
			}
			if err := s2.Upload(ctx, img.Buf, []byte{1}); !errors.Is(err, ErrClosed) {
				t.Fatalf("upload on a closed stream = %v", err)
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			for name, f := range map[string]func() error{
				"close":      d.Close,
				"alloc":      func() error { _, err := d.Alloc(1); return err },
				"new stream": func() error { _, err := d.NewStream(); return err },
				"free":       img.Buf.Free,
				"upload":     func() error { return s.Upload(ctx, img.Buf, []byte{1}) },
				"download":   func() error { return s.Download(ctx, []byte{1}, img.Buf) },
				"sync":       func() error { return s.Sync(ctx) },
				"op":         func() error { return s.ColorGrade(img, 0.5) },
				"stream":     s.Close,
			} {
				if err := f(); !errors.Is(err, ErrClosed) {
					t.Errorf("%s after Close = %v, want ErrClosed", name, err)
				}
			}
		})
	}
}

func TestLayout(t *testing.T) {
	tests := []struct {
		f      Format
		w, h   int
		planes [3]Plane
		size   int
	}{
		{RGB24, 4, 2, [3]Plane{{0, 12}}, 24},
		{YUV420P, 4, 2, [3]Plane{{0, 4}, {8, 2}, {10, 2}}, 12},
		{YUV420P, 5, 3, [3]Plane{{0, 5}, {15, 3}, {21, 3}}, 27},
		{NV12, 5, 3, [3]Plane{{0, 5}, {15, 6}}, 27},
		{F32Planar, 2, 2, [3]Plane{{0, 24}}, 48},
		{F32Packed, 3, 1, [3]Plane{{0, 36}}, 36},
	}
	for _, tt := range tests {
		p, n, err := Layout(tt.f, tt.w, tt.h)
		if err != nil || p != tt.planes || n != tt.size {
			t.Errorf("Layout(%v, %d, %d) = %v, %d, %v; want %v, %d", tt.f, tt.w, tt.h, p, n, err, tt.planes, tt.size)
		}
	}
	if _, _, err := Layout(Format(0), 2, 2); !errors.Is(err, ErrFormat) {
		t.Errorf("unknown format: %v", err)
	}
	if _, _, err := Layout(RGB24, 2, -1); !errors.Is(err, ErrSize) {
		t.Errorf("negative size: %v", err)
	}
}

// recorder is a backend that records launches: what the CUDA backend would
// be asked to run.
type recorder struct {
	cpuBackend
	launches []string
}

func (r *recorder) newStream() (streamBackend, error) { return &recStream{r: r}, nil }

type recStream struct {
	cpuStream
	r *recorder
}

func (s *recStream) launch(k kernels.Kernel, units [2]int, args []any) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %dx%d", k.Name, units[0], units[1])
	for _, a := range args {
		switch v := a.(type) {
		case devPtr:
			fmt.Fprintf(&b, " @%d+%d", v.off, v.n)
		default:
			fmt.Fprintf(&b, " %v", v)
		}
	}
	s.r.launches = append(s.r.launches, b.String())
	return nil
}

// TestLaunchArgs pins the grids and the CUDA argument lists (the parameter
// orders documented in pkg/gpu/kernels) that each operation launches.
func TestLaunchArgs(t *testing.T) {
	r := &recorder{}
	d := &Device{b: r, bufs: map[*Buffer]struct{}{}, streams: map[*Stream]struct{}{}}
	defer d.Close()
	s := mustStream(t, d)
	buf, err := d.Alloc(10000)
	if err != nil {
		t.Fatal(err)
	}
	yuv := Image{Buf: buf, Format: YUV420P, Width: 5, Height: 3, Planes: [3]Plane{{0, 8}, {100, 4}, {200, 6}}}
	nv12 := Image{Buf: buf, Format: NV12, Width: 5, Height: 3}
	rgb := Image{Buf: buf, Format: RGB24, Width: 5, Height: 3, Planes: [3]Plane{{1000, 16}}}
	rgbBig := Image{Buf: buf, Format: RGB24, Width: 9, Height: 7, Planes: [3]Plane{{2000, 30}}}
	f32 := Image{Buf: buf, Format: F32Planar, Width: 5, Height: 3, Planes: [3]Plane{{3000, 0}}}
	f32p := Image{Buf: buf, Format: F32Packed, Width: 5, Height: 3, Planes: [3]Plane{{4000, 60}}}
	ops := []func() error{
		func() error { return s.YUV420PToRGB(rgb, yuv) },
		func() error { return s.NV12ToRGB(rgb, nv12) },
		func() error { return s.RGBToYUV420P(yuv, rgb) },
		func() error { return s.Resize(rgb, rgbBig, image.Rect(1, 2, 8, 6)) },
		func() error { return s.Resize(rgbBig, rgb, image.Rectangle{}) },
		func() error { return s.ToFloat32(f32p, rgb) },
		func() error { return s.ColorGrade(rgb, 0.25) },
	}
	for i, op := range ops {
		if err := op(); err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
	}
	// F32Planar with Stride 0 but a non-zero offset: the stride must be
	// the packed one, so it is rejected rather than guessed.
	if err := s.ToFloat32(f32, rgb); !errors.Is(err, ErrSize) {
		t.Errorf("f32 with stride 0 at an offset: %v", err)
	}
	want := []string{
		"yuv420p_to_rgb24 5x3 @1000+47 16 @0+21 8 @100+7 4 @200+9 6 5 3",
		"nv12_to_rgb24 5x3 @1000+47 16 @0+15 5 @15+12 6 5 3",
		"rgb24_to_yuv420p 3x2 @0+21 8 @100+7 4 @200+9 6 @1000+47 16 5 3",
		"resize_rgb24 5x3 @1000+47 16 5 3 @2000+207 30 1 2 7 4",
		"resize_rgb24 9x7 @2000+207 30 9 7 @1000+47 16 0 0 5 3",
		"rgb24_to_f32 5x3 @4000+180 @1000+47 16 5 3 0",
		"colorgrade_rgb24 5x3 @1000+47 16 5 3 0.25",
	}
	if strings.Join(r.launches, "\n") != strings.Join(want, "\n") {
		t.Errorf("launches:\n%s\nwant:\n%s", strings.Join(r.launches, "\n"), strings.Join(want, "\n"))
	}
}

// hostImage is an image's bytes on the host, laid out like the device image.
type hostImage struct {
	img Image
	pix []byte
}

func (h hostImage) plane(i int) kernels.Plane {
	p := h.img.layout()[i]
	rb, rows := h.img.Format.plane(i, h.img.Width, h.img.Height)
	w, ht := h.img.Width, h.img.Height
	if i > 0 {
		w, ht = (w+1)/2, (ht+1)/2
	}
	return kernels.Plane{Pix: h.pix[p.Offset : p.Offset+p.Stride*(rows-1)+rb], Width: w, Height: ht, Stride: p.Stride}
}

func (h hostImage) floats() []float32 {
	p := h.img.layout()[0]
	rb, rows := h.img.Format.plane(0, h.img.Width, h.img.Height)
	b := h.pix[p.Offset : p.Offset+rb*rows]
	f := make([]float32, len(b)/4)
	for i := range f {
		f[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return f
}

// newImage allocates an image whose planes have padding between rows and
// an offset (packed when padded is false), fills it with random bytes, or
// with poison for an output, and uploads it.
func newImage(t *testing.T, d *Device, s *Stream, f Format, w, h int, padded, poison bool) hostImage {
	t.Helper()
	img := Image{Format: f, Width: w, Height: h}
	size := 0
	if padded && f != F32Planar && f != F32Packed {
		size = 7
		for i := 0; i < f.planes(); i++ {
			rb, rows := f.plane(i, w, h)
			img.Planes[i] = Plane{Offset: size, Stride: rb + 5}
			size += (rb+5)*rows + 3
		}
	} else {
		_, size, _ = Layout(f, w, h)
		if padded {
			img.Planes[0] = Plane{Offset: 8, Stride: 12 * w}
			size += 12
		}
	}
	b, err := d.Alloc(size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Free() })
	img.Buf = b
	pix := make([]byte, size)
	for i := range pix {
		if poison {
			pix[i] = 0xA5
		} else {
			pix[i] = byte(rand.Uint32())
		}
	}
	if err := s.Upload(context.Background(), b, pix); err != nil {
		t.Fatal(err)
	}
	return hostImage{img: img, pix: pix}
}

// reference runs a reference kernel, skipping the test while pkg/gpu/kernels
// still panics "not implemented".
func reference(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			if strings.Contains(fmt.Sprint(r), "not implemented") {
				t.Skipf("pkg/gpu/kernels: %v (the reference kernel has not landed yet)", r)
			}
			panic(r)
		}
	}()
	f()
}

// TestDispatch runs each operation on each device and compares the output
// buffer, padding included, with the reference kernel's on the same input:
// equal on the CPU backend (the same code), within 1 LSB (8-bit) or 1e-5
// relative (float) on CUDA. Outputs start poisoned, so an unwritten pixel
// differs.
func TestDispatch(t *testing.T) {
	type op struct {
		name           string
		dst, src       Format
		dw, dh, sw, sh int
		run            func(s *Stream, dst, src Image) error
		ref            func(dst, src hostImage)
	}
	sizes := [][2]int{{64, 48}, {33, 17}, {1, 1}, {2, 3}}
	var ops []op
	for _, sz := range sizes {
		w, h := sz[0], sz[1]
		ops = append(ops,
			op{"yuv420p_to_rgb24", RGB24, YUV420P, w, h, w, h,
				func(s *Stream, d, src Image) error { return s.YUV420PToRGB(d, src) },
				func(d, src hostImage) {
					kernels.YUV420PToRGB24(d.plane(0), src.plane(0), src.plane(1), src.plane(2))
				}},
			op{"nv12_to_rgb24", RGB24, NV12, w, h, w, h,
				func(s *Stream, d, src Image) error { return s.NV12ToRGB(d, src) },
				func(d, src hostImage) { kernels.NV12ToRGB24(d.plane(0), src.plane(0), src.plane(1)) }},
			op{"rgb24_to_yuv420p", YUV420P, RGB24, w, h, w, h,
				func(s *Stream, d, src Image) error { return s.RGBToYUV420P(d, src) },
				func(d, src hostImage) {
					kernels.RGB24ToYUV420P(d.plane(0), d.plane(1), d.plane(2), src.plane(0))
				}},
			op{"resize_rgb24 down", RGB24, RGB24, (w + 1) / 2, (h + 2) / 3, w, h,
				func(s *Stream, d, src Image) error { return s.Resize(d, src, image.Rectangle{}) },
				func(d, src hostImage) {
					kernels.ResizeRGB24(d.plane(0), src.plane(0), 0, 0, src.img.Width, src.img.Height)
				}},
			op{"resize_rgb24 crop up", RGB24, RGB24, 2*w + 1, 3 * h, w, h,
				func(s *Stream, d, src Image) error {
					return s.Resize(d, src, image.Rect(w/3, h/4, w/3+(w+1)/2, h/4+(h+1)/2))
				},
				func(d, src hostImage) {
					kernels.ResizeRGB24(d.plane(0), src.plane(0), w/3, h/4, (w+1)/2, (h+1)/2)
				}},
			op{"rgb24_to_f32 planar", F32Planar, RGB24, w, h, w, h,
				func(s *Stream, d, src Image) error { return s.ToFloat32(d, src) },
				func(d, src hostImage) {
					f := make([]float32, 3*w*h)
					kernels.RGB24ToF32(f, src.plane(0), true)
					off := d.img.layout()[0].Offset
					for i, v := range f {
						binary.LittleEndian.PutUint32(d.pix[off+4*i:], math.Float32bits(v))
					}
				}},
			op{"rgb24_to_f32 packed", F32Packed, RGB24, w, h, w, h,
				func(s *Stream, d, src Image) error { return s.ToFloat32(d, src) },
				func(d, src hostImage) {
					f := make([]float32, 3*w*h)
					kernels.RGB24ToF32(f, src.plane(0), false)
					off := d.img.layout()[0].Offset
					for i, v := range f {
						binary.LittleEndian.PutUint32(d.pix[off+4*i:], math.Float32bits(v))
					}
				}},
			op{"colorgrade_rgb24", RGB24, 0, w, h, 0, 0,
				func(s *Stream, d, _ Image) error { return s.ColorGrade(d, 0.7) },
				func(d, _ hostImage) { kernels.ColorGradeRGB24(d.plane(0), 0.7) }},
		)
	}
	ctx := context.Background()
	for _, d := range devices(t) {
		s := mustStream(t, d)
		for _, o := range ops {
			for _, padded := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/%dx%d<-%dx%d/padded=%v", d.Kind(), o.name, o.dw, o.dh, o.sw, o.sh, padded), func(t *testing.T) {
					inPlace := o.src == 0
					dst := newImage(t, d, s, o.dst, o.dw, o.dh, padded, !inPlace)
					var src hostImage
					if !inPlace {
						src = newImage(t, d, s, o.src, o.sw, o.sh, padded, false)
					}
					want := hostImage{img: dst.img, pix: append([]byte(nil), dst.pix...)}
					reference(t, func() { o.ref(want, src) })
					if err := o.run(s, dst.img, src.img); err != nil {
						t.Fatal(err)
					}
					got := hostImage{img: dst.img, pix: make([]byte, len(dst.pix))}
					if err := s.Download(ctx, got.pix, dst.img.Buf); err != nil {
						t.Fatal(err)
					}
					if err := s.Sync(ctx); err != nil {
						t.Fatal(err)
					}
					compare(t, d.Kind(), got, want)
				})
			}
		}
	}
}

func compare(t *testing.T, k Kind, got, want hostImage) {
	t.Helper()
	if k == KindCPU {
		if string(got.pix) != string(want.pix) {
			t.Fatalf("output differs from the reference kernel's")
		}
		return
	}
	if f := got.img.Format; f == F32Planar || f == F32Packed {
		g, w := got.floats(), want.floats()
		var num, den float64
		for i := range g {
			num += float64(g[i]-w[i]) * float64(g[i]-w[i])
			den += float64(w[i]) * float64(w[i])
		}
		if den == 0 && num != 0 || den != 0 && math.Sqrt(num/den) >= 1e-5 {
			t.Fatalf("relative error %g ≥ 1e-5", math.Sqrt(num/den))
		}
		return
	}
	for i := range got.pix {
		if diff := int(got.pix[i]) - int(want.pix[i]); diff < -1 || diff > 1 {
			t.Fatalf("byte %d = %d, reference %d (more than 1 LSB off)", i, got.pix[i], want.pix[i])
		}
	}
}

// TestConcurrentStreams runs streams in several goroutines on one device,
// with allocations and frees alongside (run it with -race).
func TestConcurrentStreams(t *testing.T) {
	ctx := context.Background()
	for _, d := range devices(t) {
		t.Run(string(d.Kind()), func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for g := range 8 {
				wg.Go(func() {
					errs <- func() error {
						s, err := d.NewStream()
						if err != nil {
							return err
						}
						defer s.Close()
						w, h := 16+g, 9+g
						src, err := d.NewImage(RGB24, w, h)
						if err != nil {
							return err
						}
						defer src.Buf.Free()
						dst, err := d.NewImage(YUV420P, w, h)
						if err != nil {
							return err
						}
						defer dst.Buf.Free()
						pix := make([]byte, src.Buf.Len())
						for i := range pix {
							pix[i] = byte(i * g)
						}
						out := make([]byte, dst.Buf.Len())
						for range 20 {
							if err := s.Upload(ctx, src.Buf, pix); err != nil {
								return err
							}
							if err := s.ColorGrade(src, 0.5); err != nil {
								return err
							}
							if err := s.RGBToYUV420P(dst, src); err != nil {
								return err
							}
							if err := s.Download(ctx, out, dst.Buf); err != nil {
								return err
							}
						}
						return s.Sync(ctx)
					}()
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
}
