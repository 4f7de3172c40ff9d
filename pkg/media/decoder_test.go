package media

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/fixtures"
	"github.com/gotrickle/gotrickle/pkg/frame"
)

// fixturesDir is where the fixture files are, for tools that need a path.
const fixturesDir = "../../fixtures"

type collected struct {
	pts   []int64
	sizes map[[2]int]int
}

func loadManifest(t *testing.T) *fixtures.Manifest {
	t.Helper()
	m, err := fixtures.Load()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func loadManifestF() (*fixtures.Manifest, error) { return fixtures.Load() }

// fixtureSegments returns a fixture's trickle segments cut at about d.
func fixtureSegments(t *testing.T, name string, d time.Duration) []fixtures.Segment {
	t.Helper()
	fx, err := loadManifest(t).Fixture(name)
	if err != nil {
		t.Fatal(err)
	}
	segs, err := fx.Segments(d)
	if err != nil {
		t.Fatal(err)
	}
	return segs
}

func decodeBytes(t *testing.T, d *Decoder, inputs ...[]byte) (collected, SegmentStats) {
	t.Helper()
	c := collected{sizes: map[[2]int]int{}}
	var total SegmentStats
	for i, b := range inputs {
		st, err := d.DecodeSegment(context.Background(), bytes.NewReader(b), Handlers{Video: func(v *frame.Video) error {
			c.pts = append(c.pts, v.PTS)
			c.sizes[[2]int{v.Width, v.Height}]++
			v.Release()
			return nil
		}})
		if err != nil {
			t.Fatalf("input %d: %v", i, err)
		}
		if st.Bytes != int64(len(b)) {
			t.Fatalf("input %d: read %d of %d bytes", i, st.Bytes, len(b))
		}
		total.VideoFrames += st.VideoFrames
		total.Corrupt += st.Corrupt
	}
	return c, total
}

// Every good video fixture, whole and cut into 1 s and 2 s trickle
// segments, decodes to the frames and timestamps manifest.json records.
func TestDecodingMatchesTheManifest(t *testing.T) {
	m := loadManifest(t)
	for _, fx := range m.Fixtures {
		vs, ok := fx.Video()
		if fx.Broken != nil || !ok {
			continue
		}
		t.Run(fx.Name+" decodes to the manifest's frames", func(t *testing.T) {
			d, err := NewDecoder(DecoderConfig{MaxFramerate: NoFramerateCap, Width: 128, Height: 72})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			whole, err := fx.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			got, st := decodeBytes(t, d, whole)
			if !slices.Equal(got.pts, vs.PTS) {
				t.Fatalf("whole file: %d frames, manifest %d; pts differ", len(got.pts), len(vs.PTS))
			}
			if st.Corrupt != 0 || len(got.sizes) != 1 || got.sizes[[2]int{128, 72}] != vs.Frames {
				t.Fatalf("corrupt %d, sizes %v", st.Corrupt, got.sizes)
			}
			for _, dur := range []time.Duration{time.Second, 2 * time.Second} {
				segs, err := fx.Segments(dur)
				if err != nil {
					t.Fatal(err)
				}
				var inputs [][]byte
				var want []int64
				lost := 0
				for _, s := range segs {
					b, err := s.Bytes()
					if err != nil {
						t.Fatal(err)
					}
					inputs = append(inputs, b)
					want = append(want, s.PTS...)
					lost += s.LeadingFrames
				}
				got, _ := decodeBytes(t, d, inputs...)
				if lost == 0 && !slices.Equal(got.pts, vs.PTS) {
					t.Fatalf("%v segments: %d frames, the whole file %d; closed GOPs must lose none", dur, len(got.pts), len(vs.PTS))
				}
				// Open GOP: each boundary loses its leading frames, exactly
				// as many as the manifest counts, and keeps the rest in order.
				if len(got.pts) != len(want)-lost {
					t.Fatalf("%v segments: %d frames, want %d packets - %d leading", dur, len(got.pts), len(want), lost)
				}
				if !slices.IsSorted(got.pts) {
					t.Fatalf("%v segments: pts out of order", dur)
				}
			}
		})
	}
}

func TestCoverRectKeepsTheAspectAndCentres(t *testing.T) {
	cases := []struct {
		name           string
		sw, sh, w, h   int
		cw, ch, ox, oy int
	}{
		{"a 16:9 source on a square target is cropped at the sides", 1280, 720, 512, 512, 911, 512, 199, 0},
		{"a 4:3 source on a 16:9 target is cropped top and bottom", 320, 240, 256, 144, 256, 192, 0, 24},
		{"the same aspect is only scaled", 1280, 720, 640, 360, 640, 360, 0, 0},
		{"an odd size rounds up so the target is always covered", 854, 480, 512, 512, 911, 512, 199, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cw, ch, ox, oy := coverRect(c.sw, c.sh, c.w, c.h)
			if cw != c.cw || ch != c.ch || ox != c.ox || oy != c.oy {
				t.Fatalf("got %d×%d at (%d,%d), want %d×%d at (%d,%d)", cw, ch, ox, oy, c.cw, c.ch, c.ox, c.oy)
			}
			if cw < c.w || ch < c.h {
				t.Fatal("does not cover the target")
			}
		})
	}
}

