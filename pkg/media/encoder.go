package media

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// SegmentSink receives an Encoder's output: one writer per segment, handed
// out when the segment starts, written while it is encoded and closed when
// it is complete.
type SegmentSink interface {
	NextSegment() (io.WriteCloser, error)
}

// EncoderConfig configures an Encoder. The zero value gives PyTrickle's and
// go-livepeer's runner settings: libx264 superfast, zerolatency, no
// B-frames, an IDR every 2 s and segments cut at the first IDR 2 s after a
// segment's start.
type EncoderConfig struct {
	// Preset is libx264's preset; it defaults to "superfast".
	Preset string
	// Tune is libx264's tune; it defaults to "zerolatency". "none" sets none.
	Tune string
	// GOP is the time between forced IDR frames; it defaults to 2 s.
	GOP time.Duration
	// SegmentDuration: a new segment starts at the first IDR at least this
	// long after the current one started. It defaults to GOP.
	SegmentDuration time.Duration
	// CRF is libx264's constant rate factor; it defaults to 23.
	CRF int
	// Threads is libx264's and the yuv420p scaler's thread count; 0
	// (default) picks one per core.
	Threads int
	// Width and Height fix the output size; zero takes the first frame's
	// size (PyTrickle's detect_out_resolution). Frames of another size are
	// scaled to it.
	Width, Height int
	// FrameRate is the nominal input rate, for rate control only (the
	// output keeps each frame's own timestamp); it defaults to 30/1.
	FrameRate frame.Rational

	// AudioChannels is the output's channel count: 1 (mono) or 2 (stereo);
	// zero means video only. AudioSampleRate is the rate the audio is
	// expected at: AAC encodes at it (48 kHz when zero), Opus always at
	// 48 kHz. Both are fixed up front so that every segment carries the
	// audio stream from its first byte; WriteAudio takes frames of any
	// channel count and rate, changing mid-stream if need be, and
	// resamples (and up- or downmixes) them to the output's.
	AudioChannels, AudioSampleRate int
	// AudioCodec is "opus" (the default, like PyTrickle) or "aac".
	AudioCodec string
	// AudioBitrate defaults to 96 kb/s.
	AudioBitrate int
}

// outTimeBase is the MPEG-TS clock: the encoder and muxer work in it so
// input timestamps pass through rescaled, not renumbered.
var outTimeBase = frame.Rational{Num: 1, Den: 90000}

// Encoder turns frame.Video into H.264 in MPEG-TS segments that each start
// with an IDR and are written to the sink as they are produced. It is not
// safe for concurrent use.
type Encoder struct {
	cfg  EncoderConfig
	sink SegmentSink

	enc *astiav.CodecContext
	aud *audioEncoder
	sws scaler
	yuv *astiav.Frame
	pkt *astiav.Packet

	out      *writeBox
	ioc      *astiav.IOContext
	mux      *astiav.FormatContext
	segStart int64 // pts (90 kHz) of the current segment's first packet

	videoStream, audioStream int // stream indexes in the current segment, -1 when absent
	early                    []*astiav.Packet

	lastPTS, lastIDR int64
	started          bool
	segments         int
	lost             int // segments the sink refused part-way
	closed           bool
}

// writeBox is what the muxer's write callback reaches: astiav v0.16.0
// never drops that callback, so it holds only this small box, emptied at
// Close.
type writeBox struct {
	w   io.WriteCloser
	err error
}

func (b *writeBox) write(p []byte) (int, error) {
	if b.w == nil {
		return 0, errors.New("media: no segment open")
	}
	// A segment the sink refused is lost, but FFmpeg must not see the
	// error: its output context would stay failed for every later segment.
	// The rest of this segment is dropped and counted when it ends.
	if b.err != nil {
		return len(p), nil
	}
	if _, err := b.w.Write(p); err != nil {
		b.err = err
	}
	return len(p), nil
}

