package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/asticode/go-astiav"
)

// SegmenterConfig configures Segment. The zero value cuts at the first
// video keyframe at least 1 s into each segment and paces nothing.
type SegmenterConfig struct {
	// SegmentDuration is the shortest segment: a new one starts at the
	// first video keyframe (or, without video, the first audio packet)
	// this long after the current one began. It defaults to 1 s.
	SegmentDuration time.Duration
	// Offset moves every timestamp forward, e.g. by the length of the
	// file for each repetition when a file is looped.
	Offset time.Duration
	// Pace, when set, is called before each packet is written with the
	// packet's decode time relative to the file's first packet plus
	// Offset; it returns when the packet is due (or an error to stop).
	Pace func(ctx context.Context, at time.Duration) error
	// Progress, when set, is called after each segment ends.
	Progress func(SegmenterStats)
}

// SegmenterStats describes what Segment wrote.
type SegmenterStats struct {
	Segments int   // segments written
	Packets  int   // packets written
	Bytes    int64 // MPEG-TS bytes written
	// Span is the media time covered, from the first packet's decode time
	// to the end of the last packet, not counting Offset: the Offset of
	// the next repetition of a looped file.
	Span time.Duration
}

// ErrNoCarriableStreams is returned for an input with neither video nor
// audio that MPEG-TS can carry as it is.
var ErrNoCarriableStreams = errors.New("media: no video or audio stream MPEG-TS can carry without re-encoding")

// tsCodecs are the codecs copied into MPEG-TS as they are.
var tsCodecs = map[astiav.CodecID]bool{
	astiav.CodecIDH264: true, astiav.CodecIDHevc: true, astiav.CodecIDMpeg2Video: true,
	astiav.CodecIDAac: true, astiav.CodecIDOpus: true, astiav.CodecIDMp3: true,
	astiav.CodecIDAc3: true, astiav.CodecIDMp2: true,
}

// Segment reads a media file (any container FFmpeg reads) and writes its
// first video and first audio stream, without re-encoding, to sink as
// MPEG-TS segments that each begin at a video keyframe. Packets before the
// first keyframe are dropped. A sink write error ends the run with that
// error: a segment that did not arrive whole is not papered over.
func Segment(ctx context.Context, path string, sink SegmentSink, cfg SegmenterConfig) (SegmenterStats, error) {
	if cfg.SegmentDuration <= 0 {
		cfg.SegmentDuration = time.Second
	}
	in := astiav.AllocFormatContext()
	if in == nil {
		return SegmenterStats{}, errors.New("media: cannot allocate a format context")
	}
	if err := in.OpenInput(path, nil, nil); err != nil {
		// OpenInput frees the context when it fails.
		return SegmenterStats{}, fmt.Errorf("media: opening %s: %w", path, err)
	}
	defer in.CloseInput()
	if err := in.FindStreamInfo(nil); err != nil {
		return SegmenterStats{}, fmt.Errorf("media: reading %s: %w", path, err)
	}
	s := &segmenter{cfg: cfg, sink: sink, out: &writeBox{}, video: -1, audio: -1, first: astiav.NoPtsValue}
	for _, st := range in.Streams() {
		cp := st.CodecParameters()
		switch mt := cp.MediaType(); {
		case mt == astiav.MediaTypeVideo && s.video < 0 && tsCodecs[cp.CodecID()]:
			s.video = st.Index()
		case mt == astiav.MediaTypeAudio && s.audio < 0 && tsCodecs[cp.CodecID()]:
			s.audio = st.Index()
		}
	}
	if s.video < 0 && s.audio < 0 {
		return SegmenterStats{}, fmt.Errorf("%w: %s", ErrNoCarriableStreams, path)
	}
	s.in = in
	defer s.free()
	err := s.run(ctx)
	if ferr := s.finish(); err == nil {
		err = ferr
	}
	return s.stats, err
}

// segmenter is one Segment run.
type segmenter struct {
	cfg          SegmenterConfig
	sink         SegmentSink
	in           *astiav.FormatContext
	video, audio int // input stream indexes, -1 when absent
	out          *writeBox
	ioc          *astiav.IOContext
	mux          *astiav.FormatContext
	outIdx       map[int]int // input stream index → output stream index
	segStart     time.Duration
	first        int64         // first decode time, µs (NoPtsValue until seen)
	shift        time.Duration // moves a negative first decode time to 0
	keyed        bool          // a video keyframe has been seen
	end          time.Duration // end of the latest packet, relative to first
	stats        SegmenterStats
}

var microseconds = astiav.NewRational(1, 1000000)

func (s *segmenter) run(ctx context.Context) error {
	pkt := astiav.AllocPacket()
	defer pkt.Free()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.in.ReadFrame(pkt); err != nil {
			if errors.Is(err, astiav.ErrEof) {
				return nil
			}
			return fmt.Errorf("media: reading a packet: %w", err)
		}
		err := s.packet(ctx, pkt)
		pkt.Unref()
		if err != nil {
			return err
		}
	}
}

