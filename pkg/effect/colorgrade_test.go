package effect

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/processor"
)

// Compile-time checks: the interfaces each handler promises.
var (
	_ processor.VideoHandler  = (*ColorGrade)(nil)
	_ processor.ParamUpdater  = (*ColorGrade)(nil)
	_ processor.StreamStarter = (*ColorGrade)(nil)
)

func TestColorGradeOnAFixtureFrame(t *testing.T) {
	frames, _ := decodeFixture(t, "h264-aac-1280x720")
	src := frames[len(frames)/2]
	type result struct{ luma, redOverBlue float64 }
	grade := func(t *testing.T, k float64) result {
		t.Helper()
		var c ColorGrade
		if err := c.SetIntensity(k); err != nil {
			t.Fatal(err)
		}
		f := src.Clone()
		defer f.Release()
		out, err := c.HandleVideo(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		if out == nil {
			out = f // passthrough
		} else if out != f {
			t.Fatalf("intensity %v: HandleVideo returned a new frame, want the input graded in place", k)
		}
		r, _, b := meanRGB(out)
		return result{meanLuma(out), r / b}
	}

	ks := []float64{0, 0.5, 1}
	res := make([]result, len(ks))
	for i, k := range ks {
		res[i] = grade(t, k)
		t.Logf("intensity %.1f: mean luma %.2f, mean red/blue %.3f", k, res[i].luma, res[i].redOverBlue)
	}
	r0, _, b0 := meanRGB(src)
	if math.Abs(res[0].luma-meanLuma(src)) > 1e-9 || math.Abs(res[0].redOverBlue-r0/b0) > 1e-9 {
		t.Errorf("intensity 0 changed the frame: luma %.3f → %.3f", meanLuma(src), res[0].luma)
	}
	for i := 1; i < len(ks); i++ {
		t.Run("mean luma drops from intensity "+ftoa(ks[i-1])+" to "+ftoa(ks[i]), func(t *testing.T) {
			// "Measurably": at least 5 % of the previous luma per step.
			if res[i].luma > 0.95*res[i-1].luma {
				t.Errorf("mean luma %.2f → %.2f, want a drop of at least 5 %%", res[i-1].luma, res[i].luma)
			}
		})
		t.Run("red gains on blue from intensity "+ftoa(ks[i-1])+" to "+ftoa(ks[i]), func(t *testing.T) {
			if res[i].redOverBlue <= res[i-1].redOverBlue*1.05 {
				t.Errorf("mean red/blue %.3f → %.3f, want a rise of at least 5 %%", res[i-1].redOverBlue, res[i].redOverBlue)
			}
		})
	}
}

func ftoa(k float64) string { return strconv.FormatFloat(k, 'g', -1, 64) }

func TestColorGradeCurves(t *testing.T) {
	for _, k := range []float64{0.1, 0.5, 0.9, 1} {
		t.Run("at intensity "+ftoa(k)+" no channel brightens and blue falls furthest", func(t *testing.T) {
			lut := newGradeLUT(k)
			for v := 1; v < 256; v++ {
				r, g, b := int(lut.r[v]), int(lut.g[v]), int(lut.b[v])
				if r > v || g > v || b > v {
					t.Fatalf("value %d → r %d g %d b %d: a channel got brighter", v, r, g, b)
				}
				if b > g || g > r {
					t.Fatalf("value %d → r %d g %d b %d: want b ≤ g ≤ r", v, r, g, b)
				}
			}
			// The documented formula, at mid grey and at full scale.
			want := func(v float64) (r, g, b uint8) {
				d := 1 - k/4
				return to8(d * math.Min(1, (1+k/4)*v)), to8(d * v), to8(d * (1 - 0.3*k) * v)
			}
			for _, v := range []int{128, 255} {
				r, g, b := want(float64(v) / 255)
				if lut.r[v] != r || lut.g[v] != g || lut.b[v] != b {
					t.Errorf("value %d → %d %d %d, the documented curve gives %d %d %d", v, lut.r[v], lut.g[v], lut.b[v], r, g, b)
				}
			}
			if lut.g[255] >= 255 {
				t.Errorf("white's green stays %d: the grade does not darken", lut.g[255])
			}
		})
	}
}

func TestColorGradeParams(t *testing.T) {
	const before = 0.3
	tests := []struct {
		name    string
		params  processor.Params
		want    float64
		wantErr string
	}{
		{"a JSON number is applied", processor.Params{"intensity": 0.8}, 0.8, ""},
		{"a json.Number is applied", processor.Params{"intensity": json.Number("0.25")}, 0.25, ""},
		{"a numeric string is applied", processor.Params{"intensity": " 1 "}, 1, ""},
		{"an integer zero is applied", processor.Params{"intensity": 0}, 0, ""},
		{"params without intensity change nothing", processor.Params{"max_framerate": 24.0}, before, ""},
		{"a value above 1 is rejected", processor.Params{"intensity": 1.5}, before, "between 0 and 1"},
		{"a negative value is rejected", processor.Params{"intensity": -0.1}, before, "between 0 and 1"},
		{"a non-numeric string is rejected", processor.Params{"intensity": "warm"}, before, "must be a number"},
		{"a NaN string is rejected", processor.Params{"intensity": "NaN"}, before, "finite"},
		{"a boolean is rejected", processor.Params{"intensity": true}, before, "must be a number"},
		{"null is rejected", processor.Params{"intensity": nil}, before, "null"},
		{"an object is rejected", processor.Params{"intensity": map[string]any{"v": 1.0}}, before, "must be a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c ColorGrade
			if err := c.SetIntensity(before); err != nil {
				t.Fatal(err)
			}
			err := c.UpdateParams(context.Background(), tt.params)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("UpdateParams(%v) = %v, want no error", tt.params, err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("UpdateParams(%v) succeeded, want an error", tt.params)
			case tt.wantErr != "" && (!strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "intensity")):
				t.Errorf("error %q should name intensity and say %q", err, tt.wantErr)
			}
			if got := c.Intensity(); got != tt.want {
				t.Errorf("intensity is %v after the update, want %v", got, tt.want)
			}
		})
	}
}