// NewEncoder checks cfg; the encoder opens on the first frame.
func NewEncoder(cfg EncoderConfig, sink SegmentSink) (*Encoder, error) {
	if sink == nil {
		return nil, errors.New("media: encoder needs a segment sink")
	}
	if cfg.Preset == "" {
		cfg.Preset = "superfast"
	}
	if cfg.Tune == "" {
		cfg.Tune = "zerolatency"
	}
	if cfg.GOP == 0 {
		cfg.GOP = 2 * time.Second
	}
	if cfg.SegmentDuration == 0 {
		cfg.SegmentDuration = cfg.GOP
	}
	if cfg.CRF == 0 {
		cfg.CRF = 23
	}
	if cfg.FrameRate == (frame.Rational{}) {
		cfg.FrameRate = frame.Rational{Num: 30, Den: 1}
	}
	switch {
	case cfg.GOP < 0 || cfg.SegmentDuration < 0:
		return nil, fmt.Errorf("media: negative GOP %v or segment duration %v", cfg.GOP, cfg.SegmentDuration)
	case cfg.CRF < 0 || cfg.CRF > 51:
		return nil, fmt.Errorf("media: CRF %d is outside 0..51", cfg.CRF)
	case cfg.Width < 0 || cfg.Height < 0 || cfg.Width%2 != 0 || cfg.Height%2 != 0:
		return nil, fmt.Errorf("media: output size %dx%d must be even and positive (yuv420p)", cfg.Width, cfg.Height)
	case !cfg.FrameRate.Valid():
		return nil, fmt.Errorf("media: frame rate %v", cfg.FrameRate)
	}
	if cfg.AudioCodec == "" {
		cfg.AudioCodec = "opus"
	}
	if cfg.AudioBitrate == 0 {
		cfg.AudioBitrate = 96000
	}
	quietFFmpeg()
	e := &Encoder{cfg: cfg, sink: sink, out: &writeBox{}, sws: scaler{threads: cfg.Threads}}
	if cfg.AudioChannels > 0 {
		aud, err := openAudio(cfg.AudioCodec, cfg.AudioChannels, cfg.AudioSampleRate, cfg.AudioBitrate)
		if err != nil {
			return nil, err
		}
		e.aud = aud
	}
	return e, nil
}

// WriteAudio encodes audio; the encoder must have been configured with
// audio (AudioChannels). Frames of any channel count and rate are
// converted to the output's; their samples are re-cut into the codec's
// frame size and timestamped by counting samples from the first frame's
// PTS, so the audio stays continuous across a change of rate.
func (e *Encoder) WriteAudio(a *frame.Audio) error {
	if e.closed {
		return errors.New("media: encoder is closed")
	}
	if e.aud == nil {
		return errors.New("media: encoder was configured without audio")
	}
	if err := a.Validate(); err != nil {
		return err
	}
	if e.ioc == nil {
		if err := e.openOutput(); err != nil {
			return err
		}
	}
	return e.aud.write(a, e.writeAudioPacket)
}

// maxEarlyAudio bounds the audio packets held while no video has come yet
// (about 10 s of Opus); past it segments start without video.
const maxEarlyAudio = 512

func (e *Encoder) writeAudioPacket(p *astiav.Packet) error {
	if e.enc == nil && len(e.early) < maxEarlyAudio {
		// Video opens the encoder (it fixes the output size); hold the
		// audio so the first segment carries both streams.
		e.early = append(e.early, p.Clone())
		p.Unref()
		return nil
	}
	if err := e.flushEarly(); err != nil {
		return err
	}
	return e.writeStream(p, e.aud.cc.TimeBase(), false)
}

// flushEarly writes the audio held before video came.
func (e *Encoder) flushEarly() error {
	for len(e.early) > 0 {
		p := e.early[0]
		e.early = e.early[1:]
		err := e.writeStream(p, e.aud.cc.TimeBase(), false)
		p.Free()
		if err != nil {
			return err
		}
	}
	return nil
}

