package processor

import (
	"math"
	"sync"
	"testing"
	"time"
)

// fpsT0 is an arbitrary origin for the explicit clocks of these tests.
var fpsT0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// at returns the instant d after fpsT0.
func at(d time.Duration) time.Time { return fpsT0.Add(d) }

// tickEvery ticks m n times, every step, starting at from.
func tickEvery(m *fpsMeter, from time.Duration, n int, step time.Duration) {
	for i := range n {
		m.tick(at(from + time.Duration(i)*step))
	}
}

// approx compares rates to within 1e-6 relative: a step of 1/30 s is
// truncated to whole nanoseconds.
func approx(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }

func TestFPSMeterRate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		window time.Duration
		ticks  func(m *fpsMeter)
		now    time.Duration
		want   float64
	}{
		{
			name:  "no samples give zero",
			ticks: func(*fpsMeter) {},
			now:   time.Second,
			want:  0,
		},
		{
			name:  "one sample gives zero",
			ticks: func(m *fpsMeter) { m.tick(at(0)) },
			now:   time.Second,
			want:  0,
		},
		{
			name:  "two samples at one instant give zero",
			ticks: func(m *fpsMeter) { m.tick(at(0)); m.tick(at(0)) },
			now:   0,
			want:  0,
		},
		{
			name:  "thirty frames a second measure thirty",
			ticks: func(m *fpsMeter) { tickEvery(m, 0, 91, time.Second/30) },
			now:   3 * time.Second,
			want:  30,
		},
		{
			name:  "the rate is n minus one over the span of the samples",
			ticks: func(m *fpsMeter) { m.tick(at(0)); m.tick(at(time.Second)); m.tick(at(4 * time.Second)) },
			now:   5 * time.Second,
			want:  0.5,
		},
		{
			name: "samples older than the ten second window are left out",
			ticks: func(m *fpsMeter) {
				tickEvery(m, 0, 20, time.Second/2)            // 2 fps over [0, 9.5 s]
				tickEvery(m, 10*time.Second, 11, time.Second) // 1 fps over [10 s, 20 s]
			},
			now:  20 * time.Second,
			want: 1,
		},
		{
			name:  "a sample exactly at the window's start is inside",
			ticks: func(m *fpsMeter) { m.tick(at(0)); m.tick(at(10 * time.Second)) },
			now:   10 * time.Second,
			want:  0.1,
		},
		{
			name:  "samples all older than the window give zero",
			ticks: func(m *fpsMeter) { tickEvery(m, 0, 30, time.Second/30) },
			now:   time.Minute,
			want:  0,
		},
		{
			name:  "samples after now are left out",
			ticks: func(m *fpsMeter) { tickEvery(m, 0, 3, time.Second); m.tick(at(2500 * time.Millisecond)) },
			now:   2 * time.Second,
			want:  1,
		},
		{
			name:   "a custom window is honoured",
			window: 2 * time.Second,
			ticks: func(m *fpsMeter) {
				tickEvery(m, 0, 10, time.Second/10)         // 10 fps over [0, 0.9 s]
				tickEvery(m, 5*time.Second, 3, time.Second) // 1 fps over [5 s, 7 s]
			},
			now:  7 * time.Second,
			want: 1,
		},
		{
			name:   "only the newest six hundred samples are kept",
			window: time.Hour,
			ticks: func(m *fpsMeter) {
				m.tick(at(0)) // dropped by the 600th tick below
				tickEvery(m, 100*time.Second, fpsMaxSamples, time.Second)
			},
			now:  time.Hour,
			want: 1, // with the first sample kept it would be 600/699
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &fpsMeter{window: tc.window}
			tc.ticks(m)
			if got := m.rate(at(tc.now)); !approx(got, tc.want) {
				t.Errorf("rate = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFPSMeterLastTick(t *testing.T) {
	t.Run("a meter without ticks reports the zero time", func(t *testing.T) {
		var m fpsMeter
		if got := m.lastTick(); !got.IsZero() {
			t.Errorf("lastTick = %v, want zero", got)
		}
	})
	t.Run("the latest tick is reported", func(t *testing.T) {
		var m fpsMeter
		tickEvery(&m, time.Second, 5, time.Second)
		if got, want := m.lastTick(), at(5*time.Second); !got.Equal(want) {
			t.Errorf("lastTick = %v, want %v", got, want)
		}
	})
	t.Run("the latest tick is reported after the ring wraps", func(t *testing.T) {
		var m fpsMeter
		tickEvery(&m, 0, fpsMaxSamples+7, time.Millisecond)
		if got, want := m.lastTick(), at(time.Duration(fpsMaxSamples+6)*time.Millisecond); !got.Equal(want) {
			t.Errorf("lastTick = %v, want %v", got, want)
		}
	})
	t.Run("reset forgets every sample", func(t *testing.T) {
		var m fpsMeter
		tickEvery(&m, 0, 30, time.Second/30)
		m.reset()
		if !m.lastTick().IsZero() || m.rate(at(time.Second)) != 0 {
			t.Errorf("after reset: lastTick %v, rate %v; want zero and 0", m.lastTick(), m.rate(at(time.Second)))
		}
		tickEvery(&m, time.Hour, 11, time.Second/10)
		if got := m.rate(at(time.Hour + time.Second)); !approx(got, 10) {
			t.Errorf("rate after reset and new ticks = %v, want 10", got)
		}
	})
}

func TestFPSMeterTickDoesNotAllocate(t *testing.T) {
	var m fpsMeter
	now := fpsT0
	allocs := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Millisecond)
		m.tick(now)
	})
	if allocs != 0 {
		t.Errorf("tick allocates %v times per call, want 0", allocs)
	}
}

