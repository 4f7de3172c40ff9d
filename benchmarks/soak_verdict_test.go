package benchmarks

import (
	"fmt"
	"slices"
	"time"

	"github.com/gotrickle/gotrickle/internal/mpegts"
)

// What the soak judges: after a warm-up, the processor's resident memory,
// goroutines and open files must not grow and its latency must not drift.

// Soak limits. RSS is the 5 % (soakRSSLimit); goroutines and open files may move
// by a few (a connection being replaced, a POST opened ahead) but must not
// climb; latency may move by noise on a shared machine, not by a trend.
const (
	soakRSSGrowthPct = 5
	// soakShortRSSGrowthPct is the RSS limit of a run shorter than
	// soakSettled: its warm-up ends while the C pools still fill (the
	// 60-s CI soak measured -1.1 % once and +5.3 % another time, both
	// with flat goroutines, files and latency), so it catches a leak of
	// a frame per second or more, not the 5 %.
	soakShortRSSGrowthPct = 15
	// soakSettled is how long a run must be for the 5 % limit, and
	// soakSettle its warm-up at least: the processor's RSS climbs for
	// about 4–4.5 minutes at 720p30 as FFmpeg's, x264's and the C
	// allocator's pools fill, then holds (three 10-minute runs,
	// benchmarks/README.md), so the first quarter judged must start
	// after that, not in the climb.
	soakSettled        = 10 * time.Minute
	soakSettle         = 5 * time.Minute
	soakGoroutineSlack = 8
	soakFDSlack        = 4
	soakDriftMs        = 20 // or soakDriftPct of the first quarter's median, whichever is more
	soakDriftPct       = 25
)

// soakSample is one look at the processor.
type soakSample struct {
	T          float64 // s since the stream started
	RSSMB      float64
	HeapMB     float64 // go_memstats_heap_inuse_bytes
	GoMB       float64 // memory the Go runtime holds (sys − released)
	FDs        int
	Goroutines int
	FramesIn   int64 // video frames decoded, skipped and sent to the encoder so far
	Skipped    int64
	FramesOut  int64
	Matched    int     // output frames matched to input this interval
	LatP50     float64 // ms, over this interval's matched frames
	LatP95     float64
}

// soakVerdict is the judgement and the figures behind it.
type soakVerdict struct {
	Duration, Warmup, Quarter float64 // s

	RSSBaseMB, RSSLastMB, RSSGrowthPct float64
	GoroutinesBase, GoroutinesLast     int
	FDsBase, FDsLast                   int
	LatFirstP50, LatLastP50            float64 // ms: first and last quarter after the warm-up
	LatFirstP95, LatLastP95            float64
	DriftMs                            float64
	Stalls                             int // intervals after the warm-up with no output frame

	Failures []string
}

// soakWarmup is 20 % of the run, at least 30 s (or half a run shorter
// than a minute) and at most 60 s; a run of soakSettled or more warms up
// for soakSettle at least. The processor's RSS climbs for its first few
// minutes as FFmpeg's, x264's and the C allocator's pools fill, then holds
// (benchmarks/README.md, Soak): a short run can only judge its second
// half (against a looser RSS limit, soakRSSLimit), a long one judges what
// comes after the climb.
func soakWarmup(d time.Duration) time.Duration {
	if d >= soakSettled {
		return max(d/5, soakSettle)
	}
	return min(max(d/5, min(d/2, 30*time.Second)), time.Minute)
}

// soakInterval is the default sampling interval: 5 s, or less on a short
// run so that each quarter after the warm-up holds a few samples.
func soakInterval(d time.Duration) time.Duration {
	return min(max(d/40, time.Second), 5*time.Second)
}