// openOutput makes the write IOContext all segment muxers share.
func (e *Encoder) openOutput() error {
	ioc, err := astiav.AllocIOContext(64<<10, true, nil, nil, e.out.write)
	if err != nil {
		return fmt.Errorf("media: output IO context: %w", err)
	}
	e.ioc = ioc
	return nil
}

// Segments returns how many segments have been started.
func (e *Encoder) Segments() int { return e.segments }

// LostSegments is how many segments the sink failed part-way (a write
// returned an error): their remaining bytes were dropped and encoding went
// on with the next segment.
func (e *Encoder) LostSegments() int { return e.lost }

// WriteVideo encodes one frame. Timestamps must increase; a frame that does
// not move time forward is given the next tick so the encoder accepts it.
func (e *Encoder) WriteVideo(v *frame.Video) error {
	if e.closed {
		return errors.New("media: encoder is closed")
	}
	if err := v.Validate(); err != nil {
		return err
	}
	if e.enc == nil {
		if err := e.open(v.Width, v.Height); err != nil {
			e.free()
			return err
		}
	}
	if err := e.toYUV(v); err != nil {
		return err
	}
	return e.encodePicture(v.PTS, v.TimeBase)
}

// encodePicture encodes e.yuv, just filled, as the picture at pts.
func (e *Encoder) encodePicture(pts int64, tb frame.Rational) error {
	pts = frame.Rescale(pts, tb, outTimeBase)
	if e.started && pts <= e.lastPTS {
		pts = e.lastPTS + 1
	}
	e.yuv.SetPts(pts)
	gop := int64(e.cfg.GOP / (time.Second / 90000))
	if !e.started || pts-e.lastIDR >= gop {
		e.yuv.SetPictureType(astiav.PictureTypeI)
		e.lastIDR = pts
	} else {
		e.yuv.SetPictureType(astiav.PictureTypeNone) // reused frame: clear the last I
	}
	e.started, e.lastPTS = true, pts
	if err := e.enc.SendFrame(e.yuv); err != nil {
		return fmt.Errorf("media: encoding: %w", err)
	}
	return e.drain()
}

// toYUV converts the frame's pixels, read in place, to the encoder's
// yuv420p at the output size.
func (e *Encoder) toYUV(v *frame.Video) error {
	if err := e.sws.ensure(v.Width, v.Height, astiav.PixelFormatRgb24, e.cfg.Width, e.cfg.Height, astiav.PixelFormatYuv420P); err != nil {
		return err
	}
	// The encoder may still reference the last picture's buffers.
	if err := makeWritable(e.yuv); err != nil {
		return fmt.Errorf("media: picture buffer: %w", err)
	}
	return e.sws.packedToFrame(v.Pix, v.Stride, e.yuv)
}

