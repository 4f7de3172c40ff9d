package media

import (
	"cmp"
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
	// Threads is the decoder's and the RGB scaler's thread count; 0 (the
	// default) lets FFmpeg use one per core.
	Threads int
	// KeepSize hands frames out at the size they were encoded at (only
	// converted to RGB24), ignoring Width and Height: for tools that judge
	// or record a stream rather than feed a model.
	KeepSize bool
	// LowDelay makes the decoder use slice threads only. Frame threads
	// (the default) hold one picture per extra thread until the next
	// packet arrives: free when a whole segment arrives at once, since the
	// segment end drains them, but a frame interval each at live pace.
	LowDelay bool
	// MaxFramerate caps the frames handed out, by presentation time: at
	// most one per 1/MaxFramerate. It defaults to 24/1 (PyTrickle's
	// max_framerate); NoFramerateCap keeps every frame. SetMaxFramerate
	// changes it while decoding.
	MaxFramerate frame.Rational
	// Raw hands 8-bit limited-range YUV 4:2:0 pictures out as raw frames
	// (frame.NewRawVideo): the planes as decoded, with the part of the
	// picture the cover rule shows as the crop, converted and scaled to
	// Width×Height where the frame is used (a device context's upload, or
	// on the CPU when its pixels are first read) instead of by swscale
	// here. Other pictures (10-bit, yuvj420p, full range) are converted
	// as without it. For a caller with a device; false (the default)
	// converts every picture.
	Raw bool
	// HWAccel decodes on hardware: "cuda" decodes on the device's NVDEC
	// (FFmpeg's cuda hwaccel) the streams whose decoder has a CUDA
	// configuration (H.264, HEVC, ...); other streams, and a stream NVDEC
	// cannot take, decode in software. With Raw the pictures stay on the
	// device (raw frames with device planes, copied there by the upload);
	// without it they are copied to the host and converted. NewDecoder
	// fails with ErrHWAccel when the device cannot be opened. "" (the
	// default) decodes in software.
	HWAccel string
	// HWDevice is the CUDA device ordinal to decode on (pkg/gpu's
	// Device.Index); 0 by default.
	HWDevice int
	// HeldFrames is how many decoded frames the caller may hold at once:
	// NVDEC gets that many surfaces beyond the ones it decodes with, since
	// each of its pictures (raw device frames) keeps a surface until it
	// is copied or released. It defaults to 8; keep it small (FFmpeg warns
	// that NVDEC may fail past 32 surfaces in all, and H.264 uses up to
	// 17 of its own).
	HeldFrames int
}

// SegmentStats says what decoding one segment did.
type SegmentStats struct {
	Bytes       int64 // bytes read from the segment
	VideoFrames int   // video frames handed out
	AudioFrames int   // audio frames handed out
	Corrupt     int   // packets or pictures the decoder rejected (skipped)
	Capped      int   // frames dropped by the frame-rate cap
}

// maxDemuxFailures bounds how many demuxer errors in a row a segment may
// produce before the rest of it is given up.
const maxDemuxFailures = 64

// ErrNoStreams: a segment has none of the streams the handlers ask for.
var ErrNoStreams = errors.New("media: segment has no stream to decode")

