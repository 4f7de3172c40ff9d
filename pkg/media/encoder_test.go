package media

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// memSink keeps every segment in memory and records when each was closed.
type memSink struct {
	segs   []*memSeg
	failAt int // NextSegment fails on this call (1-based); 0 never
}

type memSeg struct {
	bytes.Buffer
	closed bool
}

func (m *memSeg) Close() error { m.closed = true; return nil }

func (s *memSink) NextSegment() (io.WriteCloser, error) {
	if s.failAt > 0 && len(s.segs)+1 == s.failAt {
		return nil, errors.New("sink refused")
	}
	seg := &memSeg{}
	s.segs = append(s.segs, seg)
	return seg, nil
}

func decodeAll(t *testing.T, w, h int, inputs ...[]byte) []*frame.Video {
	t.Helper()
	d, err := NewDecoder(DecoderConfig{MaxFramerate: NoFramerateCap, Width: w, Height: h})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var out []*frame.Video
	for i, in := range inputs {
		if _, err := d.DecodeSegment(context.Background(), bytes.NewReader(in), Handlers{Video: func(v *frame.Video) error {
			out = append(out, v)
			return nil
		}}); err != nil {
			t.Fatalf("decoding input %d: %v", i, err)
		}
	}
	return out
}

func psnr(a, b *frame.Video) float64 {
	var se float64
	for y := 0; y < a.Height; y++ {
		ra, rb := a.Pix[y*a.Stride:y*a.Stride+a.Width*3], b.Pix[y*b.Stride:y*b.Stride+b.Width*3]
		for i := range ra {
			d := float64(ra[i]) - float64(rb[i])
			se += d * d
		}
	}
	mse := se / float64(a.Width*a.Height*3)
	if mse == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/mse)
}

// keyframeFirst asks ffprobe whether a segment's first video frame is a
// keyframe.
func keyframeFirst(t *testing.T, seg []byte) bool {
	t.Helper()
	f := filepath.Join(t.TempDir(), "seg.ts")
	if err := os.WriteFile(f, seg, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=key_frame",
		"-read_intervals", "%+#1", "-of", "csv=p=0", f).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	return strings.HasPrefix(strings.TrimSpace(string(out)), "1")
}

func TestEncodeThenDecodeKeepsFramesTimingAndQuality(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe not installed (make deps installs it)")
	}
	fx, err := loadManifest(t).Fixture("h264-aac-1280x720")
	if err != nil {
		t.Fatal(err)
	}
	in, err := fx.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	const w, h = 1280, 720
	src := decodeAll(t, w, h, in)
	sink := &memSink{}
	enc, err := NewEncoder(EncoderConfig{Preset: "veryfast", GOP: time.Second, SegmentDuration: time.Second}, sink)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range src {
		if err := enc.WriteVideo(v); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	var segs [][]byte
	for i, s := range sink.segs {
		if !s.closed {
			t.Fatalf("segment %d was not closed", i)
		}
		segs = append(segs, s.Bytes())
	}
	out := decodeAll(t, w, h, segs...)
	defer func() {
		for _, v := range append(src, out...) {
			v.Release()
		}
	}()

	t.Run("every frame comes back with its timestamp", func(t *testing.T) {
		if len(out) != len(src) {
			t.Fatalf("%d frames in, %d out", len(src), len(out))
		}
		for i := range src {
			if frame.CompareTS(src[i].PTS, src[i].TimeBase, out[i].PTS, out[i].TimeBase) != 0 {
				t.Fatalf("frame %d: pts %d %v in, %d %v out", i, src[i].PTS, src[i].TimeBase, out[i].PTS, out[i].TimeBase)
			}
		}
	})
	t.Run("quality stays above 35 dB PSNR at 720p", func(t *testing.T) {
		worst := math.Inf(1)
		for i := range min(len(src), len(out)) {
			worst = min(worst, psnr(src[i], out[i]))
		}
		if worst < 35 {
			t.Fatalf("worst frame PSNR %.1f dB", worst)
		}
	})
	t.Run("segments start with a keyframe and last the configured second", func(t *testing.T) {
		if len(segs) < 2 {
			t.Fatalf("only %d segments", len(segs))
		}
		perSeg := make([]int, len(segs))
		for i, s := range segs {
			if !keyframeFirst(t, s) {
				t.Fatalf("segment %d does not start with a keyframe", i)
			}
			perSeg[i] = len(decodeAll(t, 64, 64, s))
		}
		fps := src[1].TimeBase.Invert().Float64() / float64(src[1].PTS-src[0].PTS)
		for i, n := range perSeg[:len(perSeg)-1] { // the last one holds what is left
			if math.Abs(float64(n)-fps) > 1 {
				t.Fatalf("segment %d has %d frames, want %.0f ± 1 (frames per segment %v)", i, n, fps, perSeg)
			}
		}
	})
}

