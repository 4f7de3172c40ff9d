package effect

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/processor"
)

// NoiseGate's defaults and limits.
const (
	// DefaultThresholdDB is the gate's threshold until "threshold_db"
	// sets it, in dBFS (0 dBFS: a full-scale square wave's RMS).
	DefaultThresholdDB = -40.0
	// MinThresholdDB and MaxThresholdDB bound "threshold_db".
	MinThresholdDB = -120.0
	MaxThresholdDB = 0.0

	// GateWindow is the span of the sliding RMS the gate measures.
	GateWindow = 10e-3 // seconds
	// GateAttack and GateRelease are the ramps the gain takes to open
	// (0 → 1) and to close (1 → 0), linear in amplitude.
	GateAttack  = 1e-3 // seconds
	GateRelease = 5e-3 // seconds
)

// NoiseGate silences audio while its level is below the parameter
// "threshold_db" (dBFS, −120..0, default −40).
//
// The level is the RMS over the last GateWindow (10 ms) of samples,
// sliding sample by sample and carried from one frame to the next, of all
// channels together (a linked gate: the channels open and close as one,
// so the stereo image does not wander). While the level is at or above
// the threshold the gain ramps up to 1 within GateAttack (1 ms); below it
// the gain ramps down to 0 within GateRelease (5 ms), and samples with a
// gain of 0 are set to exactly 0. So after a sound ends its tail is cut
// at most GateWindow + GateRelease later, and a sound loses at most the
// first GateAttack of its onset.
//
// Samples are processed in place (planar float32); a frame the gate left
// alone entirely (gain 1 throughout) is sent on unchanged. NoiseGate is an
// AudioHandler only: video passes through the processor untouched. The
// zero value is ready to use and it is safe for concurrent use.
type NoiseGate struct {
	mu          sync.Mutex
	thresholdDB float64
	set         bool // thresholdDB was set; else DefaultThresholdDB

	rate            int       // sample rate the state below is for
	ring            []float64 // mean square across channels, per sample
	pos             int
	sum             float64 // sum of ring
	gain            float64
	attack, release float64 // gain steps per sample
}

// ThresholdDB returns the threshold in effect, in dBFS.
func (g *NoiseGate) ThresholdDB() float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.threshold()
}

func (g *NoiseGate) threshold() float64 {
	if !g.set {
		return DefaultThresholdDB
	}
	return g.thresholdDB
}

// SetThresholdDB sets the threshold; a value outside
// MinThresholdDB..MaxThresholdDB (or NaN) is an error and leaves the old
// one in effect.
func (g *NoiseGate) SetThresholdDB(db float64) error {
	if math.IsNaN(db) || db < MinThresholdDB || db > MaxThresholdDB {
		return fmt.Errorf("noisegate: threshold_db must be between %g and %g dBFS, got %v", MinThresholdDB, MaxThresholdDB, db)
	}
	g.mu.Lock()
	g.thresholdDB, g.set = db, true
	g.mu.Unlock()
	return nil
}

// UpdateParams applies "threshold_db" when p has it: a JSON number or a
// numeric string in −120..0. Anything else is an error and the old
// threshold stays. Other keys are ignored.
func (g *NoiseGate) UpdateParams(_ context.Context, p processor.Params) error {
	db, ok, err := floatParam(p, "threshold_db")
	if err != nil {
		return fmt.Errorf("noisegate: %w", err)
	}
	if !ok {
		return nil
	}
	return g.SetThresholdDB(db)
}

// OnStreamStart closes the gate, forgets the previous stream's level, and
// applies the start request's "threshold_db", or restores
// DefaultThresholdDB when it has none.
func (g *NoiseGate) OnStreamStart(ctx context.Context, p processor.Params) error {
	g.mu.Lock()
	g.rate = 0 // reset the level and gain on the next frame
	if _, ok := p["threshold_db"]; !ok {
		g.set = false
	}
	g.mu.Unlock()
	return g.UpdateParams(ctx, p)
}

// reset starts the level measurement afresh for a sample rate, with the
// gate closed.
func (g *NoiseGate) reset(rate int) {
	g.rate = rate
	n := max(1, int(math.Round(GateWindow*float64(rate))))
	if cap(g.ring) < n {
		g.ring = make([]float64, n)
	}
	g.ring = g.ring[:n]
	clear(g.ring)
	g.pos, g.sum, g.gain = 0, 0, 0
	g.attack = 1 / max(1, GateAttack*float64(rate))
	g.release = 1 / max(1, GateRelease*float64(rate))
}

// HandleAudio gates f in place. It returns f when it changed any sample,
// and nil, nil (send the input) when the gate stayed open throughout.
func (g *NoiseGate) HandleAudio(_ context.Context, f *frame.Audio) ([]*frame.Audio, error) {
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("noisegate: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if f.SampleRate != g.rate {
		g.reset(f.SampleRate)
	}
	ch := f.Samples
	n := f.NumSamples()
	inv := 1 / float64(len(ch))
	// Open while sum/len(ring) ≥ 10^(dB/10), the threshold's mean square.
	open := math.Pow(10, g.threshold()/10) * float64(len(g.ring))
	ring, pos, sum, gain := g.ring, g.pos, g.sum, g.gain
	changed := false
	for i := range n {
		var ms float64
		for _, c := range ch {
			v := float64(c[i])
			ms += v * v
		}
		ms *= inv
		if !(ms <= math.MaxFloat64) {
			ms = 0 // NaN or ±Inf: do not let one bad sample poison the sum
		}
		sum += ms - ring[pos]
		ring[pos] = ms
		if pos++; pos == len(ring) {
			// Recompute the running sum exactly once per window, so
			// rounding errors cannot accumulate over a long stream.
			pos, sum = 0, 0
			for _, v := range ring {
				sum += v
			}
		}
		if sum >= open {
			gain = min(1, gain+g.attack)
		} else {
			gain = max(0, gain-g.release)
		}
		switch {
		case gain == 1:
		case gain == 0:
			for _, c := range ch {
				c[i] = 0
			}
			changed = true
		default:
			for _, c := range ch {
				c[i] = float32(float64(c[i]) * gain)
			}
			changed = true
		}
	}
	g.pos, g.sum, g.gain = pos, sum, gain
	if !changed {
		return nil, nil
	}
	return []*frame.Audio{f}, nil
}
