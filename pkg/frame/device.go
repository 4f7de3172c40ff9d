package frame

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/gotrickle/gotrickle/pkg/gpu"
)

// A Video may hold its pixels on a GPU instead of in Pix: a device frame,
// made by a DeviceContext. Its pixels live in one place at a time. While
// they are on the device (OnDevice), Pix is nil and DeviceImage returns the
// RGB24 image to run kernels on; Host brings them to Pix (a download,
// counted) and from then on Pix holds them and the device image is stale
// until DeviceImage uploads them again (counted too). So a handler written
// for host frames still works on a device frame once Host has run, and
// nothing it writes to Pix is lost.
//
// The pixel accessors (RGBAt, SetRGB, At, Set, Tensor, ReplaceTensor, Clone
// …) call Host themselves, so host code never reads a nil Pix; reading Pix
// directly needs Host first.

// ErrNotOnDevice is returned by DeviceImage for a frame that has no device
// image (one made by NewVideo or GetVideo).
var ErrNotOnDevice = errors.New("frame: not a device frame")

// DeviceContext makes device frames for one gpu.Stream and counts the
// copies they make. Its frames' images come from a pool of RGB24 images
// kept per size; Close frees them. The stream is used from one goroutine at
// a time, as gpu.Stream requires: the frames of one DeviceContext must be
// worked on by one goroutine at a time (a processor's video worker).
type DeviceContext struct {
	dev *gpu.Device
	s   *gpu.Stream

	mu     sync.Mutex
	closed bool
	pool   map[[2]int][]gpu.Image
	lent   int

	uploads, downloads atomic.Uint64

	// The raw frames' conversion (raw.go): the picture's planes on the
	// device and its RGB24 conversion before scaling.
	rawMu          sync.Mutex
	rawPic, rawRGB gpu.Image
}

// NewDeviceContext makes device frames on s, a stream of dev.
func NewDeviceContext(dev *gpu.Device, s *gpu.Stream) *DeviceContext {
	return &DeviceContext{dev: dev, s: s, pool: map[[2]int][]gpu.Image{}}
}

// Device is the context's device.
func (c *DeviceContext) Device() *gpu.Device { return c.dev }

// Stream is the stream the context's frames copy and convert on.
func (c *DeviceContext) Stream() *gpu.Stream { return c.s }

// Uploads is how many times a frame's pixels went from Pix to the device
// (Upload, or DeviceImage after Host).
func (c *DeviceContext) Uploads() uint64 { return c.uploads.Load() }

// Downloads is how many times a frame's pixels went from the device to Pix
// (Host, or an accessor that needed them): the conversions on demand.
func (c *DeviceContext) Downloads() uint64 { return c.downloads.Load() }

// Image lends an RGB24 w×h image from the pool (its contents undefined);
// give it back with PutImage. Device frames do this themselves.
func (c *DeviceContext) Image(w, h int) (gpu.Image, error) {
	if err := checkSize(w, h); err != nil {
		return gpu.Image{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return gpu.Image{}, gpu.ErrClosed
	}
	k := [2]int{w, h}
	if l := c.pool[k]; len(l) > 0 {
		img := l[len(l)-1]
		c.pool[k] = l[:len(l)-1]
		c.lent++
		return img, nil
	}
	img, err := c.dev.NewImage(gpu.RGB24, w, h)
	if err != nil {
		return gpu.Image{}, err
	}
	c.lent++
	return img, nil
}

// PutImage gives back an image from Image. After Close it is freed.
func (c *DeviceContext) PutImage(img gpu.Image) {
	if img.Buf == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lent--
	if c.closed {
		_ = img.Buf.Free()
		return
	}
	k := [2]int{img.Width, img.Height}
	c.pool[k] = append(c.pool[k], img)
}

// Lent is how many images are out of the pool: frames not yet released.
func (c *DeviceContext) Lent() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lent
}

// Close frees the pooled images; images still lent are freed when they
// come back. It does not close the stream or the device.
func (c *DeviceContext) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	errs := c.freeScratch()
	for _, l := range c.pool {
		for _, img := range l {
			errs = append(errs, img.Buf.Free())
		}
	}
	c.pool = nil
	return errors.Join(errs...)
}

// NewVideo returns a w×h device frame whose pixels are on the device and
// undefined, for a kernel to write. Release gives its image back.
func (c *DeviceContext) NewVideo(w, h int) (*Video, error) {
	img, err := c.Image(w, h)
	if err != nil {
		return nil, err
	}
	return &Video{Width: w, Height: h, dev: &deviceState{c: c, img: img, onDevice: true}}, nil
}

// Upload moves a host frame's pixels to the device, making v a device
// frame of this context whose pixels are OnDevice; Pix goes back to the
// pool. A raw frame's picture is converted on the device instead (raw.go),
// counted as an upload too. A frame already on the device is left as it
// is; a device frame of another context is an error.
func (c *DeviceContext) Upload(ctx context.Context, v *Video) error {
	if v.released {
		return ErrReleased
	}
	if v.raw != nil {
		return c.uploadRaw(ctx, v)
	}
	if v.dev != nil {
		if v.dev.c != c {
			return fmt.Errorf("%w: frame belongs to another device context", gpu.ErrInvalid)
		}
		if v.dev.onDevice {
			return nil
		}
		return v.upload(ctx)
	}
	if err := v.Validate(); err != nil {
		return err
	}
	img, err := c.Image(v.Width, v.Height)
	if err != nil {
		return err
	}
	v.dev = &deviceState{c: c, img: img}
	if err := v.upload(ctx); err != nil {
		// Leave v a plain host frame, as it came.
		c.PutImage(img)
		v.dev = nil
		return err
	}
	return nil
}

