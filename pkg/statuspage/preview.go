package statuspage

import (
	"bytes"
	"image"
	"image/jpeg"
	"sync/atomic"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// rateGate lets one caller through per interval, without locks: the
// first caller at or after the due time moves it on and wins.
type rateGate struct {
	interval time.Duration
	next     atomic.Int64 // Unix ns from which the next caller may pass
}

func (g *rateGate) allow(now time.Time) bool {
	t := now.UnixNano()
	next := g.next.Load()
	return t >= next && g.next.CompareAndSwap(next, t+int64(g.interval))
}

// previewSize is the size of the preview of a w×h frame: the longer side
// at most max, the aspect ratio kept, never upscaled, at least 1×1.
func previewSize(w, h, max int) (int, int) {
	if w <= max && h <= max {
		return w, h
	}
	if w >= h {
		return max, max1(h * max / w)
	}
	return max1(w * max / h), max
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

// downscale samples v into dst (nearest neighbour), which covers the whole
// of v; it reads v's pixels only, so it may run on the pipeline goroutine.
func downscale(dst *image.RGBA, v *frame.Video) {
	dw, dh := dst.Rect.Dx(), dst.Rect.Dy()
	for y := range dh {
		sy := (2*y + 1) * v.Height / (2 * dh)
		src := v.Pix[sy*v.Stride : sy*v.Stride+3*v.Width]
		row := dst.Pix[y*dst.Stride : y*dst.Stride+4*dw]
		for x := range dw {
			sx := 3 * ((2*x + 1) * v.Width / (2 * dw))
			d := row[4*x : 4*x+4 : 4*x+4]
			d[0], d[1], d[2], d[3] = src[sx], src[sx+1], src[sx+2], 0xff
		}
	}
}

// previewBuffers recycles the preview images between the pipeline (which
// fills them) and the page's goroutine (which encodes them), so previews
// do not churn the heap. It holds at most cap(free) spare images.
type previewBuffers struct{ free chan *image.RGBA }

func newPreviewBuffers() *previewBuffers { return &previewBuffers{free: make(chan *image.RGBA, 2)} }

// get returns a w×h image, recycled when one of that size is spare.
func (b *previewBuffers) get(w, h int) *image.RGBA {
	select {
	case img := <-b.free:
		if img.Rect.Dx() == w && img.Rect.Dy() == h {
			return img
		}
	default:
	}
	return image.NewRGBA(image.Rect(0, 0, w, h))
}

func (b *previewBuffers) put(img *image.RGBA) {
	select {
	case b.free <- img:
	default:
	}
}

// encodeJPEG encodes img at quality q.
func encodeJPEG(img image.Image, q int) ([]byte, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
