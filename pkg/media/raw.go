package media

import (
	"image"
	"sync"

	"github.com/asticode/go-astiav"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/gpu"
)

// Raw frames (DecoderConfig.Raw): the decoded picture goes out as it is,
// its planes copied into a pooled buffer, and the frame converts it where
// it is used (on the device at the upload, or on the CPU with the same
// arithmetic), instead of swscale converting every picture here.

// rawYUV reports whether a decoded picture can go out raw from host
// memory: 8-bit 4:2:0 in limited range, what the kernels convert.
// yuvj420p and full-range pictures go the converted path.
func rawYUV(pic *astiav.Frame) bool {
	return pic.PixelFormat() == astiav.PixelFormatYuv420P && pic.ColorRange() != astiav.ColorRangeJpeg
}

// coverCrop is the part of a sw×sh picture that the converted path
// (coverRect: scaled to cover w×h keeping the aspect, centre-cropped)
// shows on a w×h target, in picture coordinates: coverRect's window mapped
// back onto the picture, each edge rounded to the nearest pixel (halves
// up). So it spans the picture's whole width or whole height, and the
// other side is centred at the target's aspect to within a pixel; a
// target of the picture's own aspect gets the whole picture. Rounding each
// edge, rather than centring a rounded length, keeps the crop within half
// a pixel of swscale's own window, which matters on sharp content. A
// window thinner than a pixel becomes one pixel.
func coverCrop(sw, sh, w, h int) image.Rectangle {
	cw, ch, ox, oy := coverRect(sw, sh, w, h)
	x0, x1 := backEdges(ox, w, sw, cw)
	y0, y1 := backEdges(oy, h, sh, ch)
	return image.Rect(x0, y0, x1, y1)
}

// backEdges maps the span [o, o+n) of a side scaled from s to c pixels
// back onto the s pixels, rounding each edge, at least one pixel wide.
func backEdges(o, n, s, c int) (int, int) {
	round := func(a int) int { return int((2*int64(a)*int64(s) + int64(c)) / (2 * int64(c))) }
	lo, hi := round(o), round(o+n)
	if hi <= lo {
		lo = min(lo, s-1)
		hi = lo + 1
	}
	return lo, hi
}

// rawHost makes a w×h raw frame of a yuv420p picture (rawYUV): its planes
// are copied into a pooled buffer that the frame gives back when done.
func (d *Decoder) rawHost(pic *astiav.Frame, w, h int) (*frame.Video, error) {
	pw, ph := pic.Width(), pic.Height()
	_, size, err := gpu.Layout(gpu.YUV420P, pw, ph)
	if err != nil {
		return nil, err
	}
	b := rawBufs.get(size)
	if err := packPlanes(pic, gpu.YUV420P, pw, ph, b.pix); err != nil {
		b.release()
		return nil, err
	}
	return d.newRaw(w, h, frame.Raw{Format: gpu.YUV420P, Width: pw, Height: ph, Crop: coverCrop(pw, ph, w, h),
		Host: b.pix, Release: b.release})
}

// rawBuf is a pooled buffer of packed planes, with its release function
// bound once so that handing a frame out allocates no closure.
type rawBuf struct {
	pix     []byte
	release func()
}

// rawBufPool pools rawBufs by size. A stream keeps its picture size, so
// exact sizes reuse every buffer; at most maxRawSizes sizes are pooled,
// and buffers of others are left to the garbage collector.
type rawBufPool struct {
	mu    sync.Mutex
	pools map[int]*sync.Pool
}

const maxRawSizes = 32

var rawBufs rawBufPool

func (p *rawBufPool) pool(n int) *sync.Pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	sp := p.pools[n]
	if sp == nil && len(p.pools) < maxRawSizes {
		if p.pools == nil {
			p.pools = map[int]*sync.Pool{}
		}
		sp = &sync.Pool{}
		p.pools[n] = sp
	}
	return sp
}

// get returns a buffer of n bytes (contents undefined); its release puts
// it back.
func (p *rawBufPool) get(n int) *rawBuf {
	sp := p.pool(n)
	if sp != nil {
		if b, ok := sp.Get().(*rawBuf); ok {
			return b
		}
	}
	b := &rawBuf{pix: make([]byte, n)}
	b.release = func() {
		if sp != nil {
			sp.Put(b)
		}
	}
	return b
}
