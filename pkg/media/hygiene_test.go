package media

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// cHeapGrowth runs warm steps to let first allocations settle, then
// windows windows of perWindow steps each, and says by how many bytes the C
// heap in use (cHeapInUse) grew in each window.
//
// A leak grows the heap by about the same amount in every window. What
// moves without one settles: per-thread state for each OS thread the Go
// runtime starts, FFmpeg's and x264's once-only tables, glibc's per-thread
// caches. So a test takes the smallest window as its figure. RSS would
// not do: it also moves with the Go heap, thread stacks and the pages the
// allocator keeps, and on the project's CI machine it grew 1.7 MiB over a
// loop that leaks nothing.
func cHeapGrowth(warm, windows, perWindow int, step func()) []int64 {
	for range warm {
		step()
	}
	grown := make([]int64, windows)
	last := cHeapInUse()
	for i := range grown {
		for range perWindow {
			step()
		}
		now := cHeapInUse()
		grown[i], last = now-last, now
	}
	return grown
}

// Opening and closing decoders and encoders over and over, segment by
// segment, must not leak C memory: after warm-up, the C heap in use stays
// flat.
func TestRepeatedDecodeAndEncodeKeepMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a few seconds")
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
	const windows, cycles = 3, 30
	grown := cHeapGrowth(10, windows, cycles, cycle)
	t.Logf("C heap in use grew %v bytes in %d windows of %d cycles", grown, windows, cycles)
	// A window is 150 segments decoded and encoded: a leak of one 160×120
	// frame (29 KiB) per segment would add 4 MiB, of one packet's payload
	// about 1 MiB; allow 256 KiB.
	if least := slices.Min(grown); least > 256<<10 {
		t.Fatalf("C heap grew in every window of %d cycles, by %d KiB at least: a leak", cycles, least>>10)
	}
}
