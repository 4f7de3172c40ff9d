package processor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// fakeCodecs implements Codecs with a text "container" so that the pipeline
// can be tested without FFmpeg.
//
// An input segment is one line of space-separated key=value pairs, e.g.
// "v=5 a=2 pts=30":
//
//	v     video frames in the segment (default 0)
//	a     audio frames in the segment (default 0)
//	pts   PTS of the first video frame, time base 1/30 (default 0); the
//	      frames that follow have consecutive PTS
//	fill  the value of every byte of every pixel (default fakeFill)
//	fail  any value: the segment is rejected with an error, nothing decoded
//
// The decoder calls Streams(v > 0, a > 0) first, then hands out the video
// and audio frames interleaved (video 0, audio 0, video 1, ...). Video
// frames are DecoderConfig.Width × Height (the size the processor asks
// for). Audio frames are stereo, 48 kHz, 960 samples (20 ms) each, whose PTS
// (time base 1/48000) follows the segment's first video PTS.
//
// SetMaxFramerate is recorded (maxFramerates) but not honoured: the fake
// never drops frames, so tests can count every frame in and out.
//
// The encoder writes one line per frame into the current output segment:
//
//	"v <pts> <first pixel byte> <width>x<height>\n" for video,
//	"a <pts>\n" for audio,
//
// and starts a new segment before a video frame once the current segment
// holds segFrames video frames (so every segment but the first starts with
// a video line, as real segments start with a keyframe). Close ends the last
// segment. It checks every frame with Validate, so a frame the pipeline
// released too early makes WriteVideo fail.
type fakeCodecs struct {
	segFrames int // video frames per output segment; 4 when 0

	mu           sync.Mutex
	decCfgs      []DecoderConfig
	encCfgs      []EncoderConfig
	caps         []frame.Rational    // every SetMaxFramerate, in order
	decodedAt    map[int64]time.Time // video PTS → when it was handed out
	openDecoders int
	openEncoders int
	encodeErr    error // when set, NewEncoder fails with it; set before the stream starts
}

const fakeFill = 100

func newFakeCodecs() *fakeCodecs {
	return &fakeCodecs{segFrames: 4, decodedAt: make(map[int64]time.Time)}
}

func (c *fakeCodecs) NewDecoder(cfg DecoderConfig) (Decoder, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.decCfgs = append(c.decCfgs, cfg)
	c.openDecoders++
	return &fakeDecoder{c: c, cfg: cfg}, nil
}

func (c *fakeCodecs) NewEncoder(cfg EncoderConfig, sink SegmentSink) (Encoder, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.encodeErr != nil {
		return nil, c.encodeErr
	}
	c.encCfgs = append(c.encCfgs, cfg)
	c.openEncoders++
	per := c.segFrames
	if per <= 0 {
		per = 4
	}
	return &fakeEncoder{c: c, cfg: cfg, sink: sink, per: per}, nil
}

// maxFramerates returns every cap set on a decoder so far.
func (c *fakeCodecs) maxFramerates() []frame.Rational {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]frame.Rational(nil), c.caps...)
}

// decodeTime returns when the video frame with this PTS was handed out.
func (c *fakeCodecs) decodeTime(pts int64) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.decodedAt[pts]
	return t, ok
}

// open returns how many decoders and encoders are not closed yet.
func (c *fakeCodecs) open() (decoders, encoders int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.openDecoders, c.openEncoders
}

func (c *fakeCodecs) decoderConfigs() []DecoderConfig {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]DecoderConfig(nil), c.decCfgs...)
}

func (c *fakeCodecs) encoderConfigs() []EncoderConfig {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]EncoderConfig(nil), c.encCfgs...)
}

// fakeSegment is a parsed input segment.
type fakeSegment struct {
	video, audio int
	pts          int64
	fill         byte
	fail         bool
}

func parseFakeSegment(body string) (fakeSegment, error) {
	s := fakeSegment{fill: fakeFill}
	for f := range strings.FieldsSeq(body) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return s, fmt.Errorf("fake decoder: %q is not key=value", f)
		}
		if k == "fail" {
			s.fail = true
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return s, fmt.Errorf("fake decoder: bad %s=%q", k, v)
		}
		switch k {
		case "v":
			s.video = int(n)
		case "a":
			s.audio = int(n)
		case "pts":
			s.pts = n
		case "fill":
			if n > 255 {
				return s, fmt.Errorf("fake decoder: fill %d", n)
			}
			s.fill = byte(n)
		default:
			return s, fmt.Errorf("fake decoder: unknown key %q", k)
		}
	}
	return s, nil
}

