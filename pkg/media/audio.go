package media

import (
	"fmt"
	"unsafe"

	"github.com/asticode/go-astiav"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// audioConverter turns decoded audio of the common sample formats into
// frame.Audio's planar float32. go-astiav v0.16.0 has no resampler, and the
// decoders gotrickle meets (AAC, Opus) already give float planar, so the
// other layouts are converted by hand here.
type audioConverter struct {
	scratch []byte
	next    int64 // where the next frame starts, when the stream gives no timestamp
	nextTB  frame.Rational
}

func (c *audioConverter) convert(f *astiav.Frame, tb frame.Rational) (*frame.Audio, error) {
	ch, n, rate := f.ChannelLayout().NbChannels(), f.NbSamples(), f.SampleRate()
	if ch <= 0 || ch > 8 {
		return nil, fmt.Errorf("media: %d audio channels (at most 8 supported)", ch)
	}
	a, err := frame.GetAudio(ch, n, rate)
	if err != nil {
		return nil, err
	}
	a.PTS, a.TimeBase = framePTS(f), tb
	if a.PTS == noPTS && c.nextTB == tb {
		a.PTS = c.next // follows the previous frame without a gap
	}
	if a.PTS != noPTS && rate > 0 {
		c.next, c.nextTB = a.PTS+frame.Rescale(int64(n), frame.Rational{Num: 1, Den: rate}, tb), tb
	}
	a.Layout = frame.DefaultLayout(ch)
	switch fmtv := f.SampleFormat(); fmtv {
	case astiav.SampleFormatFltp:
		for i := range ch {
			if err := copyAudioOut(f, i, floatBytes(a.Samples[i]), n*4); err != nil {
				a.Release()
				return nil, err
			}
		}
	case astiav.SampleFormatFlt:
		buf := c.grow(n * ch * 4)
		if err := copyAudioOut(f, 0, buf, n*ch*4); err != nil {
			a.Release()
			return nil, err
		}
		in := unsafe.Slice((*float32)(unsafe.Pointer(&buf[0])), n*ch)
		for s := range n {
			for i := range ch {
				a.Samples[i][s] = in[s*ch+i]
			}
		}
	case astiav.SampleFormatS16, astiav.SampleFormatS16P:
		planar := fmtv == astiav.SampleFormatS16P
		for p := range planes(planar, ch) {
			per := n
			if !planar {
				per = n * ch
			}
			buf := c.grow(per * 2)
			if err := copyAudioOut(f, p, buf, per*2); err != nil {
				a.Release()
				return nil, err
			}
			in := unsafe.Slice((*int16)(unsafe.Pointer(&buf[0])), per)
			for k, v := range in {
				i, s := p, k
				if !planar {
					i, s = k%ch, k/ch
				}
				a.Samples[i][s] = float32(v) / 32768
			}
		}
	default:
		a.Release()
		return nil, fmt.Errorf("media: audio sample format %v is not supported", fmtv)
	}
	return a, nil
}

func planes(planar bool, ch int) int {
	if planar {
		return ch
	}
	return 1
}

func (c *audioConverter) grow(n int) []byte {
	if cap(c.scratch) < n {
		c.scratch = make([]byte, n)
	}
	return c.scratch[:n]
}

// floatBytes views a float32 slice as bytes, for copying from C.
func floatBytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), len(f)*4)
}
