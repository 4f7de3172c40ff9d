package effect

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/processor"
)

var (
	_ processor.AudioHandler  = (*NoiseGate)(nil)
	_ processor.ParamUpdater  = (*NoiseGate)(nil)
	_ processor.StreamStarter = (*NoiseGate)(nil)
)

// The gate must not handle video: the processor passes it through.
var _ = func() any {
	if _, ok := any(&NoiseGate{}).(processor.VideoHandler); ok {
		panic("NoiseGate implements VideoHandler")
	}
	return nil
}()

// part is one stretch of a synthetic signal.
type part struct {
	kind    string  // "silence", "tone" or "noise"
	seconds float64 //
	level   float64 // tone amplitude, or noise RMS
}

// synth renders parts as a stereo 48 kHz signal (the same on both
// channels but for the noise, which differs) and returns it with the
// sample index where each part starts.
func synth(parts []part) (sig [2][]float32, starts []int) {
	const rate = 48000
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range parts {
		starts = append(starts, len(sig[0]))
		n := int(p.seconds * rate)
		for i := range n {
			for c := range 2 {
				var v float64
				switch p.kind {
				case "tone":
					v = p.level * math.Sin(2*math.Pi*440*float64(i)/rate)
				case "noise":
					// Uniform on ±a has RMS a/√3.
					v = p.level * math.Sqrt(3) * (2*rng.Float64() - 1)
				}
				sig[c] = append(sig[c], float32(v))
			}
		}
	}
	starts = append(starts, len(sig[0]))
	return sig, starts
}

// gate runs sig through g in frames of 1024 samples (AAC's) and returns
// the result.
func gate(t *testing.T, g *NoiseGate, sig [2][]float32) [2][]float32 {
	t.Helper()
	var out [2][]float32
	for i := 0; i < len(sig[0]); i += 1024 {
		end := min(i+1024, len(sig[0]))
		f, err := frame.NewAudio(2, end-i, 48000)
		if err != nil {
			t.Fatal(err)
		}
		copy(f.Samples[0], sig[0][i:end])
		copy(f.Samples[1], sig[1][i:end])
		res, err := g.HandleAudio(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		if res != nil && (len(res) != 1 || res[0] != f) {
			t.Fatalf("HandleAudio returned %v, want nil or the input", res)
		}
		out[0] = append(out[0], f.Samples[0]...)
		out[1] = append(out[1], f.Samples[1]...)
		f.Release()
	}
	return out
}

func energy(sig [2][]float32, from, to int) float64 {
	var e float64
	for c := range sig {
		for _, v := range sig[c][from:to] {
			e += float64(v) * float64(v)
		}
	}
	return e
}

func nonZero(sig [2][]float32, from, to int) int {
	n := 0
	for c := range sig {
		for _, v := range sig[c][from:to] {
			if v != 0 {
				n++
			}
		}
	}
	return n
}

func TestNoiseGate(t *testing.T) {
	const rate = 48000
	// After a sound, the gate must be shut within 20 ms: the 10 ms RMS
	// window, a short release ramp and a little slack.
	const settle = 20 * rate / 1000
	parts := []part{
		{"silence", 0.1, 0},
		{"noise", 0.3, 0.001}, // −60 dBFS
		{"tone", 0.5, 0.5},    // −9 dBFS RMS
		{"noise", 0.4, 0.001},
	}
	in, at := synth(parts)
	tests := []struct {
		name      string
		threshold any // nil: the default
		noiseKept bool
	}{
		{"at the default −40 dBFS, noise at −60 dBFS is silenced and the tone kept", nil, false},
		{"at −50 dBFS given as a string, noise is silenced and the tone kept", "-50", false},
		{"at −80 dBFS, noise at −60 dBFS passes as well as the tone", -80.0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g NoiseGate
			if tt.threshold != nil {
				if err := g.UpdateParams(context.Background(), processor.Params{"threshold_db": tt.threshold}); err != nil {
					t.Fatal(err)
				}
			}
			out := gate(t, &g, in)
			if nz := nonZero(out, at[0], at[1]); nz != 0 {
				t.Errorf("%d samples of the leading silence came out non-zero", nz)
			}
			tone := energy(out, at[2], at[3]) / energy(in, at[2], at[3])
			if tone < 0.99 {
				t.Errorf("the tone kept %.2f %% of its energy, want ≥ 99 %%", 100*tone)
			}
			for _, p := range []int{1, 3} {
				// The first noise part follows silence: no settling needed.
				from := at[p]
				if p == 3 {
					from += settle
				}
				kept := energy(out, from, at[p+1]) / energy(in, from, at[p+1])
				if tt.noiseKept {
					if kept < 0.99 {
						t.Errorf("noise part %d kept %.2f %% of its energy, want ≥ 99 %% below the threshold", p, 100*kept)
					}
				} else if nz := nonZero(out, from, at[p+1]); nz != 0 {
					t.Errorf("noise part %d: %d samples non-zero after %d ms, want all zero (%.4f %% of its energy kept)",
						p, nz, 1000*(from-at[p])/rate, 100*kept)
				}
			}
			if !tt.noiseKept {
				// The ramp: the tail fades instead of stopping dead.
				tail := out[0][at[3] : at[3]+settle]
				if tail[0] == 0 {
					t.Error("the tone's tail was cut at once, want a fade")
				}
			}
		})
	}
}

