package gpu

import (
	"fmt"
)

// Format is an image's pixel layout.
type Format int

const (
	// RGB24 is packed 8-bit R, G, B: one plane, 3 bytes a pixel.
	RGB24 Format = iota + 1
	// YUV420P is planar Y, U, V (8-bit, BT.601 limited range); U and V are
	// ⌈w/2⌉×⌈h/2⌉.
	YUV420P
	// NV12 is a Y plane and an interleaved UV plane of ⌈w/2⌉×⌈h/2⌉ pairs
	// (NVDEC's output).
	NV12
	// F32Planar is float32 R, G, B planes in [0, 1] (3×H×W, what models
	// take), little-endian, no padding.
	F32Planar
	// F32Packed is float32 RGB triples in [0, 1] (H×W×3, PyTrickle's tensor
	// layout), little-endian, no padding.
	F32Packed
)

func (f Format) String() string {
	switch f {
	case RGB24:
		return "rgb24"
	case YUV420P:
		return "yuv420p"
	case NV12:
		return "nv12"
	case F32Planar:
		return "f32planar"
	case F32Packed:
		return "f32packed"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// planes is the number of planes of f (0 for an unknown format).
func (f Format) planes() int {
	switch f {
	case RGB24, F32Planar, F32Packed:
		return 1
	case NV12:
		return 2
	case YUV420P:
		return 3
	}
	return 0
}

// rowBytes and rows of plane i of a w×h image of format f.
func (f Format) plane(i, w, h int) (rowBytes, rows int) {
	cw, ch := (w+1)/2, (h+1)/2
	switch f {
	case RGB24:
		return 3 * w, h
	case F32Planar, F32Packed:
		return 12 * w, h
	case NV12:
		if i == 0 {
			return w, h
		}
		return 2 * cw, ch
	case YUV420P:
		if i == 0 {
			return w, h
		}
		return cw, ch
	}
	return 0, 0
}

// Plane is where one plane of an image lies in its buffer.
type Plane struct {
	Offset int // bytes from the buffer's start
	Stride int // bytes from one row to the next
}

// Image is an image in device memory. When every entry of Planes is zero
// the image has the packed layout (Layout), so
// Image{Buf: b, Format: RGB24, Width: w, Height: h} is a valid image when b
// holds w*h*3 bytes. Set Planes to place planes at other offsets or with
// padding between rows (Stride ≥ the row's bytes); the float formats have
// no padding (Stride is 12×Width) and a 4-byte aligned Offset.
type Image struct {
	Buf           *Buffer
	Format        Format
	Width, Height int
	Planes        [3]Plane
}

// Layout is the packed layout of a w×h image of format f (each plane after
// the last, rows without padding: how FFmpeg's frames are laid out when
// copied out with align 1) and its size in bytes.
func Layout(f Format, w, h int) (planes [3]Plane, size int, err error) {
	if f.planes() == 0 {
		return planes, 0, fmt.Errorf("%w: %v", ErrFormat, f)
	}
	if w <= 0 || h <= 0 {
		return planes, 0, fmt.Errorf("%w: %v image %dx%d", ErrSize, f, w, h)
	}
	for i := 0; i < f.planes(); i++ {
		rb, rows := f.plane(i, w, h)
		planes[i] = Plane{Offset: size, Stride: rb}
		size += rb * rows
	}
	return planes, size, nil
}

// NewImage allocates a buffer for a w×h image of format f in the packed
// layout. Free its Buf when done.
func (d *Device) NewImage(f Format, w, h int) (Image, error) {
	_, size, err := Layout(f, w, h)
	if err != nil {
		return Image{}, err
	}
	b, err := d.Alloc(size)
	if err != nil {
		return Image{}, err
	}
	return Image{Buf: b, Format: f, Width: w, Height: h}, nil
}

// layout is img's planes with the zero value resolved to the packed layout.
func (img Image) layout() [3]Plane {
	if img.Planes == ([3]Plane{}) {
		p, _, _ := Layout(img.Format, img.Width, img.Height)
		return p
	}
	return img.Planes
}

// check validates img as the role (e.g. "dst") of an operation wanting one
// of formats; the buffer itself is checked by Stream.begin.
func (img Image) check(role string, formats ...Format) error {
	ok := false
	for _, f := range formats {
		ok = ok || img.Format == f
	}
	if !ok {
		return fmt.Errorf("%w: %s is %v, want %v", ErrFormat, role, img.Format, formats)
	}
	if img.Buf == nil {
		return fmt.Errorf("%w: %s has no buffer", ErrInvalid, role)
	}
	if img.Width <= 0 || img.Height <= 0 {
		return fmt.Errorf("%w: %s is %dx%d", ErrSize, role, img.Width, img.Height)
	}
	// Sizes past int32 cannot be kernel arguments.
	if img.Width > 1<<15 || img.Height > 1<<15 {
		return fmt.Errorf("%w: %s is %dx%d (at most 32768 a side)", ErrSize, role, img.Width, img.Height)
	}
	pl := img.layout()
	float := img.Format == F32Planar || img.Format == F32Packed
	for i := 0; i < img.Format.planes(); i++ {
		rb, rows := img.Format.plane(i, img.Width, img.Height)
		p := pl[i]
		if p.Offset < 0 || p.Stride < rb {
			return fmt.Errorf("%w: %s plane %d has offset %d, stride %d (rows of %d bytes)", ErrSize, role, i, p.Offset, p.Stride, rb)
		}
		if float && (p.Stride != rb || p.Offset%4 != 0) {
			return fmt.Errorf("%w: %s is %v: rows must be packed (stride %d, not %d) and the offset a multiple of 4 (%d)", ErrSize, role, img.Format, rb, p.Stride, p.Offset)
		}
		if p.Stride > 1<<30 || p.Offset > 1<<40 {
			return fmt.Errorf("%w: %s plane %d has offset %d, stride %d", ErrSize, role, i, p.Offset, p.Stride)
		}
		if end := p.Offset + p.Stride*(rows-1) + rb; end > img.Buf.n {
			return fmt.Errorf("%w: %s plane %d ends at byte %d of a %d-byte buffer", ErrSize, role, i, end, img.Buf.n)
		}
	}
	return nil
}

// ptr is plane i of img as a kernel argument, with its stride.
func (img Image) ptr(i int) (devPtr, int32) {
	p := img.layout()[i]
	rb, rows := img.Format.plane(i, img.Width, img.Height)
	return devPtr{mem: img.Buf.mem, off: p.Offset, n: p.Stride*(rows-1) + rb}, int32(p.Stride)
}

// span is the byte range of plane i of img in its buffer.
func (img Image) span(i int) (lo, hi int) {
	d, _ := img.ptr(i)
	return d.off, d.off + d.n
}

// overlaps reports an error when a plane of dst shares bytes with a plane
// of src (the kernels' results would depend on the order threads run).
func overlaps(dst, src Image) error {
	if dst.Buf != src.Buf {
		return nil
	}
	for i := 0; i < dst.Format.planes(); i++ {
		dlo, dhi := dst.span(i)
		for j := 0; j < src.Format.planes(); j++ {
			slo, shi := src.span(j)
			if dlo < shi && slo < dhi {
				return fmt.Errorf("%w: dst plane %d overlaps src plane %d", ErrInvalid, i, j)
			}
		}
	}
	return nil
}