// open starts libx264 at the output size (the first picture's, w×h
// rounded down to even, when the config has none) and the shared muxer output.
func (e *Encoder) open(w, h int) error {
	if e.cfg.Width == 0 {
		e.cfg.Width, e.cfg.Height = w&^1, h&^1
		if e.cfg.Width == 0 || e.cfg.Height == 0 {
			return fmt.Errorf("media: cannot encode a %dx%d picture as yuv420p", w, h)
		}
	}
	codec := astiav.FindEncoderByName("libx264")
	if codec == nil {
		return errors.New("media: libx264 is not available in this FFmpeg")
	}
	e.enc = astiav.AllocCodecContext(codec)
	if e.enc == nil {
		return errors.New("media: cannot allocate a codec context")
	}
	e.enc.SetWidth(e.cfg.Width)
	e.enc.SetHeight(e.cfg.Height)
	e.enc.SetPixelFormat(astiav.PixelFormatYuv420P)
	e.enc.SetTimeBase(astiav.NewRational(outTimeBase.Num, outTimeBase.Den))
	e.enc.SetFramerate(astiav.NewRational(e.cfg.FrameRate.Num, e.cfg.FrameRate.Den))
	// IDRs are forced by time; the GOP size only keeps x264 from adding
	// its own in between.
	e.enc.SetGopSize(max(1, int(e.cfg.GOP.Seconds()*e.cfg.FrameRate.Float64()*2)))
	e.enc.SetThreadCount(e.cfg.Threads)
	opts := astiav.NewDictionary()
	defer opts.Free()
	opts.Set("preset", e.cfg.Preset, 0)
	if e.cfg.Tune != "none" {
		opts.Set("tune", e.cfg.Tune, 0)
	}
	opts.Set("bf", "0", 0)
	opts.Set("forced-idr", "1", 0)
	opts.Set("crf", strconv.Itoa(e.cfg.CRF), 0)
	if err := e.enc.Open(codec, opts); err != nil {
		return fmt.Errorf("media: opening libx264 (preset %q, tune %q): %w", e.cfg.Preset, e.cfg.Tune, err)
	}
	e.yuv = astiav.AllocFrame()
	e.yuv.SetWidth(e.cfg.Width)
	e.yuv.SetHeight(e.cfg.Height)
	e.yuv.SetPixelFormat(astiav.PixelFormatYuv420P)
	if err := e.yuv.AllocBuffer(0); err != nil {
		return fmt.Errorf("media: picture buffer: %w", err)
	}
	e.pkt = astiav.AllocPacket()
	if e.ioc == nil {
		return e.openOutput()
	}
	return nil
}

// drain moves every packet the encoder has ready into the muxer.
func (e *Encoder) drain() error {
	for {
		err := e.enc.ReceivePacket(e.pkt)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("media: encoding: %w", err)
		}
		if err := e.writePacket(); err != nil {
			e.pkt.Unref()
			return err
		}
	}
}

// writePacket muxes one video packet.
func (e *Encoder) writePacket() error {
	if err := e.writeStream(e.pkt, e.enc.TimeBase(), true); err != nil {
		return err
	}
	return e.flushEarly()
}

// writeStream muxes one packet, first starting a new segment when it is a
// video IDR far enough from the current segment's start (or when no
// segment is open).
func (e *Encoder) writeStream(p *astiav.Packet, tb astiav.Rational, video bool) error {
	pts90 := frame.Rescale(p.Pts(), frame.Rational{Num: tb.Num(), Den: tb.Den()}, outTimeBase)
	segDur := int64(e.cfg.SegmentDuration / (time.Second / 90000))
	cut := video && p.Flags().Has(astiav.PacketFlagKey) && pts90-e.segStart >= segDur
	if e.mux == nil || cut {
		if err := e.finishSegment(); err != nil {
			return err
		}
		if err := e.startSegment(pts90); err != nil {
			return err
		}
	}
	idx := e.videoStream
	if !video {
		idx = e.audioStream
	}
	if idx < 0 {
		p.Unref()
		return nil // that stream is not in this segment
	}
	st := e.mux.Streams()[idx]
	p.SetStreamIndex(idx)
	p.RescaleTs(tb, st.TimeBase())
	// Packets go out as they come, not interleaved: interleaving held each
	// video packet until audio with a later timestamp had been encoded, and
	// input audio arrives in bursts (an MPEG-TS PES carries ~0.2 s of it),
	// which cost ~100 ms of latency (PROC-101 at 720p with AAC input: median
	// 168 → 72 ms). MPEG-TS needs no interleaving; each stream's own
	// timestamps still only increase.
	err := e.mux.WriteFrame(p) // does not take the packet's reference
	p.Unref()
	if err != nil {
		return e.segmentErr("writing a packet", err)
	}
	return nil
}

