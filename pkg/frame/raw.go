package frame

import (
	"context"
	"errors"
	"fmt"
	"image"

	"github.com/gotrickle/gotrickle/pkg/gpu"
	"github.com/gotrickle/gotrickle/pkg/gpu/kernels"
)

// A raw frame holds a decoded picture as the decoder gave it, YUV 4:2:0
// planes of the picture's own size, instead of RGB24 pixels of the
// frame's: the conversion (YUV → RGB, then the crop scaled to the frame's
// size) is left for later, so that it can run where the frame goes. A
// DeviceContext's Upload runs it on the device (the planes go up, or, for
// a picture NVDEC left on the device, are copied there, and the kernels
// convert and scale); Host, and so every pixel accessor, runs the same
// arithmetic on the CPU (pkg/gpu/kernels). Either way the frame then is an
// ordinary device or host frame, and the picture is given back.

// ErrNoHostPath: a raw frame whose planes are on the device and that can
// neither be copied out (no Raw.Download) nor uploaded.
var ErrNoHostPath = errors.New("frame: raw device picture cannot reach the host")

// Raw is a decoded picture kept for a raw frame (NewRawVideo).
type Raw struct {
	// Format is gpu.YUV420P or gpu.NV12 (8-bit, BT.601 limited range:
	// what the kernels convert).
	Format gpu.Format
	// Width and Height are the picture's size.
	Width, Height int
	// Crop is the part of the picture the frame shows, scaled to the
	// frame's size; the zero rectangle means all of it.
	Crop image.Rectangle
	// Host holds the planes in host memory, packed as gpu.Layout gives
	// them. Nil when the planes are on the device (Device).
	Host []byte
	// Device holds the planes in device memory (FFmpeg's NVDEC), when
	// Host is nil.
	Device gpu.DevicePlanes
	// Download copies device planes into dst, packed as gpu.Layout gives
	// them (len(dst) is the layout's size): how a raw device frame reaches
	// the host without a device context. Nil if it cannot.
	Download func(dst []byte) error
	// Release, if set, is called once when the frame is done with the
	// planes (converted or released).
	Release func()
}

// NewRawVideo returns a w×h frame whose pixels are r.Crop of r's picture
// scaled to w×h, converted when first needed (see Raw). The frame owns r:
// its Release is called when the frame no longer needs it, also when
// NewRawVideo fails.
func NewRawVideo(w, h int, r Raw) (*Video, error) {
	if err := checkSize(w, h); err != nil {
		r.release()
		return nil, err
	}
	if err := r.check(); err != nil {
		r.release()
		return nil, err
	}
	if r.Crop.Empty() {
		r.Crop = image.Rect(0, 0, r.Width, r.Height)
	}
	return &Video{Width: w, Height: h, raw: &r}, nil
}

func (r *Raw) release() {
	if r.Release != nil {
		r.Release()
		r.Release = nil
	}
}

func (r *Raw) check() error {
	if r.Format != gpu.YUV420P && r.Format != gpu.NV12 {
		return fmt.Errorf("%w: raw picture format %v (want yuv420p or nv12)", gpu.ErrFormat, r.Format)
	}
	if err := checkSize(r.Width, r.Height); err != nil {
		return err
	}
	if !r.Crop.Empty() && !r.Crop.In(image.Rect(0, 0, r.Width, r.Height)) {
		return fmt.Errorf("%w: crop %v outside the %d×%d picture", ErrDimensions, r.Crop, r.Width, r.Height)
	}
	_, size, err := gpu.Layout(r.Format, r.Width, r.Height)
	if err != nil {
		return err
	}
	if r.Host != nil {
		if len(r.Host) < size {
			return fmt.Errorf("%w: raw %v %d×%d picture of %d bytes, needs %d", ErrPixLength, r.Format, r.Width, r.Height, len(r.Host), size)
		}
		return nil
	}
	d := r.Device
	if d.Format != r.Format || d.Width != r.Width || d.Height != r.Height {
		return fmt.Errorf("%w: raw picture is %v %d×%d but its device planes are %v %d×%d",
			gpu.ErrInvalid, r.Format, r.Width, r.Height, d.Format, d.Width, d.Height)
	}
	return nil
}

// IsRaw reports whether v still holds a picture not yet converted (see
// Raw): Pix is nil and the frame is not on a device.
func (v *Video) IsRaw() bool { return v.raw != nil }