// deviceState is a frame's device side.
type deviceState struct {
	c        *DeviceContext
	img      gpu.Image // RGB24, packed, the frame's size
	onDevice bool      // img holds the current pixels and Pix is nil
}

// IsDevice reports whether v is a device frame (its pixels may be on the
// device or, after Host, in Pix).
func (v *Video) IsDevice() bool { return v.dev != nil }

// OnDevice reports whether v's current pixels are on the device (and Pix
// is nil).
func (v *Video) OnDevice() bool { return v.dev != nil && v.dev.onDevice }

// DeviceImage returns v's pixels as a packed RGB24 image on the device and
// the stream to enqueue work on; kernels on that stream may read and write
// it. When Host has brought the pixels to Pix, they are uploaded first
// (counted) and Pix is given up, so the device holds the current pixels
// again. It returns ErrNotOnDevice for a host frame.
func (v *Video) DeviceImage(ctx context.Context) (gpu.Image, *gpu.Stream, error) {
	if v.released {
		return gpu.Image{}, nil, ErrReleased
	}
	if v.dev == nil {
		return gpu.Image{}, nil, ErrNotOnDevice
	}
	if !v.dev.onDevice {
		if err := v.upload(ctx); err != nil {
			return gpu.Image{}, nil, err
		}
	}
	return v.dev.img, v.dev.c.s, nil
}

// upload copies Pix into the device image (resizing it to the frame's
// size if a ReplaceTensorSize changed that) and gives up Pix.
func (v *Video) upload(ctx context.Context) error {
	d := v.dev
	if err := v.Validate(); err != nil {
		return err
	}
	if d.img.Width != v.Width || d.img.Height != v.Height {
		img, err := d.c.Image(v.Width, v.Height)
		if err != nil {
			return err
		}
		d.c.PutImage(d.img)
		d.img = img
	}
	row := 3 * v.Width
	src := v.Pix[:row*v.Height]
	if v.Stride != row {
		// The device image is packed: pack the rows first.
		packed := pixPool.get(row*v.Height + PixPadding)
		for y := range v.Height {
			copy(packed[y*row:(y+1)*row], v.Pix[y*v.Stride:y*v.Stride+row])
		}
		defer pixPool.put(packed)
		src = packed[:row*v.Height]
	}
	if err := d.c.s.Upload(ctx, d.img.Buf, src); err != nil {
		return err
	}
	d.c.uploads.Add(1)
	pixPool.put(v.own)
	v.Pix, v.own, v.Stride = nil, nil, 0
	d.onDevice = true
	return nil
}

// Host brings a device frame's pixels into Pix (packed, Stride = 3×Width),
// downloading them from the device after the stream's queued work (counted
// in DeviceContext.Downloads). From then on Pix holds the frame and the
// device image is stale until DeviceImage. It does nothing for a host
// frame or one already on the host.
func (v *Video) Host(ctx context.Context) error {
	if v.released {
		return ErrReleased
	}
	if v.raw != nil {
		return v.hostRaw()
	}
	if v.dev == nil || !v.dev.onDevice {
		return nil
	}
	d := v.dev
	n := 3 * v.Width * v.Height
	own := pixPool.get(n + PixPadding)
	if err := d.c.s.Download(ctx, own[:n], d.img.Buf); err != nil {
		pixPool.put(own)
		return err
	}
	d.c.downloads.Add(1)
	v.Pix, v.own, v.Stride = own[:n], own, 3*v.Width
	d.onDevice = false
	return nil
}

// mustHost is Host for the accessors that cannot return an error.
func (v *Video) mustHost() {
	if v.raw != nil || v.dev != nil && v.dev.onDevice {
		if err := v.Host(context.Background()); err != nil {
			panic(fmt.Errorf("frame: bringing a device frame to the host: %w", err))
		}
	}
}

// releaseDevice gives the device image back.
func (v *Video) releaseDevice() {
	if v.dev != nil {
		v.dev.c.PutImage(v.dev.img)
		v.dev = nil
	}
}

// hostUndefined moves a device frame to the host without copying its
// pixels, for a caller about to overwrite every one of them.
func (v *Video) hostUndefined() {
	if v.raw != nil {
		v.dropRaw()
		n := 3 * v.Width * v.Height
		own := pixPool.get(n + PixPadding)
		v.Pix, v.own, v.Stride = own[:n], own, 3*v.Width
		return
	}
	if v.dev == nil || !v.dev.onDevice {
		return
	}
	n := 3 * v.Width * v.Height
	own := pixPool.get(n + PixPadding)
	v.Pix, v.own, v.Stride = own[:n], own, 3*v.Width
	v.dev.onDevice = false
}

// DeviceContext is the context a device frame belongs to (nil for a host
// frame): a handler makes its new device frames there.
func (v *Video) DeviceContext() *DeviceContext {
	if v.dev == nil {
		return nil
	}
	return v.dev.c
}
