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
		outs := s.processAudio(item.a)
		for _, o := range outs {
			s.out.writeAudio(o)
			if o != item.a {
				o.Release()
			}
		}
		item.a.Release()
	}
}

func (s *stream) processAudio(a *frame.Audio) []*frame.Audio {
	h := s.p.h.audio
	if h == nil {
		return []*frame.Audio{a}
	}
	start := time.Now()
	var res []*frame.Audio
	err := callSafely(func() error {
		var err error
		res, err = h.HandleAudio(s.ctx, a)
		return err
	})
	if o := s.obs; o != nil {
		o.ObserveHandler("audio", time.Since(start))
	}
	switch {
	case err == nil && res == nil:
		return []*frame.Audio{a}
	case err == nil:
		return res // an empty slice sends nothing, like PyTrickle's []
	case errors.Is(err, ErrDrop):
		return nil
	case s.ctx.Err() != nil:
		// The stop gave up waiting: not the handler's failure.
		return []*frame.Audio{a}
	default:
		s.handlerFailed("audio", err)
		return []*frame.Audio{a}
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
