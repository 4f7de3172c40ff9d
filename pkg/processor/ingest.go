package processor

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// ingest reads the input channel segment by segment and decodes each into
// the work queues until the input ends or the stream stops.
func (s *stream) ingest() {
	if s.req.SubscribeURL == "" {
		<-s.inCtx.Done() // nothing to read: run until stopped
		return
	}
	sub, err := trickle.NewSubscriber(trickle.SubscriberConfig{URL: s.req.SubscribeURL, Client: s.p.cfg.HTTPClient,
		Start: trickle.StartAt(-2), Logger: s.log})
	if err != nil {
		s.log.Error("subscribe", "err", err)
		return
	}
	defer sub.Close()
	dec, err := s.p.cfg.Codecs.NewDecoder(DecoderConfig{Width: s.cfg.width, Height: s.cfg.height,
		MaxFramerate: frame.Rational{Num: s.cfg.maxFramerate, Den: 1},
		Raw:          s.dev != nil, HWAccel: s.p.cfg.HWDecode, HWDevice: s.hwDevice(),
		HeldFrames: cap(s.videoQ) + heldBeyondQueue})
	if err != nil {
		s.log.Error("decoder", "err", err)
		return
	}
	defer dec.Close()
	s.setDecoder(dec)
	defer s.setDecoder(nil) // before Close: later caps are not applied to a closed decoder
	handlers := DecodeHandlers{Streams: s.out.streams, Video: s.enqueueVideo, Audio: s.enqueueAudio}
	var lastSeq int64
	for first := true; ; first = false {
		seg, err := sub.Next(s.inCtx)
		switch {
		case s.inCtx.Err() != nil:
			return
		case errors.Is(err, trickle.ErrStreamClosed), errors.Is(err, trickle.ErrStreamNotFound):
			s.log.Info("input ended", "reason", err)
			return
		case err != nil:
			// Logged, not an ERROR state: pkg/api refuses starts while
			// /health says ERROR, and a dead input must not block the next
			// stream (PROC-017).
			s.log.Error("input failed", "err", err)
			return
		}
		s.ctr.segmentsIn.Add(1)
		if !first && seg.Seq > lastSeq+1 {
			// The seqs in between were never read: the subscriber jumped
			// over them (470) or the server served a later one.
			s.ctr.inputLost.Add(uint64(seg.Seq - lastSeq - 1))
			s.log.Warn("input segments lost", "from", lastSeq+1, "to", seg.Seq-1)
		}
		lastSeq = seg.Seq
		// A stop must not wait for a segment that never finishes, nor
		// the stream for one whose server stalled.
		unblock := context.AfterFunc(s.inCtx, func() { seg.Close() })
		watch := newStallWatch(s.p.cfg.InputStallTimeout, func() { seg.Close() })
		info, err := dec.DecodeSegment(s.inCtx, &countingReader{r: seg, n: &s.ctr.bytesIn, watch: watch}, handlers)
		stalled := watch.stop()
		unblock()
		seg.Close()
		s.ctr.videoCapped.Add(uint64(info.Capped))
		s.ctr.decodeErrors.Add(uint64(info.Corrupt))
		switch {
		case s.inCtx.Err() != nil:
			// Cut short by a stop: decoded as far as it went.
		case stalled:
			s.ctr.badSegments.Add(1)
			s.ctr.inputStalls.Add(1)
			s.log.Warn("input segment stalled; going on with the next", "seq", seg.Seq,
				"timeout", s.p.cfg.InputStallTimeout, "bytes", info.Bytes)
		case err != nil:
			s.ctr.badSegments.Add(1)
			s.log.Warn("input segment skipped", "seq", seg.Seq, "err", err)
		case info.Corrupt > 0:
			s.ctr.badSegments.Add(1)
			s.log.Warn("input segment partly corrupt", "seq", seg.Seq, "rejected", info.Corrupt)
		}
		if first {
			s.sendEvent(typedEvent("receive_first_ingest_segment"), "")
		}
	}
}

// enqueueVideo hands a decoded frame to the video worker. When the queue
// is full the oldest waiting frame is skipped: latency stays bounded.
func (s *stream) enqueueVideo(v *frame.Video) error {
	now := time.Now()
	s.rates.ingressVideo.tick(now)
	s.ctr.videoIn.Add(1)
	item := queuedVideo{v: v, arrival: now}
	if s.p.cfg.NoSkip {
		select {
		case s.videoQ <- item:
		case <-s.ctx.Done():
			v.Release()
			s.ctr.videoSkipped.Add(1)
		}
		return nil
	}
	for {
		select {
		case s.videoQ <- item:
			return nil
		default:
		}
		select {
		case old := <-s.videoQ:
			old.v.Release()
			s.ctr.videoSkipped.Add(1)
		default:
		}
	}
}

func (s *stream) enqueueAudio(a *frame.Audio) error {
	s.rates.ingressAudio.tick(time.Now())
	s.ctr.audioIn.Add(1)
	item := queuedAudio{a: a}
	if s.p.cfg.NoSkip {
		select {
		case s.audioQ <- item:
		case <-s.ctx.Done():
			a.Release()
			s.ctr.audioSkipped.Add(1)
		}
		return nil
	}
	for {
		select {
		case s.audioQ <- item:
			return nil
		default:
		}
		select {
		case old := <-s.audioQ:
			old.a.Release()
			s.ctr.audioSkipped.Add(1)
		default:
		}
	}
}

type countingReader struct {
	r     io.Reader
	n     *atomic.Uint64
	watch *stallWatch // nil: reads may block for ever
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.watch != nil {
		c.watch.reading(true)
		defer c.watch.reading(false)
	}
	n, err := c.r.Read(p)
	c.n.Add(uint64(n))
	return n, err
}

// stallWatch calls stall when one read has waited longer than its timeout.
// Only the wait inside a read counts, not the time the decoder spends
// handing frames on (which a full queue can make long with NoSkip).
type stallWatch struct {
	timeout time.Duration
	t       *time.Timer // nil without a timeout; armed only inside a read
	fired   atomic.Bool
}

// newStallWatch returns a watch; a timeout <= 0 watches nothing.
func newStallWatch(timeout time.Duration, stall func()) *stallWatch {
	w := &stallWatch{timeout: timeout}
	if timeout > 0 {
		w.t = time.AfterFunc(time.Hour, func() {
			w.fired.Store(true)
			stall()
		})
		w.t.Stop()
	}
	return w
}

// reading arms the watch as a read starts and disarms it when it returns.
func (w *stallWatch) reading(in bool) {
	switch {
	case w.t == nil || w.fired.Load():
	case in:
		w.t.Reset(w.timeout)
	default:
		w.t.Stop()
	}
}

// stop ends the watch and reports whether the segment stalled.
func (w *stallWatch) stop() bool {
	if w.t != nil {
		w.t.Stop()
	}
	return w.fired.Load()
}
