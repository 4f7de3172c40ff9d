package media

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// Handlers.Streams hears, once per segment and before any frame, which
// streams the segment carries (as the manifest records them), whatever
// handlers are set.
func TestStreamsReportsWhatEachSegmentCarries(t *testing.T) {
	m := loadManifest(t)
	for _, name := range []string{"h264-aac-320x240", "h264-noaudio-320x240", "aac-novideo"} {
		fx, err := m.Fixture(name)
		if err != nil {
			t.Fatal(err)
		}
		_, wantVideo := fx.Video()
		_, wantAudio := fx.Audio()
		whole, err := fx.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		segs, err := fx.Segments(time.Second)
		if err != nil {
			t.Fatal(err)
		}
		inputs := [][]byte{whole}
		for _, s := range segs {
			b, err := s.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			inputs = append(inputs, b)
		}
		for _, c := range []struct {
			name         string
			video, audio bool // which frame handlers are set
		}{
			{"with both handlers", true, true},
			{"with only a video handler", true, false},
			{"with only an audio handler", false, true},
		} {
			t.Run(name+" reports its streams "+c.name, func(t *testing.T) {
				d, err := NewDecoder(DecoderConfig{Width: 64, Height: 48, MaxFramerate: NoFramerateCap})
				if err != nil {
					t.Fatal(err)
				}
				defer d.Close()
				for i, in := range inputs {
					calls, frames := 0, 0
					var gotVideo, gotAudio bool
					h := Handlers{Streams: func(video, audio bool) {
						if frames > 0 {
							t.Errorf("input %d: Streams called after %d frames", i, frames)
						}
						calls++
						gotVideo, gotAudio = video, audio
					}}
					if c.video {
						h.Video = func(v *frame.Video) error { frames++; v.Release(); return nil }
					}
					if c.audio {
						h.Audio = func(a *frame.Audio) error { frames++; a.Release(); return nil }
					}
					_, err := d.DecodeSegment(context.Background(), bytes.NewReader(in), h)
					decodable := c.video && wantVideo || c.audio && wantAudio
					switch {
					case decodable && err != nil:
						t.Fatalf("input %d: %v", i, err)
					case !decodable && !errors.Is(err, ErrNoStreams):
						t.Fatalf("input %d: got %v, want ErrNoStreams", i, err)
					}
					if calls != 1 || gotVideo != wantVideo || gotAudio != wantAudio {
						t.Fatalf("input %d: %d calls, last (video %v, audio %v); the manifest says (%v, %v)",
							i, calls, gotVideo, gotAudio, wantVideo, wantAudio)
					}
					if decodable && frames == 0 {
						t.Fatalf("input %d: no frames", i)
					}
				}
			})
		}
	}
	garbage, err := m.Fixture("broken-garbage")
	if err != nil {
		t.Fatal(err)
	}
	noise, err := garbage.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		in   []byte
	}{
		{"Streams is not called for an empty segment", nil},
		{"Streams is not called for a segment of noise", noise},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := NewDecoder(DecoderConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			calls := 0
			_, err = d.DecodeSegment(context.Background(), bytes.NewReader(c.in), Handlers{
				Streams: func(bool, bool) { calls++ },
				Video:   func(v *frame.Video) error { v.Release(); return nil },
			})
			if !errors.Is(err, ErrNoStreams) || calls != 0 {
				t.Fatalf("err %v, Streams called %d times; want ErrNoStreams and no call", err, calls)
			}
		})
	}
}
