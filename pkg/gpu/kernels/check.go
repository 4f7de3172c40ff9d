package kernels

import "fmt"

// span panics unless p holds rows rows of rowBytes bytes each, Stride
// apart; it checks only the bytes a kernel touches, so chroma planes may
// describe their width in samples or in bytes.
func span(name string, p Plane, rowBytes, rows int) {
	if rowBytes < 0 || rows < 0 {
		panic(fmt.Sprintf("kernels: %s: negative size %d bytes × %d rows", name, rowBytes, rows))
	}
	if rowBytes == 0 || rows == 0 {
		return
	}
	if p.Stride < rowBytes {
		panic(fmt.Sprintf("kernels: %s: stride %d is less than a row of %d bytes", name, p.Stride, rowBytes))
	}
	if need := (rows-1)*p.Stride + rowBytes; len(p.Pix) < need {
		panic(fmt.Sprintf("kernels: %s: %d bytes, need %d for %d rows of %d, stride %d",
			name, len(p.Pix), need, rows, rowBytes, p.Stride))
	}
}

// size panics unless p's Width and Height are usable.
func size(name string, p Plane) (w, h int) {
	if p.Width < 0 || p.Height < 0 {
		panic(fmt.Sprintf("kernels: %s: negative size %dx%d", name, p.Width, p.Height))
	}
	return p.Width, p.Height
}

// sameSize panics unless dst is w×h.
func sameSize(name string, p Plane, w, h int) {
	if p.Width != w || p.Height != h {
		panic(fmt.Sprintf("kernels: %s is %dx%d, want %dx%d", name, p.Width, p.Height, w, h))
	}
}

func clamp8(v int32) byte {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return byte(v)
}
