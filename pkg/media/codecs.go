package media

import (
	"context"
	"io"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/processor"
)

// Codecs is the FFmpeg implementation of processor.Codecs: it makes this
// package's Decoder and Encoder from what the processor asks for, with the
// rest of their settings taken from Encoder and Decoder.
type Codecs struct {
	// Encoder holds every encoder setting the processor does not choose
	// (preset, GOP, CRF, threads, audio codec and bitrate...). Width,
	// Height and AudioChannels are replaced by the processor's
	// EncoderConfig. AudioSampleRate keeps its meaning: AAC's rate (48 kHz
	// when zero); Opus is always 48 kHz.
	Encoder EncoderConfig
	// Decoder holds every decoder setting the processor does not choose
	// (threads). Width, Height and MaxFramerate come from the processor's
	// DecoderConfig; where one of those is zero, Decoder's is kept (and
	// where that is zero too, NewDecoder's default).
	Decoder DecoderConfig
}

var _ processor.Codecs = Codecs{}

// NewDecoder returns a Decoder that frames every picture to cfg's size and
// caps frames at cfg.MaxFramerate.
func (c Codecs) NewDecoder(cfg processor.DecoderConfig) (processor.Decoder, error) {
	dc := c.Decoder
	if cfg.Width != 0 || cfg.Height != 0 {
		dc.Width, dc.Height = cfg.Width, cfg.Height
	}
	if cfg.MaxFramerate != (frame.Rational{}) {
		dc.MaxFramerate = cfg.MaxFramerate
	}
	dc.Raw, dc.HWAccel, dc.HWDevice = cfg.Raw, cfg.HWAccel, cfg.HWDevice
	if cfg.HeldFrames > 0 {
		dc.HeldFrames = cfg.HeldFrames
	}
	// The processor's input is live: frame threads would add a frame of
	// delay each (see DecoderConfig.LowDelay).
	dc.LowDelay = true
	d, err := NewDecoder(dc)
	if err != nil {
		return nil, err
	}
	return decoderAdapter{d}, nil
}

// NewEncoder returns an Encoder writing to sink at cfg's size; with
// cfg.Audio its output carries a stereo audio stream in c.Encoder's codec
// (Opus by default), and it takes audio of any rate and channel count.
func (c Codecs) NewEncoder(cfg processor.EncoderConfig, sink processor.SegmentSink) (processor.Encoder, error) {
	ec := c.Encoder
	ec.Width, ec.Height = cfg.Width, cfg.Height
	ec.AudioChannels = 0
	if cfg.Audio {
		ec.AudioChannels = 2
	}
	e, err := NewEncoder(ec, sink)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return e, nil
}

// decoderAdapter is a *Decoder seen through processor.Decoder.
type decoderAdapter struct{ d *Decoder }

func (a decoderAdapter) DecodeSegment(ctx context.Context, r io.Reader, h processor.DecodeHandlers) (processor.SegmentInfo, error) {
	st, err := a.d.DecodeSegment(ctx, r, Handlers{Streams: h.Streams, Video: h.Video, Audio: h.Audio})
	return processor.SegmentInfo{
		Bytes:       st.Bytes,
		VideoFrames: st.VideoFrames,
		AudioFrames: st.AudioFrames,
		Corrupt:     st.Corrupt,
		Capped:      st.Capped,
	}, err
}

func (a decoderAdapter) SetMaxFramerate(r frame.Rational) error { return a.d.SetMaxFramerate(r) }

func (a decoderAdapter) Close() { a.d.Close() }
