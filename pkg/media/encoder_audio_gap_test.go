package media

import (
	"testing"

	"github.com/asticode/go-astiav"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// Audio timestamps follow the input's clock across gaps, so the audio's
// end lines up with the input's end and the muxer never holds video back.
func TestAudioTimestampsFollowTheInputAcrossGaps(t *testing.T) {
	const rate, per = 48000, 960 // 20 ms frames
	for _, tc := range []struct {
		name string
		// second is where the second second of input starts (samples);
		// jitter moves every frame's PTS by up to that much.
		second, jitter int64
		wantEnd        int64
	}{
		{"continuous input ends where it ends", rate, 0, 2 * rate},
		{"jitter within a frame changes nothing", rate, 300, 2 * rate},
		{"a 100 ms gap is filled with silence", rate + rate/10, 0, 2*rate + rate/10},
		{"a 5 s pause makes the count jump ahead", 6 * rate, 0, 7 * rate},
		{"a 500 ms step back drops the overlap", rate / 2, 0, rate + rate/2},
		{"a 5 s step back (a reset) keeps counting forward", -5 * rate, 0, 2 * rate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := openAudio("opus", 2, rate, 96000)
			if err != nil {
				t.Fatal(err)
			}
			defer a.free()
			var last, end int64 = -1 << 62, 0
			out := func(p *astiav.Packet) error {
				if p.Pts() <= last {
					t.Fatalf("packet pts %d after %d", p.Pts(), last)
				}
				last, end = p.Pts(), p.Pts()+p.Duration()
				p.Unref()
				return nil
			}
			for half := range 2 {
				start := int64(0)
				if half == 1 {
					start = tc.second
				}
				for k := range int64(rate / per) {
					f, _ := frame.NewAudio(2, per, rate)
					f.TimeBase = frame.Rational{Num: 1, Den: rate}
					f.PTS = start + k*per
					if k%2 == 1 {
						f.PTS += tc.jitter
					}
					if err := a.write(f, out); err != nil {
						t.Fatal(err)
					}
					f.Release()
				}
			}
			if err := a.flush(out); err != nil {
				t.Fatal(err)
			}
			// The encoder's priming and the last frame's padding shift the
			// end by less than two frames.
			if d := end - tc.wantEnd; d < -2*per || d > 2*per {
				t.Fatalf("the audio ends at %d, want %d ± %d", end, tc.wantEnd, 2*per)
			}
		})
	}
}