func TestEncoderRefusesBadSettingsAndReportsSinkErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  EncoderConfig
	}{
		{"an odd output width", EncoderConfig{Width: 641, Height: 480}},
		{"a CRF above 51", EncoderConfig{CRF: 60}},
		{"a negative GOP", EncoderConfig{GOP: -time.Second}},
	} {
		t.Run(c.name+" is refused", func(t *testing.T) {
			if _, err := NewEncoder(c.cfg, &memSink{}); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	t.Run("a sink that refuses a segment fails the write", func(t *testing.T) {
		enc, err := NewEncoder(EncoderConfig{}, &memSink{failAt: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer enc.Close()
		v, _ := frame.NewVideo(64, 64)
		v.TimeBase = frame.Rational{Num: 1, Den: 30}
		if err := enc.WriteVideo(v); err == nil || !strings.Contains(err.Error(), "sink refused") {
			t.Fatalf("got %v", err)
		}
	})
}

// failingSeg refuses writes after its first n bytes, as a trickle POST
// that the server fails part-way.
type failingSeg struct {
	memSeg
	n int
}

func (f *failingSeg) Write(p []byte) (int, error) {
	if f.Len()+len(p) > f.n {
		return 0, errors.New("server failed the POST")
	}
	return f.memSeg.Write(p)
}

type lossySink struct {
	memSink
	failIndex int // the segment (0-based) whose writes fail
}

func (s *lossySink) NextSegment() (io.WriteCloser, error) {
	if len(s.segs) == s.failIndex {
		seg := &failingSeg{n: 1000}
		s.segs = append(s.segs, &seg.memSeg)
		return seg, nil
	}
	return s.memSink.NextSegment()
}

// A segment the sink fails part-way is lost on its own: the segments after
// it carry their frames and decode (FFmpeg's output must not stay failed).
func TestASegmentTheSinkFailsCostsOnlyItself(t *testing.T) {
	sink := &lossySink{failIndex: 1}
	enc, err := NewEncoder(EncoderConfig{GOP: time.Second}, sink)
	if err != nil {
		t.Fatal(err)
	}
	const fps, seconds = 30, 4
	for i := range fps * seconds {
		v, _ := frame.NewVideo(64, 48)
		for j := range v.Pix {
			v.Pix[j] = byte(i + j)
		}
		v.PTS, v.TimeBase = int64(i), frame.Rational{Num: 1, Den: fps}
		if err := enc.WriteVideo(v); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		v.Release()
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if enc.LostSegments() != 1 {
		t.Fatalf("%d segments lost, want 1", enc.LostSegments())
	}
	if len(sink.segs) != seconds {
		t.Fatalf("%d segments, want %d", len(sink.segs), seconds)
	}
	for i, s := range sink.segs[2:] {
		if got := len(decodeAll(t, 64, 48, s.Bytes())); got != fps {
			t.Errorf("segment %d after the lost one decodes to %d frames, want %d", i+2, got, fps)
		}
	}
}
