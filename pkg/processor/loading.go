package processor

import (
	"math"
	"sync"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// loadingFrames draws the frame sent while a handler has nothing to show
// (show_loading, or results withheld for too long): PyTrickle's look — a
// dark background, a darker bordered box and a progress bar sweeping back
// and forth — without its text, which needs a font renderer.
type loadingFrames struct {
	mu    sync.Mutex
	count int
}

var (
	loadingBackground = frame.RGB{R: 30, G: 30, B: 30}
	loadingBox        = frame.RGB{R: 20, G: 20, B: 20}
	loadingBorder     = frame.RGB{R: 60, G: 60, B: 60}
	loadingTrack      = frame.RGB{R: 40, G: 40, B: 40}
	loadingFill       = frame.RGB{R: 100, G: 150, B: 255}
)

// frame returns a new loading frame the size of in, with in's timestamp.
func (l *loadingFrames) frame(in *frame.Video) *frame.Video {
	l.mu.Lock()
	n := l.count
	l.count++
	l.mu.Unlock()
	v, err := frame.GetVideo(in.Width, in.Height)
	if err != nil {
		return nil
	}
	v.PTS, v.TimeBase = in.PTS, in.TimeBase
	w, h := in.Width, in.Height
	fill(v, 0, 0, w, h, loadingBackground)
	bw, bh := min(400, w-40), min(200, h-40)
	if bw <= 0 || bh <= 0 {
		return v
	}
	x0, y0 := (w-bw)/2, (h-bh)/2
	fill(v, x0, y0, x0+bw, y0+bh, loadingBorder)
	fill(v, x0+2, y0+2, x0+bw-2, y0+bh-2, loadingBox)
	barW := bw - 60
	if barW <= 0 {
		return v
	}
	bx, by := x0+30, h/2+40
	if by+6 > y0+bh-2 {
		by = y0 + bh/2
	}
	fill(v, bx, by, bx+barW, by+6, loadingTrack)
	progress := (math.Sin(float64(n)*0.1) + 1) / 2
	fill(v, bx, by, bx+int(progress*float64(barW)), by+6, loadingFill)
	return v
}

func fill(v *frame.Video, x0, y0, x1, y1 int, c frame.RGB) {
	x0, y0 = max(x0, 0), max(y0, 0)
	x1, y1 = min(x1, v.Width), min(y1, v.Height)
	for y := y0; y < y1; y++ {
		row := v.Pix[y*v.Stride : y*v.Stride+3*v.Width]
		for x := x0; x < x1; x++ {
			row[3*x], row[3*x+1], row[3*x+2] = c.R, c.G, c.B
		}
	}
}
