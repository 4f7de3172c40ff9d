package frame

import (
	"bytes"
	"context"
	"errors"
	"image"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/gpu"
)

// newDeviceContext opens the CPU device: the same API and the same
// bookkeeping as CUDA, so the frame's rules are tested everywhere.
func newDeviceContext(t *testing.T) *DeviceContext {
	t.Helper()
	dev, err := gpu.Open(gpu.Config{Kind: gpu.KindCPU})
	if err != nil {
		t.Fatal(err)
	}
	s, err := dev.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	c := NewDeviceContext(dev, s)
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
		if err := dev.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// deviceBytes reads a device image straight from the device, without the
// frame's bookkeeping.
func deviceBytes(t *testing.T, c *DeviceContext, img gpu.Image) []byte {
	t.Helper()
	out := make([]byte, 3*img.Width*img.Height)
	if err := c.Stream().Download(context.Background(), out, img.Buf); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestUploadMovesThePixelsToTheDevice(t *testing.T) {
	ctx := context.Background()
	c := newDeviceContext(t)
	v := mustVideo(t, 7, 5)
	fillPattern(v)
	want := bytes.Clone(v.Pix)
	v.PTS = 42

	if err := c.Upload(ctx, v); err != nil {
		t.Fatal(err)
	}
	if !v.IsDevice() || !v.OnDevice() || v.Pix != nil {
		t.Fatalf("after Upload: IsDevice %v, OnDevice %v, Pix %d bytes; want a device frame with no host pixels", v.IsDevice(), v.OnDevice(), len(v.Pix))
	}
	if err := v.Validate(); err != nil {
		t.Fatalf("a device frame does not validate: %v", err)
	}
	img, s, err := v.DeviceImage(ctx)
	if err != nil || s != c.Stream() {
		t.Fatalf("DeviceImage: %v (stream %p, want %p)", err, s, c.Stream())
	}
	if img.Format != gpu.RGB24 || img.Width != 7 || img.Height != 5 {
		t.Fatalf("device image is %v %dx%d", img.Format, img.Width, img.Height)
	}
	if got := deviceBytes(t, c, img); !bytes.Equal(got, want) {
		t.Fatal("the device image does not hold the frame's pixels")
	}
	if c.Uploads() != 1 || c.Downloads() != 0 {
		t.Fatalf("uploads %d, downloads %d; want 1 and 0", c.Uploads(), c.Downloads())
	}
	if err := v.Host(ctx); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(v.Pix, want) || v.Stride != 21 || v.PTS != 42 || v.OnDevice() {
		t.Fatal("Host did not bring back the same pixels, packed, with the PTS kept")
	}
	if c.Downloads() != 1 {
		t.Fatalf("downloads %d, want 1", c.Downloads())
	}
	if err := v.Host(ctx); err != nil || c.Downloads() != 1 {
		t.Fatalf("a second Host copied again (%v, %d downloads)", err, c.Downloads())
	}
	v.Release()
	if c.Lent() != 0 {
		t.Fatalf("%d images still lent after Release", c.Lent())
	}
}

func TestUploadPacksAPaddedFrame(t *testing.T) {
	ctx := context.Background()
	c := newDeviceContext(t)
	pix := make([]byte, 4*16)
	for i := range pix {
		pix[i] = byte(i)
	}
	v := &Video{Pix: pix, Stride: 16, Width: 4, Height: 4}
	if err := c.Upload(ctx, v); err != nil {
		t.Fatal(err)
	}
	img, _, err := v.DeviceImage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := deviceBytes(t, c, img)
	for y := range 4 {
		if !bytes.Equal(got[y*12:(y+1)*12], pix[y*16:y*16+12]) {
			t.Fatalf("row %d on the device is %v, want %v", y, got[y*12:(y+1)*12], pix[y*16:y*16+12])
		}
	}
	v.Release()
}

func TestAccessorsBringDevicePixelsToTheHostOnDemand(t *testing.T) {
	ctx := context.Background()
	c := newDeviceContext(t)
	v := mustVideo(t, 3, 2)
	v.SetRGB(2, 1, RGB{10, 20, 30})
	if err := c.Upload(ctx, v); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		use  func(v *Video) bool
	}{
		{"RGBAt reads the pixel", func(v *Video) bool { return v.RGBAt(2, 1) == RGB{10, 20, 30} }},
		{"At reads the pixel", func(v *Video) bool { return v.At(2, 1) == RGB{10, 20, 30} }},
		{"Tensor has the pixel", func(v *Video) bool {
			tn := v.Tensor()
			defer ReleaseTensor(tn)
			return tn[(1*3+2)*3] == float32(10)/255
		}},
		{"Clone copies the pixel", func(v *Video) bool {
			cl := v.Clone()
			defer cl.Release()
			return !cl.IsDevice() && cl.RGBAt(2, 1) == RGB{10, 20, 30}
		}},
	} {
		t.Run(tc.name+" after one download", func(t *testing.T) {
			if _, _, err := v.DeviceImage(ctx); err != nil { // back to the device
				t.Fatal(err)
			}
			before := c.Downloads()
			if !tc.use(v) {
				t.Fatal("wrong pixel")
			}
			if c.Downloads() != before+1 || v.OnDevice() {
				t.Fatalf("downloads went %d → %d; want one download and the frame on the host", before, c.Downloads())
			}
		})
	}
	v.Release()
}

func TestHostEditsReachTheDeviceAgain(t *testing.T) {
	ctx := context.Background()
	c := newDeviceContext(t)
	v := mustVideo(t, 4, 4)
	if err := c.Upload(ctx, v); err != nil {
		t.Fatal(err)
	}
	v.SetRGB(1, 1, RGB{200, 100, 50}) // downloads, then edits Pix
	img, _, err := v.DeviceImage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Uploads() != 2 || !v.OnDevice() || v.Pix != nil {
		t.Fatalf("uploads %d, OnDevice %v; want the edit uploaded and Pix given up", c.Uploads(), v.OnDevice())
	}
	got := deviceBytes(t, c, img)
	if i := (1*4 + 1) * 3; !bytes.Equal(got[i:i+3], []byte{200, 100, 50}) {
		t.Fatalf("device pixel is %v, want the host edit", got[i:i+3])
	}
	v.Release()
}

func TestReplaceTensorOnADeviceFrameSkipsTheDownload(t *testing.T) {
	ctx := context.Background()
	c := newDeviceContext(t)
	v := mustVideo(t, 2, 2)
	if err := c.Upload(ctx, v); err != nil {
		t.Fatal(err)
	}
	tn := make([]float32, TensorLen(2, 2))
	for i := range tn {
		tn[i] = 1
	}
	if err := v.ReplaceTensor(tn); err != nil {
		t.Fatal(err)
	}
	if c.Downloads() != 0 {
		t.Fatalf("%d downloads for a frame about to be overwritten", c.Downloads())
	}
	if v.RGBAt(1, 1) != (RGB{255, 255, 255}) {
		t.Fatal("the tensor did not land in the pixels")
	}
	if err := v.ReplaceTensor(tn[:3]); !errors.Is(err, ErrTensorLength) {
		t.Fatalf("a short tensor gave %v", err)
	}

	// A new size: the next DeviceImage is an image of that size.
	big := make([]float32, TensorLen(6, 4))
	big[0] = 1
	if err := v.ReplaceTensorSize(6, 4, big); err != nil {
		t.Fatal(err)
	}
	img, _, err := v.DeviceImage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if img.Width != 6 || img.Height != 4 || v.Width != 6 {
		t.Fatalf("device image %dx%d after a resize to 6x4", img.Width, img.Height)
	}
	if got := deviceBytes(t, c, img); got[0] != 255 || got[1] != 0 {
		t.Fatalf("resized frame on the device starts %v", got[:3])
	}
	v.Release()
	if c.Lent() != 0 {
		t.Fatalf("%d images lent after Release", c.Lent())
	}
}

func TestKernelsWorkOnTheFramesDeviceImage(t *testing.T) {
	ctx := context.Background()
	c := newDeviceContext(t)
	dst, err := c.NewVideo(4, 2)
	if err != nil {
		t.Fatal(err)
	}
	src := mustVideo(t, 4, 2)
	fillPattern(src)
	want := bytes.Clone(src.Pix)
	if err := c.Upload(ctx, src); err != nil {
		t.Fatal(err)
	}
	si, s, _ := src.DeviceImage(ctx)
	di, _, _ := dst.DeviceImage(ctx)
	// A resize at scale 1 is an exact copy, device to device.
	if err := s.Resize(di, si, image.Rect(0, 0, 4, 2)); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := dst.Host(ctx); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dst.Pix, want) {
		t.Fatal("the kernel's output is not what Host returns")
	}
	src.Release()
	dst.Release()
}

