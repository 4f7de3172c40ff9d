package effect

import (
	"context"
	"fmt"
	"image"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/processor"
)

// DefaultBoxColor is the colour of BoxDrawer's box until "color" sets it.
var DefaultBoxColor = frame.RGB{R: 0, G: 255, B: 0}

// The detector's settings, in pixels and 8-bit luma levels.
const (
	// BoxCell is the side of the square cells the detector measures; a
	// detected box is a whole number of cells (clipped to the frame).
	BoxCell = 8
	// boxStep samples every boxStep-th pixel of every boxStep-th row.
	boxStep = 2
	// BoxMotionThreshold is how much a cell's mean luma (0..255) must
	// change from one frame to the next to count as moving. Compression
	// noise on a still picture moves an 8×8 mean by a level or two.
	BoxMotionThreshold = 12
	// boxLink joins moving cells up to boxLink cells apart (one still
	// cell between them) into one region: a flat part of an object that
	// slides along itself does not change, and would split it.
	boxLink = 2
	// boxMinCells is the fewest moving cells that make an object.
	boxMinCells = 2
)

// BoxDrawer finds the moving object in the picture and draws a 2-pixel
// box around it, in the colour of the parameter "color" ("#rrggbb",
// default DefaultBoxColor, green).
//
// The detector compares each frame with the one before, the way a
// motion detector does: it reduces the frame to a grid of BoxCell×BoxCell
// cells holding their mean luma (BT.601 weights, sampling every other
// pixel of every other row), marks the cells whose mean changed by at
// least BoxMotionThreshold levels, joins marked cells up to two cells
// apart into regions (so that one still cell, such as a flat patch of
// the object sliding along itself, does not split it), and boxes the
// region with the largest total change, provided it has at least two
// cells and its box covers at most half the frame (a change of nearly
// everything is a cut, not an object). The box is the region's bounding
// box in whole cells, clipped to the frame; as it compares consecutive
// frames it covers the object where it was and where it is. For the
// sliding square of the fixtures' test pattern (fixtures/make-fixtures.sh,
// bars()) it covers the whole square in every frame and is at most a cell
// or two bigger, except when the square wraps from the right edge back to
// the left: the change where it left is then as large as where it came,
// and the box may cover either. The first frame of a stream, or of a new size, has
// nothing to compare with and gets no box; nor does a still picture.
//
// Why motion and not brightness: in the fixtures the moving element (a
// 96×96 testsrc2 square sliding over SMPTE bars) is never the brightest
// part of the picture; the bars' 100 % white patch is. What sets it apart
// is that it moves. The limit of comparing frames: a flat, uniformly
// coloured object is seen only by its edges, and when it moves less than
// its width between frames its leading and trailing edges may form two
// regions, of which the box takes the one that changed more.
//
// The box is drawn on the inside of the detected rectangle, so it stays
// visible at the frame's edges; LastBox reports that rectangle. Frames
// without a box are sent unchanged. After the first frame of a size,
// HandleVideo allocates nothing: the grid and the region search reuse
// their buffers. The zero value is ready to use and it is safe for
// concurrent use.
type BoxDrawer struct {
	color atomic.Uint32 // 0: DefaultBoxColor; else 1<<24 | rgb

	mu            sync.Mutex
	width, height int
	gw, gh        int
	cur, prev     []int32 // per cell: mean luma × 256
	havePrev      bool
	labels        []bool  // cell already in a region
	stack         []int32 // flood-fill work list
	box           image.Rectangle
}

// Color returns the box colour in effect.
func (d *BoxDrawer) Color() frame.RGB {
	c := d.color.Load()
	if c == 0 {
		return DefaultBoxColor
	}
	return frame.RGB{R: uint8(c >> 16), G: uint8(c >> 8), B: uint8(c)}
}

// SetColor sets the box colour.
func (d *BoxDrawer) SetColor(c frame.RGB) {
	d.color.Store(1<<24 | uint32(c.R)<<16 | uint32(c.G)<<8 | uint32(c.B))
}

// LastBox returns the rectangle the last frame's box was drawn in, or the
// empty rectangle if that frame got none.
func (d *BoxDrawer) LastBox() image.Rectangle {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.box
}

// ParseColor reads a colour written "#rrggbb" (the '#' optional, hex
// digits in either case).
func ParseColor(s string) (frame.RGB, error) {
	h := strings.TrimPrefix(strings.TrimSpace(s), "#")
	if len(h) != 6 {
		return frame.RGB{}, fmt.Errorf("color must be written \"#rrggbb\", got %q", s)
	}
	n, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return frame.RGB{}, fmt.Errorf("color must be written \"#rrggbb\", got %q", s)
	}
	return frame.RGB{R: uint8(n >> 16), G: uint8(n >> 8), B: uint8(n)}, nil
}

// UpdateParams applies "color" when p has it; a value that is not a
// "#rrggbb" string is an error and the old colour stays. Other keys are
// ignored.
func (d *BoxDrawer) UpdateParams(_ context.Context, p processor.Params) error {
	raw, ok := p["color"]
	if !ok {
		return nil
	}
	s, isStr := raw.(string)
	if !isStr {
		return fmt.Errorf("boxdraw: color must be a string \"#rrggbb\", got %s", describe(raw))
	}
	c, err := ParseColor(s)
	if err != nil {
		return fmt.Errorf("boxdraw: %w", err)
	}
	d.SetColor(c)
	return nil
}

// OnStreamStart forgets the previous stream's last frame and applies the
// start request's "color", or restores DefaultBoxColor when it has none.
func (d *BoxDrawer) OnStreamStart(ctx context.Context, p processor.Params) error {
	d.mu.Lock()
	d.havePrev = false
	d.box = image.Rectangle{}
	d.mu.Unlock()
	if _, ok := p["color"]; !ok {
		d.color.Store(0)
		return nil
	}
	return d.UpdateParams(ctx, p)
}

