package media

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/gpu"
)

// toYUV420P converts a frame the way the processor's device path does:
// pkg/gpu's RGB→YUV420P kernel (here its CPU build).
func toYUV420P(t *testing.T, s *gpu.Stream, dev *gpu.Device, v *frame.Video) []byte {
	t.Helper()
	ctx := context.Background()
	rgb, err := dev.NewImage(gpu.RGB24, v.Width, v.Height)
	if err != nil {
		t.Fatal(err)
	}
	yuv, err := dev.NewImage(gpu.YUV420P, v.Width, v.Height)
	if err != nil {
		t.Fatal(err)
	}
	defer rgb.Buf.Free()
	defer yuv.Buf.Free()
	if err := s.Upload(ctx, rgb.Buf, v.Pix[:3*v.Width*v.Height]); err != nil {
		t.Fatal(err)
	}
	if err := s.RGBToYUV420P(yuv, rgb); err != nil {
		t.Fatal(err)
	}
	out := make([]byte, YUV420PSize(v.Width, v.Height))
	if err := s.Download(ctx, out, yuv.Buf); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWriteYUV420PEncodesDeviceConvertedPictures(t *testing.T) {
	fx, err := loadManifest(t).Fixture("h264-aac-1280x720")
	if err != nil {
		t.Fatal(err)
	}
	in, err := fx.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	const w, h = 640, 360
	src := decodeAll(t, w, h, in)
	dev, err := gpu.Open(gpu.Config{Kind: gpu.KindCPU})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	s, err := dev.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	// The same frames through WriteVideo (swscale's conversion) give the
	// bar in the same run.
	viaYUV := encodeWorstPSNR(t, src, w, h, func(enc *Encoder, v *frame.Video) error {
		return enc.WriteYUV420P(toYUV420P(t, s, dev, v), v.Width, v.Height, v.PTS, v.TimeBase)
	})
	viaRGB := encodeWorstPSNR(t, src, w, h, (*Encoder).WriteVideo)
	for _, v := range src {
		v.Release()
	}
	// The kernel's chroma is a 2×2 mean rather than swscale's bicubic.
	if viaYUV < viaRGB-1 {
		t.Fatalf("worst frame PSNR %.1f dB through WriteYUV420P, %.1f dB through WriteVideo", viaYUV, viaRGB)
	}
	t.Logf("worst frame PSNR: %.1f dB through WriteYUV420P, %.1f dB through WriteVideo", viaYUV, viaRGB)
}

// encodeWorstPSNR encodes src with write, decodes the segments, checks that
// every frame comes back with its timestamp and returns the worst PSNR.
func encodeWorstPSNR(t *testing.T, src []*frame.Video, w, h int, write func(*Encoder, *frame.Video) error) float64 {
	t.Helper()
	sink := &memSink{}
	enc, err := NewEncoder(EncoderConfig{Preset: "veryfast", GOP: time.Second, SegmentDuration: time.Second}, sink)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range src {
		if err := write(enc, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	var segs [][]byte
	for _, sg := range sink.segs {
		segs = append(segs, sg.Bytes())
	}
	out := decodeAll(t, w, h, segs...)
	defer func() {
		for _, v := range out {
			v.Release()
		}
	}()
	if len(out) != len(src) {
		t.Fatalf("%d pictures in, %d frames out", len(src), len(out))
	}
	worst := math.Inf(1)
	for i := range src {
		if frame.CompareTS(src[i].PTS, src[i].TimeBase, out[i].PTS, out[i].TimeBase) != 0 {
			t.Fatalf("frame %d: pts %d in, %d out", i, src[i].PTS, out[i].PTS)
		}
		worst = min(worst, psnr(src[i], out[i]))
	}
	return worst
}

func TestWriteYUV420PRefusesPicturesThatDoNotFit(t *testing.T) {
	tb := frame.Rational{Num: 1, Den: 90000}
	for _, tc := range []struct {
		name        string
		cfgW, cfgH  int
		w, h, bytes int
		want        string
	}{
		{"a picture of another size than the output", 64, 64, 32, 32, YUV420PSize(32, 32), "scale it first"},
		{"a buffer shorter than the picture", 64, 64, 64, 64, 100, "needs"},
		{"a zero size", 64, 64, 0, 64, 10, "picture of 0x64"},
		{"an odd first picture with no output size", 0, 0, 33, 32, YUV420PSize(33, 32), "scale it first"},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			enc, err := NewEncoder(EncoderConfig{Width: tc.cfgW, Height: tc.cfgH}, &memSink{})
			if err != nil {
				t.Fatal(err)
			}
			defer enc.Close()
			err = enc.WriteYUV420P(make([]byte, tc.bytes), tc.w, tc.h, 0, tb)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