// Decoder turns trickle segments (complete MPEG-TS files, in order) into
// video frames. Each segment's pictures come from a decoder of its own;
// its audio decoder carries on from the segment before when the audio
// does (decoder_audio.go), so a segment's first audio frames decode as in
// the continuous stream. It is not safe for concurrent use.
type Decoder struct {
	cfg   DecoderConfig
	conv  converter
	audio audioConverter
	cap   rateCap
	// kept is the audio decoder carried from one segment to the next
	// (decoder_audio.go); nil between streams.
	kept *keptAudio
	// hw is the CUDA device context video decodes on (nil: software).
	hw *astiav.HardwareDeviceContext
	// swPic receives hardware pictures copied to the host for conversion.
	swPic *astiav.Frame
	// newRaw makes raw frames: frame.NewRawVideo (tests wrap it).
	newRaw func(w, h int, r frame.Raw) (*frame.Video, error)
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
	hw, err := checkHW(cfg)
	if err != nil {
		return nil, err
	}
	d := &Decoder{cfg: cfg, conv: converter{w: cfg.Width, h: cfg.Height, direct: scaler{threads: cfg.Threads}, cover: scaler{threads: cfg.Threads}},
		hw: hw, newRaw: frame.NewRawVideo}
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

// Close releases the decoder's scaler, buffers and the audio decoder it
// keeps between segments.
func (d *Decoder) Close() {
	d.conv.free()
	d.dropAudio()
	if d.swPic != nil {
		d.swPic.Free()
		d.swPic = nil
	}
}

// Handlers receive decoded frames; each owns the frames it is given
// (Release them when done). A nil handler means that kind is not decoded.
type Handlers struct {
	// Streams, when set, is called once per segment, as soon as its input
	// has been opened and before any frame, with whether the segment has a
	// video stream and an audio stream. It reports the streams the segment
	// carries, whether or not there is a handler for them (and so even
	// when DecodeSegment then returns ErrNoStreams). It is not called for
	// a segment that cannot be opened or has neither stream (empty or not
	// MPEG-TS): DecodeSegment fails then, and the segment says nothing
	// about the stream's media.
	Streams func(video, audio bool)
	Video   func(*frame.Video) error
	Audio   func(*frame.Audio) error
}

// streamDecoder is one open decoder for one stream of a segment.
type streamDecoder struct {
	index int
	tb    frame.Rational
	cc    *astiav.CodecContext
	pic   *astiav.Frame
	// getFormat: cc has a get_format callback in astiav's registry.
	getFormat bool
}

func openStream(s *astiav.Stream, threads int, lowDelay bool) (*streamDecoder, error) {
	return openDecoder(s, threads, lowDelay, nil, 0)
}

// openDecoder opens a decoder for s, on the CUDA device context hw when
// it is set and the codec can use it (with extra surfaces for held
// frames).
func openDecoder(s *astiav.Stream, threads int, lowDelay bool, hw *astiav.HardwareDeviceContext, extra int) (*streamDecoder, error) {
	codec := astiav.FindDecoder(s.CodecParameters().CodecID())
	if codec == nil {
		return nil, fmt.Errorf("media: no decoder for %v", s.CodecParameters().CodecID())
	}
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return nil, errors.New("media: cannot allocate a codec context")
	}
	tb := s.TimeBase()
	sd := &streamDecoder{index: s.Index(), tb: frame.Rational{Num: tb.Num(), Den: tb.Den()}, cc: cc}
	if err := s.CodecParameters().ToCodecContext(cc); err != nil {
		sd.free()
		return nil, fmt.Errorf("media: decoder parameters: %w", err)
	}
	if hw != nil && cudaCapable(codec) {
		// One thread: NVDEC does the decoding, and frame threads would
		// each hold surfaces and call get_format on a copy of the
		// context, which astiav's callback registry does not know.
		threads, lowDelay = 1, false
		useCUDA(cc, hw, extra)
		sd.getFormat = true
	}
	cc.SetThreadCount(threads)
	if lowDelay {
		cc.SetThreadType(astiav.ThreadTypeSlice)
	}
	if err := cc.Open(codec, nil); err != nil {
		sd.free()
		return nil, fmt.Errorf("media: opening the %s decoder: %w", codec.Name(), err)
	}
	sd.pic = astiav.AllocFrame()
	return sd, nil
}

func (sd *streamDecoder) free() {
	if sd == nil {
		return
	}
	if sd.pic != nil {
		sd.pic.Free()
	}
	if sd.getFormat {
		// astiav keys the callback by the context's address and Free
		// leaves it: a later context at the same address would get it.
		sd.cc.SetPixelFormatCallback(nil)
	}
	sd.cc.Free()
}

