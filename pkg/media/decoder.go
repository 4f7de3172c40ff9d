package media

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/asticode/go-astiav"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// DecoderConfig configures a Decoder. The zero value decodes to 512×512.
type DecoderConfig struct {
	// Width and Height are the size of the frames handed out: each picture
	// is scaled to cover it, aspect ratio kept, and centre-cropped to it
	// (PyTrickle's rule). They default to 512×512.
	Width, Height int
	// Threads is the decoder's thread count; 0 (the default) lets FFmpeg
	// use one per core. Draining at each segment end makes frame threading
	// cost no latency.
	Threads int
	// MaxFramerate caps the frames handed out, by presentation time: at
	// most one per 1/MaxFramerate. It defaults to 24/1 (PyTrickle's
	// max_framerate); NoFramerateCap keeps every frame. SetMaxFramerate
	// changes it while decoding.
	MaxFramerate frame.Rational
}

// SegmentStats says what decoding one segment did.
type SegmentStats struct {
	Bytes       int64 // bytes read from the segment
	VideoFrames int   // frames handed to the callback
	Corrupt     int   // packets or pictures the decoder rejected (skipped)
	Capped      int   // frames dropped by the frame-rate cap
}

// maxDemuxFailures bounds how many demuxer errors in a row a segment may
// produce before the rest of it is given up.
const maxDemuxFailures = 64

// ErrNoVideo: a segment has no video stream.
var ErrNoVideo = errors.New("media: segment has no video stream")

// Decoder turns trickle segments (complete MPEG-TS files, in order) into
// video frames. It is not safe for concurrent use.
type Decoder struct {
	cfg  DecoderConfig
	conv converter
	cap  rateCap
}