func TestColorGradeStreamStart(t *testing.T) {
	tests := []struct {
		name    string
		params  processor.Params
		want    float64
		wantErr bool
	}{
		{"a start request's intensity is applied", processor.Params{"intensity": 0.9}, 0.9, false},
		{"a start request without intensity restores the default", processor.Params{}, DefaultIntensity, false},
		{"a start request with a bad intensity is an error", processor.Params{"intensity": 2.0}, 0.2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c ColorGrade
			if got := c.Intensity(); got != DefaultIntensity {
				t.Fatalf("the zero value's intensity is %v, want %v", got, DefaultIntensity)
			}
			if err := c.SetIntensity(0.2); err != nil {
				t.Fatal(err)
			}
			err := c.OnStreamStart(context.Background(), tt.params)
			if (err != nil) != tt.wantErr {
				t.Fatalf("OnStreamStart(%v) error = %v, want error: %v", tt.params, err, tt.wantErr)
			}
			if got := c.Intensity(); got != tt.want {
				t.Errorf("intensity %v, want %v", got, tt.want)
			}
		})
	}
}

func TestColorGradeIntensityZeroIsPassthrough(t *testing.T) {
	f := gradient(t, 64, 48)
	want := bytes.Clone(f.Pix)
	var c ColorGrade
	if err := c.UpdateParams(context.Background(), processor.Params{"intensity": 0.0}); err != nil {
		t.Fatal(err)
	}
	out, err := c.HandleVideo(context.Background(), f)
	if out != nil || err != nil {
		t.Errorf("HandleVideo at intensity 0 = %v, %v; want nil, nil", out, err)
	}
	if !bytes.Equal(f.Pix, want) {
		t.Error("intensity 0 changed the pixels")
	}
}

func TestColorGradeRejectsAnInvalidFrame(t *testing.T) {
	var c ColorGrade
	f := &frame.Video{Width: 4, Height: 4, Stride: 12, Pix: make([]byte, 10)}
	if _, err := c.HandleVideo(context.Background(), f); err == nil {
		t.Error("a frame with a short Pix was accepted")
	}
}

func TestColorGradeConcurrentUpdatesAreRaceFree(t *testing.T) {
	var c ColorGrade
	f := gradient(t, 320, 240)
	ctx := context.Background()
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
			k := float64(i%11) / 10
			if err := c.UpdateParams(ctx, processor.Params{"intensity": k}); err != nil {
				t.Error(err)
				return
			}
			if got := c.Intensity(); got < 0 || got > 1 {
				t.Errorf("Intensity() = %v mid-update", got)
				return
			}
		}
	}()
	for range 200 {
		if _, err := c.HandleVideo(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if err := c.UpdateParams(ctx, processor.Params{"intensity": 0.7}); err != nil {
		t.Fatal(err)
	}
	if got := c.Intensity(); got != 0.7 {
		t.Errorf("after the updates settle, intensity %v, want 0.7", got)
	}
}

// gradient returns a w×h frame with a colour gradient: red across, green
// down, blue diagonally.
func gradient(t testing.TB, w, h int) *frame.Video {
	t.Helper()
	f, err := frame.NewVideo(w, h)
	if err != nil {
		t.Fatal(err)
	}
	for y := range h {
		for x := range w {
			f.SetRGB(x, y, frame.RGB{R: uint8(255 * x / w), G: uint8(255 * y / h), B: uint8(255 * (x + y) / (w + h))})
		}
	}
	t.Cleanup(f.Release)
	return f
}

func BenchmarkColorGrade720p(b *testing.B) {
	frames, _ := decodeFixture(b, "h264-aac-1280x720")
	f := frames[0]
	var c ColorGrade // intensity 0.5
	ctx := context.Background()
	b.SetBytes(int64(3 * f.Width * f.Height))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.HandleVideo(ctx, f); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/frame")
}