// DecodeSegment reads one segment to its end and hands each of its frames
// (the first video stream's and the first audio stream's, for the handlers
// given) to the handlers in decoding order; the last ones come when the
// segment's last byte has been read. A damaged segment yields what can be
// decoded, counted in Corrupt; an error means the segment could not be
// opened, has none of the streams asked for (ErrNoStreams), the reader
// failed, a handler failed, or ctx ended. FFmpeg reads r on this
// goroutine: to abandon a segment whose reader blocks, make the reader fail.
func (d *Decoder) DecodeSegment(ctx context.Context, r io.Reader, h Handlers) (st SegmentStats, err error) {
	sr := &segmentReader{r: r}
	defer sr.release()
	defer func() { st.Bytes = sr.n }()
	readErr := func(err error) error {
		if rerr := sr.readErr(); rerr != nil {
			return fmt.Errorf("media: reading segment: %w", rerr)
		}
		return err
	}

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
		return st, readErr(fmt.Errorf("media: opening segment: %w", err))
	}
	defer fc.CloseInput()

	if h.Streams != nil {
		var hasVideo, hasAudio bool
		for _, s := range fc.Streams() {
			switch s.CodecParameters().MediaType() {
			case astiav.MediaTypeVideo:
				hasVideo = true
			case astiav.MediaTypeAudio:
				hasAudio = true
			}
		}
		if hasVideo || hasAudio {
			h.Streams(hasVideo, hasAudio)
		}
	}

	// The video decoder lives for this segment; the audio one is kept for
	// the next unless this segment fails (decoder_audio.go).
	var video, audio *streamDecoder
	var audioStream *astiav.Stream
	defer func() {
		video.free()
		if err != nil || (d.kept != nil && d.kept.failed) {
			d.dropAudio()
		}
	}()
	for _, s := range fc.Streams() {
		var err error
		switch mt := s.CodecParameters().MediaType(); {
		case mt == astiav.MediaTypeVideo && h.Video != nil && video == nil:
			video, err = openDecoder(s, d.cfg.Threads, d.cfg.LowDelay, d.hw, cmp.Or(d.cfg.HeldFrames, defaultHeldFrames))
		case mt == astiav.MediaTypeAudio && h.Audio != nil && audio == nil:
			audio, err = d.audioFor(s)
			audioStream = s
		}
		if err != nil {
			return st, err
		}
	}
	if audio == nil {
		// No audio decoded here: what comes next does not continue it.
		d.dropAudio()
	}
	if video == nil && audio == nil {
		return st, readErr(ErrNoStreams)
	}

	pkt := astiav.AllocPacket()
	defer pkt.Free()

	for failures := 0; ; {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		err := fc.ReadFrame(pkt)
		if errors.Is(err, astiav.ErrEof) {
			break
		}
		if err != nil {
			if rerr := readErr(nil); rerr != nil {
				return st, rerr
			}
			st.Corrupt++ // a damaged packet: go on with the next one
			if failures++; failures > maxDemuxFailures {
				break // nothing more can be read from this segment
			}
			continue
		}
		failures = 0
		var sd *streamDecoder
		switch {
		case video != nil && pkt.StreamIndex() == video.index:
			sd = video
		case audio != nil && pkt.StreamIndex() == audio.index:
			if audio, err = d.beforeAudioPacket(pkt, audioStream); err != nil {
				pkt.Unref()
				return st, err
			}
			sd = audio
		}
		if sd != nil {
			if err := sd.cc.SendPacket(pkt); err != nil && !errors.Is(err, astiav.ErrEagain) {
				st.Corrupt++
				d.audioFailed(sd)
			}
		}
		pkt.Unref()
		if sd != nil {
			if err := d.receive(sd, sd == video, h, &st); err != nil {
				return st, err
			}
		}
	}
	if rerr := readErr(nil); rerr != nil {
		return st, rerr
	}
	// A trickle segment is whole MPEG-TS packets; a partial one at the end
	// means the segment was cut short (its last picture is lost), which
	// the demuxer itself does not report.
	if n := sr.n; n%188 != 0 && n%192 != 0 && n%204 != 0 {
		st.Corrupt++
	}
	// The segment is complete: drain the video decoder so none of its
	// pictures waits for the next segment. The audio decoder is kept as it
	// is, its state for the next segment (audio decoders hold no frame
	// back; Opus at most a few resampler samples); only one that failed is
	// drained, before it is dropped.
	for _, sd := range []*streamDecoder{video, audio} {
		if sd == nil || (sd == audio && !d.kept.failed) {
			continue
		}
		if err := sd.cc.SendPacket(nil); err != nil && !errors.Is(err, astiav.ErrEof) {
			st.Corrupt++
		}
		if err := d.receive(sd, sd == video, h, &st); err != nil {
			return st, err
		}
	}
	return st, nil
}

// receive hands every frame a decoder has ready to its handler.
func (d *Decoder) receive(sd *streamDecoder, isVideo bool, h Handlers, st *SegmentStats) error {
	for {
		err := sd.cc.ReceiveFrame(sd.pic)
		switch {
		case errors.Is(err, astiav.ErrEagain), errors.Is(err, astiav.ErrEof):
			return nil
		case err != nil:
			st.Corrupt++
			d.audioFailed(sd)
			return nil
		}
		if !isVideo {
			a, err := d.audio.convert(sd.pic, sd.tb)
			sd.pic.Unref()
			if err != nil {
				return err
			}
			d.audioDecoded(sd, a)
			st.AudioFrames++
			if err := h.Audio(a); err != nil {
				return err
			}
			continue
		}
		pts := framePTS(sd.pic)
		if !d.cap.keep(pts, sd.tb) {
			st.Capped++
			sd.pic.Unref()
			continue
		}
		width, height := d.cfg.Width, d.cfg.Height
		if d.cfg.KeepSize {
			width, height = sd.pic.Width(), sd.pic.Height()
			d.conv.w, d.conv.h = width, height
		}
		v, err := d.picture(sd.pic, width, height)
		sd.pic.Unref()
		if err != nil {
			return err
		}
		v.PTS, v.TimeBase = pts, sd.tb
		st.VideoFrames++
		if err := h.Video(v); err != nil {
			return err
		}
	}
}

// picture makes the w×h frame of a decoded picture: raw when Raw is set
// and the picture allows (raw.go, hwaccel.go), else converted here.
func (d *Decoder) picture(pic *astiav.Frame, w, h int) (*frame.Video, error) {
	src := pic
	switch {
	case pic.PixelFormat() == astiav.PixelFormatCuda:
		if d.cfg.Raw && hwSWFormat(pic) == astiav.PixelFormatNv12 {
			return d.rawDevice(pic, w, h)
		}
		var err error
		if src, err = d.fromDevice(pic); err != nil {
			return nil, err
		}
		defer src.Unref()
	case d.cfg.Raw && rawYUV(pic):
		return d.rawHost(pic, w, h)
	}
	v, err := frame.GetVideo(w, h)
	if err != nil {
		return nil, err
	}
	if err := d.conv.convert(src, v); err != nil {
		v.Release()
		return nil, err
	}
	return v, nil
}
