package processor

import (
	"errors"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// videoWorker runs the video handler on queued frames and encodes the
// results, in input order.
func (s *stream) videoWorker() {
	for item := range s.videoQ {
		if s.ctx.Err() != nil {
			item.v.Release()
			s.ctr.videoSkipped.Add(1)
			continue
		}
		// A frame that waited too long is skipped while a newer one waits
		// behind it; the newest is always processed.
		if !s.p.cfg.NoSkip && time.Since(item.arrival) > s.p.cfg.MaxLag && len(s.videoQ) > 0 {
			item.v.Release()
			s.ctr.videoSkipped.Add(1)
			continue
		}
		if !s.toDevice(item.v) {
			item.v.Release()
			s.ctr.videoLost.Add(1)
			continue
		}
		out, lent := s.processVideo(item.v)
		if out != nil && s.invert.Load() && !s.toHost(out) {
			out = nil // lost on the device: counted there
			s.ctr.videoLost.Add(1)
		}
		if out != nil {
			if s.invert.Load() {
				invertVideo(out)
			}
			if s.out.writeVideo(out) {
				s.observeOutput(out, item.arrival)
			} else {
				s.ctr.videoLost.Add(1)
			}
		}
		if out != item.v && out != nil {
			out.Release()
		}
		if !lent {
			item.v.Release()
		}
	}
}

// processVideo returns the frame to send for v (v itself, the handler's
// frame, or a loading frame), or nil to send nothing (a drop, counted, or
// a loss, counted). lent says that v went to a handler call that timed
// out: the call releases it when it returns.
func (s *stream) processVideo(v *frame.Video) (out *frame.Video, lent bool) {
	if s.showLoading.Load() {
		return s.loadingFrame(v), false
	}
	h := s.p.h.video
	if h == nil {
		return v, false
	}
	if !s.forHandler(v) {
		// The pixels could not reach the host: the frame goes out as it
		// came, from the device.
		return v, false
	}
	start := time.Now()
	var res *frame.Video
	err := s.videoCalls.call(s.p.cfg.HandlerTimeout, func() error {
		var err error
		res, err = h.HandleVideo(s.ctx, v)
		return err
	}, func() { // the call returned after the worker gave up on it
		if res != nil && res != v {
			res.Release()
		}
		v.Release()
	})
	if o := s.obs; o != nil && !errors.Is(err, errHandlerBusy) {
		o.ObserveHandler("video", time.Since(start))
	}
	switch {
	case err == nil && res == nil:
		s.lastProcessed.Store(time.Now().UnixNano())
		return v, false
	case err == nil:
		if verr := res.Validate(); verr != nil {
			s.handlerFailed("video", verr)
			return v, false
		}
		s.lastProcessed.Store(time.Now().UnixNano())
		return res, false
	case errors.Is(err, errHandlerTimeout):
		s.handlerTimedOut("video")
		return nil, true
	case errors.Is(err, ErrDrop):
		s.ctr.videoDropped.Add(1)
		return nil, false
	case errors.Is(err, ErrWithheld):
		if time.Since(time.Unix(0, s.lastProcessed.Load())) >= s.p.cfg.FallbackAfter {
			return s.loadingFrame(v), false
		}
		return v, false
	case s.ctx.Err() != nil:
		// The stop gave up waiting: not the handler's failure.
		return v, false
	default:
		s.handlerFailed("video", err)
		return v, false
	}
}

// loadingFrame is the loading frame for v, or nil (counted as lost) when
// none could be made.
func (s *stream) loadingFrame(v *frame.Video) *frame.Video {
	lf := s.loading.frame(v)
	if lf == nil {
		s.ctr.videoLost.Add(1)
	}
	return lf
}

// invertVideo applies the conformance effect: 255 − value per channel.
func invertVideo(v *frame.Video) {
	for y := range v.Height {
		row := v.Pix[y*v.Stride : y*v.Stride+3*v.Width]
		for i := range row {
			row[i] = 255 - row[i]
		}
	}
}
