package media

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

const fixturesDir = "../../fixtures"

// probeFrames asks ffprobe how many video frames a file has, so that no
// count is typed into a test.
func probeFrames(t *testing.T, path string) int {
	t.Helper()
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe not installed (make deps installs it)")
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.Split(string(out), "\n")[0]))
	if err != nil {
		t.Fatalf("ffprobe %s said %q", path, out)
	}
	return n
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.ts"))
	if err != nil || len(names) == 0 {
		t.Skipf("no segments in %s", dir)
	}
	num := func(p string) int { n, _ := strconv.Atoi(strings.TrimSuffix(filepath.Base(p), ".ts")); return n }
	sort.Slice(names, func(i, j int) bool { return num(names[i]) < num(names[j]) })
	return names
}

type collected struct {
	pts   []int64
	sizes map[[2]int]int
}

func decodeFiles(t *testing.T, d *Decoder, files ...string) (collected, SegmentStats) {
	t.Helper()
	c := collected{sizes: map[[2]int]int{}}
	var total SegmentStats
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		st, err := d.DecodeSegment(context.Background(), bytes.NewReader(b), func(v *frame.Video) error {
			c.pts = append(c.pts, v.PTS)
			c.sizes[[2]int{v.Width, v.Height}]++
			v.Release()
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if st.Bytes != int64(len(b)) {
			t.Fatalf("%s: read %d of %d bytes", f, st.Bytes, len(b))
		}
		total.VideoFrames += st.VideoFrames
		total.Corrupt += st.Corrupt
	}
	return c, total
}

func TestDecodingSegmentsGivesEveryFrameOfTheFile(t *testing.T) {
	for _, name := range []string{"h264-aac-320x240", "h264-aac-1280x720"} {
		t.Run(name+" cut in 1 s segments decodes to the whole file's frames", func(t *testing.T) {
			dir := filepath.Join(fixturesDir, name)
			want := probeFrames(t, filepath.Join(dir, "stream.ts"))
			d, err := NewDecoder(DecoderConfig{Width: 256, Height: 144})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			whole, _ := decodeFiles(t, d, filepath.Join(dir, "stream.ts"))
			segs, st := decodeFiles(t, d, segmentFiles(t, filepath.Join(dir, "seg1s"))...)
			if len(whole.pts) != want || len(segs.pts) != want {
				t.Fatalf("frames: whole file %d, segments %d, ffprobe %d", len(whole.pts), len(segs.pts), want)
			}
			if st.Corrupt != 0 {
				t.Fatalf("%d corrupt packets in good segments", st.Corrupt)
			}
			for i := range whole.pts {
				if whole.pts[i] != segs.pts[i] {
					t.Fatalf("frame %d: pts %d from the file, %d from the segments", i, whole.pts[i], segs.pts[i])
				}
				if i > 0 && segs.pts[i] <= segs.pts[i-1] {
					t.Fatalf("pts not increasing at frame %d: %d after %d", i, segs.pts[i], segs.pts[i-1])
				}
			}
			if len(segs.sizes) != 1 || segs.sizes[[2]int{256, 144}] != want {
				t.Fatalf("frame sizes %v, want all 256x144", segs.sizes)
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
	d, err := NewDecoder(DecoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	good, err := os.ReadFile(filepath.Join(fixturesDir, "h264-aac-320x240", "stream.ts"))
	if err != nil {
		t.Skip("fixture missing")
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
				d.DecodeSegment(context.Background(), bytes.NewReader(c.input), func(v *frame.Video) error { v.Release(); return nil })
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
			func(v *frame.Video) error { v.Release(); return nil })
		if !errors.Is(err, boom) {
			t.Fatalf("got %v, want the reader's error", err)
		}
	})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
