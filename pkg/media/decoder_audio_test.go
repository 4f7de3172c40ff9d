package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// levelTolerance is how far, in dB, a segment's level may stray from the
// same audio decoded as one stream. Half a decibel is half the smallest
// level change a listener notices; a decoder that starts cold on a segment
// missed it by up to 19 dB in its first 20 ms and up to 3 dB over its first
// 200 ms (Opus predicts
// each band's energy from the frame before, and Opus and AAC both
// overlap-add the previous frame's tail), while one that carries its state
// across segments gives the same samples as the continuous decode.
const levelTolerance = 0.5

// levelWindows are the stretches at each segment's start that are judged,
// where a cold decoder goes wrong: one codec frame (20 ms), the 200 ms in
// which a cold Opus decoder converges, and the whole segment.
var levelWindows = []struct {
	name string
	dur  time.Duration // 0: the whole segment
}{{"first 20 ms", 20 * time.Millisecond}, {"first 200 ms", 200 * time.Millisecond}, {"whole segment", 0}}

// decodedRun is audio decoded from a run of inputs by one Decoder, all
// channels interleaved sample by sample in decoding order.
type decodedRun struct {
	rate, channels int
	samples        []float32 // per sample: channels values
	starts         []int     // sample index where each input's audio begins
}

func decodeRun(t *testing.T, inputs ...[]byte) decodedRun {
	t.Helper()
	d, err := NewDecoder(DecoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var r decodedRun
	for i, in := range inputs {
		r.starts = append(r.starts, len(r.samples)/max(r.channels, 1))
		if _, err := d.DecodeSegment(context.Background(), bytes.NewReader(in), Handlers{Audio: func(a *frame.Audio) error {
			defer a.Release()
			if r.rate == 0 {
				r.rate, r.channels = a.SampleRate, a.Channels()
			}
			if a.SampleRate != r.rate || a.Channels() != r.channels {
				t.Fatalf("input %d: %d ch at %d Hz after %d at %d", i, a.Channels(), a.SampleRate, r.channels, r.rate)
			}
			for s := range a.NumSamples() {
				for c := range r.channels {
					r.samples = append(r.samples, a.Samples[c][s])
				}
			}
			return nil
		}}); err != nil {
			t.Fatalf("input %d: %v", i, err)
		}
	}
	return r
}

// rms is the level of samples [from, to) over every channel.
func (r decodedRun) rms(from, to int) float64 {
	var sum float64
	for _, v := range r.samples[from*r.channels : to*r.channels] {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(max((to-from)*r.channels, 1)))
}

func (r decodedRun) len() int { return len(r.samples) / max(r.channels, 1) }

// compareLevels reports, for every segment but the first (which starts cold
// either way), how many dB each window of the per-segment decode is off the
// same samples of the continuous one, and fails past levelTolerance.
func compareLevels(t *testing.T, perSeg, whole decodedRun) {
	t.Helper()
	if perSeg.len() != whole.len() || perSeg.rate != whole.rate {
		t.Fatalf("segment by segment: %d samples at %d Hz; continuous: %d at %d", perSeg.len(), perSeg.rate, whole.len(), whole.rate)
	}
	worst := 0.0
	for i := 1; i < len(perSeg.starts); i++ {
		start, end := perSeg.starts[i], perSeg.len()
		if i+1 < len(perSeg.starts) {
			end = perSeg.starts[i+1]
		}
		line := fmt.Sprintf("segment %d:", i)
		for _, w := range levelWindows {
			to := end
			if w.dur > 0 {
				to = min(end, start+int(int64(perSeg.rate)*int64(w.dur)/int64(time.Second)))
			}
			ref := whole.rms(start, to)
			if ref < 1e-4 {
				t.Fatalf("segment %d, %s: the continuous decode is silent (%g)", i, w.name, ref)
			}
			db := 20 * math.Log10(perSeg.rms(start, to)/ref)
			line += fmt.Sprintf(" %s %+.2f dB;", w.name, db)
			worst = math.Max(worst, math.Abs(db))
		}
		t.Log(line)
	}
	if worst > levelTolerance {
		t.Errorf("decoded segment by segment, the level strays %.2f dB from the continuous decode (tolerance %.1f dB)", worst, levelTolerance)
	}
}

// encodeQuietSegments encodes a tone of the given peak amplitude in one or
// two channels (with 64×64 video, so that the encoder cuts segments at its
// 1 s GOP) into trickle segments.
func encodeQuietSegments(t *testing.T, codec string, channels int, amp float64, seconds int) [][]byte {
	t.Helper()
	sink := &memSink{}
	enc, err := NewEncoder(EncoderConfig{Preset: "ultrafast", Threads: 1, GOP: time.Second,
		AudioChannels: channels, AudioSampleRate: 48000, AudioCodec: codec}, sink)
	if err != nil {
		t.Fatal(err)
	}
	const rate, per = 48000, 480 // 10 ms audio frames
	for k, v := 0, 0; k < seconds*100; k++ {
		for ; v*100 <= k*30; v++ { // 30 fps video up to this audio frame
			p, err := frame.NewVideo(64, 64)
			if err != nil {
				t.Fatal(err)
			}
			p.PTS, p.TimeBase = int64(v*3000), frame.Rational{Num: 1, Den: 90000}
			if err := enc.WriteVideo(p); err != nil {
				t.Fatal(err)
			}
			p.Release()
		}
		a, err := frame.NewAudio(channels, per, rate)
		if err != nil {
			t.Fatal(err)
		}
		a.PTS, a.TimeBase = int64(k*per), frame.Rational{Num: 1, Den: rate}
		for s := range per {
			n := float64(k*per + s)
			// A 440 Hz tone under a slow 3 Hz tremolo, a touch of 2.5 kHz
			// in the right channel: several bands, moving level.
			x := amp * (0.8 + 0.2*math.Sin(2*math.Pi*3*n/rate)) * math.Sin(2*math.Pi*440*n/rate)
			a.Samples[0][s] = float32(x)
			if channels > 1 {
				a.Samples[1][s] = float32(x + 0.2*amp*math.Sin(2*math.Pi*2500*n/rate))
			}
		}
		if err := enc.WriteAudio(a); err != nil {
			t.Fatal(err)
		}
		a.Release()
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	segs := make([][]byte, len(sink.segs))
	for i, s := range sink.segs {
		segs[i] = s.Bytes()
	}
	if len(segs) < 3 {
		t.Fatalf("only %d segments", len(segs))
	}
	return segs
}

// Audio decoded segment by segment, as trickle delivers it, has the level
// of the same audio decoded as one stream: the Opus or AAC decoder carries
// its state from one segment to the next instead of starting cold on each
// (a cold Opus decoder is several dB off for its first 100 ms or so, worst
// on quiet audio). Each segment's first 20 ms, first 200 ms and whole must
// be within levelTolerance of the continuous decode (one DecodeSegment call
// over the joined segments, which is what the ffmpeg CLI gives for them).
func TestAudioDecodedSegmentBySegmentHasTheLevelOfTheContinuousStream(t *testing.T) {
	for _, c := range []struct {
		codec string
		amp   float64
	}{
		{"opus", 0.125}, // a 0.25× gain applied to a 0.5 tone: −12 dB
		{"opus", 0.02},  // very quiet
		{"aac", 0.125},
	} {
		t.Run(fmt.Sprintf("%s at peak %g", c.codec, c.amp), func(t *testing.T) {
			segs := encodeQuietSegments(t, c.codec, 2, c.amp, 4)
			compareLevels(t, decodeRun(t, segs...), decodeRun(t, bytes.Join(segs, nil)))
		})
	}
	t.Run("the h264-opus-320x240 fixture's 1 s segments", func(t *testing.T) {
		fx, err := loadManifest(t).Fixture("h264-opus-320x240")
		if err != nil {
			t.Fatal(err)
		}
		whole, err := fx.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		fsegs, err := fx.Segments(time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var segs [][]byte
		for _, s := range fsegs {
			b, err := s.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			segs = append(segs, b)
		}
		compareLevels(t, decodeRun(t, segs...), decodeRun(t, whole))
	})
}

// The reference the test above compares with, the continuous decode, is
// what the ffmpeg CLI decodes from the joined segments, sample for sample.
func TestTheContinuousAudioReferenceMatchesTheFFmpegCLI(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed (make deps installs it)")
	}
	segs := encodeQuietSegments(t, "opus", 2, 0.125, 3)
	joined := bytes.Join(segs, nil)
	path := filepath.Join(t.TempDir(), "joined.ts")
	if err := os.WriteFile(path, joined, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-map", "0:a", "-f", "f32le", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	ours := decodeRun(t, joined)
	if len(out) != len(ours.samples)*4 {
		t.Fatalf("ffmpeg decoded %d samples, we %d", len(out)/4, len(ours.samples))
	}
	worst := 0.0
	for i, v := range ours.samples {
		cli := math.Float32frombits(binary.LittleEndian.Uint32(out[i*4:]))
		worst = math.Max(worst, math.Abs(float64(v-cli)))
	}
	if worst > 1e-6 {
		t.Fatalf("differs from the ffmpeg CLI by up to %g", worst)
	}
}

// decodeEach decodes each input with the same Decoder and returns what
// each gave, with its stats.
func decodeEach(t *testing.T, inputs ...[]byte) ([]decodedRun, []SegmentStats) {
	t.Helper()
	d, err := NewDecoder(DecoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	runs := make([]decodedRun, len(inputs))
	stats := make([]SegmentStats, len(inputs))
	for i, in := range inputs {
		r := &runs[i]
		stats[i], err = d.DecodeSegment(context.Background(), bytes.NewReader(in), Handlers{Audio: func(a *frame.Audio) error {
			defer a.Release()
			if r.rate == 0 {
				r.rate, r.channels = a.SampleRate, a.Channels()
			}
			if a.SampleRate != r.rate || a.Channels() != r.channels {
				t.Fatalf("input %d: %d ch at %d Hz after %d at %d", i, a.Channels(), a.SampleRate, r.channels, r.rate)
			}
			for s := range a.NumSamples() {
				for c := range r.channels {
					r.samples = append(r.samples, a.Samples[c][s])
				}
			}
			return nil
		}})
		if err != nil {
			t.Fatalf("input %d: %v", i, err)
		}
	}
	return runs, stats
}

func sameSamples(a, b decodedRun) bool {
	if a.rate != b.rate || a.channels != b.channels || len(a.samples) != len(b.samples) {
		return false
	}
	for i := range a.samples {
		if a.samples[i] != b.samples[i] {
			return false
		}
	}
	return true
}

// breakFirstAACFrame returns a copy of an encoder segment in which the
// first AAC frame (PID 0x101, as FFmpeg's muxer numbers the second stream)
// keeps its ADTS header, which the demuxer checks, but has its first bytes
// of audio data overwritten, which the decoder rejects.
func breakFirstAACFrame(t *testing.T, seg []byte) []byte {
	t.Helper()
	b := bytes.Clone(seg)
	for off := 0; off+188 <= len(b); off += 188 {
		p := b[off : off+188]
		if pid := int(p[1]&0x1f)<<8 | int(p[2]); pid != 0x101 || p[1]&0x40 == 0 {
			continue
		}
		i := 4
		if p[3]&0x20 != 0 { // adaptation field
			i += 1 + int(p[4])
		}
		if !bytes.Equal(p[i:i+3], []byte{0, 0, 1}) {
			t.Fatal("no PES header where the audio packet starts")
		}
		i += 9 + int(p[i+8]) // PES header and its optional fields
		if p[i] != 0xff || p[i+1]&0xf0 != 0xf0 {
			t.Fatalf("no ADTS header: % x", p[i:i+2])
		}
		i += 7
		if p[i-6]&1 == 0 { // a CRC follows the header
			i += 2
		}
		for k := i; k < min(i+24, 188); k++ {
			p[k] = 0xff
		}
		return b
	}
	t.Fatal("no audio packet start in the segment")
	return nil
}

// The audio decoder is carried to the next segment only when that segment
// continues the audio: after a lost segment, a jump back, another codec
// setup or a decode error, the segment decodes exactly as it does from a
// fresh Decoder.
func TestTheAudioDecoderStartsAfreshWhenTheAudioDoesNotCarryOn(t *testing.T) {
	stereo := encodeQuietSegments(t, "opus", 2, 0.125, 4)
	mono := encodeQuietSegments(t, "opus", 1, 0.125, 4)
	aac := encodeQuietSegments(t, "aac", 2, 0.125, 4)
	fresh := func(seg []byte) decodedRun { r, _ := decodeEach(t, seg); return r[0] }

	t.Run("a segment that carries on does not decode as from a fresh decoder", func(t *testing.T) {
		// The control for the cases below: carried state shows.
		runs, _ := decodeEach(t, stereo[1], stereo[2])
		if sameSamples(runs[1], fresh(stereo[2])) {
			t.Fatal("segment 2 after segment 1 decodes exactly as it does alone")
		}
	})
	for _, c := range []struct {
		name   string
		inputs [][]byte // the last is judged
	}{
		{"a lost segment", [][]byte{stereo[0], stereo[1], stereo[3]}},
		{"a segment from before", [][]byte{stereo[1], stereo[2], stereo[1]}},
		{"stereo, then mono at the next timestamp", [][]byte{stereo[0], mono[1]}},
		{"Opus, then AAC at the next timestamp", [][]byte{stereo[0], aac[1]}},
		{"AAC, then Opus at the next timestamp", [][]byte{aac[0], stereo[1]}},
	} {
		t.Run(c.name+" decodes as from a fresh decoder", func(t *testing.T) {
			runs, _ := decodeEach(t, c.inputs...)
			last := c.inputs[len(c.inputs)-1]
			if got, want := runs[len(runs)-1], fresh(last); !sameSamples(got, want) {
				t.Fatalf("differs from a fresh decode: %d samples of %d ch, want %d of %d", got.len(), got.channels, want.len(), want.channels)
			}
		})
	}
	t.Run("the segment after a decode error decodes as from a fresh decoder", func(t *testing.T) {
		runs, stats := decodeEach(t, aac[0], breakFirstAACFrame(t, aac[1]), aac[2])
		if stats[1].Corrupt == 0 {
			t.Fatal("the broken AAC frame was not reported")
		}
		if !sameSamples(runs[2], fresh(aac[2])) {
			t.Fatal("the segment after the error does not decode as from a fresh decoder")
		}
	})
}
