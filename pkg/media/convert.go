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
// crops them into frame.Video. Its scalers are re-made only when the
// source size or format changes.
type converter struct {
	w, h   int
	cover  scaler // to the covering size, into buf
	buf    []byte // the covering picture, RGB24 with FFmpeg's padding, cropped from
	direct scaler // used when no crop is needed: straight into the Go frame
}

// convert fills v (w×h RGB24) from the decoded picture f.
func (c *converter) convert(f *astiav.Frame, v *frame.Video) error {
	if f.Width() <= 0 || f.Height() <= 0 {
		return fmt.Errorf("media: decoded picture has size %dx%d", f.Width(), f.Height())
	}
	cw, ch, ox, oy := coverRect(f.Width(), f.Height(), c.w, c.h)
	if cw == c.w && ch == c.h {
		// Same aspect: scale (or just convert) straight into the frame.
		if err := c.direct.ensure(f.Width(), f.Height(), f.PixelFormat(), c.w, c.h, astiav.PixelFormatRgb24); err != nil {
			return err
		}
		return c.direct.frameToPacked(f, v.Pix, v.Stride)
	}
	if err := c.cover.ensure(f.Width(), f.Height(), f.PixelFormat(), cw, ch, astiav.PixelFormatRgb24); err != nil {
		return err
	}
	if n := cw * ch * 3; len(c.buf) != n {
		c.buf = make([]byte, n, n+frame.PixPadding)
	}
	if err := c.cover.frameToPacked(f, c.buf, cw*3); err != nil {
		return err
	}
	// One copy, cropping as it goes.
	row := c.w * 3
	for y := range c.h {
		src := (y+oy)*cw*3 + ox*3
		copy(v.Pix[y*v.Stride:y*v.Stride+row], c.buf[src:src+row])
	}
	return nil
}

func (c *converter) free() {
	c.direct.free()
	c.cover.free()
	c.buf = nil
}