// judgeSoak compares the last quarter after the warm-up with the first:
// growth is the last quarter's maximum over the first quarter's (maxima,
// so that a collector's sawtooth compares like with like), drift the
// change of the median latency.
func judgeSoak(d time.Duration, samples []soakSample, lat []latencyPoint) soakVerdict {
	w := soakWarmup(d)
	q := (d - w) / 4
	v := soakVerdict{Duration: d.Seconds(), Warmup: w.Seconds(), Quarter: q.Seconds()}
	first := func(t float64) bool { return t >= w.Seconds() && t <= (w+q).Seconds() }
	last := func(t float64) bool { return t >= (d - q).Seconds() }
	var base, end []soakSample
	for _, s := range samples {
		if first(s.T) {
			base = append(base, s)
		}
		if last(s.T) {
			end = append(end, s)
		}
		if s.T > w.Seconds() && s.Matched == 0 {
			v.Stalls++
		}
	}
	if len(base) == 0 || len(end) == 0 {
		v.Failures = append(v.Failures, fmt.Sprintf("too few samples: %d in the first quarter after the warm-up, %d in the last", len(base), len(end)))
		return v
	}
	v.RSSBaseMB, v.RSSLastMB = maxOf(base, func(s soakSample) float64 { return s.RSSMB }), maxOf(end, func(s soakSample) float64 { return s.RSSMB })
	v.RSSGrowthPct = 100 * (v.RSSLastMB/v.RSSBaseMB - 1)
	v.GoroutinesBase, v.GoroutinesLast = int(maxOf(base, func(s soakSample) float64 { return float64(s.Goroutines) })), int(maxOf(end, func(s soakSample) float64 { return float64(s.Goroutines) }))
	v.FDsBase, v.FDsLast = int(maxOf(base, func(s soakSample) float64 { return float64(s.FDs) })), int(maxOf(end, func(s soakSample) float64 { return float64(s.FDs) }))

	var a, b []float64
	for _, p := range lat {
		switch t := p.At.Seconds(); {
		case first(t):
			a = append(a, p.Ms)
		case last(t):
			b = append(b, p.Ms)
		}
	}
	slices.Sort(a)
	slices.Sort(b)
	v.LatFirstP50, v.LatLastP50 = percentileOr0(a, 50), percentileOr0(b, 50)
	v.LatFirstP95, v.LatLastP95 = percentileOr0(a, 95), percentileOr0(b, 95)
	v.DriftMs = v.LatLastP50 - v.LatFirstP50

	if limit := soakRSSLimit(d); v.RSSGrowthPct > limit {
		v.Failures = append(v.Failures, fmt.Sprintf("RSS grew %.1f %% (%.1f → %.1f MB), limit %g %%", v.RSSGrowthPct, v.RSSBaseMB, v.RSSLastMB, limit))
	}
	if v.GoroutinesLast-v.GoroutinesBase > soakGoroutineSlack {
		v.Failures = append(v.Failures, fmt.Sprintf("goroutines grew %d → %d, limit +%d", v.GoroutinesBase, v.GoroutinesLast, soakGoroutineSlack))
	}
	if v.FDsLast-v.FDsBase > soakFDSlack {
		v.Failures = append(v.Failures, fmt.Sprintf("open files grew %d → %d, limit +%d", v.FDsBase, v.FDsLast, soakFDSlack))
	}
	switch {
	case len(a) == 0 || len(b) == 0:
		v.Failures = append(v.Failures, fmt.Sprintf("no latency: %d frames matched in the first quarter, %d in the last", len(a), len(b)))
	case v.DriftMs > max(soakDriftMs, v.LatFirstP50*soakDriftPct/100):
		v.Failures = append(v.Failures, fmt.Sprintf("latency drifted: median %.1f → %.1f ms", v.LatFirstP50, v.LatLastP50))
	}
	if v.Stalls > 0 {
		v.Failures = append(v.Failures, fmt.Sprintf("%d sampling intervals after the warm-up with no output frame", v.Stalls))
	}
	return v
}

// percentileOr0 is mpegts.Percentile with 0 instead of NaN for no values,
// which JSON cannot carry.
func percentileOr0(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return mpegts.Percentile(sorted, p)
}

func maxOf(ss []soakSample, f func(soakSample) float64) float64 {
	m := f(ss[0])
	for _, s := range ss[1:] {
		m = max(m, f(s))
	}
	return m
}

// soakRSSLimit is the RSS growth a run of d may show, in per cent.
func soakRSSLimit(d time.Duration) float64 {
	if d < soakSettled {
		return soakShortRSSGrowthPct
	}
	return soakRSSGrowthPct
}