// packet writes one input packet, starting a segment first when it is due.
func (s *segmenter) packet(ctx context.Context, pkt *astiav.Packet) error {
	idx := pkt.StreamIndex()
	if idx != s.video && idx != s.audio {
		return nil
	}
	isVideo := idx == s.video
	key := pkt.Flags().Has(astiav.PacketFlagKey)
	if s.video >= 0 && !s.keyed {
		if !isVideo || !key {
			return nil // nothing is decodable before the first keyframe
		}
		s.keyed = true
	}
	tb := s.in.Streams()[idx].TimeBase()
	dts := pkt.Dts()
	if dts == astiav.NoPtsValue {
		dts = pkt.Pts()
	}
	if dts == astiav.NoPtsValue {
		return nil // an untimed packet cannot be placed or paced
	}
	dtsUS := astiav.RescaleQ(dts, tb, microseconds)
	if s.first == astiav.NoPtsValue {
		s.first = dtsUS
		if dtsUS < 0 {
			s.shift = time.Duration(-dtsUS) * time.Microsecond
		}
	}
	at := time.Duration(dtsUS-s.first) * time.Microsecond
	if end := at + time.Duration(astiav.RescaleQ(pkt.Duration(), tb, microseconds))*time.Microsecond; end > s.end {
		s.end = end
	}
	cut := s.mux == nil || at-s.segStart >= s.cfg.SegmentDuration
	if cut && (s.video < 0 || (isVideo && key)) {
		if err := s.finish(); err != nil {
			return err
		}
		if err := s.start(at); err != nil {
			return err
		}
	}
	if s.mux == nil {
		return nil
	}
	if s.cfg.Pace != nil {
		if err := s.cfg.Pace(ctx, at+s.cfg.Offset); err != nil {
			return err
		}
	}
	move := astiav.RescaleQ(int64((s.cfg.Offset+s.shift)/time.Microsecond), microseconds, tb)
	if pkt.Pts() != astiav.NoPtsValue {
		pkt.SetPts(pkt.Pts() + move)
	}
	if pkt.Dts() != astiav.NoPtsValue {
		pkt.SetDts(pkt.Dts() + move)
	}
	out := s.outIdx[idx]
	pkt.SetStreamIndex(out)
	pkt.RescaleTs(tb, s.mux.Streams()[out].TimeBase())
	pkt.SetPos(-1)
	if err := s.mux.WriteInterleavedFrame(pkt); err != nil {
		return s.err("writing a packet", err)
	}
	s.stats.Packets++
	if s.out.err != nil {
		return s.err("writing a packet", s.out.err)
	}
	return nil
}

// start opens the next segment on the sink, at media time at.
func (s *segmenter) start(at time.Duration) error {
	if s.ioc == nil {
		ioc, err := astiav.AllocIOContext(64<<10, true, nil, nil, s.out.write)
		if err != nil {
			return fmt.Errorf("media: output IO context: %w", err)
		}
		s.ioc = ioc
	}
	w, err := s.sink.NextSegment()
	if err != nil {
		return fmt.Errorf("media: next segment: %w", err)
	}
	s.out.w, s.out.err = &countingWriter{w: w, n: &s.stats.Bytes}, nil
	mux, err := astiav.AllocOutputFormatContext(nil, "mpegts", "")
	if err != nil {
		return fmt.Errorf("media: muxer: %w", err)
	}
	s.outIdx = map[int]int{}
	for _, idx := range []int{s.video, s.audio} {
		if idx < 0 {
			continue
		}
		ist := s.in.Streams()[idx]
		st := mux.NewStream(nil)
		if err := ist.CodecParameters().Copy(st.CodecParameters()); err != nil {
			mux.Free()
			return fmt.Errorf("media: stream parameters: %w", err)
		}
		st.CodecParameters().SetCodecTag(0) // the container's tag means nothing in MPEG-TS
		st.SetTimeBase(ist.TimeBase())
		s.outIdx[idx] = st.Index()
	}
	mux.SetPb(s.ioc)
	opts := astiav.NewDictionary()
	defer opts.Free()
	// PES lengths let a reader hand out a picture once its last byte is in.
	opts.Set("omit_video_pes_length", "0", 0)
	if err := mux.WriteHeader(opts); err != nil {
		mux.Free()
		return s.err("writing the segment header", err)
	}
	s.mux, s.segStart = mux, at
	return nil
}

// finish ends the current segment, if any.
func (s *segmenter) finish() error {
	if s.mux == nil {
		return nil
	}
	err := s.mux.WriteTrailer()
	s.mux.Free()
	s.mux = nil
	w := s.out.w
	s.out.w = nil
	werr := s.out.err
	cerr := w.Close()
	switch {
	case werr != nil:
		return fmt.Errorf("media: segment %d: %w", s.stats.Segments, werr)
	case err != nil:
		return fmt.Errorf("media: finishing segment %d: %w", s.stats.Segments, err)
	case cerr != nil:
		return fmt.Errorf("media: closing segment %d: %w", s.stats.Segments, cerr)
	}
	s.stats.Segments++
	s.stats.Span = s.end
	if s.cfg.Progress != nil {
		s.cfg.Progress(s.stats)
	}
	return nil
}

// err prefers the sink's own error over FFmpeg's report of it.
func (s *segmenter) err(what string, err error) error {
	if s.out.err != nil {
		return fmt.Errorf("media: %s: %w", what, s.out.err)
	}
	return fmt.Errorf("media: %s: %w", what, err)
}

func (s *segmenter) free() {
	if s.mux != nil {
		s.mux.Free()
		s.mux = nil
	}
	if s.ioc != nil {
		s.ioc.Free()
		s.ioc = nil
	}
	s.stats.Span = s.end
}

// countingWriter counts the bytes that reach a segment.
type countingWriter struct {
	w io.WriteCloser
	n *int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	return n, err
}

func (c *countingWriter) Close() error { return c.w.Close() }
