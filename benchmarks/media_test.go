package benchmarks

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/media"
)

// The passthrough chain (trickle segments → decode → RGB24 frame → x264 →
// MPEG-TS segments) against the ffmpeg CLI doing the same chain with the
// same preset and threads, in the same run. Inputs are made here by the
// ffmpeg CLI (10 s of moving test pattern at 30 fps, IDR every second, cut
// into 1 s segments) and are not committed.

const benchPreset = "superfast"

var (
	inputsMu sync.Mutex
	inputs   = map[string]string{} // size -> dir
)

// benchInput makes (once per run) the input for a size like "1280x720":
// in.ts and its 1 s segments 0.ts, 1.ts, … in a directory. Where
// $GOTRICKLE_BENCH_INPUTS/<size> exists it is used as it is (made earlier,
// for a machine without the ffmpeg CLI: CI/gpu-bundle.sh).
func benchInput(b *testing.B, size string) string {
	b.Helper()
	if dir := os.Getenv("GOTRICKLE_BENCH_INPUTS"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, size, "in.ts")); err == nil {
			return filepath.Join(dir, size)
		}
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		b.Skip("ffmpeg not installed (make deps installs it)")
	}
	inputsMu.Lock()
	defer inputsMu.Unlock()
	if dir, ok := inputs[size]; ok {
		return dir
	}
	dir, err := os.MkdirTemp("", "gotrickle-bench-"+size)
	if err != nil {
		b.Fatal(err)
	}
	whole := filepath.Join(dir, "in.ts")
	run := func(args ...string) {
		if out, err := exec.Command("ffmpeg", append([]string{"-v", "error", "-nostdin", "-y"}, args...)...).CombinedOutput(); err != nil {
			b.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
		}
	}
	run("-f", "lavfi", "-i", "testsrc2=size="+size+":rate=30:duration=10", "-vf", "noise=alls=12:allf=t+u",
		"-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-keyint_min", "30", "-sc_threshold", "0", "-bf", "0",
		"-b:v", "3M", "-an", "-f", "mpegts", whole)
	run("-i", whole, "-c", "copy", "-f", "segment", "-segment_time", "1", "-segment_format", "mpegts",
		filepath.Join(dir, "%d.ts"))
	inputs[size] = dir
	return dir
}

func segmentsOf(b *testing.B, dir string) [][]byte {
	b.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "[0-9]*.ts"))
	num := func(p string) int { n, _ := strconv.Atoi(strings.TrimSuffix(filepath.Base(p), ".ts")); return n }
	sort.Slice(names, func(i, j int) bool { return num(names[i]) < num(names[j]) })
	var segs [][]byte
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			b.Fatal(err)
		}
		segs = append(segs, data)
	}
	return segs
}

type discardSink struct{}

func (discardSink) NextSegment() (io.WriteCloser, error) { return nopCloser{io.Discard}, nil }

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func BenchmarkPassthrough(b *testing.B) {
	for _, size := range []string{"1280x720", "1920x1080"} {
		w, h := parseSize(size)
		b.Run(size+"/gotrickle", func(b *testing.B) {
			segs := segmentsOf(b, benchInput(b, size))
			frames := 0
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				d, err := media.NewDecoder(media.DecoderConfig{Width: w, Height: h, MaxFramerate: media.NoFramerateCap})
				if err != nil {
					b.Fatal(err)
				}
				enc, err := media.NewEncoder(media.EncoderConfig{Preset: benchPreset}, discardSink{})
				if err != nil {
					b.Fatal(err)
				}
				for _, s := range segs {
					_, err := d.DecodeSegment(context.Background(), bytes.NewReader(s), media.Handlers{
						Video: func(v *frame.Video) error { frames++; defer v.Release(); return enc.WriteVideo(v) },
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				if err := enc.Close(); err != nil {
					b.Fatal(err)
				}
				d.Close()
			}
			b.ReportMetric(float64(frames)/time.Since(start).Seconds(), "fps")
		})
		b.Run(size+"/ffmpeg-cli", func(b *testing.B) {
			dir := benchInput(b, size)
			frames := 300 * b.N
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				out, err := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-y", "-i", filepath.Join(dir, "in.ts"),
					"-vf", "format=rgb24,format=yuv420p", "-c:v", "libx264", "-preset", benchPreset, "-tune", "zerolatency",
					"-bf", "0", "-an", "-f", "mpegts", os.DevNull).CombinedOutput()
				if err != nil {
					b.Fatalf("ffmpeg: %v\n%s", err, out)
				}
			}
			b.ReportMetric(float64(frames)/time.Since(start).Seconds(), "fps")
		})
	}
}

func parseSize(s string) (int, int) {
	var w, h int
	fmt.Sscanf(s, "%dx%d", &w, &h)
	return w, h
}