func TestBrokenInputIsReportedNotFatal(t *testing.T) {
	d, err := NewDecoder(DecoderConfig{MaxFramerate: NoFramerateCap})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m := loadManifest(t)
	fx, err := m.Fixture("h264-aac-320x240")
	if err != nil {
		t.Fatal(err)
	}
	good, err := fx.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	cases := []struct {
		name  string
		input []byte
	}{
		{"garbage bytes", garbage},
		{"a file cut mid-packet", good[:len(good)/2+77]},
		{"an empty segment", nil},
		{"a file with a damaged middle", append(append(append([]byte{}, good[:len(good)/3]...), garbage[:4096]...), good[len(good)/3:]...)},
	}
	for _, c := range cases {
		t.Run(c.name+" gives frames or an error, never a crash or hang", func(t *testing.T) {
			done := make(chan struct{})
			go func() {
				defer close(done)
				d.DecodeSegment(context.Background(), bytes.NewReader(c.input), Handlers{Video: func(v *frame.Video) error { v.Release(); return nil }})
			}()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("decoding hung")
			}
		})
	}
	t.Run("a reader error is returned", func(t *testing.T) {
		boom := errors.New("network went away")
		_, err := d.DecodeSegment(context.Background(), io.MultiReader(bytes.NewReader(good[:188*40]), errReader{boom}),
			Handlers{Video: func(v *frame.Video) error { v.Release(); return nil }})
		if !errors.Is(err, boom) {
			t.Fatalf("got %v, want the reader's error", err)
		}
	})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// The broken fixtures give what FFmpeg can get out of them (the manifest
// records what ffprobe decoded) and never crash or hang.
func TestBrokenFixturesDecodeAsFarAsTheyCan(t *testing.T) {
	m := loadManifest(t)
	d, err := NewDecoder(DecoderConfig{MaxFramerate: NoFramerateCap, Width: 64, Height: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	n := 0
	for _, fx := range m.Fixtures {
		if fx.Broken == nil {
			continue
		}
		n++
		t.Run(fx.Name+" ("+fx.Broken.Kind+") decodes to "+strconv.Itoa(fx.Broken.FramesDecoded)+" frames", func(t *testing.T) {
			b, err := fx.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			frames := 0
			_, err = d.DecodeSegment(context.Background(), bytes.NewReader(b), Handlers{Video: func(v *frame.Video) error {
				frames++
				v.Release()
				return nil
			}})
			if fx.Broken.FramesDecoded == 0 && err == nil && frames != 0 {
				t.Fatalf("got %d frames from input ffprobe cannot decode", frames)
			}
			if fx.Broken.FramesDecoded > 0 && frames != fx.Broken.FramesDecoded {
				t.Fatalf("got %d frames (err %v), ffprobe got %d", frames, err, fx.Broken.FramesDecoded)
			}
		})
	}
	if n < 3 {
		t.Fatalf("the manifest lists %d broken fixtures, want 3", n)
	}
}

func TestKeepSizeHandsFramesOutAtTheirEncodedSize(t *testing.T) {
	for _, name := range []string{"h264-aac-320x240", "h264-aac-854x480"} {
		t.Run(name+" keeps its manifest size", func(t *testing.T) {
			fx, err := loadManifest(t).Fixture(name)
			if err != nil {
				t.Fatal(err)
			}
			vs, _ := fx.Video()
			b, err := fx.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			d, err := NewDecoder(DecoderConfig{Width: 64, Height: 64, KeepSize: true, MaxFramerate: NoFramerateCap})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			c, _ := decodeBytes(t, d, b)
			if len(c.sizes) != 1 || c.sizes[[2]int{vs.Width, vs.Height}] != vs.Frames {
				t.Fatalf("sizes %v, want %d frames of %dx%d", c.sizes, vs.Frames, vs.Width, vs.Height)
			}
		})
	}
}

func TestASegmentCutShortIsReportedCorrupt(t *testing.T) {
	m := loadManifest(t)
	cases := []struct {
		name    string
		fixture string
		corrupt bool
	}{
		{"a segment cut mid-packet is counted", "broken-truncated", true},
		{"a whole segment is not", "h264-aac-320x240", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fx, err := m.Fixture(c.fixture)
			if err != nil {
				t.Fatal(err)
			}
			b, err := fx.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			d, err := NewDecoder(DecoderConfig{Width: 64, Height: 64, MaxFramerate: NoFramerateCap})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			_, st := decodeBytes(t, d, b)
			if (st.Corrupt > 0) != c.corrupt {
				t.Fatalf("Corrupt = %d, want corrupt %v", st.Corrupt, c.corrupt)
			}
		})
	}
}
