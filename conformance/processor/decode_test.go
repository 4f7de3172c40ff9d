package processor_test

import (
	"bytes"
	"context"
	"errors"
	"io"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/media"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// decodeFull decodes one output segment at its encoded size, returning its
// video frames (with mean colour) and its audio frame count.
func decodeFull(ctx context.Context, data []byte, seg int) ([]outFrame, int, error) {
	d, err := media.NewDecoder(media.DecoderConfig{KeepSize: true, MaxFramerate: media.NoFramerateCap, Threads: 1})
	if err != nil {
		return nil, 0, err
	}
	defer d.Close()
	var frames []outFrame
	audio := 0
	_, err = d.DecodeSegment(ctx, bytes.NewReader(data), media.Handlers{
		Video: func(v *frame.Video) error {
			f := outFrame{pts: frame.Rescale(v.PTS, v.TimeBase, frame.Rational{Num: 1, Den: 90000}), w: v.Width, h: v.Height, segment: seg}
			var sum [3]int
			for y := range v.Height {
				row := v.Pix[y*v.Stride:]
				for x := range v.Width {
					sum[0] += int(row[3*x])
					sum[1] += int(row[3*x+1])
					sum[2] += int(row[3*x+2])
				}
			}
			n := float64(v.Width * v.Height)
			f.mean = [3]float64{float64(sum[0]) / n, float64(sum[1]) / n, float64(sum[2]) / n}
			frames = append(frames, f)
			v.Release()
			return nil
		},
		Audio: func(a *frame.Audio) error { audio++; a.Release(); return nil },
	})
	if errors.Is(err, media.ErrNoStreams) {
		err = nil
	}
	return frames, audio, err
}