// NewDecoder checks cfg and returns a Decoder; Close releases it.
func NewDecoder(cfg DecoderConfig) (*Decoder, error) {
	if cfg.Width == 0 && cfg.Height == 0 {
		cfg.Width, cfg.Height = 512, 512
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > frame.MaxDimension || cfg.Height > frame.MaxDimension {
		return nil, fmt.Errorf("media: target size %dx%d is out of range", cfg.Width, cfg.Height)
	}
	if cfg.Threads < 0 {
		return nil, fmt.Errorf("media: %d decoder threads", cfg.Threads)
	}
	if cfg.MaxFramerate == (frame.Rational{}) {
		cfg.MaxFramerate = frame.Rational{Num: 24, Den: 1}
	}
	if err := checkRate(cfg.MaxFramerate); err != nil {
		return nil, err
	}
	quietFFmpeg()
	d := &Decoder{cfg: cfg, conv: converter{w: cfg.Width, h: cfg.Height}}
	d.cap.set(cfg.MaxFramerate)
	return d, nil
}

func checkRate(r frame.Rational) error {
	if r == NoFramerateCap {
		return nil
	}
	if r.Num <= 0 || r.Den <= 0 || r.Float64() > 1000 {
		return fmt.Errorf("media: frame-rate cap %d/%d is out of range", r.Num, r.Den)
	}
	return nil
}

// SetMaxFramerate changes the frame-rate cap; it is safe to call while
// another goroutine decodes. NoFramerateCap removes it.
func (d *Decoder) SetMaxFramerate(r frame.Rational) error {
	if err := checkRate(r); err != nil {
		return err
	}
	d.cap.set(r)
	return nil
}

// MaxFramerate returns the frame-rate cap in force.
func (d *Decoder) MaxFramerate() frame.Rational { return d.cap.get() }

// Close releases the decoder's scaler and buffers.
func (d *Decoder) Close() { d.conv.free() }

// DecodeSegment reads one segment to its end and calls emit with each of its
// video frames, in order, as they are decoded; the last ones come when the
// segment's last byte has been read. emit owns the frame (Release it when
// done). A damaged segment yields what can be decoded, counted in
// Corrupt; an error means the segment could not be opened at all, the
// reader failed, emit failed, or ctx ended. FFmpeg reads r on this
// goroutine: to abandon a segment whose reader blocks, make the reader fail.
func (d *Decoder) DecodeSegment(ctx context.Context, r io.Reader, emit func(*frame.Video) error) (st SegmentStats, err error) {
	sr := &segmentReader{r: r}
	defer sr.release()
	defer func() { st.Bytes = sr.n }()

	ioc, err := astiav.AllocIOContext(64<<10, false, sr.read, nil, nil)
	if err != nil {
		return st, fmt.Errorf("media: IO context: %w", err)
	}
	defer ioc.Free() // CloseInput does not free a custom pb

	fc := astiav.AllocFormatContext()
	if fc == nil {
		return st, errors.New("media: cannot allocate a format context")
	}
	fc.SetPb(ioc)
	opts := astiav.NewDictionary()
	defer opts.Free()
	// Small probing: the stream parameters travel in-band (SPS, ADTS), and
	// a large analyze window would wait for data a live segment lacks.
	opts.Set("probesize", "32", 0)
	opts.Set("analyzeduration", "1", 0)
	if err := fc.OpenInput("", astiav.FindInputFormat("mpegts"), opts); err != nil {
		// OpenInput frees the context when it fails.
		if rerr := sr.readErr(); rerr != nil {
			return st, fmt.Errorf("media: reading segment: %w", rerr)
		}
		return st, fmt.Errorf("media: opening segment: %w", err)
	}
	defer fc.CloseInput()

	var vs *astiav.Stream
	for _, s := range fc.Streams() {
		if s.CodecParameters().MediaType() == astiav.MediaTypeVideo {
			vs = s
			break
		}
	}
	if vs == nil {
		if rerr := sr.readErr(); rerr != nil {
			return st, fmt.Errorf("media: reading segment: %w", rerr)
		}
		return st, ErrNoVideo
	}
	tb := vs.TimeBase()
	timeBase := frame.Rational{Num: tb.Num(), Den: tb.Den()}

	codec := astiav.FindDecoder(vs.CodecParameters().CodecID())
	if codec == nil {
		return st, fmt.Errorf("media: no decoder for %v", vs.CodecParameters().CodecID())
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return st, errors.New("media: cannot allocate a codec context")
	}
	defer cc.Free()
	if err := vs.CodecParameters().ToCodecContext(cc); err != nil {
		return st, fmt.Errorf("media: decoder parameters: %w", err)
	}
	cc.SetThreadCount(d.cfg.Threads)
	if err := cc.Open(codec, nil); err != nil {
		return st, fmt.Errorf("media: opening the %s decoder: %w", codec.Name(), err)
	}

	pkt := astiav.AllocPacket()
	defer pkt.Free()
	pic := astiav.AllocFrame()
	defer pic.Free()

	// receive hands every picture the decoder has ready to emit.
	receive := func() error {
		for {
			err := cc.ReceiveFrame(pic)
			switch {
			case errors.Is(err, astiav.ErrEagain), errors.Is(err, astiav.ErrEof):
				return nil
			case err != nil:
				st.Corrupt++
				return nil
			}
			if !d.cap.keep(pic.Pts(), timeBase) {
				st.Capped++
				pic.Unref()
				continue
			}
			v, err := frame.GetVideo(d.cfg.Width, d.cfg.Height)
			if err != nil {
				pic.Unref()
				return err
			}
			if err := d.conv.convert(pic, v); err != nil {
				v.Release()
				pic.Unref()
				return err
			}
			v.PTS, v.TimeBase = pic.Pts(), timeBase
			pic.Unref()
			st.VideoFrames++
			if err := emit(v); err != nil {
				return err
			}
		}
	}

	for failures := 0; ; {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		err := fc.ReadFrame(pkt)
		if errors.Is(err, astiav.ErrEof) {
			break
		}
		if err != nil {
			if rerr := sr.readErr(); rerr != nil {
				return st, fmt.Errorf("media: reading segment: %w", rerr)
			}
			st.Corrupt++ // a damaged packet: go on with the next one
			if failures++; failures > maxDemuxFailures {
				break // nothing more can be read from this segment
			}
			continue
		}
		failures = 0
		if pkt.StreamIndex() == vs.Index() {
			if err := cc.SendPacket(pkt); err != nil && !errors.Is(err, astiav.ErrEagain) {
				st.Corrupt++
			}
		}
		pkt.Unref()
		if err := receive(); err != nil {
			return st, err
		}
	}
	if rerr := sr.readErr(); rerr != nil {
		return st, fmt.Errorf("media: reading segment: %w", rerr)
	}
	// The segment is complete: drain the decoder so none of its frames
	// waits for the next segment.
	if err := cc.SendPacket(nil); err != nil && !errors.Is(err, astiav.ErrEof) {
		st.Corrupt++
	}
	return st, receive()
}
