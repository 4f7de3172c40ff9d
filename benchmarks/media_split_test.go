package benchmarks

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/media"
)

// The two halves of the passthrough chain on their own, each beside the
// ffmpeg CLI doing the same half on the same input in the same run:
//
//   decode: trickle segments → H.264 decode → RGB24 at the input size
//           (CLI: -vf format=rgb24 -f null)
//   encode: raw RGB24 frames read from a file → yuv420p → x264
//           (CLI: -f rawvideo -pix_fmt rgb24 … -vf format=yuv420p -c:v libx264)
//
// The encode input is 90 frames (3 s) of the decoded test pattern as a raw
// file, read by both sides from the page cache, so neither pays for
// decoding and the comparison stays within a few hundred MB of disk.

const rawFrames = 90

func BenchmarkDecode(b *testing.B) {
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
				for _, s := range segs {
					_, err := d.DecodeSegment(context.Background(), bytes.NewReader(s), media.Handlers{
						Video: func(v *frame.Video) error { frames++; v.Release(); return nil },
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				d.Close()
			}
			b.ReportMetric(float64(frames)/time.Since(start).Seconds(), "fps")
		})
		b.Run(size+"/ffmpeg-cli", func(b *testing.B) {
			dir := benchInput(b, size)
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				ffmpegRun(b, "-i", filepath.Join(dir, "in.ts"), "-vf", "format=rgb24", "-an", "-f", "null", "-")
			}
			b.ReportMetric(float64(300*b.N)/time.Since(start).Seconds(), "fps")
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, size := range []string{"1280x720", "1920x1080"} {
		w, h := parseSize(size)
		b.Run(size+"/gotrickle", func(b *testing.B) {
			raw := rawInput(b, size)
			frames := 0
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				frames += encodeRaw(b, raw, w, h)
			}
			b.ReportMetric(float64(frames)/time.Since(start).Seconds(), "fps")
		})
		b.Run(size+"/ffmpeg-cli", func(b *testing.B) {
			raw := rawInput(b, size)
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				ffmpegRun(b, "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", size, "-r", "30", "-i", raw,
					"-vf", "format=yuv420p", "-c:v", "libx264", "-preset", benchPreset, "-tune", "zerolatency",
					"-bf", "0", "-g", "60", "-f", "mpegts", os.DevNull)
			}
			b.ReportMetric(float64(rawFrames*b.N)/time.Since(start).Seconds(), "fps")
		})
	}
}

// encodeRaw reads every frame of the raw RGB24 file into one reused frame
// and encodes it, returning the number of frames.
func encodeRaw(b *testing.B, raw string, w, h int) int {
	b.Helper()
	f, err := os.Open(raw)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	enc, err := media.NewEncoder(media.EncoderConfig{Preset: benchPreset}, discardSink{})
	if err != nil {
		b.Fatal(err)
	}
	v, err := frame.NewVideo(w, h)
	if err != nil {
		b.Fatal(err)
	}
	defer v.Release()
	v.TimeBase = frame.Rational{Num: 1, Den: 30}
	n := 0
	for ; ; n++ {
		if _, err := io.ReadFull(f, v.Pix); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			b.Fatal(err)
		}
		v.PTS = int64(n)
		if err := enc.WriteVideo(v); err != nil {
			b.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		b.Fatal(err)
	}
	if n != rawFrames {
		b.Fatalf("encoded %d frames, the raw input has %d", n, rawFrames)
	}
	return n
}

// rawInput writes (once per run) the first rawFrames frames of the size's
// test pattern as packed RGB24.
func rawInput(b *testing.B, size string) string {
	b.Helper()
	dir := benchInput(b, size)
	raw := filepath.Join(dir, "frames.rgb")
	inputsMu.Lock()
	defer inputsMu.Unlock()
	if _, err := os.Stat(raw); err == nil {
		return raw
	}
	ffmpegRun(b, "-i", filepath.Join(dir, "in.ts"), "-frames:v", strconv.Itoa(rawFrames), "-pix_fmt", "rgb24",
		"-f", "rawvideo", raw)
	// Written back now, so the disk is quiet while the rows run.
	if f, err := os.Open(raw); err == nil {
		f.Sync()
		f.Close()
	}
	return raw
}

func ffmpegRun(b *testing.B, args ...string) {
	b.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-v", "error", "-nostdin", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}
