package media

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/processor"
)

// keptByCap is the frame-rate cap worked out independently of rateCap:
// of frames at pts (in 1/tbDen, increasing), the first is kept, then the
// first of every later 1/cap slot counted from it.
func keptByCap(pts []int64, tbDen int64, cap frame.Rational) int {
	if cap == NoFramerateCap {
		return len(pts)
	}
	kept, last := 0, int64(-1)
	for _, p := range pts {
		// slot = floor((p - pts[0]) / tbDen · cap)
		if slot := (p - pts[0]) * int64(cap.Num) / (tbDen * int64(cap.Den)); slot > last {
			kept, last = kept+1, slot
		}
	}
	return kept
}

// Codecs, as the processor uses it: a fixture's 1 s segments through the
// decoder it makes into the encoder it makes, and the output decodes to the
// manifest's frames as the cap leaves them, with audio exactly when the
// input had some.
func TestCodecsCarryAFixtureThroughTheProcessorsInterfaces(t *testing.T) {
	m := loadManifest(t)
	codecs := Codecs{Encoder: EncoderConfig{Preset: "ultrafast", Threads: 1}, Decoder: DecoderConfig{Threads: 1}}
	for _, c := range []struct {
		fixture string
		cap     frame.Rational
		codec   string
	}{
		{"h264-aac-320x240", frame.Rational{Num: 24, Den: 1}, ""},
		{"h264-aac-320x240", NoFramerateCap, "aac"},
		{"h264-noaudio-320x240", frame.Rational{Num: 15, Den: 1}, ""},
		{"h264-opus-320x240", frame.Rational{Num: 30, Den: 1}, "opus"},
		{"aac-novideo", frame.Rational{Num: 24, Den: 1}, ""},
	} {
		fx, err := m.Fixture(c.fixture)
		if err != nil {
			t.Fatal(err)
		}
		vs, hasVideo := fx.Video()
		as, hasAudio := fx.Audio()
		wantVideo := 0
		if hasVideo {
			wantVideo = keptByCap(vs.PTS, 90000, c.cap)
		}
		capName := "uncapped"
		if c.cap != NoFramerateCap {
			capName = fmt.Sprintf("capped at %g fps", c.cap.Float64())
		}
		name := fmt.Sprintf("%s %s comes out with the %d frames the cap leaves", fx.Name, capName, wantVideo)
		if hasAudio {
			name += " and its audio"
		}
		t.Run(name, func(t *testing.T) {
			cs := codecs
			cs.Encoder.AudioCodec = c.codec
			const w, h = 160, 120
			dec, err := cs.NewDecoder(processor.DecoderConfig{Width: w, Height: h, MaxFramerate: c.cap})
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			sink := &memSink{}
			enc, err := cs.NewEncoder(processor.EncoderConfig{Width: w, Height: h, Audio: hasAudio}, sink)
			if err != nil {
				t.Fatal(err)
			}
			segs, err := fx.Segments(time.Second)
			if err != nil {
				t.Fatal(err)
			}
			var total processor.SegmentInfo
			for i, s := range segs {
				in, err := s.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				var sawVideo, sawAudio bool
				info, err := dec.DecodeSegment(context.Background(), bytes.NewReader(in), processor.DecodeHandlers{
					Streams: func(video, audio bool) { sawVideo, sawAudio = video, audio },
					Video: func(v *frame.Video) error {
						defer v.Release()
						if v.Width != w || v.Height != h {
							t.Errorf("segment %d: a %dx%d frame", i, v.Width, v.Height)
						}
						return enc.WriteVideo(v)
					},
					Audio: func(a *frame.Audio) error { defer a.Release(); return enc.WriteAudio(a) },
				})
				if err != nil {
					t.Fatalf("segment %d: %v", i, err)
				}
				if sawVideo != hasVideo || sawAudio != hasAudio {
					t.Fatalf("segment %d: Streams said video %v, audio %v", i, sawVideo, sawAudio)
				}
				if info.Bytes != s.Size || info.AudioFrames != s.AudioFrames || info.Corrupt != 0 {
					t.Fatalf("segment %d: %+v; the manifest says %d bytes, %d audio frames", i, info, s.Size, s.AudioFrames)
				}
				total.VideoFrames += info.VideoFrames
				total.Capped += info.Capped
			}
			if err := enc.Close(); err != nil {
				t.Fatal(err)
			}
			if total.VideoFrames != wantVideo || total.VideoFrames+total.Capped != vs.Frames {
				t.Fatalf("decoder kept %d and capped %d; the manifest's %d frames capped leave %d",
					total.VideoFrames, total.Capped, vs.Frames, wantVideo)
			}

			check, err := NewDecoder(DecoderConfig{Width: w, Height: h, MaxFramerate: NoFramerateCap})
			if err != nil {
				t.Fatal(err)
			}
			defer check.Close()
			var videoOut, audioOut int
			for i, s := range sink.segs {
				_, err := check.DecodeSegment(context.Background(), bytes.NewReader(s.Bytes()), Handlers{
					Video: func(v *frame.Video) error { videoOut++; v.Release(); return nil },
					Audio: func(a *frame.Audio) error {
						defer a.Release()
						if a.Channels() != 2 {
							t.Errorf("output segment %d: %d audio channels, want stereo", i, a.Channels())
						}
						audioOut += a.NumSamples()
						return nil
					},
				})
				if err != nil {
					t.Fatalf("output segment %d: %v", i, err)
				}
			}
			if videoOut != wantVideo {
				t.Fatalf("%d video frames out, want %d", videoOut, wantVideo)
			}
			// The input's samples at the output's 48 kHz, plus at most the
			// codec's priming and last-frame padding (two AAC frames).
			var want int64
			if hasAudio {
				want = frame.Rescale(as.Samples, frame.Rational{Num: 1, Den: as.SampleRate}, frame.Rational{Num: 1, Den: 48000})
			}
			if (audioOut > 0) != hasAudio || int64(audioOut) < want || int64(audioOut) > want+2048 {
				t.Fatalf("%d audio samples out; want %d to %d", audioOut, want, want+2048)
			}
		})
	}
}

