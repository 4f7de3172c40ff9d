package frame

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
)

// A Video is something image/draw can paint on.
var _ draw.Image = (*Video)(nil)

// Video is one decoded video frame: packed RGB24, three bytes per pixel in
// R, G, B order, rows Stride bytes apart (Stride may exceed 3×Width, as
// FFmpeg aligns rows). It implements image.Image and draw.Image, so
// image/draw and the rest of the standard library can read and paint it.
//
// A Video must not be copied (`go vet` flags copies): the copy would own
// the same pooled buffer. Use Clone for an independent frame.
type Video struct {
	_ noCopy

	// Pix holds the pixels; the pixel at (x, y) starts at
	// Pix[y*Stride+3*x] (see PixOffset).
	Pix    []byte
	Stride int
	Width  int
	Height int

	// PTS is the presentation timestamp in TimeBase units, as the decoder
	// read it; the encoder keeps it, so a handler need not touch it.
	PTS      int64
	TimeBase Rational

	own      []byte       // the buffer this package allocated, given back by Release
	dev      *deviceState // set for a device frame (device.go)
	raw      *Raw         // set for a raw frame until it is converted (raw.go)
	released bool
}

// PixPadding is how many bytes of capacity a frame made by this package
// has past the end of Pix. FFmpeg's SIMD code may read (and write) a little
// past the last pixel it is given, as FFmpeg's own buffers allow for; the
// padding keeps that inside the frame's allocation.
const PixPadding = 64

// NewVideo returns a black width×height frame in fresh memory, with
// Stride = 3×width. Release gives its buffer to the pool like a GetVideo
// frame's. PTS and TimeBase are zero: set them if the frame goes to an
// encoder.
func NewVideo(width, height int) (*Video, error) {
	if err := checkSize(width, height); err != nil {
		return nil, err
	}
	own := make([]byte, 3*width*height+PixPadding)
	return &Video{Pix: own[:3*width*height], Stride: 3 * width, Width: width, Height: height, own: own}, nil
}

// GetVideo is NewVideo drawing on the pool: its pixels are NOT zeroed and may
// hold an earlier frame of the same size. That is deliberate, since decoders
// and handlers overwrite every pixel and clearing 2.7 MB per 720p frame would
// be wasted work; call clear(v.Pix), or use NewVideo, for a black frame.
// Hand the frame back with Release when done.
func GetVideo(width, height int) (*Video, error) {
	if err := checkSize(width, height); err != nil {
		return nil, err
	}
	own := pixPool.get(3*width*height + PixPadding)
	return &Video{Pix: own[:3*width*height], Stride: 3 * width, Width: width, Height: height, own: own}, nil
}

// Release gives the frame's pixel buffer back to the pool. The frame must
// not be used afterwards, nor any slice of its Pix: the memory will become
// another frame. To make such a bug loud rather than silent, Release sets
// Pix to nil and later calls on the frame panic or return ErrReleased.
// Releasing twice, or releasing nil, does nothing. A Pix the caller put in
// the frame is not pooled; only the buffer this package allocated is.
func (v *Video) Release() {
	if v == nil || v.released {
		return
	}
	own := v.own
	v.released, v.own, v.Pix = true, nil, nil
	pixPool.put(own)
	v.releaseDevice()
	v.dropRaw()
}

// Clone returns an independent copy of v (pixels, PTS and TimeBase) with a
// pooled buffer and Stride = 3×Width. It panics if v is not valid (see
// Validate), as a frame from this package always is. The copy is a host
// frame; a device frame's pixels are brought to the host first (Host).
func (v *Video) Clone() *Video {
	v.mustValidate()
	c, err := GetVideo(v.Width, v.Height)
	if err != nil {
		panic(err)
	}
	row := 3 * v.Width
	if v.Stride == row {
		copy(c.Pix, v.Pix[:row*v.Height])
	} else {
		for y := range v.Height {
			copy(c.Pix[y*row:(y+1)*row], v.Pix[y*v.Stride:y*v.Stride+row])
		}
	}
	c.PTS, c.TimeBase = v.PTS, v.TimeBase
	return c
}

