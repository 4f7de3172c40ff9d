package media

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// Audio of every fixture that has it (AAC, Opus) decodes to the sample
// count, rate and channels manifest.json records, whole and per segment.
func TestAudioDecodesToTheManifestsSamples(t *testing.T) {
	m := loadManifest(t)
	n := 0
	for _, fx := range m.Fixtures {
		as, ok := fx.Audio()
		if fx.Broken != nil || !ok {
			continue
		}
		n++
		t.Run(fx.Name+" "+as.Codec+" decodes to the manifest's samples", func(t *testing.T) {
			d, err := NewDecoder(DecoderConfig{MaxFramerate: NoFramerateCap})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			decode := func(in []byte) (samples int64, frames int) {
				last := int64(-1 << 62)
				_, err := d.DecodeSegment(context.Background(), bytes.NewReader(in), Handlers{Audio: func(a *frame.Audio) error {
					defer a.Release()
					if a.Channels() != as.Channels || a.SampleRate != as.SampleRate {
						t.Fatalf("%d channels at %d Hz, manifest %d at %d", a.Channels(), a.SampleRate, as.Channels, as.SampleRate)
					}
					if a.PTS <= last {
						t.Fatalf("audio pts %d after %d", a.PTS, last)
					}
					last = a.PTS
					samples += int64(a.NumSamples())
					frames++
					return nil
				}})
				if err != nil {
					t.Fatal(err)
				}
				return samples, frames
			}
			whole, err := fx.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := decode(whole); got != as.Samples {
				t.Fatalf("whole file: %d samples, manifest %d", got, as.Samples)
			}
			segs, err := fx.Segments(time.Second)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range segs {
				b, err := s.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				if got, frames := decode(b); got != s.AudioSamples || frames != s.AudioFrames {
					t.Fatalf("segment %d: %d samples in %d frames, manifest %d in %d", i, got, frames, s.AudioSamples, s.AudioFrames)
				}
			}
		})
	}
	if n < 3 {
		t.Fatalf("only %d fixtures with audio", n)
	}
}

func TestAVideoOnlyHandlerOnAnAudioOnlySegmentSaysSo(t *testing.T) {
	fx, err := loadManifest(t).Fixture("aac-novideo")
	if err != nil {
		t.Fatal(err)
	}
	b, err := fx.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDecoder(DecoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, err = d.DecodeSegment(context.Background(), bytes.NewReader(b), Handlers{Video: func(v *frame.Video) error { v.Release(); return nil }})
	if err != ErrNoStreams {
		t.Fatalf("got %v, want ErrNoStreams", err)
	}
}
