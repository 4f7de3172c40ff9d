package media

import (
	"errors"
	"fmt"
	"slices"

	"github.com/asticode/go-astiav"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// audioEncoder encodes planar float32 audio in the encoder's fixed frame
// size: frames of any length go into a FIFO and leave in whole encoder
// frames, timestamped by counting samples from the first one.
type audioEncoder struct {
	cc       *astiav.CodecContext
	pic      *astiav.Frame
	pkt      *astiav.Packet
	channels int
	inRate   int // the rate WriteAudio is given
	rate     int // the encoder's rate
	rs       *resampler
	size     int // samples per encoder frame
	planar   bool
	fifo     [][]float32
	next     int64 // pts (1/rate) of the FIFO's first sample
	started  bool
	scratch  []float32
}

// openAudio starts the audio encoder: "opus" (libopus, always 48 kHz:
// other input rates are resampled) or "aac" (at the input rate).
func openAudio(codecName string, channels, inRate, bitrate int) (*audioEncoder, error) {
	if inRate <= 0 || inRate > 384000 {
		return nil, fmt.Errorf("media: audio sample rate %d Hz", inRate)
	}
	rate := inRate
	var codec *astiav.Codec
	switch codecName {
	case "opus":
		codec = astiav.FindEncoderByName("libopus")
		rate = 48000
	case "aac":
		codec = astiav.FindEncoderByName("aac")
	default:
		return nil, fmt.Errorf("media: audio codec %q: want opus or aac", codecName)
	}
	if codec == nil {
		return nil, fmt.Errorf("media: the %s encoder is not available in this FFmpeg", codecName)
	}
	var layout astiav.ChannelLayout
	switch channels {
	case 1:
		layout = astiav.ChannelLayoutMono
	case 2:
		layout = astiav.ChannelLayoutStereo
	default:
		return nil, fmt.Errorf("media: %d audio channels (mono or stereo supported)", channels)
	}
	fmts := codec.SampleFormats()
	var sf astiav.SampleFormat
	switch {
	case slices.Contains(fmts, astiav.SampleFormatFltp):
		sf = astiav.SampleFormatFltp
	case slices.Contains(fmts, astiav.SampleFormatFlt):
		sf = astiav.SampleFormatFlt
	default:
		return nil, fmt.Errorf("media: the %s encoder takes no float samples", codecName)
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return nil, errors.New("media: cannot allocate a codec context")
	}
	cc.SetSampleRate(rate)
	cc.SetSampleFormat(sf)
	cc.SetChannelLayout(layout)
	cc.SetTimeBase(astiav.NewRational(1, rate))
	cc.SetBitRate(int64(bitrate))
	if err := cc.Open(codec, nil); err != nil {
		cc.Free()
		return nil, fmt.Errorf("media: opening the %s encoder: %w", codecName, err)
	}
	size := cc.FrameSize()
	if size <= 0 {
		size = 1024
	}
	pic := astiav.AllocFrame()
	pic.SetNbSamples(size)
	pic.SetSampleFormat(sf)
	pic.SetChannelLayout(layout)
	pic.SetSampleRate(rate)
	if err := pic.AllocBuffer(0); err != nil {
		pic.Free()
		cc.Free()
		return nil, fmt.Errorf("media: audio buffer: %w", err)
	}
	a := &audioEncoder{cc: cc, pic: pic, pkt: astiav.AllocPacket(), channels: channels, inRate: inRate, rate: rate,
		size: size, planar: sf == astiav.SampleFormatFltp, fifo: make([][]float32, channels)}
	if rate != inRate {
		rs, err := newResampler(channels, inRate, rate)
		if err != nil {
			a.free()
			return nil, err
		}
		a.rs = rs
	}
	return a, nil
}

// write queues a frame's samples and encodes every whole encoder frame,
// passing each packet to out.
func (a *audioEncoder) write(f *frame.Audio, out func(*astiav.Packet) error) error {
	if f.Channels() != a.channels || f.SampleRate != a.inRate {
		return fmt.Errorf("media: audio changed to %d channels at %d Hz (the encoder was set up for %d at %d)",
			f.Channels(), f.SampleRate, a.channels, a.inRate)
	}
	if !a.started {
		a.started = true
		a.next = frame.Rescale(f.PTS, f.TimeBase, frame.Rational{Num: 1, Den: a.rate})
	}
	samples := f.Samples
	if a.rs != nil {
		var err error
		if samples, err = a.rs.convert(samples); err != nil {
			return err
		}
	}
	return a.queue(samples, out)
}

// queue appends samples at the encoder's rate and encodes every whole
// encoder frame.
func (a *audioEncoder) queue(samples [][]float32, out func(*astiav.Packet) error) error {
	for i := range a.channels {
		a.fifo[i] = append(a.fifo[i], samples[i]...)
	}
	for len(a.fifo[0]) >= a.size {
		if err := a.encodeOne(a.size, out); err != nil {
			return err
		}
	}
	return nil
}

// encodeOne sends the FIFO's first n samples (padded with silence to a
// whole frame) to the encoder.
func (a *audioEncoder) encodeOne(n int, out func(*astiav.Packet) error) error {
	if err := makeWritable(a.pic); err != nil {
		return fmt.Errorf("media: audio buffer: %w", err)
	}
	for i := range a.channels {
		if len(a.fifo[i]) < a.size {
			a.fifo[i] = append(a.fifo[i], make([]float32, a.size-len(a.fifo[i]))...)
		}
	}
	if a.planar {
		for i := range a.channels {
			if err := copyAudioIn(a.pic, i, floatBytes(a.fifo[i][:a.size])); err != nil {
				return err
			}
		}
	} else {
		if cap(a.scratch) < a.size*a.channels {
			a.scratch = make([]float32, a.size*a.channels)
		}
		buf := a.scratch[:a.size*a.channels]
		for s := range a.size {
			for i := range a.channels {
				buf[s*a.channels+i] = a.fifo[i][s]
			}
		}
		if err := copyAudioIn(a.pic, 0, floatBytes(buf)); err != nil {
			return err
		}
	}
	for i := range a.channels {
		a.fifo[i] = a.fifo[i][:copy(a.fifo[i], a.fifo[i][n:])]
	}
	a.pic.SetPts(a.next)
	a.next += int64(a.size)
	if err := a.cc.SendFrame(a.pic); err != nil {
		return fmt.Errorf("media: encoding audio: %w", err)
	}
	return a.drain(out)
}

func (a *audioEncoder) drain(out func(*astiav.Packet) error) error {
	for {
		err := a.cc.ReceivePacket(a.pkt)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("media: encoding audio: %w", err)
		}
		if err := out(a.pkt); err != nil {
			a.pkt.Unref()
			return err
		}
	}
}

// flush encodes what is left in the FIFO and drains the encoder.
func (a *audioEncoder) flush(out func(*astiav.Packet) error) error {
	if a.rs != nil {
		rest, err := a.rs.convert(nil)
		if err != nil {
			return err
		}
		if err := a.queue(rest, out); err != nil {
			return err
		}
	}
	if n := len(a.fifo[0]); n > 0 {
		if err := a.encodeOne(n, out); err != nil {
			return err
		}
	}
	if err := a.cc.SendFrame(nil); err != nil && !errors.Is(err, astiav.ErrEof) {
		return fmt.Errorf("media: flushing audio: %w", err)
	}
	return a.drain(out)
}

func (a *audioEncoder) free() {
	if a == nil {
		return
	}
	a.pkt.Free()
	a.pic.Free()
	a.cc.Free()
	a.rs.free()
}
