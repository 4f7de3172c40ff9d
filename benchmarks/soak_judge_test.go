package benchmarks

import (
	"strings"
	"testing"
	"time"
)

// TestJudgeSoak checks the soak's verdict on synthetic runs, so that the
// rule a real soak is judged by is itself known to catch each kind of leak.
func TestJudgeSoak(t *testing.T) {
	const d = 10 * time.Minute
	steady := func(at float64) soakSample {
		return soakSample{T: at, RSSMB: 200, FDs: 20, Goroutines: 40, Matched: 150}
	}
	flat := func(float64) float64 { return 75 }
	for _, tc := range []struct {
		name   string
		sample func(at float64) soakSample
		lat    func(at float64) float64
		want   string // a failure containing this, or none when empty
	}{
		{"a steady processor passes", steady, flat, ""},
		{"growth during the warm-up only passes", func(at float64) soakSample {
			s := steady(at)
			s.RSSMB = 100 + 100*min(at, 60)/60
			return s
		}, flat, ""},
		{"memory climbing for 4.5 minutes, then holding, passes (the C pools filling)", func(at float64) soakSample {
			s := steady(at)
			s.RSSMB = 140 + 30*min(at, 270)/270
			return s
		}, flat, ""},
		{"a collector's sawtooth passes", func(at float64) soakSample {
			s := steady(at)
			if int(at)%10 == 0 {
				s.RSSMB += 8
			}
			return s
		}, flat, ""},
		{"resident memory climbing 3 MB a minute fails", func(at float64) soakSample {
			s := steady(at)
			s.RSSMB += at / 20
			return s
		}, flat, "RSS grew"},
		{"a goroutine leaked every ten seconds fails", func(at float64) soakSample {
			s := steady(at)
			s.Goroutines += int(at / 10)
			return s
		}, flat, "goroutines grew"},
		{"a file descriptor leaked every thirty seconds fails", func(at float64) soakSample {
			s := steady(at)
			s.FDs += int(at / 30)
			return s
		}, flat, "open files grew"},
		{"latency creeping up 10 ms a minute fails", steady, func(at float64) float64 { return 75 + at/6 }, "latency drifted"},
		{"latency jitter within the tolerance passes", steady, func(at float64) float64 { return 75 + float64(int(at*10)%7) }, ""},
		{"an interval with no output after the warm-up fails", func(at float64) soakSample {
			s := steady(at)
			if at == 400 {
				s.Matched = 0
			}
			return s
		}, flat, "no output frame"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var samples []soakSample
			for at := 0.0; at <= d.Seconds(); at += 5 {
				samples = append(samples, tc.sample(at))
			}
			var lat []latencyPoint
			for at := 0.0; at <= d.Seconds(); at += 1.0 / 30 {
				lat = append(lat, latencyPoint{At: time.Duration(at * float64(time.Second)), Ms: tc.lat(at)})
			}
			v := judgeSoak(d, samples, lat)
			got := strings.Join(v.Failures, "; ")
			switch {
			case tc.want == "" && got != "":
				t.Fatalf("failed a run it should pass: %s (%+v)", got, v)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Fatalf("failures %q, want one about %q (%+v)", got, tc.want, v)
			}
		})
	}
}

// TestSoakWarmupAndInterval checks the warm-up and sampling interval the
// two documented runs (make soak-ci, make soak) are judged with.
func TestSoakWarmupAndInterval(t *testing.T) {
	for _, tc := range []struct {
		name           string
		run            time.Duration
		warmup, sample time.Duration
		rssPct         float64
	}{
		{"a one-minute run judges its second half, sampled every 1.5 s, RSS at 15 %", time.Minute, 30 * time.Second, 1500 * time.Millisecond, 15},
		{"a ten-minute run warms up for five minutes (past the RSS climb), sampled every 5 s, RSS at the issue's 5 %", 10 * time.Minute, 5 * time.Minute, 5 * time.Second, 5},
		{"an hour-long run warms up for a fifth of it", time.Hour, 12 * time.Minute, 5 * time.Second, 5},
		{"a twenty-second run warms up for half of it", 20 * time.Second, 10 * time.Second, time.Second, 15},
		{"a two-minute run warms up for 30 s", 2 * time.Minute, 30 * time.Second, 3 * time.Second, 15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := soakWarmup(tc.run); got != tc.warmup {
				t.Errorf("warm-up %v, want %v", got, tc.warmup)
			}
			if got := soakRSSLimit(tc.run); got != tc.rssPct {
				t.Errorf("RSS limit %g %%, want %g %%", got, tc.rssPct)
			}
			if got := soakInterval(tc.run); got != tc.sample {
				t.Errorf("interval %v, want %v", got, tc.sample)
			}
		})
	}
}
