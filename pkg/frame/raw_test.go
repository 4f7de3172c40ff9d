package frame

import (
	"bytes"
	"context"
	"errors"
	"image"
	"math/rand/v2"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/gpu"
	"github.com/gotrickle/gotrickle/pkg/gpu/kernels"
)

// rawPicture is a random w×h picture of format f, packed (gpu.Layout),
// with a Release that counts.
type rawPicture struct {
	r        Raw
	released int
}

func newRawPicture(t *testing.T, f gpu.Format, w, h int, seed uint64) *rawPicture {
	t.Helper()
	_, size, err := gpu.Layout(f, w, h)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	pix := make([]byte, size)
	for i := range pix {
		pix[i] = byte(rng.IntN(256))
	}
	p := &rawPicture{}
	p.r = Raw{Format: f, Width: w, Height: h, Host: pix, Release: func() { p.released++ }}
	return p
}

// onDevice describes p's planes as device planes of the CPU backend (whose
// device memory is host memory), as NVDEC's would be on CUDA.
func (p *rawPicture) onDevice(withDownload bool) Raw {
	r := p.r
	pl, _, _ := gpu.Layout(r.Format, r.Width, r.Height)
	r.Device = gpu.DevicePlanes{Format: r.Format, Width: r.Width, Height: r.Height}
	for i := 0; i < 2; i++ {
		r.Device.Mem[i] = r.Host[pl[i].Offset:]
		r.Device.Pitch[i] = pl[i].Stride
	}
	host := r.Host
	r.Host = nil
	if withDownload {
		r.Download = func(dst []byte) error { copy(dst, host); return nil }
	}
	return r
}

// wantRGB is the reference conversion: the picture to RGB24 at its size,
// then the crop scaled to w×h, by the Go kernels.
func wantRGB(r Raw, w, h int) []byte {
	full := kernels.Plane{Pix: make([]byte, 3*r.Width*r.Height), Width: r.Width, Height: r.Height, Stride: 3 * r.Width}
	hostToRGB(full, &r, r.Host)
	c := r.Crop
	if c.Empty() {
		c = image.Rect(0, 0, r.Width, r.Height)
	}
	out := kernels.Plane{Pix: make([]byte, 3*w*h), Width: w, Height: h, Stride: 3 * w}
	kernels.ResizeRGB24(out, full, c.Min.X, c.Min.Y, c.Dx(), c.Dy())
	return out.Pix
}

func TestRawFramesConvertOnTheHostAndOnTheDeviceAlike(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		f      gpu.Format
		pw, ph int
		crop   image.Rectangle
		w, h   int
	}{
		{"a yuv420p picture at its own size", gpu.YUV420P, 64, 36, image.Rectangle{}, 64, 36},
		{"an odd-sized yuv420p picture", gpu.YUV420P, 33, 17, image.Rectangle{}, 33, 17},
		{"a yuv420p picture cropped square and scaled down", gpu.YUV420P, 64, 36, image.Rect(14, 0, 50, 36), 24, 24},
		{"an nv12 picture scaled up", gpu.NV12, 32, 18, image.Rectangle{}, 48, 27},
		{"an nv12 picture cropped", gpu.NV12, 40, 40, image.Rect(3, 5, 35, 29), 32, 24},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newRawPicture(t, tc.f, tc.pw, tc.ph, 3)
			p.r.Crop = tc.crop
			want := wantRGB(p.r, tc.w, tc.h)

			hv, err := NewRawVideo(tc.w, tc.h, p.r)
			if err != nil {
				t.Fatal(err)
			}
			if !hv.IsRaw() || hv.Pix != nil || hv.OnDevice() {
				t.Fatalf("a new raw frame: IsRaw %v, Pix %d bytes, OnDevice %v", hv.IsRaw(), len(hv.Pix), hv.OnDevice())
			}
			if err := hv.Validate(); err != nil {
				t.Fatalf("a raw frame is not valid: %v", err)
			}
			if err := hv.Host(ctx); err != nil {
				t.Fatal(err)
			}
			if hv.IsRaw() || !bytes.Equal(hv.Pix, want) || hv.Stride != 3*tc.w {
				t.Errorf("host conversion: IsRaw %v, stride %d; pixels equal the reference: %v", hv.IsRaw(), hv.Stride, bytes.Equal(hv.Pix, want))
			}
			if p.released != 1 {
				t.Errorf("the picture was released %d times after the host conversion, want 1", p.released)
			}
			hv.Release()

			// The same picture through a device context: uploaded (host
			// planes) and, for NV12, copied from device planes.
			sources := map[string]Raw{"host planes": p.r}
			if tc.f == gpu.NV12 {
				sources["device planes"] = p.onDevice(false)
			}
			for name, r := range sources {
				c := newDeviceContext(t)
				p.released = 0
				dv, err := NewRawVideo(tc.w, tc.h, r)
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Upload(ctx, dv); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if dv.IsRaw() || !dv.OnDevice() || c.Uploads() != 1 || p.released != 1 {
					t.Fatalf("%s: after Upload IsRaw %v, OnDevice %v, uploads %d, released %d", name, dv.IsRaw(), dv.OnDevice(), c.Uploads(), p.released)
				}
				img, _, err := dv.DeviceImage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if got := deviceBytes(t, c, img); !bytes.Equal(got, want) {
					t.Errorf("%s: the device conversion differs from the host one", name)
				}
				dv.Release()
				if c.Lent() != 0 {
					t.Errorf("%s: %d images still lent after Release", name, c.Lent())
				}
			}
		})
	}
}

