package media

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// The decoder's cover+crop must show what the ffmpeg CLI shows for the same
// scale (bicubic) and centre crop: judged on the first frame, pixel by pixel.
func TestCoverAndCropMatchTheFFmpegCLI(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed (make deps installs it)")
	}
	src := filepath.Join(fixturesDir, "h264-aac-1280x720", "stream.ts")
	in, err := os.ReadFile(src)
	if err != nil {
		t.Skip("fixture missing")
	}
	const w, h = 320, 320
	cw, ch, ox, oy := coverRect(1280, 720, w, h)
	want, err := exec.Command("ffmpeg", "-v", "error", "-i", src, "-frames:v", "1",
		"-vf", "scale="+itoa(cw)+":"+itoa(ch)+":flags=bicubic,crop="+itoa(w)+":"+itoa(h)+":"+itoa(ox)+":"+itoa(oy),
		"-pix_fmt", "rgb24", "-f", "rawvideo", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	d, err := NewDecoder(DecoderConfig{MaxFramerate: NoFramerateCap, Width: w, Height: h})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var first *frame.Video
	_, err = d.DecodeSegment(context.Background(), bytes.NewReader(in), Handlers{Video: func(v *frame.Video) error {
		if first == nil {
			first = v
		} else {
			v.Release()
		}
		return nil
	}})
	if err != nil || first == nil {
		t.Fatalf("decode: %v", err)
	}
	defer first.Release()
	if len(want) != w*h*3 {
		t.Fatalf("ffmpeg gave %d bytes", len(want))
	}
	var sum, worst int
	for y := 0; y < h; y++ {
		for x := 0; x < w*3; x++ {
			d := int(first.Pix[y*first.Stride+x]) - int(want[y*w*3+x])
			if d < 0 {
				d = -d
			}
			sum += d
			worst = max(worst, d)
		}
	}
	if mean := float64(sum) / float64(w*h*3); mean > 1.0 || worst > 16 {
		t.Fatalf("differs from the ffmpeg CLI: mean abs %.2f, worst %d", mean, worst)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