// startSegment opens a new MPEG-TS muxer on the shared output.
func (e *Encoder) startSegment(pts int64) error {
	w, err := e.sink.NextSegment()
	if err != nil {
		return fmt.Errorf("media: next segment: %w", err)
	}
	e.out.w, e.out.err = w, nil
	mux, err := astiav.AllocOutputFormatContext(nil, "mpegts", "")
	if err != nil {
		return fmt.Errorf("media: muxer: %w", err)
	}
	e.videoStream, e.audioStream = -1, -1
	for _, cc := range []*astiav.CodecContext{e.enc, e.audioCodec()} {
		if cc == nil {
			continue
		}
		st := mux.NewStream(nil)
		if err := st.CodecParameters().FromCodecContext(cc); err != nil {
			mux.Free()
			return fmt.Errorf("media: stream parameters: %w", err)
		}
		st.SetTimeBase(cc.TimeBase())
		if cc != e.enc && e.segments > 0 {
			// Only the first segment starts with the encoder's priming
			// (codecpar.go).
			if err := setInitialPadding(st.CodecParameters(), 0); err != nil {
				mux.Free()
				return fmt.Errorf("media: stream parameters: %w", err)
			}
		}
		if cc == e.enc {
			e.videoStream = st.Index()
		} else {
			e.audioStream = st.Index()
		}
	}
	mux.SetPb(e.ioc)
	opts := astiav.NewDictionary()
	defer opts.Free()
	// Write PES lengths so readers can hand out a picture as soon as its
	// last byte arrives instead of waiting for the next one.
	opts.Set("omit_video_pes_length", "0", 0)
	if err := mux.WriteHeader(opts); err != nil {
		mux.Free()
		return e.segmentErr("writing the segment header", err)
	}
	e.mux, e.segStart = mux, pts
	e.segments++
	return nil
}

// finishSegment ends the current segment, if any, and closes its writer.
func (e *Encoder) finishSegment() error {
	if e.mux == nil {
		return nil
	}
	err := e.mux.WriteTrailer() // flushes the shared output
	e.mux.Free()
	e.mux = nil
	w := e.out.w
	e.out.w = nil
	if err != nil {
		w.Close()
		return e.segmentErr("finishing the segment", err)
	}
	if e.out.err != nil {
		// The sink refused it part-way (e.g. the trickle server failed the
		// POST): the segment is lost, the stream goes on with the next.
		w.Close()
		e.lost++
		return nil
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("media: closing the segment: %w", err)
	}
	return nil
}

// segmentErr prefers the sink's own error over FFmpeg's report of it.
func (e *Encoder) segmentErr(what string, err error) error {
	if e.out.err != nil {
		return fmt.Errorf("media: %s: %w", what, e.out.err)
	}
	return fmt.Errorf("media: %s: %w", what, err)
}

// Close flushes the encoder, finishes the last segment and frees
// everything. It is safe to call more than once.
func (e *Encoder) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	var err error
	if e.enc != nil && e.started {
		if serr := e.enc.SendFrame(nil); serr != nil && !errors.Is(serr, astiav.ErrEof) {
			err = fmt.Errorf("media: flushing the encoder: %w", serr)
		} else {
			err = e.drain()
		}
	}
	if e.aud != nil && e.aud.started && err == nil {
		err = e.aud.flush(e.writeAudioPacket)
	}
	if err == nil {
		err = e.flushEarly()
	}
	if ferr := e.finishSegment(); err == nil {
		err = ferr
	}
	e.free()
	return err
}

func (e *Encoder) free() {
	if e.mux != nil {
		e.mux.Free()
		e.mux = nil
	}
	if e.ioc != nil {
		e.ioc.Free()
		e.ioc = nil
	}
	e.out.w = nil
	if e.yuv != nil {
		e.yuv.Free()
		e.yuv = nil
	}
	if e.pkt != nil {
		e.pkt.Free()
		e.pkt = nil
	}
	e.sws.free()
	if e.enc != nil {
		e.enc.Free()
		e.enc = nil
	}
	e.aud.free()
	e.aud = nil
	for _, p := range e.early {
		p.Free()
	}
	e.early = nil
}

func (e *Encoder) audioCodec() *astiav.CodecContext {
	if e.aud == nil {
		return nil
	}
	return e.aud.cc
}