// Validate reports whether v's fields describe a usable frame: a size
// within 1..MaxDimension, Stride ≥ 3×Width, a Pix long enough, and not
// released. Frames made by this package are always valid; one built by hand
// may not be.
func (v *Video) Validate() error {
	if v.released {
		return ErrReleased
	}
	if err := checkSize(v.Width, v.Height); err != nil {
		return err
	}
	if v.raw != nil {
		return nil // checked by NewRawVideo
	}
	if v.OnDevice() {
		if img := v.dev.img; img.Width != v.Width || img.Height != v.Height {
			return fmt.Errorf("%w: %d×%d frame on a %d×%d device image", ErrPixLength, v.Width, v.Height, img.Width, img.Height)
		}
		return nil
	}
	row := 3 * v.Width
	need := row
	if v.Height > 1 && v.Stride <= len(v.Pix) {
		need += (v.Height - 1) * v.Stride
	}
	if v.Stride < row || v.Height > 1 && v.Stride > len(v.Pix) || len(v.Pix) < need {
		return fmt.Errorf("%w: %d×%d frame has stride %d and %d bytes; it needs a stride of at least %d and (height−1)×stride+%d bytes",
			ErrPixLength, v.Width, v.Height, v.Stride, len(v.Pix), row, row)
	}
	return nil
}

func (v *Video) mustValidate() {
	v.mustHost()
	if err := v.Validate(); err != nil {
		panic(err)
	}
}

func (v *Video) mustLive() {
	if v.released {
		panic(ErrReleased)
	}
	v.mustHost()
}

func checkSize(width, height int) error {
	if width < 1 || height < 1 || width > MaxDimension || height > MaxDimension {
		return fmt.Errorf("%w: %d×%d (each side must be 1..%d)", ErrDimensions, width, height, MaxDimension)
	}
	return nil
}

// ColorModel implements image.Image: RGBModel.
func (v *Video) ColorModel() color.Model { return RGBModel }

// Bounds implements image.Image: (0,0)–(Width,Height).
func (v *Video) Bounds() image.Rectangle { return image.Rect(0, 0, v.Width, v.Height) }

// Opaque reports that every pixel is opaque, which lets image/draw and
// image/png skip alpha work.
func (v *Video) Opaque() bool { return true }

// At implements image.Image. The color is an RGB; outside the bounds it is
// black. Prefer RGBAt in loops: it does not box its result.
func (v *Video) At(x, y int) color.Color { return v.RGBAt(x, y) }

// Set implements draw.Image. A translucent color is composited over black
// (see RGBModel); points outside the bounds are ignored, like image.RGBA.
func (v *Video) Set(x, y int, c color.Color) { v.SetRGB(x, y, toRGB(c)) }

// RGBAt is At without the interface: the fast path for reading pixels.
func (v *Video) RGBAt(x, y int) RGB {
	v.mustLive()
	if !(image.Point{x, y}.In(v.Bounds())) {
		return RGB{}
	}
	i := v.PixOffset(x, y)
	s := v.Pix[i : i+3 : i+3]
	return RGB{s[0], s[1], s[2]}
}

// SetRGB is Set without the interface: the fast path for writing pixels.
func (v *Video) SetRGB(x, y int, c RGB) {
	v.mustLive()
	if !(image.Point{x, y}.In(v.Bounds())) {
		return
	}
	i := v.PixOffset(x, y)
	s := v.Pix[i : i+3 : i+3]
	s[0], s[1], s[2] = c.R, c.G, c.B
}

// PixOffset returns the index in Pix of the red byte of pixel (x, y).
func (v *Video) PixOffset(x, y int) int { return y*v.Stride + 3*x }