// HandleVideo detects the moving object and, if there is one, draws its
// box on f in place and returns f; otherwise it returns nil, nil.
func (d *BoxDrawer) HandleVideo(_ context.Context, f *frame.Video) (*frame.Video, error) {
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("boxdraw: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.resize(f.Width, f.Height)
	d.measure(f)
	d.box = image.Rectangle{}
	if d.havePrev {
		d.box = d.detect()
	}
	d.cur, d.prev = d.prev, d.cur
	d.havePrev = true
	if d.box.Empty() {
		return nil, nil
	}
	drawOutline(f, d.box, 2, d.Color())
	return f, nil
}

// resize makes the grid fit a w×h frame, forgetting the previous frame
// when the size changes.
func (d *BoxDrawer) resize(w, h int) {
	if w == d.width && h == d.height && d.cur != nil {
		return
	}
	d.width, d.height = w, h
	d.gw, d.gh = (w+BoxCell-1)/BoxCell, (h+BoxCell-1)/BoxCell
	n := d.gw * d.gh
	d.cur = grow(d.cur, n)
	d.prev = grow(d.prev, n)
	d.labels = grow(d.labels, n)
	if cap(d.stack) < n {
		d.stack = make([]int32, 0, n)
	}
	d.havePrev = false
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// measure fills d.cur with each cell's mean luma × 256.
func (d *BoxDrawer) measure(f *frame.Video) {
	cur := d.cur
	clear(cur)
	w, gw := f.Width, d.gw
	for y := 0; y < f.Height; y += boxStep {
		acc := cur[(y/BoxCell)*gw : (y/BoxCell)*gw+gw]
		row := f.Pix[y*f.Stride : y*f.Stride+3*w]
		for cx := range acc {
			x0 := cx * BoxCell
			seg := row[3*x0 : 3*min(x0+BoxCell, w)]
			var s int32
			for len(seg) >= 3 {
				s += 77*int32(seg[0]) + 150*int32(seg[1]) + 29*int32(seg[2])
				if len(seg) < 3*boxStep {
					break
				}
				seg = seg[3*boxStep:]
			}
			acc[cx] += s
		}
	}
	// Divide by the samples in each cell (fewer in a partial edge cell).
	for cy := range d.gh {
		ny := int32(samples(cy, f.Height))
		for cx := range gw {
			i := cy*gw + cx
			cur[i] /= ny * int32(samples(cx, w))
		}
	}
}

// samples is how many sampled positions cell c has along a side of n
// pixels.
func samples(c, n int) int {
	x0 := c * BoxCell
	x1 := min(x0+BoxCell, n)
	return (x1 - x0 + boxStep - 1) / boxStep
}

// detect finds the moving region with the most change and returns its box
// in pixels, or the empty rectangle.
func (d *BoxDrawer) detect() image.Rectangle {
	const thr = BoxMotionThreshold * 256
	gw, gh := d.gw, d.gh
	cur, prev, seen := d.cur, d.prev, d.labels
	moving := func(i int) bool {
		diff := cur[i] - prev[i]
		return diff >= thr || diff <= -thr
	}
	clear(seen)
	var best image.Rectangle
	var bestEnergy int64
	for start := range cur {
		if seen[start] || !moving(start) {
			continue
		}
		seen[start] = true
		stack := append(d.stack[:0], int32(start))
		var energy int64
		cells := 0
		x0, y0, x1, y1 := gw, gh, -1, -1
		for len(stack) > 0 {
			i := int(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
			diff := int64(cur[i] - prev[i])
			energy += max(diff, -diff)
			cells++
			cx, cy := i%gw, i/gw
			x0, x1 = min(x0, cx), max(x1, cx)
			y0, y1 = min(y0, cy), max(y1, cy)
			for ny := max(cy-boxLink, 0); ny <= min(cy+boxLink, gh-1); ny++ {
				for nx := max(cx-boxLink, 0); nx <= min(cx+boxLink, gw-1); nx++ {
					j := ny*gw + nx
					if !seen[j] && moving(j) {
						seen[j] = true
						stack = append(stack, int32(j))
					}
				}
			}
		}
		d.stack = stack
		if cells < boxMinCells || 2*(x1-x0+1)*(y1-y0+1) > gw*gh {
			continue
		}
		if energy > bestEnergy {
			bestEnergy = energy
			best = image.Rect(x0*BoxCell, y0*BoxCell, (x1+1)*BoxCell, (y1+1)*BoxCell)
		}
	}
	return best.Intersect(image.Rect(0, 0, d.width, d.height))
}

// drawOutline paints the border of r, t pixels wide, on the inside of r.
func drawOutline(f *frame.Video, r image.Rectangle, t int, c frame.RGB) {
	r = r.Intersect(f.Bounds())
	if r.Empty() {
		return
	}
	fill := func(x0, y0, x1, y1 int) {
		for y := y0; y < y1; y++ {
			row := f.Pix[y*f.Stride+3*x0 : y*f.Stride+3*x1]
			for len(row) >= 3 {
				row[0], row[1], row[2] = c.R, c.G, c.B
				row = row[3:]
			}
		}
	}
	ty, tx := min(t, r.Dy()), min(t, r.Dx())
	fill(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+ty)       // top
	fill(r.Min.X, r.Max.Y-ty, r.Max.X, r.Max.Y)       // bottom
	fill(r.Min.X, r.Min.Y+ty, r.Min.X+tx, r.Max.Y-ty) // left
	fill(r.Max.X-tx, r.Min.Y+ty, r.Max.X, r.Max.Y-ty) // right
}