func TestRawFramesConvertWhenAPixelIsRead(t *testing.T) {
	p := newRawPicture(t, gpu.YUV420P, 16, 8, 5)
	want := wantRGB(p.r, 16, 8)
	v, err := NewRawVideo(16, 8, p.r)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.RGBAt(3, 2); got != (RGB{want[2*48+9], want[2*48+10], want[2*48+11]}) {
		t.Errorf("RGBAt(3, 2) of a raw frame = %v", got)
	}
	c := v.Clone()
	if !bytes.Equal(c.Pix, want) {
		t.Error("a clone of a raw frame differs from the conversion")
	}
	c.Release()
	v.Release()
	if p.released != 1 {
		t.Errorf("released %d times, want 1", p.released)
	}
}

func TestRawFramesGiveThePictureBackOnce(t *testing.T) {
	t.Run("released without being converted", func(t *testing.T) {
		p := newRawPicture(t, gpu.NV12, 8, 8, 1)
		v, err := NewRawVideo(8, 8, p.r)
		if err != nil {
			t.Fatal(err)
		}
		v.Release()
		v.Release()
		if p.released != 1 {
			t.Errorf("released %d times, want 1", p.released)
		}
	})
	t.Run("overwritten by a tensor of another size", func(t *testing.T) {
		p := newRawPicture(t, gpu.YUV420P, 8, 8, 1)
		v, err := NewRawVideo(8, 8, p.r)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.ReplaceTensorSize(4, 4, make([]float32, TensorLen(4, 4))); err != nil {
			t.Fatal(err)
		}
		if v.IsRaw() || p.released != 1 || len(v.Pix) != 48 {
			t.Errorf("after ReplaceTensorSize: IsRaw %v, released %d, Pix %d bytes", v.IsRaw(), p.released, len(v.Pix))
		}
		v.Release()
	})
}

func TestRawFramesRefuseWhatCannotBeConverted(t *testing.T) {
	good := func() (*rawPicture, Raw) {
		p := newRawPicture(t, gpu.YUV420P, 16, 16, 9)
		return p, p.r
	}
	for _, tc := range []struct {
		name string
		w, h int
		edit func(r *Raw)
		want error
	}{
		{"an RGB picture", 16, 16, func(r *Raw) { r.Format = gpu.RGB24 }, gpu.ErrFormat},
		{"a frame of size zero", 0, 16, func(*Raw) {}, ErrDimensions},
		{"a crop outside the picture", 16, 16, func(r *Raw) { r.Crop = image.Rect(8, 8, 24, 24) }, ErrDimensions},
		{"planes too short", 16, 16, func(r *Raw) { r.Host = r.Host[:100] }, ErrPixLength},
		{"device planes of another size", 16, 16, func(r *Raw) {
			r.Host = nil
			r.Device = gpu.DevicePlanes{Format: gpu.YUV420P, Width: 8, Height: 16}
		}, gpu.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, r := good()
			tc.edit(&r)
			if _, err := NewRawVideo(tc.w, tc.h, r); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
			if p.released != 1 {
				t.Errorf("the refused picture was released %d times, want 1", p.released)
			}
		})
	}
	t.Run("device planes with no way to the host", func(t *testing.T) {
		p := newRawPicture(t, gpu.NV12, 8, 8, 2)
		v, err := NewRawVideo(8, 8, p.onDevice(false))
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Host(context.Background()); !errors.Is(err, ErrNoHostPath) {
			t.Errorf("Host: %v, want ErrNoHostPath", err)
		}
		v.Release()
		if p.released != 1 {
			t.Errorf("released %d times, want 1", p.released)
		}
	})
	t.Run("device planes copied out by Download", func(t *testing.T) {
		p := newRawPicture(t, gpu.NV12, 8, 6, 2)
		want := wantRGB(p.r, 8, 6)
		v, err := NewRawVideo(8, 6, p.onDevice(true))
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Host(context.Background()); err != nil || !bytes.Equal(v.Pix, want) {
			t.Errorf("Host: %v; pixels equal the conversion: %v", err, bytes.Equal(v.Pix, want))
		}
		v.Release()
	})
}
