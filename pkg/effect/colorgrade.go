package effect

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/processor"
)

// DefaultIntensity is ColorGrade's intensity until a parameter sets it.
const DefaultIntensity = 0.5

// ColorGrade is a warm colour grade: it keeps red, lowers green and lowers
// blue further, so the picture turns warmer and darker as the parameter
// "intensity" (0..1, default 0.5) rises. Intensity 0 leaves frames as
// they are.
//
// With k the intensity and v a channel value scaled to 0..1, the output is
//
//	R = (1 − k/4) · min(1, (1 + k/4) · v)
//	G = (1 − k/4) · v
//	B = (1 − k/4) · (1 − 0.3·k) · v
//
// rounded to the nearest 8-bit value. Every channel is non-increasing in k
// and strictly decreasing for v > 0 (red, away from saturation, by the
// factor 1 − k²/16), so the mean luma of any frame that is not black drops
// as k rises (by about 23 % at k = 1 for greys), while red gains on blue
// (their ratio is (1 + k/4)/(1 − 0.3·k) for unsaturated values).
//
// The curves live in three 256-entry lookup tables, rebuilt when the
// intensity changes, so grading a frame is three table look-ups per pixel,
// done in place. The zero value is ready to use; it is safe for concurrent
// use (the tables are swapped atomically).
type ColorGrade struct {
	lut atomic.Pointer[gradeLUT]
}

// gradeLUT is the grade for one intensity.
type gradeLUT struct {
	intensity float64
	identity  bool
	r, g, b   [256]uint8
}

var defaultGrade = newGradeLUT(DefaultIntensity)

func newGradeLUT(k float64) *gradeLUT {
	t := &gradeLUT{intensity: k, identity: true}
	dark := 1 - k/4
	for i := range 256 {
		v := float64(i) / 255
		r := dark * math.Min(1, (1+k/4)*v)
		g := dark * v
		b := dark * (1 - 0.3*k) * v
		t.r[i] = to8(r)
		t.g[i] = to8(g)
		t.b[i] = to8(b)
		if t.r[i] != uint8(i) || t.g[i] != uint8(i) || t.b[i] != uint8(i) {
			t.identity = false
		}
	}
	return t
}

func to8(v float64) uint8 {
	return uint8(math.Round(math.Max(0, math.Min(1, v)) * 255))
}

func (c *ColorGrade) table() *gradeLUT {
	if t := c.lut.Load(); t != nil {
		return t
	}
	return defaultGrade
}

// Intensity returns the intensity in effect.
func (c *ColorGrade) Intensity() float64 { return c.table().intensity }

// SetIntensity sets the intensity; a value outside 0..1 (or NaN) is an
// error and leaves the old one in effect.
func (c *ColorGrade) SetIntensity(k float64) error {
	if math.IsNaN(k) || k < 0 || k > 1 {
		return fmt.Errorf("colorgrade: intensity must be between 0 and 1, got %v", k)
	}
	if k == DefaultIntensity {
		c.lut.Store(defaultGrade)
		return nil
	}
	c.lut.Store(newGradeLUT(k))
	return nil
}

// UpdateParams applies "intensity" when p has it: a JSON number or a
// numeric string in 0..1. Anything else is an error and the old intensity
// stays. Other keys are ignored.
func (c *ColorGrade) UpdateParams(_ context.Context, p processor.Params) error {
	k, ok, err := floatParam(p, "intensity")
	if err != nil {
		return fmt.Errorf("colorgrade: %w", err)
	}
	if !ok {
		return nil
	}
	return c.SetIntensity(k)
}

// OnStreamStart applies the start request's "intensity", or restores
// DefaultIntensity when it has none, so that a stream does not inherit the
// live setting of the one before.
func (c *ColorGrade) OnStreamStart(ctx context.Context, p processor.Params) error {
	if _, ok := p["intensity"]; !ok {
		c.lut.Store(defaultGrade)
		return nil
	}
	return c.UpdateParams(ctx, p)
}

// DeviceFrames says that HandleVideo grades device frames where they are
// (processor.DeviceVideoHandler): with the GPU's colour-grade kernel,
// which equals this package's tables at float32 intensities.
func (c *ColorGrade) DeviceFrames() bool { return true }

// HandleVideo grades f in place and returns it (nil, nil at intensity 0).
// A frame on a device is graded there.
func (c *ColorGrade) HandleVideo(ctx context.Context, f *frame.Video) (*frame.Video, error) {
	t := c.table()
	if t.identity {
		return nil, nil
	}
	if f.OnDevice() {
		img, s, err := f.DeviceImage(ctx)
		if err != nil {
			return nil, fmt.Errorf("colorgrade: %w", err)
		}
		if err := s.ColorGrade(img, float32(t.intensity)); err != nil {
			return nil, fmt.Errorf("colorgrade: %w", err)
		}
		return f, nil
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("colorgrade: %w", err)
	}
	w3 := 3 * f.Width
	for y := range f.Height {
		row := f.Pix[y*f.Stride : y*f.Stride+w3]
		for len(row) >= 3 {
			row[0] = t.r[row[0]]
			row[1] = t.g[row[1]]
			row[2] = t.b[row[2]]
			row = row[3:]
		}
	}
	return f, nil
}
