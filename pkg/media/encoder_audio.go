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
// frames, timestamped by counting samples from the first one (and kept in
// step with the input's timestamps across gaps: follow).
//
// The FIFO holds audio at the encoder's channel count and rate. Input of
// another count or rate goes through a resampler, made afresh whenever the
// input's (channels, rate) changes; the old one's tail is flushed into the
// FIFO first, so no sample is lost and the timestamps stay continuous.
type audioEncoder struct {
	cc       *astiav.CodecContext
	pic      *astiav.Frame
	pkt      *astiav.Packet
	channels int        // the encoder's (output) channels
	rate     int        // the encoder's rate
	inCh     int        // channels of the input the resampler is set up for; 0 before the first frame
	inRate   int        // rate of that input
	rs       *resampler // nil while the input matches the encoder
	size     int        // samples per encoder frame
	planar   bool
	fifo     [][]float32
	next     int64 // pts (1/rate) of the FIFO's first sample
	started  bool
	scratch  []float32
}

// openAudio starts the audio encoder with channels (1 or 2) output
// channels: "opus" (libopus, always at 48 kHz) or "aac" (at rate, or
// 48 kHz when rate is 0: MPEG-TS needs the rate fixed from the start).
// Input of any other rate or channel count is resampled.
func openAudio(codecName string, channels, rate, bitrate int) (*audioEncoder, error) {
	if rate < 0 || rate > 384000 {
		return nil, fmt.Errorf("media: audio sample rate %d Hz", rate)
	}
	var codec *astiav.Codec
	switch codecName {
	case "opus":
		codec = astiav.FindEncoderByName("libopus")
		rate = 48000
	case "aac":
		codec = astiav.FindEncoderByName("aac")
		if rate == 0 {
			rate = 48000
		}
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
	return &audioEncoder{cc: cc, pic: pic, pkt: astiav.AllocPacket(), channels: channels, rate: rate,
		size: size, planar: sf == astiav.SampleFormatFltp, fifo: make([][]float32, channels)}, nil
}

// write queues a frame's samples, converted to the encoder's channels and
// rate, and encodes every whole encoder frame, passing each packet to out.
func (a *audioEncoder) write(f *frame.Audio, out func(*astiav.Packet) error) error {
	if f.NumSamples() == 0 {
		return nil
	}
	if f.Channels() != a.inCh || f.SampleRate != a.inRate {
		if err := a.setInput(f.Channels(), f.SampleRate, out); err != nil {
			return err
		}
	}
	at := frame.Rescale(f.PTS, f.TimeBase, frame.Rational{Num: 1, Den: a.rate})
	drop := 0
	if !a.started {
		a.started = true
		a.next = at
	} else if f.TimeBase.Num > 0 {
		var err error
		if drop, err = a.follow(at, out); err != nil {
			return err
		}
	}
	samples := f.Samples
	if a.rs != nil {
		var err error
		if samples, err = a.rs.convert(samples); err != nil {
			return err
		}
	}
	if drop > 0 {
		drop = min(drop, len(samples[0]))
		trimmed := make([][]float32, len(samples))
		for i := range samples {
			trimmed[i] = samples[i][drop:]
		}
		samples = trimmed
	}
	return a.queue(samples, out)
}

// follow keeps the count of samples in step with the input's clock when
// the input skips or overlaps: a frame that starts at `at` (1/rate) away
// from where the samples counted so far end. Counting alone would leave the
// audio behind by every gap (ahead by every overlap) for good, and the
// muxer would hold the video back to match, so latency and A/V sync would
// drift with each lost segment or loop. A short gap (up to a second) is
// filled with silence; after a longer one the count jumps ahead. Up to a
// second of overlap is dropped from the frame (it returns how many
// samples); a longer step back is a reset of the input's clock, and the
// count goes on, since output timestamps never go back. Within one encoder
// frame (rounding, the resampler's delay) nothing changes.
func (a *audioEncoder) follow(at int64, out func(*astiav.Packet) error) (drop int, err error) {
	gap := at - (a.next + int64(len(a.fifo[0])))
	tol, limit := int64(a.size), int64(a.rate)
	switch {
	case gap >= -tol && gap <= tol, gap < -limit:
		return 0, nil
	case gap < 0:
		return int(-gap), nil
	case gap <= limit:
		silence := make([][]float32, a.channels)
		for i := range silence {
			silence[i] = make([]float32, gap)
		}
		return 0, a.queue(silence, out)
	default:
		if n := len(a.fifo[0]); n > 0 {
			if err := a.encodeOne(n, out); err != nil {
				return 0, err
			}
		}
		a.next = max(a.next, at)
		return 0, nil
	}
}

// setInput switches to input of channels at rate: the current resampler's
// tail goes into the FIFO, then it is replaced by one for the new input (or
// by none when the input matches the encoder).
func (a *audioEncoder) setInput(channels, rate int, out func(*astiav.Packet) error) error {
	if err := a.flushResampler(out); err != nil {
		return err
	}
	a.rs.free()
	a.rs = nil
	a.inCh, a.inRate = 0, 0
	if channels != a.channels || rate != a.rate {
		rs, err := newResampler(channels, rate, a.channels, a.rate)
		if err != nil {
			return err
		}
		a.rs = rs
	}
	a.inCh, a.inRate = channels, rate
	return nil
}

// flushResampler moves the samples the resampler still holds into the
// FIFO.
func (a *audioEncoder) flushResampler(out func(*astiav.Packet) error) error {
	if a.rs == nil {
		return nil
	}
	rest, err := a.rs.convert(nil)
	if err != nil {
		return err
	}
	return a.queue(rest, out)
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
	if err := a.flushResampler(out); err != nil {
		return err
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
