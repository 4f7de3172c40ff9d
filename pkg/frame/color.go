package frame

import "image/color"

// RGB is one pixel of a Video: 8-bit red, green and blue with no alpha.
// There is no such type in image/color (color.RGBA carries alpha), and
// returning one from Video.At keeps At exact.
type RGB struct {
	R, G, B uint8
}

// RGBA implements color.Color: an RGB pixel is fully opaque.
func (c RGB) RGBA() (r, g, b, a uint32) {
	r = uint32(c.R) * 0x101
	g = uint32(c.G) * 0x101
	b = uint32(c.B) * 0x101
	return r, g, b, 0xffff
}

// RGBModel converts any color to RGB. color.Color values are
// alpha-premultiplied, so dropping the alpha composites a translucent color
// over black, the same thing an RGB24 encoder does to an RGBA image.
var RGBModel color.Model = color.ModelFunc(rgbModel)

func rgbModel(c color.Color) color.Color { return toRGB(c) }

// toRGB converts c, with fast paths for the types image/draw and most
// callers pass.
func toRGB(c color.Color) RGB {
	switch c := c.(type) {
	case RGB:
		return c
	case color.RGBA:
		return RGB{c.R, c.G, c.B}
	}
	r, g, b, _ := c.RGBA()
	return RGB{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
}
