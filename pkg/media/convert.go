package media

import (
	"fmt"

	"github.com/asticode/go-astiav"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// coverRect is how a source picture maps onto a target: scaled to cover it
// with the aspect ratio kept (cw×ch ≥ w×h), then centre-cropped at (ox, oy).
// Integer arithmetic, so equal inputs always give equal crops.
func coverRect(sw, sh, w, h int) (cw, ch, ox, oy int) {
	if w*sh >= h*sw { // width decides
		cw, ch = w, (sh*w+sw-1)/sw
	} else {
		cw, ch = (sw*h+sh-1)/sh, h
	}
	return cw, ch, (cw - w) / 2, (ch - h) / 2
}

// converter scales decoded pictures to RGB24 covering the target size and
// crops them into frame.Video. It keeps its scaler and buffers while the
// source size and format stay the same.
type converter struct {
	w, h           int
	srcW, srcH     int
	srcFmt         astiav.PixelFormat
	cw, ch, ox, oy int
	sws            *astiav.SoftwareScaleContext
	dst            *astiav.Frame
	direct         scaler // used when no crop is needed: straight into the Go frame
}

func (c *converter) prepare(f *astiav.Frame) error {
	if c.sws != nil && f.Width() == c.srcW && f.Height() == c.srcH && f.PixelFormat() == c.srcFmt {
		return nil
	}
	c.free()
	if f.Width() <= 0 || f.Height() <= 0 {
		return fmt.Errorf("media: decoded picture has size %dx%d", f.Width(), f.Height())
	}
	c.srcW, c.srcH, c.srcFmt = f.Width(), f.Height(), f.PixelFormat()
	c.cw, c.ch, c.ox, c.oy = coverRect(c.srcW, c.srcH, c.w, c.h)
	sws, err := astiav.CreateSoftwareScaleContext(c.srcW, c.srcH, c.srcFmt, c.cw, c.ch, astiav.PixelFormatRgb24,
		astiav.NewSoftwareScaleContextFlags(astiav.SoftwareScaleContextFlagBicubic))
	if err != nil {
		return fmt.Errorf("media: scaler %dx%d %v -> %dx%d rgb24: %w", c.srcW, c.srcH, c.srcFmt, c.cw, c.ch, err)
	}
	c.sws = sws
	c.dst = astiav.AllocFrame()
	c.dst.SetWidth(c.cw)
	c.dst.SetHeight(c.ch)
	c.dst.SetPixelFormat(astiav.PixelFormatRgb24)
	if err := c.dst.AllocBuffer(0); err != nil {
		c.free()
		return fmt.Errorf("media: scaled picture buffer: %w", err)
	}
	return nil
}

// convert fills v (w×h RGB24) from the decoded picture f.
func (c *converter) convert(f *astiav.Frame, v *frame.Video) error {
	if cw, ch, _, _ := coverRect(f.Width(), f.Height(), c.w, c.h); cw == c.w && ch == c.h {
		// Same aspect: scale (or just convert) straight into the frame.
		if err := c.direct.ensure(f.Width(), f.Height(), f.PixelFormat(), c.w, c.h, astiav.PixelFormatRgb24); err != nil {
			return err
		}
		return c.direct.frameToPacked(f, v.Pix, v.Stride)
	}
	if err := c.prepare(f); err != nil {
		return err
	}
	if err := c.sws.ScaleFrame(f, c.dst); err != nil {
		return fmt.Errorf("media: scaling: %w", err)
	}
	// One copy out of FFmpeg's buffer, cropping as it goes.
	if err := copyOut(c.dst, 0, c.ox*3, c.oy, v.Pix, v.Stride, c.w*3, c.h); err != nil {
		return fmt.Errorf("media: copying the scaled picture: %w", err)
	}
	return nil
}

func (c *converter) free() {
	c.direct.free()
	if c.sws != nil {
		c.sws.Free()
		c.sws = nil
	}
	if c.dst != nil {
		c.dst.Free()
		c.dst = nil
	}
}
