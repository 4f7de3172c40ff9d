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
		MaxFramerate: frame.Rational{Num: s.cfg.maxFramerate, Den: 1}})
	if err != nil {
		s.log.Error("decoder", "err", err)
		return
	}
	defer dec.Close()
	s.setDecoder(dec)
	defer s.setDecoder(nil) // before Close: later caps are not applied to a closed decoder
	handlers := DecodeHandlers{Streams: s.out.streams, Video: s.enqueueVideo, Audio: s.enqueueAudio}
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
		// A stop must not wait for a segment that never finishes.
		unblock := context.AfterFunc(s.inCtx, func() { seg.Close() })
		info, err := dec.DecodeSegment(s.inCtx, &countingReader{r: seg, n: &s.ctr.bytesIn}, handlers)
		unblock()
		seg.Close()
		switch {
		case err != nil && s.inCtx.Err() == nil:
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
	r io.Reader
	n *atomic.Uint64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(uint64(n))
	return n, err
}
