package effect

import (
	"bytes"
	"context"
	"testing"

	"github.com/gotrickle/gotrickle/fixtures"
	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/media"
)

// decodeFixture decodes every video frame of a fixture at its own size (no
// scaling, no frame-rate cap) and returns them in order, with the fixture's
// video stream from the manifest. The frames are released when the test
// ends.
func decodeFixture(t testing.TB, name string) ([]*frame.Video, fixtures.Stream) {
	t.Helper()
	return decodeFixtureAt(t, name, 0, 0)
}

// decodeFixtureAt is decodeFixture with the frames scaled to cover w×h
// (the fixture's own size when w and h are 0).
func decodeFixtureAt(t testing.TB, name string, w, h int) ([]*frame.Video, fixtures.Stream) {
	t.Helper()
	m, err := fixtures.Load()
	if err != nil {
		t.Fatal(err)
	}
	fx, err := m.Fixture(name)
	if err != nil {
		t.Fatal(err)
	}
	vs, ok := fx.Video()
	if !ok {
		t.Fatalf("fixture %s has no video", name)
	}
	data, err := fx.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if w == 0 || h == 0 {
		w, h = vs.Width, vs.Height
	}
	d, err := media.NewDecoder(media.DecoderConfig{Width: w, Height: h, MaxFramerate: media.NoFramerateCap})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var frames []*frame.Video
	_, err = d.DecodeSegment(context.Background(), bytes.NewReader(data), media.Handlers{
		Video: func(v *frame.Video) error {
			frames = append(frames, v)
			return nil
		},
	})
	t.Cleanup(func() {
		for _, f := range frames {
			f.Release()
		}
	})
	if err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
	if len(frames) != vs.Frames {
		t.Fatalf("decoded %d frames of %s, the manifest says %d", len(frames), name, vs.Frames)
	}
	return frames, vs
}

// meanRGB returns the mean of each channel over f.
func meanRGB(f *frame.Video) (r, g, b float64) {
	var sr, sg, sb uint64
	for y := range f.Height {
		row := f.Pix[y*f.Stride : y*f.Stride+3*f.Width]
		for i := 0; i+2 < len(row); i += 3 {
			sr += uint64(row[i])
			sg += uint64(row[i+1])
			sb += uint64(row[i+2])
		}
	}
	n := float64(f.Width * f.Height)
	return float64(sr) / n, float64(sg) / n, float64(sb) / n
}

// meanLuma is the BT.709 luma of f's mean colour.
func meanLuma(f *frame.Video) float64 {
	r, g, b := meanRGB(f)
	return 0.2126*r + 0.7152*g + 0.0722*b
}