func TestNoiseGateSilencesAQuietTone(t *testing.T) {
	in, at := synth([]part{{"tone", 0.3, 0.005}}) // −49 dBFS RMS
	var g NoiseGate
	out := gate(t, &g, in)
	if nz := nonZero(out, at[0], at[1]); nz != 0 {
		t.Errorf("%d samples of a tone below the threshold came out non-zero", nz)
	}
}

func TestNoiseGateLeavesLoudAudioAlone(t *testing.T) {
	in, _ := synth([]part{{"tone", 0.2, 0.5}})
	var g NoiseGate
	var untouched, frames int
	for i := 0; i+1024 <= len(in[0]); i += 1024 {
		f, _ := frame.NewAudio(2, 1024, 48000)
		copy(f.Samples[0], in[0][i:])
		copy(f.Samples[1], in[1][i:])
		res, err := g.HandleAudio(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		frames++
		if res == nil {
			untouched++
			for j, v := range f.Samples[0] {
				if v != in[0][i+j] {
					t.Fatalf("frame %d returned nil, nil but sample %d changed", frames, j)
				}
			}
		}
	}
	// Only the first frame, with the attack ramp, is changed.
	if untouched != frames-1 {
		t.Errorf("%d of %d frames of a loud tone passed untouched, want all but the first", untouched, frames)
	}
}

func TestNoiseGateParams(t *testing.T) {
	const before = -30.0
	tests := []struct {
		name    string
		params  processor.Params
		want    float64
		wantErr string
	}{
		{"a JSON number is applied", processor.Params{"threshold_db": -55.5}, -55.5, ""},
		{"a json.Number is applied", processor.Params{"threshold_db": json.Number("-60")}, -60, ""},
		{"a numeric string is applied", processor.Params{"threshold_db": "-20"}, -20, ""},
		{"an int is applied", processor.Params{"threshold_db": -10}, -10, ""},
		{"params without threshold_db change nothing", processor.Params{"intensity": 0.3}, before, ""},
		{"a positive threshold is rejected", processor.Params{"threshold_db": 6.0}, before, "between -120 and 0"},
		{"a threshold below −120 dBFS is rejected", processor.Params{"threshold_db": -200.0}, before, "between -120 and 0"},
		{"a non-numeric string is rejected", processor.Params{"threshold_db": "quiet"}, before, "must be a number"},
		{"an infinite string is rejected", processor.Params{"threshold_db": "-Inf"}, before, "finite"},
		{"a boolean is rejected", processor.Params{"threshold_db": false}, before, "must be a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g NoiseGate
			if got := g.ThresholdDB(); got != DefaultThresholdDB {
				t.Fatalf("the zero value's threshold is %v, want %v", got, DefaultThresholdDB)
			}
			if err := g.SetThresholdDB(before); err != nil {
				t.Fatal(err)
			}
			err := g.UpdateParams(context.Background(), tt.params)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("UpdateParams(%v) = %v", tt.params, err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("UpdateParams(%v) succeeded, want an error", tt.params)
			case tt.wantErr != "" && (!strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "threshold_db")):
				t.Errorf("error %q should name threshold_db and say %q", err, tt.wantErr)
			}
			if got := g.ThresholdDB(); got != tt.want {
				t.Errorf("threshold %v after the update, want %v", got, tt.want)
			}
		})
	}
	t.Run("a start request without threshold_db restores the default", func(t *testing.T) {
		var g NoiseGate
		if err := g.SetThresholdDB(before); err != nil {
			t.Fatal(err)
		}
		if err := g.OnStreamStart(context.Background(), processor.Params{}); err != nil {
			t.Fatal(err)
		}
		if got := g.ThresholdDB(); got != DefaultThresholdDB {
			t.Errorf("threshold %v, want the default %v", got, DefaultThresholdDB)
		}
	})
}

func TestNoiseGateConcurrentUseIsRaceFree(t *testing.T) {
	in, _ := synth([]part{{"tone", 0.3, 0.5}, {"noise", 0.3, 0.001}})
	var g NoiseGate
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := g.UpdateParams(context.Background(), processor.Params{"threshold_db": -float64(30 + i%30)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	gate(t, &g, in)
	close(stop)
	wg.Wait()
}
