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
		out := s.processVideo(item.v)
		if out != nil {
			if s.invert.Load() {
				invertVideo(out)
			}
			if s.out.writeVideo(out) {
				s.observeOutput(out, item.arrival)
			}
		}
		if out != item.v && out != nil {
			out.Release()
		}
		item.v.Release()
	}
}

// processVideo returns the frame to send for v (v itself, the handler's
// frame, or a loading frame), or nil to send nothing.
func (s *stream) processVideo(v *frame.Video) *frame.Video {
	if s.showLoading.Load() {
		return s.loading.frame(v)
	}
	h := s.p.h.video
	if h == nil {
		return v
	}
	start := time.Now()
	var res *frame.Video
	err := callSafely(func() error {
		var err error
		res, err = h.HandleVideo(s.ctx, v)
		return err
	})
	if o := s.obs; o != nil {
		o.ObserveHandler("video", time.Since(start))
	}
	switch {
	case err == nil && res == nil:
		s.lastProcessed.Store(time.Now().UnixNano())
		return v
	case err == nil:
		if verr := res.Validate(); verr != nil {
			s.handlerFailed("video", verr)
			return v
		}
		s.lastProcessed.Store(time.Now().UnixNano())
		return res
	case errors.Is(err, ErrDrop):
		s.ctr.videoDropped.Add(1)
		return nil
	case errors.Is(err, ErrWithheld):
		if time.Since(time.Unix(0, s.lastProcessed.Load())) >= s.p.cfg.FallbackAfter {
			return s.loading.frame(v)
		}
		return v
	case s.ctx.Err() != nil:
		// The stop gave up waiting: not the handler's failure.
		return v
	default:
		s.handlerFailed("video", err)
		return v
	}
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
