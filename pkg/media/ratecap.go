package media

import (
	"sync"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// NoFramerateCap, as DecoderConfig.MaxFramerate, keeps every frame.
var NoFramerateCap = frame.Rational{Num: 0, Den: 1}

// rateCap keeps at most one frame per 1/rate slot of presentation time,
// counted from the first frame kept. The slot of a timestamp is computed
// exactly (rationals, rounding down), so input at exactly the cap keeps
// every frame and slower input is never thinned.
type rateCap struct {
	mu   sync.Mutex
	rate frame.Rational // Num <= 0: no cap

	started bool
	start   int64 // pts of the reference frame, in tb
	tb      frame.Rational
	slot    int64 // slot of the last frame kept
	last    int64 // pts of the last frame seen
}

func (c *rateCap) set(r frame.Rational) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r != c.rate {
		c.rate, c.started = r, false // count slots afresh from the next frame
	}
}

func (c *rateCap) get() frame.Rational {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rate
}

// keep reports whether the frame at pts (in tb) is kept.
func (c *rateCap) keep(pts int64, tb frame.Rational) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rate.Num <= 0 || !tb.Valid() {
		return true
	}
	if !c.started || tb != c.tb || pts <= c.last {
		// First frame, new time base, or time went back (a discontinuity):
		// start counting from here.
		c.started, c.start, c.tb, c.slot, c.last = true, pts, tb, 0, pts
		return true
	}
	c.last = pts
	// slot = floor((pts-start)·tb / (1/rate)) = floor((pts-start)·tb·rate)
	slot := frame.RescaleRound(pts-c.start, tb, frame.Rational{Num: c.rate.Den, Den: c.rate.Num}, frame.RoundDown)
	if slot <= c.slot {
		return false
	}
	c.slot = slot
	return true
}
