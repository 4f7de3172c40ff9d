package media

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/internal/mpegts"
)

// fixtureFile writes a fixture's whole file to a temporary path.
func fixtureFile(t *testing.T, name string) string {
	t.Helper()
	fx, err := loadManifest(t).Fixture(name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fx.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name+".ts")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func segmentPTS(t *testing.T, segs []*memSeg) [][]int64 {
	t.Helper()
	var out [][]int64
	for i, s := range segs {
		frames, err := mpegts.VideoFrames(s.Bytes())
		if err != nil {
			t.Fatalf("segment %d: %v", i, err)
		}
		var pts []int64
		for _, f := range frames {
			pts = append(pts, f.PTS)
		}
		out = append(out, pts)
	}
	return out
}

func TestSegmentingAFileKeepsEveryFrameAndCutsAtKeyframes(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe not installed (make deps installs it)")
	}
	const name = "h264-aac-1280x720"
	fx, _ := loadManifest(t).Fixture(name)
	vs, _ := fx.Video()
	sink := &memSink{}
	var paced []time.Duration
	st, err := Segment(context.Background(), fixtureFile(t, name), sink, SegmenterConfig{
		Pace: func(_ context.Context, at time.Duration) error { paced = append(paced, at); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Segments != len(sink.segs) || st.Segments < 4 {
		t.Fatalf("%d segments (stats %d) from %.1f s", len(sink.segs), st.Segments, vs.DurationSeconds)
	}
	var all []int64
	var total int64
	for i, pts := range segmentPTS(t, sink.segs) {
		if !sink.segs[i].closed {
			t.Errorf("segment %d was not closed", i)
		}
		if !keyframeFirst(t, sink.segs[i].Bytes()) {
			t.Errorf("segment %d does not begin with a keyframe", i)
		}
		all = append(all, pts...)
		total += int64(sink.segs[i].Len())
	}
	slices.Sort(all)
	want := slices.Clone(vs.PTS)
	slices.Sort(want)
	if !slices.Equal(all, want) {
		t.Fatalf("segments carry %d video frames, the file %d (or their PTS differ)", len(all), len(want))
	}
	if st.Bytes != total {
		t.Errorf("stats count %d bytes, the segments hold %d", st.Bytes, total)
	}
	if got := len(decodeAll(t, vs.Width, vs.Height, segBytesOf(sink.segs)...)); got != vs.Frames {
		t.Errorf("decoding the segments gives %d frames, want %d", got, vs.Frames)
	}
	if d := st.Span.Seconds() - vs.DurationSeconds; d < -0.1 || d > 0.1 {
		t.Errorf("span %v, the video lasts %.3f s", st.Span, vs.DurationSeconds)
	}
	if len(paced) != st.Packets || paced[0] != 0 || paced[len(paced)-1] < st.Span-200*time.Millisecond {
		t.Errorf("paced %d packets from %v to %v; %d written over %v", len(paced), paced[0], paced[len(paced)-1], st.Packets, st.Span)
	}
}

func segBytesOf(segs []*memSeg) [][]byte {
	var out [][]byte
	for _, s := range segs {
		out = append(out, s.Bytes())
	}
	return out
}

func TestSegmentOffsetMovesEveryTimestamp(t *testing.T) {
	const name = "h264-aac-320x240"
	path := fixtureFile(t, name)
	a, b := &memSink{}, &memSink{}
	if _, err := Segment(context.Background(), path, a, SegmenterConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Segment(context.Background(), path, b, SegmenterConfig{Offset: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	pa, pb := segmentPTS(t, a.segs), segmentPTS(t, b.segs)
	if len(pa) != len(pb) {
		t.Fatalf("%d and %d segments", len(pa), len(pb))
	}
	for i := range pa {
		for j := range pa[i] {
			if pb[i][j]-pa[i][j] != 5*90000 {
				t.Fatalf("segment %d frame %d: PTS %d then %d, want 5 s later", i, j, pa[i][j], pb[i][j])
			}
		}
	}
}

func TestSegmentReadsOtherContainers(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed (make deps installs it)")
	}
	const name = "h264-aac-320x240"
	fx, _ := loadManifest(t).Fixture(name)
	vs, _ := fx.Video()
	mp4 := filepath.Join(t.TempDir(), "in.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", fixtureFile(t, name), "-c", "copy", mp4).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	sink := &memSink{}
	if _, err := Segment(context.Background(), mp4, sink, SegmenterConfig{}); err != nil {
		t.Fatal(err)
	}
	if got := len(decodeAll(t, vs.Width, vs.Height, segBytesOf(sink.segs)...)); got != vs.Frames {
		t.Fatalf("an MP4's segments decode to %d frames, want %d (avcC must become Annex B)", got, vs.Frames)
	}
}

func TestSegmentErrorsAreClear(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), "garbage.ts")
	os.WriteFile(garbage, []byte(strings.Repeat("not a media file ", 2000)), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name string
		path string
		ctx  context.Context
		sink SegmentSink
		want string
	}{
		{"a missing file names the file", filepath.Join(t.TempDir(), "nope.mp4"), context.Background(), &memSink{}, "nope.mp4"},
		{"a file that is not media names the file", garbage, context.Background(), &memSink{}, "garbage.ts"},
		{"a sink that refuses a segment ends the run with its error", fixtureFile(t, "h264-aac-320x240"), context.Background(), &memSink{failAt: 2}, "sink refused"},
		{"a cancelled context stops the run", fixtureFile(t, "h264-aac-320x240"), ctx, &memSink{}, context.Canceled.Error()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Segment(c.ctx, c.path, c.sink, SegmenterConfig{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
	t.Run("an audio-only file is cut by time", func(t *testing.T) {
		sink := &memSink{}
		st, err := Segment(context.Background(), fixtureFile(t, "aac-novideo"), sink, SegmenterConfig{})
		if err != nil || st.Segments < 2 {
			t.Fatalf("%d segments, %v", st.Segments, err)
		}
	})
	t.Run("the pacer's error stops the run", func(t *testing.T) {
		stop := errors.New("stop here")
		_, err := Segment(context.Background(), fixtureFile(t, "h264-aac-320x240"), &memSink{}, SegmenterConfig{
			Pace: func(context.Context, time.Duration) error { return stop }})
		if !errors.Is(err, stop) {
			t.Fatalf("%v", err)
		}
	})
}
