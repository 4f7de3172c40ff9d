package media

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// Video and audio through the encoder and back: every video frame returns,
// and the audio keeps its channels, rate and length (within the codec's
// frame padding and priming).
// transcode decodes in at w×h and encodes its video and audio with cfg.
func transcode(t *testing.T, in []byte, w, h int, cfg EncoderConfig) *memSink {
	t.Helper()
	sink := &memSink{}
	enc, err := NewEncoder(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDecoder(DecoderConfig{Width: w, Height: h, MaxFramerate: NoFramerateCap})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.DecodeSegment(context.Background(), bytes.NewReader(in), Handlers{
		Video: func(v *frame.Video) error { defer v.Release(); return enc.WriteVideo(v) },
		Audio: func(a *frame.Audio) error { defer a.Release(); return enc.WriteAudio(a) },
	}); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return sink
}

func TestEncodingVideoWithAudioKeepsBoth(t *testing.T) {
	fx, err := loadManifest(t).Fixture("h264-aac-320x240")
	if err != nil {
		t.Fatal(err)
	}
	vs, _ := fx.Video()
	as, _ := fx.Audio()
	in, err := fx.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	for _, codec := range []string{"opus", "aac"} {
		t.Run(codec+" audio comes back with the video", func(t *testing.T) {
			sink := transcode(t, in, vs.Width, vs.Height, EncoderConfig{Preset: "ultrafast", AudioChannels: as.Channels,
				AudioSampleRate: as.SampleRate, AudioCodec: codec})
			d, err := NewDecoder(DecoderConfig{Width: vs.Width, Height: vs.Height, MaxFramerate: NoFramerateCap})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			var videoOut int
			var samplesOut int64
			for i, s := range sink.segs {
				_, err := d.DecodeSegment(context.Background(), bytes.NewReader(s.Bytes()), Handlers{
					Video: func(v *frame.Video) error { videoOut++; v.Release(); return nil },
					Audio: func(a *frame.Audio) error {
						defer a.Release()
						if a.Channels() != as.Channels || a.SampleRate != as.SampleRate {
							t.Fatalf("segment %d: %d ch at %d Hz", i, a.Channels(), a.SampleRate)
						}
						samplesOut += int64(a.NumSamples())
						return nil
					},
				})
				if err != nil {
					t.Fatalf("segment %d: %v", i, err)
				}
			}
			if videoOut != vs.Frames {
				t.Fatalf("%d video frames out, %d in", videoOut, vs.Frames)
			}
			// Padding of the last frame and the codec's priming may add up
			// to two codec frames (1024 samples each at most for AAC).
			if diff := samplesOut - as.Samples; diff < -2048 || diff > 2048 {
				t.Fatalf("%d audio samples out, %d in", samplesOut, as.Samples)
			}
		})
	}
	t.Run("audio without the configuration is refused", func(t *testing.T) {
		enc, err := NewEncoder(EncoderConfig{}, &memSink{})
		if err != nil {
			t.Fatal(err)
		}
		defer enc.Close()
		a, _ := frame.NewAudio(2, 960, 48000)
		if enc.WriteAudio(a) == nil {
			t.Fatal("accepted")
		}
	})
	t.Run("44.1 kHz audio is resampled to Opus's 48 kHz", func(t *testing.T) {
		sink := &memSink{}
		enc, err := NewEncoder(EncoderConfig{Preset: "ultrafast", AudioChannels: 2, AudioSampleRate: 44100}, sink)
		if err != nil {
			t.Fatal(err)
		}
		const chunks, per = 200, 441 // 2 s of a 441 Hz tone in 10 ms frames
		for k := range chunks {
			a, _ := frame.NewAudio(2, per, 44100)
			a.PTS = int64(k * per)
			for s := range per {
				v := float32(0.5 * math.Sin(2*math.Pi*441*float64(k*per+s)/44100))
				a.Samples[0][s], a.Samples[1][s] = v, v
			}
			if err := enc.WriteAudio(a); err != nil {
				t.Fatal(err)
			}
			a.Release()
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		d, _ := NewDecoder(DecoderConfig{})
		defer d.Close()
		var got int64
		for _, s := range sink.segs {
			if _, err := d.DecodeSegment(context.Background(), bytes.NewReader(s.Bytes()), Handlers{Audio: func(a *frame.Audio) error {
				defer a.Release()
				if a.SampleRate != 48000 {
					t.Fatalf("decoded at %d Hz", a.SampleRate)
				}
				got += int64(a.NumSamples())
				return nil
			}}); err != nil {
				t.Fatal(err)
			}
		}
		want := int64(chunks * per * 48000 / 44100)
		if got < want-2*960 || got > want+2*960 {
			t.Fatalf("%d samples at 48 kHz, want about %d", got, want)
		}
	})
}

// audioPart is a stretch of test tone fed to an encoder: channels at rate,
// for a number of 10 ms frames.
type audioPart struct {
	channels, rate, frames int
}

// feedTone writes parts to enc back to back, as one tone whose timestamps
// run on without a gap across every change of channels or rate. It
// returns the total duration in seconds.
func feedTone(t *testing.T, enc *Encoder, parts []audioPart) float64 {
	t.Helper()
	var at float64 // seconds written so far
	for _, p := range parts {
		per := p.rate / 100
		for k := range p.frames {
			a, err := frame.NewAudio(p.channels, per, p.rate)
			if err != nil {
				t.Fatal(err)
			}
			a.PTS = int64(math.Round(at*float64(p.rate))) + int64(k*per)
			for s := range per {
				v := float32(0.5 * math.Sin(2*math.Pi*440*(at+float64(k*per+s)/float64(p.rate))))
				for c := range p.channels {
					a.Samples[c][s] = v
				}
			}
			if err := enc.WriteAudio(a); err != nil {
				t.Fatalf("%d ch at %d Hz, frame %d: %v", p.channels, p.rate, k, err)
			}
			a.Release()
		}
		at += float64(p.frames*per) / float64(p.rate)
	}
	return at
}

// decodedAudio is what decoding an encoder's segments gave back.
type decodedAudio struct {
	samples  int64
	channels map[int]int // frames by channel count
	rates    map[int]int // frames by sample rate
	gaps     int         // frames that do not start where the one before ended
	rms      [][]float64 // per second of output, per channel
}

func decodeAudioSegments(t *testing.T, segs []*memSeg) decodedAudio {
	t.Helper()
	d, err := NewDecoder(DecoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	out := decodedAudio{channels: map[int]int{}, rates: map[int]int{}}
	var sums [][]float64
	var counts []int
	next := int64(-1)
	for i, s := range segs {
		_, err := d.DecodeSegment(context.Background(), bytes.NewReader(s.Bytes()), Handlers{Audio: func(a *frame.Audio) error {
			defer a.Release()
			out.channels[a.Channels()]++
			out.rates[a.SampleRate]++
			if next >= 0 && (a.PTS < next-1 || a.PTS > next+1) {
				out.gaps++
			}
			next = a.PTS + frame.Rescale(int64(a.NumSamples()), frame.Rational{Num: 1, Den: a.SampleRate}, a.TimeBase)
			for k := range a.NumSamples() {
				sec := int((out.samples + int64(k)) / int64(a.SampleRate))
				for len(sums) <= sec {
					sums = append(sums, make([]float64, a.Channels()))
					counts = append(counts, 0)
				}
				for c := range min(a.Channels(), len(sums[sec])) {
					v := float64(a.Samples[c][k])
					sums[sec][c] += v * v
				}
				counts[sec]++
			}
			out.samples += int64(a.NumSamples())
			return nil
		}})
		if err != nil {
			t.Fatalf("segment %d: %v", i, err)
		}
	}
	for s := range sums {
		r := make([]float64, len(sums[s]))
		for c := range r {
			r[c] = math.Sqrt(sums[s][c] / float64(counts[s]))
		}
		out.rms = append(out.rms, r)
	}
	return out
}

// The audio encoder takes frames of any channel count and rate, changing
// mid-stream, and turns them into one gapless stream at its own: the output
// decodes at the configured channels and the codec's rate, lasts as long
// as the input (plus at most the codec's priming and last-frame padding),
// has no gap at a change, and carries the tone in every channel throughout.
func TestAudioOfChangingChannelsAndRateEncodesAsOneStream(t *testing.T) {
	const opusFrame, aacFrame = 960, 1024 // samples per codec frame
	for _, c := range []struct {
		name         string
		cfg          EncoderConfig
		parts        []audioPart
		wantChannels int
		wantRate     int
		slack        int64 // samples the output may add: priming and padding
	}{
		{"mono 44.1 kHz then stereo 48 kHz into stereo Opus",
			EncoderConfig{AudioChannels: 2}, []audioPart{{1, 44100, 100}, {2, 48000, 100}}, 2, 48000, opusFrame},
		{"stereo 48 kHz into mono Opus",
			EncoderConfig{AudioChannels: 1, AudioSampleRate: 48000}, []audioPart{{2, 48000, 200}}, 1, 48000, opusFrame},
		{"5.1 at 32 kHz then mono 16 kHz into stereo Opus",
			EncoderConfig{AudioChannels: 2}, []audioPart{{6, 32000, 100}, {1, 16000, 100}}, 2, 48000, opusFrame},
		{"44.1 kHz into AAC with no rate set (so at 48 kHz)",
			EncoderConfig{AudioChannels: 2, AudioCodec: "aac"}, []audioPart{{2, 44100, 100}, {1, 44100, 100}}, 2, 48000, 2 * aacFrame},
		{"a switch from 44.1 kHz to 48 kHz and back into AAC at 44.1 kHz",
			EncoderConfig{AudioChannels: 2, AudioCodec: "aac", AudioSampleRate: 44100}, []audioPart{{2, 44100, 50}, {2, 48000, 100}, {1, 44100, 50}}, 2, 44100, 2 * aacFrame},
	} {
		t.Run(c.name+" decodes as one continuous stream", func(t *testing.T) {
			sink := &memSink{}
			c.cfg.Preset = "ultrafast"
			enc, err := NewEncoder(c.cfg, sink)
			if err != nil {
				t.Fatal(err)
			}
			secs := feedTone(t, enc, c.parts)
			if err := enc.Close(); err != nil {
				t.Fatal(err)
			}
			got := decodeAudioSegments(t, sink.segs)
			if len(got.channels) != 1 || got.channels[c.wantChannels] == 0 || len(got.rates) != 1 || got.rates[c.wantRate] == 0 {
				t.Fatalf("frames by channels %v, by rate %v; want all %d ch at %d Hz", got.channels, got.rates, c.wantChannels, c.wantRate)
			}
			want := int64(math.Round(secs * float64(c.wantRate)))
			if got.samples < want || got.samples > want+c.slack {
				t.Fatalf("%d samples out, want %d to %d (%.2f s in)", got.samples, want, want+c.slack, secs)
			}
			if got.gaps != 0 {
				t.Fatalf("%d frames do not follow the one before", got.gaps)
			}
			for sec := range int(secs) {
				for ch, r := range got.rms[sec] {
					if r < 0.1 {
						t.Fatalf("second %d, channel %d: RMS %.3f, the tone is missing", sec, ch, r)
					}
				}
			}
		})
	}
	t.Run("a mono encoder takes a fixture's stereo audio", func(t *testing.T) {
		fx, err := loadManifest(t).Fixture("h264-aac-320x240")
		if err != nil {
			t.Fatal(err)
		}
		as, _ := fx.Audio()
		in, err := fx.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if as.Channels != 2 {
			t.Fatalf("the fixture has %d channels; this test wants stereo", as.Channels)
		}
		sink := &memSink{}
		enc, err := NewEncoder(EncoderConfig{Preset: "ultrafast", AudioChannels: 1}, sink)
		if err != nil {
			t.Fatal(err)
		}
		d, err := NewDecoder(DecoderConfig{})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if _, err := d.DecodeSegment(context.Background(), bytes.NewReader(in), Handlers{
			Audio: func(a *frame.Audio) error { defer a.Release(); return enc.WriteAudio(a) },
		}); err != nil {
			t.Fatal(err)
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		got := decodeAudioSegments(t, sink.segs)
		want := frame.Rescale(as.Samples, frame.Rational{Num: 1, Den: as.SampleRate}, frame.Rational{Num: 1, Den: 48000})
		// Opus's priming plus the last frame's padding: under two frames.
		if len(got.channels) != 1 || got.channels[1] == 0 || got.samples < want || got.samples > want+2*opusFrame || got.gaps != 0 {
			t.Fatalf("frames by channels %v, %d samples (want %d), %d gaps", got.channels, got.samples, want, got.gaps)
		}
	})
}
