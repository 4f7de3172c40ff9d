package processor

import (
	"context"
	"io"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// Codecs makes the decoders and encoders a stream uses. pkg/media provides
// the FFmpeg implementation (media.Codecs); tests use fakes.
//
// A Codecs that also has a method ReleaseMemory() gets it called once each
// stream has ended, after its decoder and encoder are closed: the place to
// hand a C heap's freed pages back to the system.
type Codecs interface {
	NewDecoder(cfg DecoderConfig) (Decoder, error)
	NewEncoder(cfg EncoderConfig, sink SegmentSink) (Encoder, error)
}

// DecoderConfig is what the processor asks of a decoder.
type DecoderConfig struct {
	// Width and Height are the size every video frame is scaled to
	// cover and cropped to.
	Width, Height int
	// MaxFramerate caps video frames by presentation time.
	MaxFramerate frame.Rational
	// Raw asks for raw video frames (frame.NewRawVideo) where the picture
	// allows: the processor has a device and converts them there, at the
	// upload. A decoder may ignore it and hand out converted frames.
	Raw bool
	// HWAccel names the hardware decoder to use (Config.HWDecode): "" for
	// software, "cuda" for NVDEC. A decoder that cannot use it fails.
	HWAccel string
	// HWDevice is the ordinal of the CUDA device HWAccel decodes on: the
	// one of Config.Device.
	HWDevice int
	// HeldFrames is how many decoded frames the processor may hold at
	// once (its video queue and the frames being worked on): a hardware
	// decoder whose pictures stay in its own surfaces (raw device frames)
	// needs that many surfaces beyond its own.
	HeldFrames int
}

// DecodeHandlers receive what one input segment holds. Each owns the
// frames it is given.
type DecodeHandlers struct {
	// Streams is called once per segment, before any frame, with the
	// kinds of media the segment carries.
	Streams func(video, audio bool)
	Video   func(*frame.Video) error
	Audio   func(*frame.Audio) error
}

// SegmentInfo says what decoding one segment did.
type SegmentInfo struct {
	Bytes       int64
	VideoFrames int
	AudioFrames int
	Corrupt     int // packets or pictures the decoder rejected
	Capped      int // video frames the frame-rate cap dropped
}

// Decoder turns input segments, in order, into frames. Every frame of a
// segment has been handed out when DecodeSegment returns.
type Decoder interface {
	DecodeSegment(ctx context.Context, r io.Reader, h DecodeHandlers) (SegmentInfo, error)
	SetMaxFramerate(r frame.Rational) error
	Close()
}

// EncoderConfig is what the processor asks of an encoder.
type EncoderConfig struct {
	// Width and Height fix the output size; zero takes the first frame's.
	Width, Height int
	// Audio says whether the output carries an audio stream. The encoder
	// accepts audio frames of any rate and of one or two channels.
	Audio bool
}

// SegmentSink receives output segments as the encoder starts them.
type SegmentSink interface {
	NextSegment() (io.WriteCloser, error)
}

// Encoder turns frames into output segments. It is used from one
// goroutine at a time.
type Encoder interface {
	WriteVideo(v *frame.Video) error
	WriteAudio(a *frame.Audio) error
	// Close flushes everything and ends the last segment.
	Close() error
}