func TestDeviceFrameMisuseIsAnError(t *testing.T) {
	ctx := context.Background()
	c, other := newDeviceContext(t), newDeviceContext(t)
	host := mustVideo(t, 2, 2)
	if _, _, err := host.DeviceImage(ctx); !errors.Is(err, ErrNotOnDevice) {
		t.Fatalf("DeviceImage of a host frame: %v", err)
	}
	if err := host.Host(ctx); err != nil {
		t.Fatalf("Host of a host frame: %v", err)
	}
	if err := c.Upload(ctx, host); err != nil {
		t.Fatal(err)
	}
	if err := other.Upload(ctx, host); !errors.Is(err, gpu.ErrInvalid) {
		t.Fatalf("upload into another context: %v", err)
	}
	host.Release()
	if _, _, err := host.DeviceImage(ctx); !errors.Is(err, ErrReleased) {
		t.Fatalf("DeviceImage after Release: %v", err)
	}
	if err := host.Host(ctx); !errors.Is(err, ErrReleased) {
		t.Fatalf("Host after Release: %v", err)
	}
	if _, err := c.NewVideo(0, 3); !errors.Is(err, ErrDimensions) {
		t.Fatalf("NewVideo(0, 3): %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	v := mustVideo(t, 2, 2)
	if err := c.Upload(cancelled, v); !errors.Is(err, context.Canceled) || v.IsDevice() || v.Pix == nil {
		t.Fatalf("a cancelled upload: %v (device %v); want the frame left on the host", err, v.IsDevice())
	}
	v.Release()
	if c.Lent() != 0 {
		t.Fatalf("%d images lent", c.Lent())
	}
}

func TestImagesComingBackAfterCloseAreFreed(t *testing.T) {
	c := newDeviceContext(t)
	v, err := c.NewVideo(2, 2)
	if err != nil {
		t.Fatal(err)
	}
	img, _, _ := v.DeviceImage(context.Background())
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	v.Release()
	if err := img.Buf.Free(); !errors.Is(err, gpu.ErrFreed) {
		t.Fatalf("the image was not freed when it came back after Close: %v", err)
	}
	if _, err := c.NewVideo(2, 2); !errors.Is(err, gpu.ErrClosed) {
		t.Fatalf("NewVideo after Close: %v", err)
	}
}
