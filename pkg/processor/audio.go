package processor

import (
	"errors"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// audioWorker runs the audio handler on queued frames and encodes what it
// returns. Audio is never thinned by the frame-rate cap.
func (s *stream) audioWorker() {
	for item := range s.audioQ {
		if s.ctx.Err() != nil {
			item.a.Release()
			s.ctr.audioSkipped.Add(1)
			continue
		}
		outs, lent := s.processAudio(item.a)
		if len(outs) > 1 {
			s.ctr.audioAdded.Add(uint64(len(outs) - 1))
		}
		for _, o := range outs {
			if !s.out.writeAudio(o) {
				s.ctr.audioLost.Add(1)
			}
			if o != item.a {
				o.Release()
			}
		}
		if !lent {
			item.a.Release()
		}
	}
}

// processAudio returns the frames to send for a (nothing for a drop,
// counted). lent says that a went to a handler call that timed out: the
// call releases it when it returns, and it is counted as lost.
func (s *stream) processAudio(a *frame.Audio) (outs []*frame.Audio, lent bool) {
	h := s.p.h.audio
	if h == nil {
		return []*frame.Audio{a}, false
	}
	start := time.Now()
	var res []*frame.Audio
	err := s.audioCalls.call(s.p.cfg.HandlerTimeout, func() error {
		var err error
		res, err = h.HandleAudio(s.ctx, a)
		return err
	}, func() { // the call returned after the worker gave up on it
		for _, r := range res {
			if r != nil && r != a {
				r.Release()
			}
		}
		a.Release()
	})
	if o := s.obs; o != nil && !errors.Is(err, errHandlerBusy) {
		o.ObserveHandler("audio", time.Since(start))
	}
	switch {
	case err == nil && res == nil:
		return []*frame.Audio{a}, false
	case err == nil && len(res) == 0:
		// An empty slice sends nothing, like PyTrickle's [].
		s.ctr.audioDropped.Add(1)
		return nil, false
	case err == nil:
		return res, false
	case errors.Is(err, errHandlerTimeout):
		s.handlerTimedOut("audio")
		return nil, true
	case errors.Is(err, ErrDrop):
		s.ctr.audioDropped.Add(1)
		return nil, false
	case s.ctx.Err() != nil:
		// The stop gave up waiting: not the handler's failure.
		return []*frame.Audio{a}, false
	default:
		s.handlerFailed("audio", err)
		return []*frame.Audio{a}, false
	}
}

// handlerFailed counts a failed handler call and reports it as an event
// (at most one a second, so a handler failing on every frame
// does not flood the events channel).
func (s *stream) handlerFailed(kind string, err error) {
	var n uint64
	if kind == "video" {
		n = s.ctr.videoFailed.Add(1)
	} else {
		n = s.ctr.audioFailed.Add(1)
	}
	s.handlerEvent(kind, err, n)
}

// handlerEvent logs and emits a handler_error event, at most one a
// second; n is what it reports as "failures" (of this kind so far, or
// timeouts so far).
func (s *stream) handlerEvent(kind string, err error, n uint64) {
	now := time.Now().UnixNano()
	last := &s.lastFailEvent
	if prev := last.Load(); now-prev < int64(time.Second) || !last.CompareAndSwap(prev, now) {
		return
	}
	s.log.Warn("handler failed; passing the input through", "kind", kind, "err", err, "failures", n)
	ev := typedEvent("handler_error")
	ev["kind"], ev["error"], ev["failures"] = kind, err.Error(), n
	s.sendEvent(ev, "")
}
