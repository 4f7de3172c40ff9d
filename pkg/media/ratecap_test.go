package media

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// The frame-rate cap, on a 30 fps fixture whose duration the manifest
// records: at or above 30 every frame stays; below, the count follows the
// cap over the fixture's duration.
func TestTheFramerateCapKeepsAtMostTheCapPerSecond(t *testing.T) {
	fx, err := loadManifest(t).Fixture("h264-aac-320x240")
	if err != nil {
		t.Fatal(err)
	}
	vs, _ := fx.Video()
	in, err := fx.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	span := float64(vs.PTS[len(vs.PTS)-1]-vs.PTS[0]) / 90000 // first to last frame, seconds
	for _, c := range []struct {
		name string
		cap  frame.Rational
		want float64 // frames kept
	}{
		{"a cap equal to the input rate loses no frame", frame.Rational{Num: 30, Den: 1}, float64(vs.Frames)},
		{"a cap above the input rate loses no frame", frame.Rational{Num: 60, Den: 1}, float64(vs.Frames)},
		{"29.97 (30000/1001) keeps all but about one frame in 34", frame.Rational{Num: 30000, Den: 1001}, 1 + math.Floor(span*30000/1001)},
		{"24 keeps 24 a second", frame.Rational{Num: 24, Den: 1}, 1 + math.Floor(span*24)},
		{"15 keeps every other frame", frame.Rational{Num: 15, Den: 1}, 1 + math.Floor(span*15)},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := NewDecoder(DecoderConfig{Width: 32, Height: 32, MaxFramerate: c.cap})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			var pts []int64
			st, err := d.DecodeSegment(context.Background(), bytes.NewReader(in), Handlers{Video: func(v *frame.Video) error {
				pts = append(pts, v.PTS)
				v.Release()
				return nil
			}})
			if err != nil {
				t.Fatal(err)
			}
			if float64(len(pts)) != c.want || st.Capped+len(pts) != vs.Frames {
				t.Fatalf("kept %d (capped %d) of %d, want %.0f kept", len(pts), st.Capped, vs.Frames, c.want)
			}
		})
	}
	t.Run("the cap can change while decoding, and bad caps are refused", func(t *testing.T) {
		d, err := NewDecoder(DecoderConfig{Width: 32, Height: 32})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if got := d.MaxFramerate(); got != (frame.Rational{Num: 24, Den: 1}) {
			t.Fatalf("default cap %v, want 24/1", got)
		}
		kept := 0
		_, err = d.DecodeSegment(context.Background(), bytes.NewReader(in), Handlers{Video: func(v *frame.Video) error {
			kept++
			if kept == 10 {
				if err := d.SetMaxFramerate(NoFramerateCap); err != nil {
					t.Error(err)
				}
			}
			v.Release()
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		if kept <= 1+int(span*24) || kept >= vs.Frames {
			t.Fatalf("kept %d: the change did not take effect mid-stream", kept)
		}
		for _, bad := range []frame.Rational{{Num: -1, Den: 1}, {Num: 1, Den: 0}, {Num: 5000, Den: 1}} {
			if d.SetMaxFramerate(bad) == nil {
				t.Fatalf("cap %v accepted", bad)
			}
		}
	})
}
