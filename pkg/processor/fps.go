package processor

import (
	"sync"
	"time"
)

// PyTrickle's FPSMeter defaults (fps_meter.py): a 10 s window holding at
// most 600 samples.
const (
	fpsWindow     = 10 * time.Second
	fpsMaxSamples = 600
)

// fpsMeter measures a frame rate over a sliding window, the way PyTrickle's
// FPSMeter does: rate = (n−1)/(t_last−t_first) over the n samples inside the
// window, 0 with fewer than two. It keeps at most fpsMaxSamples samples in
// a fixed ring, dropping the oldest, so tick never allocates.
//
// The zero value is ready to use with the default 10 s window. It is safe
// for concurrent use.
type fpsMeter struct {
	// window is the length of the sliding window; 0 means fpsWindow. Set it
	// before the first tick.
	window time.Duration

	mu   sync.Mutex
	base time.Time // the first tick since the last reset; samples are offsets from it
	head int       // index of the oldest sample in ring
	n    int       // samples held
	ring [fpsMaxSamples]time.Duration
}

// tick records a frame seen at now.
func (m *fpsMeter) tick(now time.Time) {
	m.mu.Lock()
	if m.n == 0 {
		m.base = now
		m.head = 0
	}
	d := now.Sub(m.base)
	if m.n < len(m.ring) {
		m.ring[(m.head+m.n)%len(m.ring)] = d
		m.n++
	} else {
		m.ring[m.head] = d
		m.head = (m.head + 1) % len(m.ring)
	}
	m.mu.Unlock()
}

// rate returns the frame rate over the samples inside the window that ends
// at now (samples in [now−window, now]); 0 when fewer than two samples are
// inside or they all share one instant.
func (m *fpsMeter) rate(now time.Time) float64 {
	window := m.window
	if window <= 0 {
		window = fpsWindow
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n < 2 {
		return 0
	}
	end := now.Sub(m.base)
	start := end - window
	count := 0
	var first, last time.Duration
	for i := range m.n {
		d := m.ring[(m.head+i)%len(m.ring)]
		if d < start || d > end {
			continue
		}
		if count == 0 || d < first {
			first = d
		}
		if count == 0 || d > last {
			last = d
		}
		count++
	}
	if count < 2 || last <= first {
		return 0
	}
	return float64(count-1) / (last - first).Seconds()
}

// lastTick returns the time of the latest tick, or the zero time when there
// has been none since the last reset.
func (m *fpsMeter) lastTick() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n == 0 {
		return time.Time{}
	}
	return m.base.Add(m.ring[(m.head+m.n-1)%len(m.ring)])
}

// reset forgets every sample (for a new stream).
func (m *fpsMeter) reset() {
	m.mu.Lock()
	m.base = time.Time{}
	m.head = 0
	m.n = 0
	m.mu.Unlock()
}

// rates holds the four meters /stream/status and heartbeats report, ticked
// where frames cross the wire: ingress after decoding, egress where frames
// go to the encoder (counted even when there is no publish URL, as
// PyTrickle's egress loop does). The fields are pointers, so that they can
// be handed to degraded as they are; make one with newRates (the zero
// value has no meters).
type rates struct {
	ingressVideo *fpsMeter
	ingressAudio *fpsMeter
	egressVideo  *fpsMeter
	egressAudio  *fpsMeter
}

// newRates returns four empty meters with the default window. A copy of
// the value shares the meters.
func newRates() rates {
	return rates{
		ingressVideo: new(fpsMeter),
		ingressAudio: new(fpsMeter),
		egressVideo:  new(fpsMeter),
		egressAudio:  new(fpsMeter),
	}
}

// snapshot returns the four rates at now.
func (r rates) snapshot(now time.Time) FPS {
	return FPS{
		IngressVideo: r.ingressVideo.rate(now),
		IngressAudio: r.ingressAudio.rate(now),
		EgressVideo:  r.egressVideo.rate(now),
		EgressAudio:  r.egressAudio.rate(now),
	}
}

// reset forgets every sample of the four meters (for a new stream).
func (r rates) reset() {
	r.ingressVideo.reset()
	r.ingressAudio.reset()
	r.egressVideo.reset()
	r.egressAudio.reset()
}

// Degradation thresholds. They are ai-runner's (livepeer/ai-runner, the
// live pipeline's ProcessGuardian, which reports DEGRADED_INPUT and
// DEGRADED_INFERENCE); PyTrickle has no such rule, so reporting them is a
// gotrickle extension (Status.DegradedInput, Status.DegradedInference).
const (
	// degradeGap: no frame for this long is degraded, whatever the rate.
	degradeGap = 2 * time.Second
	// degradeInputFPS: input below this rate is degraded.
	degradeInputFPS = 15.0
	// degradeOutputFPS and degradeOutputRatio: output below
	// min(degradeOutputFPS, degradeOutputRatio × input rate) is degraded.
	degradeOutputFPS   = 10.0
	degradeOutputRatio = 0.8
)

// degraded applies the degradation rule at now to the input meter in and
// the output meter out (video meters, in practice):
//   - input is degraded when no input frame has arrived for 2 s (or none at
//     all) or the input rate is below 15 fps;
//   - inference is degraded when no output frame has left for 2 s (or none
//     at all) or the output rate is below min(10, 0.8 × input rate) fps.
//
// Both are true before the first frames of a stream: there is nothing to
// measure yet.
func degraded(now time.Time, in, out *fpsMeter) (input, inference bool) {
	inFPS := in.rate(now)
	outFPS := out.rate(now)
	lastIn, lastOut := in.lastTick(), out.lastTick()
	input = lastIn.IsZero() || now.Sub(lastIn) >= degradeGap || inFPS < degradeInputFPS
	inference = lastOut.IsZero() || now.Sub(lastOut) >= degradeGap ||
		outFPS < min(degradeOutputFPS, degradeOutputRatio*inFPS)
	return input, inference
}
