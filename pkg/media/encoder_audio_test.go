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
			sink := &memSink{}
			enc, err := NewEncoder(EncoderConfig{Preset: "ultrafast", AudioChannels: as.Channels, AudioSampleRate: as.SampleRate, AudioCodec: codec}, sink)
			if err != nil {
				t.Fatal(err)
			}
			d, err := NewDecoder(DecoderConfig{Width: vs.Width, Height: vs.Height, MaxFramerate: NoFramerateCap})
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