// hostRaw converts a raw frame on the CPU into Pix.
func (v *Video) hostRaw() error {
	r := v.raw
	_, size, err := gpu.Layout(r.Format, r.Width, r.Height)
	if err != nil {
		return err
	}
	planes := r.Host
	if planes == nil {
		if r.Download == nil {
			return ErrNoHostPath
		}
		buf := pixPool.get(size)
		defer pixPool.put(buf)
		if err := r.Download(buf[:size]); err != nil {
			return fmt.Errorf("frame: copying a raw picture from the device: %w", err)
		}
		planes = buf[:size]
	}
	n := 3 * v.Width * v.Height
	own := pixPool.get(n + PixPadding)
	dst := kernels.Plane{Pix: own[:n], Width: v.Width, Height: v.Height, Stride: 3 * v.Width}
	full := image.Rect(0, 0, r.Width, r.Height)
	if r.Crop == full && r.Width == v.Width && r.Height == v.Height {
		hostToRGB(dst, r, planes)
	} else {
		rn := 3 * r.Width * r.Height
		rgb := pixPool.get(rn)
		src := kernels.Plane{Pix: rgb[:rn], Width: r.Width, Height: r.Height, Stride: 3 * r.Width}
		hostToRGB(src, r, planes)
		c := r.Crop
		kernels.ResizeRGB24(dst, src, c.Min.X, c.Min.Y, c.Dx(), c.Dy())
		pixPool.put(rgb)
	}
	v.Pix, v.own, v.Stride = own[:n], own, 3*v.Width
	v.dropRaw()
	return nil
}

// hostToRGB converts packed planes of r's format and size into dst.
func hostToRGB(dst kernels.Plane, r *Raw, planes []byte) {
	pl, _, _ := gpu.Layout(r.Format, r.Width, r.Height)
	plane := func(i, w, h int) kernels.Plane {
		return kernels.Plane{Pix: planes[pl[i].Offset:], Width: w, Height: h, Stride: pl[i].Stride}
	}
	cw, ch := (r.Width+1)/2, (r.Height+1)/2
	if r.Format == gpu.NV12 {
		kernels.NV12ToRGB24(dst, plane(0, r.Width, r.Height), plane(1, cw, ch))
		return
	}
	kernels.YUV420PToRGB24(dst, plane(0, r.Width, r.Height), plane(1, cw, ch), plane(2, cw, ch))
}

// dropRaw gives the picture back.
func (v *Video) dropRaw() {
	if v.raw != nil {
		v.raw.release()
		v.raw = nil
	}
}

// uploadRaw converts a raw frame on c's stream into a pooled device image
// of the frame's size and makes v a device frame of c.
func (c *DeviceContext) uploadRaw(ctx context.Context, v *Video) error {
	r := v.raw
	out, err := c.Image(v.Width, v.Height)
	if err != nil {
		return err
	}
	if err := c.convertRaw(ctx, out, r); err != nil {
		c.PutImage(out)
		return err
	}
	c.uploads.Add(1)
	v.dropRaw()
	v.dev = &deviceState{c: c, img: out, onDevice: true}
	return nil
}

// convertRaw brings r's planes onto the device (an upload, or a copy from
// the decoder's device memory) and converts them into out.
func (c *DeviceContext) convertRaw(ctx context.Context, out gpu.Image, r *Raw) error {
	s := c.s
	var err error
	c.rawMu.Lock()
	defer c.rawMu.Unlock()
	if c.rawPic, err = c.scratch(c.rawPic, r.Format, r.Width, r.Height); err != nil {
		return err
	}
	if r.Host != nil {
		err = s.Upload(ctx, c.rawPic.Buf, r.Host[:c.rawPic.Buf.Len()])
	} else {
		err = s.CopyPlanes(ctx, c.rawPic, r.Device)
	}
	if err != nil {
		return err
	}
	rgb := out
	full := image.Rect(0, 0, r.Width, r.Height)
	if r.Crop != full || r.Width != out.Width || r.Height != out.Height {
		if c.rawRGB, err = c.scratch(c.rawRGB, gpu.RGB24, r.Width, r.Height); err != nil {
			return err
		}
		rgb = c.rawRGB
	}
	if r.Format == gpu.NV12 {
		err = s.NV12ToRGB(rgb, c.rawPic)
	} else {
		err = s.YUV420PToRGB(rgb, c.rawPic)
	}
	if err != nil {
		return err
	}
	if rgb.Buf != out.Buf {
		return s.Resize(out, rgb, r.Crop)
	}
	return nil
}

// scratch returns img when it is a w×h image of format f, else a new one
// (the old one freed once the stream's work on it is done). The stream
// orders every use of a scratch image, so one of each kind is enough.
func (c *DeviceContext) scratch(img gpu.Image, f gpu.Format, w, h int) (gpu.Image, error) {
	if img.Buf != nil && img.Format == f && img.Width == w && img.Height == h {
		return img, nil
	}
	if img.Buf != nil {
		if err := c.s.Sync(context.Background()); err != nil {
			return gpu.Image{}, err
		}
		_ = img.Buf.Free()
	}
	return c.dev.NewImage(f, w, h)
}

// freeScratch frees the raw conversion's images (Close).
func (c *DeviceContext) freeScratch() []error {
	c.rawMu.Lock()
	defer c.rawMu.Unlock()
	var errs []error
	for _, img := range []*gpu.Image{&c.rawPic, &c.rawRGB} {
		if img.Buf != nil {
			errs = append(errs, img.Buf.Free())
			*img = gpu.Image{}
		}
	}
	return errs
}