// Settings the processor does not choose come from Codecs; a zero size or
// cap from the processor keeps Codecs' own; the processor's decoders are
// always low-delay (its input is live).
func TestCodecsFillTheProcessorsConfigFromTheirOwn(t *testing.T) {
	for _, c := range []struct {
		name string
		cs   Codecs
		cfg  processor.DecoderConfig
		want DecoderConfig
	}{
		{"the processor's size and cap win",
			Codecs{Decoder: DecoderConfig{Width: 64, Height: 64, Threads: 1, MaxFramerate: frame.Rational{Num: 10, Den: 1}}},
			processor.DecoderConfig{Width: 320, Height: 240, MaxFramerate: frame.Rational{Num: 30, Den: 1}},
			DecoderConfig{Width: 320, Height: 240, Threads: 1, LowDelay: true, MaxFramerate: frame.Rational{Num: 30, Den: 1}}},
		{"a zero size and cap keep the Codecs' own",
			Codecs{Decoder: DecoderConfig{Width: 64, Height: 48, MaxFramerate: NoFramerateCap}},
			processor.DecoderConfig{},
			DecoderConfig{Width: 64, Height: 48, LowDelay: true, MaxFramerate: NoFramerateCap}},
		{"zero everywhere gives NewDecoder's defaults",
			Codecs{}, processor.DecoderConfig{},
			DecoderConfig{Width: 512, Height: 512, LowDelay: true, MaxFramerate: frame.Rational{Num: 24, Den: 1}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			pd, err := c.cs.NewDecoder(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer pd.Close()
			d := pd.(decoderAdapter).d
			if d.cfg != c.want {
				t.Fatalf("got %+v, want %+v", d.cfg, c.want)
			}
			if err := pd.SetMaxFramerate(frame.Rational{Num: 12, Den: 1}); err != nil || d.MaxFramerate() != (frame.Rational{Num: 12, Den: 1}) {
				t.Fatalf("SetMaxFramerate: %v, cap now %v", err, d.MaxFramerate())
			}
		})
	}
	for _, c := range []struct {
		name         string
		cs           Codecs
		cfg          processor.EncoderConfig
		wantChannels int
		wantCodec    string
	}{
		{"audio gives a stereo Opus stream by default", Codecs{Encoder: EncoderConfig{AudioChannels: 1}}, processor.EncoderConfig{Width: 64, Height: 48, Audio: true}, 2, "opus"},
		{"audio keeps the Codecs' AAC", Codecs{Encoder: EncoderConfig{AudioCodec: "aac"}}, processor.EncoderConfig{Audio: true}, 2, "aac"},
		{"no audio drops the Codecs' channels", Codecs{Encoder: EncoderConfig{AudioChannels: 2}}, processor.EncoderConfig{Width: 64, Height: 48}, 0, "opus"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pe, err := c.cs.NewEncoder(c.cfg, &memSink{})
			if err != nil {
				t.Fatal(err)
			}
			e := pe.(*Encoder)
			defer e.Close()
			if e.cfg.Width != c.cfg.Width || e.cfg.Height != c.cfg.Height || e.cfg.AudioChannels != c.wantChannels || e.cfg.AudioCodec != c.wantCodec {
				t.Fatalf("got %dx%d, %d channels of %s", e.cfg.Width, e.cfg.Height, e.cfg.AudioChannels, e.cfg.AudioCodec)
			}
			if (e.aud != nil) != (c.wantChannels > 0) || e.aud != nil && e.aud.channels != c.wantChannels {
				t.Fatalf("audio encoder %v", e.aud != nil)
			}
		})
	}
	t.Run("a nil sink is refused without a typed nil encoder", func(t *testing.T) {
		e, err := Codecs{}.NewEncoder(processor.EncoderConfig{}, nil)
		if err == nil || e != nil {
			t.Fatalf("got %v, %v", e, err)
		}
	})
}
