package media

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// rss is this process's resident set size in bytes (Linux).
func rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmRSS")
	return 0
}

// Opening and closing decoders and encoders over and over, segment by
// segment, must not leak C memory: after warm-up, RSS stays flat.
//
// glibc gives each OS thread that calls into FFmpeg its own malloc arena, so
// without a cap RSS climbs to a plateau that looks like a leak; the test
// runs itself again in a child process with MALLOC_ARENA_MAX=1 (which must
// be set before the process starts) so that only real leaks show.
func TestRepeatedDecodeAndEncodeKeepMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a few seconds")
	}
	if os.Getenv("MALLOC_ARENA_MAX") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRepeatedDecodeAndEncodeKeepMemoryFlat$", "-test.v")
		cmd.Env = append(os.Environ(), "MALLOC_ARENA_MAX=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child run: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "--- PASS: TestRepeatedDecodeAndEncodeKeepMemoryFlat") {
			t.Fatalf("child did not run the test:\n%s", out)
		}
		return
	}
	segs := fixtureSegments(t, "h264-aac-320x240", time.Second)
	var inputs [][]byte
	for _, s := range segs {
		b, err := s.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, b)
	}
	cycle := func() {
		d, err := NewDecoder(DecoderConfig{Width: 160, Height: 120, MaxFramerate: NoFramerateCap})
		if err != nil {
			t.Fatal(err)
		}
		enc, err := NewEncoder(EncoderConfig{Preset: "ultrafast", Threads: 1}, &memSink{})
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range inputs {
			_, err := d.DecodeSegment(context.Background(), bytes.NewReader(in), Handlers{
				Video: func(v *frame.Video) error { defer v.Release(); return enc.WriteVideo(v) },
				Audio: func(a *frame.Audio) error { a.Release(); return nil },
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		d.Close()
	}
	for range 10 { // warm-up: pools, arenas, code pages
		cycle()
	}
	runtime.GC()
	before := rss(t)
	const cycles = 120
	for range cycles {
		cycle()
	}
	runtime.GC()
	after := rss(t)
	// 120 cycles of 5 segments: a leak of one frame or packet per segment
	// would add tens of megabytes; allow 6 MiB of allocator noise.
	if grow := after - before; grow > 6<<20 {
		t.Fatalf("RSS grew %d KiB over %d cycles (%d -> %d KiB)", grow>>10, cycles, before>>10, after>>10)
	}
	t.Logf("RSS %d -> %d KiB over %d cycles", before>>10, after>>10, cycles)
}
