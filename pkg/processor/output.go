package processor

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// output owns the stream's encoder. The encoder starts when the first
// input segment says which kinds of media it carries, so that the output
// carries the same ones from its first byte; both workers write through
// output's lock.
type output struct {
	s   *stream
	mu  sync.Mutex
	enc Encoder
	err error // the encoder could not start: frames are counted as encode errors

	firstSent atomic.Bool
	lastErr   time.Time
	// outW×outH is the encoder's picture size, known from the config or
	// the first frame (the encoder's rule: its size rounded down to even).
	outW, outH int
}

func newOutput(s *stream) *output { return &output{s: s} }

// streams starts the encoder at the first input segment.
func (o *output) streams(video, audio bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.enc != nil || o.err != nil {
		return
	}
	w, h := 0, 0
	if !o.s.cfg.detectOut {
		w, h = o.s.cfg.width, o.s.cfg.height
	}
	o.enc, o.err = o.s.p.cfg.Codecs.NewEncoder(EncoderConfig{Width: w, Height: h, Audio: audio}, sink{o.s})
	if o.err != nil {
		o.s.log.Error("the encoder did not start: output frames are discarded", "err", o.err)
	}
}

// writeVideo encodes v and reports whether the encoder accepted it.
func (o *output) writeVideo(v *frame.Video) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.enc == nil {
		o.s.ctr.encodeErrors.Add(1)
		return false
	}
	if o.outW == 0 {
		o.outW, o.outH = o.s.cfg.width, o.s.cfg.height
		if o.s.cfg.detectOut {
			o.outW, o.outH = v.Width&^1, v.Height&^1
		}
	}
	write := o.enc.WriteVideo
	if v.OnDevice() {
		write = o.writeDevice
	}
	if err := write(v); err != nil {
		o.failed(err)
		return false
	}
	// Counted here, once the encoder has the frame: with zerolatency its
	// bytes are on their way to the wire.
	o.s.rates.egressVideo.tick(time.Now())
	o.s.ctr.videoOut.Add(1)
	return true
}

// writeDevice encodes a frame whose pixels are on the device: converted
// there when the encoder takes YUV420P, else brought to the host.
func (o *output) writeDevice(v *frame.Video) error {
	if yw, ok := o.enc.(YUVWriter); ok && o.outW > 0 && o.outH > 0 {
		pic, err := o.s.devicePicture(v, o.outW, o.outH)
		if err == nil {
			if err := yw.WriteYUV420P(pic, o.outW, o.outH, v.PTS, v.TimeBase); err != nil {
				return err
			}
			o.s.dev.encoded.Add(1)
			return nil
		}
		o.s.deviceFailed("convert", err)
	}
	if !o.s.toHost(v) {
		return errors.New("processor: a device frame could not reach the host")
	}
	return o.enc.WriteVideo(v)
}

// writeAudio encodes a and reports whether the encoder accepted it.
func (o *output) writeAudio(a *frame.Audio) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.enc == nil {
		o.s.ctr.encodeErrors.Add(1)
		return false
	}
	if err := o.enc.WriteAudio(a); err != nil {
		o.failed(err)
		return false
	}
	o.s.rates.egressAudio.tick(time.Now())
	o.s.ctr.audioOut.Add(1)
	return true
}

func (o *output) failed(err error) {
	o.s.ctr.encodeErrors.Add(1)
	if time.Since(o.lastErr) >= time.Second {
		o.lastErr = time.Now()
		o.s.log.Warn("encoding failed", "err", err)
	}
}

// close flushes the encoder: the last segment is finished.
func (o *output) close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.enc == nil {
		return nil
	}
	err := o.enc.Close()
	o.enc = nil
	o.err = errors.New("closed")
	return err
}

// sink hands each output segment to the egress (egress.go), straight to
// the publisher when Config.OutputBuffer is negative, or counts and
// discards it when the stream has no publish URL.
type sink struct{ s *stream }

func (k sink) NextSegment() (io.WriteCloser, error) {
	if k.s.egress != nil {
		return k.s.egress.segment(), nil
	}
	var w io.WriteCloser = discard{}
	if k.s.pub != nil {
		sw, err := k.s.pub.Next(k.s.ctx)
		if err != nil {
			return nil, err
		}
		w = sw
	}
	return &countingSegment{w: w, s: k.s}, nil
}

type countingSegment struct {
	w     io.WriteCloser
	s     *stream
	wrote bool
	err   error // the first write error: the segment is lost
}

func (c *countingSegment) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil && c.err == nil {
		c.err = err
	}
	c.s.ctr.bytesOut.Add(uint64(n))
	if n > 0 && !c.wrote {
		c.wrote = true
		c.s.firstSegmentSent()
	}
	return n, err
}

func (c *countingSegment) Close() error {
	err := c.w.Close()
	if c.err != nil {
		// The encoder drops the rest of a failed segment and goes on.
		if n := c.s.ctr.segmentsLost.Add(1); n == 1 || n%100 == 0 {
			c.s.log.Warn("output segment lost", "err", c.err, "lost", n)
		}
		return err
	}
	c.s.ctr.segmentsOut.Add(1)
	return err
}

// firstSegmentSent sends the event that says the first output bytes are
// on their way, once per stream.
func (s *stream) firstSegmentSent() {
	if s.out.firstSent.CompareAndSwap(false, true) {
		s.sendEvent(typedEvent("send_first_processed_segment"), "")
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) Close() error                { return nil }