type fakeDecoder struct {
	c      *fakeCodecs
	cfg    DecoderConfig
	closed bool // used from the ingest goroutine only
}

func (d *fakeDecoder) DecodeSegment(ctx context.Context, r io.Reader, h DecodeHandlers) (SegmentInfo, error) {
	if d.closed {
		return SegmentInfo{}, errors.New("fake decoder: closed")
	}
	body, err := io.ReadAll(r)
	info := SegmentInfo{Bytes: int64(len(body))}
	if err != nil {
		return info, err
	}
	seg, err := parseFakeSegment(string(body))
	if err != nil {
		return info, err
	}
	if seg.fail {
		info.Corrupt = 1
		return info, errors.New("fake decoder: segment rejected")
	}
	if h.Streams != nil {
		h.Streams(seg.video > 0, seg.audio > 0)
	}
	for i := range max(seg.video, seg.audio) {
		if err := ctx.Err(); err != nil {
			return info, err
		}
		if i < seg.video {
			v, err := frame.GetVideo(d.cfg.Width, d.cfg.Height)
			if err != nil {
				return info, err
			}
			for j := range v.Pix {
				v.Pix[j] = seg.fill
			}
			v.PTS, v.TimeBase = seg.pts+int64(i), frame.Rational{Num: 1, Den: 30}
			d.c.mu.Lock()
			d.c.decodedAt[v.PTS] = time.Now()
			d.c.mu.Unlock()
			info.VideoFrames++
			if err := h.Video(v); err != nil {
				return info, err
			}
		}
		if i < seg.audio {
			a, err := frame.GetAudio(2, 960, 48000)
			if err != nil {
				return info, err
			}
			for _, ch := range a.Samples {
				for j := range ch {
					ch[j] = 0.25
				}
			}
			a.Layout = frame.LayoutStereo
			a.PTS, a.TimeBase = seg.pts*1600+int64(i)*960, frame.Rational{Num: 1, Den: 48000}
			info.AudioFrames++
			if err := h.Audio(a); err != nil {
				return info, err
			}
		}
	}
	return info, nil
}

// SetMaxFramerate records r; it may be called from any goroutine.
func (d *fakeDecoder) SetMaxFramerate(r frame.Rational) error {
	if !r.Valid() {
		return fmt.Errorf("fake decoder: invalid frame rate %v", r)
	}
	d.c.mu.Lock()
	defer d.c.mu.Unlock()
	d.c.caps = append(d.c.caps, r)
	return nil
}

func (d *fakeDecoder) Close() {
	if d.closed {
		return
	}
	d.closed = true
	d.c.mu.Lock()
	d.c.openDecoders--
	d.c.mu.Unlock()
}

type fakeEncoder struct {
	c      *fakeCodecs
	cfg    EncoderConfig
	sink   SegmentSink
	per    int
	cur    io.WriteCloser
	inSeg  int // video frames in cur
	closed bool
}

func (e *fakeEncoder) WriteVideo(v *frame.Video) error {
	if e.closed {
		return errors.New("fake encoder: closed")
	}
	if err := v.Validate(); err != nil {
		return err
	}
	if e.cur != nil && e.inSeg >= e.per {
		err := e.cur.Close()
		e.cur = nil
		if err != nil {
			return err
		}
	}
	if err := e.line(fmt.Sprintf("v %d %d %dx%d\n", v.PTS, v.Pix[0], v.Width, v.Height)); err != nil {
		return err
	}
	e.inSeg++
	return nil
}

func (e *fakeEncoder) WriteAudio(a *frame.Audio) error {
	if e.closed {
		return errors.New("fake encoder: closed")
	}
	if !e.cfg.Audio {
		return errors.New("fake encoder: the output has no audio stream")
	}
	if err := a.Validate(); err != nil {
		return err
	}
	return e.line(fmt.Sprintf("a %d\n", a.PTS))
}

// line writes s into the current segment, starting one when there is none.
func (e *fakeEncoder) line(s string) error {
	if e.cur == nil {
		w, err := e.sink.NextSegment()
		if err != nil {
			return err
		}
		e.cur, e.inSeg = w, 0
	}
	_, err := io.WriteString(e.cur, s)
	return err
}

func (e *fakeEncoder) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	e.c.mu.Lock()
	e.c.openEncoders--
	e.c.mu.Unlock()
	if e.cur == nil {
		return nil
	}
	err := e.cur.Close()
	e.cur = nil
	return err
}
