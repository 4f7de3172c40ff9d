package kernels

import (
	"bytes"
	"fmt"
	"os/exec"
	"runtime"
	"testing"

	"github.com/gotrickle/gotrickle/fixtures"
)

// These tests compare the kernels with FFmpeg's swscale through the ffmpeg
// CLI (the same libswscale as pkg/media, with pkg/media's SWS_BICUBIC; a
// CLI keeps this package's tests free of cgo). They skip without ffmpeg.

func ffmpeg(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	path, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("no ffmpeg on PATH")
	}
	cmd := exec.Command(path, append([]string{"-nostdin", "-v", "error"}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg %v: %v: %s", args, err, stderr.String())
	}
	return out
}

func swsYUVToRGB(t *testing.T, yuv []byte, w, h int) []byte {
	return ffmpeg(t, yuv, "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", fmt.Sprintf("%dx%d", w, h), "-i", "pipe:0",
		"-sws_flags", "bicubic", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1")
}

func swsRGBToYUV(t *testing.T, rgb []byte, w, h int) []byte {
	return ffmpeg(t, rgb, "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", fmt.Sprintf("%dx%d", w, h), "-i", "pipe:0",
		"-sws_flags", "bicubic", "-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1")
}

// yuvPlanes slices one packed yuv420p frame (as rawvideo has it).
func yuvPlanes(b []byte, w, h int) (y, u, v Plane) {
	cw, ch := (w+1)/2, (h+1)/2
	y = Plane{Pix: b[:w*h], Width: w, Height: h, Stride: w}
	u = Plane{Pix: b[w*h : w*h+cw*ch], Width: cw, Height: ch, Stride: cw}
	v = Plane{Pix: b[w*h+cw*ch : w*h+2*cw*ch], Width: cw, Height: ch, Stride: cw}
	return y, u, v
}

// yuvTolerance is how far YUV420PToRGB24 may be from swscale: it is
// swscale's x86 arithmetic exactly; elsewhere swscale's SIMD differs.
func yuvTolerance() int {
	if runtime.GOARCH == "amd64" {
		return 0
	}
	return 1
}

func TestYUV420PToRGB24MatchesSwscale(t *testing.T) {
	t.Run("every Y, U, V triple converts exactly as swscale's yuv420p to rgb24", func(t *testing.T) {
		if testing.Short() {
			t.Skip("2^24 triples; the fixtures below still run")
		}
		// 64 frames of 512×512: chroma (U, V) = (column, row) of the
		// 256×256 chroma plane, the four luma samples of frame f's blocks
		// 4f … 4f+3.
		const w, n = 512, 64
		frameLen := w*w + 2*(w/2)*(w/2)
		in := make([]byte, 0, n*frameLen)
		for f := range n {
			for r := range w {
				for c := range w {
					in = append(in, byte(4*f+2*(r&1)+c&1))
				}
			}
			for range w / 2 {
				for c := range w / 2 {
					in = append(in, byte(c))
				}
			}
			for r := range w / 2 {
				for range w / 2 {
					in = append(in, byte(r))
				}
			}
		}
		want := swsYUVToRGB(t, in, w, w)
		worst := 0
		for f := range n {
			y, u, v := yuvPlanes(in[f*frameLen:(f+1)*frameLen], w, w)
			got := plane(w, w, 3, 0, 0)
			YUV420PToRGB24(got, y, u, v)
			worst = max(worst, maxDiff(rows(got, 3*w, w), want[f*3*w*w:(f+1)*3*w*w]))
		}
		t.Logf("largest difference from swscale over all 2^24 triples: %d", worst)
		if worst > yuvTolerance() {
			t.Fatalf("largest difference from swscale is %d", worst)
		}
	})
	for _, name := range fixtureNames {
		t.Run("the frames of "+name+" convert as swscale converts them", func(t *testing.T) {
			w, h, yuv := fixtureFrames(t, name, "yuv420p")
			want := swsYUVToRGB(t, yuv, w, h)
			frameLen := w*h + 2*((w+1)/2)*((h+1)/2)
			worst := 0
			for f := range len(yuv) / frameLen {
				y, u, v := yuvPlanes(yuv[f*frameLen:], w, h)
				got := plane(w, h, 3, 5, 0)
				YUV420PToRGB24(got, y, u, v)
				worst = max(worst, maxDiff(rows(got, 3*w, h), want[f*3*w*h:(f+1)*3*w*h]))
			}
			t.Logf("%s: largest difference from swscale: %d", name, worst)
			if worst > max(1, yuvTolerance()) {
				t.Fatalf("largest difference from swscale is %d", worst)
			}
		})
	}
}

// chromaBound is how far RGB24ToYUV420P's chroma may be from swscale's on
// the fixtures: swscale filters chroma vertically with its bicubic kernel
// (taps beyond the 2×2 block), the kernel takes the block's mean, so the
// two differ at sharp horizontal edges of testsrc2 and the colour bars.
const chromaBound = 24

func TestRGB24ToYUV420PMatchesSwscale(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run("the frames of "+name+" have swscale's luma exactly and its chroma nearly", func(t *testing.T) {
			w, h, rgb := fixtureFrames(t, name, "rgb24")
			want := swsRGBToYUV(t, rgb, w, h)
			frameLen := w*h + 2*((w+1)/2)*((h+1)/2)
			worstY, worstC, over1, nc := 0, 0, 0, 0
			for f := range len(rgb) / (3 * w * h) {
				src := Plane{Pix: rgb[f*3*w*h : (f+1)*3*w*h], Width: w, Height: h, Stride: 3 * w}
				wy, wu, wv := yuvPlanes(want[f*frameLen:], w, h)
				y, u, v := plane(w, h, 1, 0, 0), plane(wu.Width, wu.Height, 1, 0, 0), plane(wu.Width, wu.Height, 1, 0, 0)
				RGB24ToYUV420P(y, u, v, src)
				worstY = max(worstY, maxDiff(rows(y, w, h), wy.Pix))
				for _, c := range [][2][]byte{{rows(u, wu.Width, wu.Height), wu.Pix}, {rows(v, wv.Width, wv.Height), wv.Pix}} {
					for j := range c[0] {
						d := absDiff(c[0][j], c[1][j])
						worstC = max(worstC, d)
						if d > 1 {
							over1++
						}
						nc++
					}
				}
			}
			t.Logf("%s: luma largest difference %d; chroma largest %d, %.3f%% of samples more than 1 off", name, worstY, worstC, 100*float64(over1)/float64(nc))
			if worstY > 0 {
				t.Errorf("luma differs from swscale's by up to %d", worstY)
			}
			if worstC > chromaBound {
				t.Errorf("chroma differs from swscale's by up to %d", worstC)
			}
		})
	}
	t.Run("random pictures have swscale's luma exactly", func(t *testing.T) {
		const w, h = 256, 64
		src := randPlane(newRand(), w, h, 3, 0, 0)
		rgb := rows(src, 3*w, h)
		want := swsRGBToYUV(t, rgb, w, h)
		y, u, v := plane(w, h, 1, 0, 0), plane(w/2, h/2, 1, 0, 0), plane(w/2, h/2, 1, 0, 0)
		RGB24ToYUV420P(y, u, v, src)
		if d := maxDiff(rows(y, w, h), want[:w*h]); d != 0 {
			t.Fatalf("luma differs from swscale's by up to %d", d)
		}
	})
}

var fixtureNames = []string{"h264-aac-320x240", "h264-aac-854x480", "h264-bframes-aac-1280x720"}

// fixtureFrames decodes the first frames of a fixture with the ffmpeg CLI
// into packed raw pictures of pixel format pixfmt.
func fixtureFrames(t *testing.T, name, pixfmt string) (w, h int, raw []byte) {
	t.Helper()
	m, err := fixtures.Load()
	if err != nil {
		t.Fatal(err)
	}
	f, err := m.Fixture(name)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := f.Video()
	if !ok {
		t.Fatalf("%s has no video", name)
	}
	ts, err := f.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	raw = ffmpeg(t, ts, "-f", "mpegts", "-i", "pipe:0", "-frames:v", "8", "-an", "-sws_flags", "bicubic",
		"-f", "rawvideo", "-pix_fmt", pixfmt, "pipe:1")
	return v.Width, v.Height, raw
}
