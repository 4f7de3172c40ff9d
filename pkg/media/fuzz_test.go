package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// fuzzInputLimit bounds the inputs the fuzzer tries: a 1 s 320×240
// segment is about 47 KB, so this leaves room to grow one while keeping
// each input's decode short.
const fuzzInputLimit = 256 << 10

// fuzzDeadline is how long one input may take before it counts as a hang:
// far above any real decode (tens of milliseconds), so load on a shared
// machine cannot trip it.
const fuzzDeadline = 30 * time.Second

// corruptions derive damaged segments from a good one, each the kind of
// damage a live link or a broken muxer produces.
var corruptions = []struct {
	name string
	fn   func([]byte) []byte
}{
	{"cut mid-packet", func(b []byte) []byte { return b[:len(b)/2+37] }},
	{"cut to the PSI", func(b []byte) []byte { return b[:min(len(b), 3*188)] }},
	{"bits flipped", func(b []byte) []byte {
		for i := 400; i < len(b); i += 997 {
			b[i] ^= 1 << (i % 8)
		}
		return b
	}},
	{"PAT and PMT lost", func(b []byte) []byte { return b[min(len(b), 2*188):] }},
	{"sync bytes lost", func(b []byte) []byte {
		for i := 0; i < len(b); i += 188 * 7 {
			b[i] = 0
		}
		return b
	}},
	{"halves swapped", func(b []byte) []byte {
		h := len(b) / 188 / 2 * 188
		return append(append([]byte(nil), b[h:]...), b[:h]...)
	}},
	{"a run of packets repeated", func(b []byte) []byte {
		s := min(len(b), 20*188)
		return append(append(append([]byte(nil), b[:s]...), b[:s]...), b[s:]...)
	}},
	{"zeroed payloads", func(b []byte) []byte {
		for i := 4 * 188; i+188 <= len(b); i += 188 * 3 {
			clear(b[i+4 : i+188])
		}
		return b
	}},
	{"one byte shifted", func(b []byte) []byte { return append([]byte{0x47}, b...) }},
}

// FuzzDecodeSegment: any bytes given as a segment decode to frames or to
// an error that says what failed, within a bounded time and never with a
// crash. Frames come out at the configured size, as many as the stats
// report, and a segment of a real fixture decodes whole, without error,
// to the frames the manifest records. The corpus starts from the first 1 s
// segment of every fixture, damaged variants of it, and the broken
// fixtures.
func FuzzDecodeSegment(f *testing.F) {
	good := map[[32]byte]int{} // sha256 of a fixture segment → its video frames
	m, err := loadManifestF()
	if err != nil {
		f.Fatal(err)
	}
	for _, fx := range m.Fixtures {
		if fx.Broken != nil {
			if b, err := fx.Bytes(); err == nil {
				f.Add(b[:min(len(b), fuzzInputLimit)])
			}
			continue
		}
		segs, err := fx.Segments(time.Second)
		if err != nil || len(segs) == 0 {
			continue
		}
		b, err := segs[0].Bytes()
		if err != nil || len(b) > fuzzInputLimit {
			continue
		}
		good[sha256.Sum256(b)] = segs[0].VideoFrames
		f.Add(b)
		if strings.HasPrefix(fx.Name, "h264-aac-320x240") {
			for _, c := range corruptions {
				f.Add(c.fn(bytes.Clone(b)))
			}
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0x47, 0x40, 0x00, 0x10})
	if len(good) == 0 {
		f.Fatal("no fixture segment to seed from")
	}

	const w, h = 32, 32
	d, err := NewDecoder(DecoderConfig{Width: w, Height: h, MaxFramerate: NoFramerateCap, Threads: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(d.Close)
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > fuzzInputLimit {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), fuzzDeadline)
		defer cancel()
		var videos, audios int
		st, err := d.DecodeSegment(ctx, bytes.NewReader(in), Handlers{
			Video: func(v *frame.Video) error {
				videos++
				if v.Width != w || v.Height != h || len(v.Pix) < v.Stride*(h-1)+3*w || !v.TimeBase.Valid() {
					t.Errorf("a %d×%d frame (stride %d, %d bytes, time base %v)", v.Width, v.Height, v.Stride, len(v.Pix), v.TimeBase)
				}
				v.Release()
				return nil
			},
			Audio: func(a *frame.Audio) error { audios++; a.Release(); return nil },
		})
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%d bytes took over %v to decode", len(in), fuzzDeadline)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "media: ") {
			t.Fatalf("an error that does not say where it came from: %v", err)
		}
		if st.VideoFrames != videos || st.AudioFrames != audios || st.Bytes < 0 || st.Bytes > int64(len(in)) ||
			st.Corrupt < 0 || st.Capped != 0 {
			t.Fatalf("stats %+v for %d bytes, %d video and %d audio frames handed out", st, len(in), videos, audios)
		}
		if want, ok := good[sha256.Sum256(in)]; ok {
			if err != nil || st.Bytes != int64(len(in)) || st.VideoFrames != want || st.Corrupt != 0 {
				t.Fatalf("a fixture segment: %v, stats %+v, want %d frames", err, st, want)
			}
		}
	})
}