func TestFPSMeterIsSafeForConcurrentUse(t *testing.T) {
	var m fpsMeter
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				m.tick(at(time.Duration(g*2000+i) * time.Millisecond))
			}
		})
		wg.Go(func() {
			for i := range 500 {
				_ = m.rate(at(time.Duration(i) * time.Millisecond))
				_ = m.lastTick()
			}
		})
	}
	wg.Wait()
	if got := m.rate(at(8 * time.Second)); got <= 0 {
		t.Errorf("rate after concurrent ticks = %v, want > 0", got)
	}
}

func TestFPSRatesSnapshot(t *testing.T) {
	t.Run("new meters report zeros", func(t *testing.T) {
		if got := newRates().snapshot(fpsT0); got != (FPS{}) {
			t.Errorf("snapshot = %+v, want zeros", got)
		}
	})
	t.Run("each meter reports under its own field", func(t *testing.T) {
		r := newRates()
		tickEvery(r.ingressVideo, 0, 31, time.Second/30)
		tickEvery(r.ingressAudio, 0, 51, time.Second/50)
		tickEvery(r.egressVideo, 0, 25, time.Second/24)
		// egress audio: no frames
		got := r.snapshot(at(time.Second))
		want := FPS{IngressVideo: 30, IngressAudio: 50, EgressVideo: 24, EgressAudio: 0}
		if !approx(got.IngressVideo, want.IngressVideo) || !approx(got.IngressAudio, want.IngressAudio) ||
			!approx(got.EgressVideo, want.EgressVideo) || got.EgressAudio != want.EgressAudio {
			t.Errorf("snapshot = %+v, want %+v", got, want)
		}
		r.reset()
		if got := r.snapshot(at(time.Second)); got != (FPS{}) {
			t.Errorf("snapshot after reset = %+v, want zeros", got)
		}
	})
}

func TestDegraded(t *testing.T) {
	// frames ticks a meter at fps from 0 to end (inclusive of 0).
	frames := func(fps float64, end time.Duration) func(*fpsMeter) {
		return func(m *fpsMeter) {
			if fps == 0 {
				return
			}
			step := time.Duration(float64(time.Second) / fps)
			for d := time.Duration(0); d <= end; d += step {
				m.tick(at(d))
			}
		}
	}
	for _, tc := range []struct {
		name          string
		in, out       func(*fpsMeter)
		now           time.Duration
		wantInput     bool
		wantInference bool
	}{
		{
			name: "a healthy 30 fps stream is not degraded",
			in:   frames(30, 5*time.Second), out: frames(30, 5*time.Second),
			now: 5 * time.Second,
		},
		{
			name: "no frames at all degrade both input and inference",
			in:   frames(0, 0), out: frames(0, 0),
			now:       5 * time.Second,
			wantInput: true, wantInference: true,
		},
		{
			name: "input below 15 fps is degraded input",
			in:   frames(10, 5*time.Second), out: frames(10, 5*time.Second),
			now:       5 * time.Second,
			wantInput: true,
		},
		{
			name: "input at exactly 15 fps is not degraded",
			in:   frames(15, 5*time.Second), out: frames(15, 5*time.Second),
			now: 5 * time.Second,
		},
		{
			name: "two seconds without input is degraded input even at a good rate",
			in:   frames(30, 5*time.Second), out: frames(30, 7*time.Second),
			now:       7 * time.Second,
			wantInput: true,
		},
		{
			name: "output below ten fps from 30 fps input is degraded inference",
			in:   frames(30, 5*time.Second), out: frames(8, 5*time.Second),
			now:           5 * time.Second,
			wantInference: true,
		},
		{
			name: "output at ten fps from 30 fps input is not degraded: the floor is min(10, 0.8 × input)",
			in:   frames(30, 5*time.Second), out: frames(10, 5*time.Second),
			now: 5 * time.Second,
		},
		{
			name: "output of 12 fps from 16 fps input is not degraded: the floor never exceeds 10 fps",
			in:   frames(16, 5*time.Second), out: frames(12, 5*time.Second),
			now: 5 * time.Second,
		},
		{
			name: "output below 0.8 × a 10 fps input is degraded inference",
			in:   frames(10, 5*time.Second), out: frames(5, 5*time.Second),
			now:       5 * time.Second,
			wantInput: true, wantInference: true,
		},
		{
			name: "two seconds without output is degraded inference",
			in:   frames(30, 7*time.Second), out: frames(30, 5*time.Second),
			now:           7 * time.Second,
			wantInference: true,
		},
		{
			name: "a gap just under two seconds is not degraded",
			in:   frames(30, 5*time.Second), out: frames(30, 5*time.Second),
			now: 5*time.Second + 1990*time.Millisecond,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in, out fpsMeter
			tc.in(&in)
			tc.out(&out)
			input, inference := degraded(at(tc.now), &in, &out)
			if input != tc.wantInput || inference != tc.wantInference {
				t.Errorf("degraded = (input %v, inference %v), want (%v, %v); in %.2f fps, out %.2f fps",
					input, inference, tc.wantInput, tc.wantInference, in.rate(at(tc.now)), out.rate(at(tc.now)))
			}
		})
	}
}
