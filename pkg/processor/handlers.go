package processor

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// Params are stream parameters as JSON decoded them: the body of
// /stream/params, a control message, or the params of /stream/start after
// validation (width, height and max_framerate then hold ints).
type Params map[string]any

// VideoHandler processes one video frame. It returns the frame to send
// (the input, modified in place, or a new one), or:
//   - nil, nil: send the input unchanged (PyTrickle: a None result);
//   - ErrDrop: send nothing for this frame;
//   - ErrWithheld: the result is not ready: the input goes out until no
//     frame has been processed for Config.FallbackAfter, then the loading
//     frame does;
//   - any other error (or a panic, which is recovered): send the input
//     unchanged, count the failure and emit an event.
//
// The frame is valid until HandleVideo returns; keep a Clone to hold it.
// A different frame returned in its place becomes the processor's: it is
// released after encoding, so return a fresh frame (or a Clone) each time,
// never one the handler keeps.
type VideoHandler interface {
	HandleVideo(ctx context.Context, f *frame.Video) (*frame.Video, error)
}

// AudioHandler processes one audio frame and returns the frames to send in
// its place: nil, nil sends the input unchanged; an empty non-nil slice or
// ErrDrop sends nothing (PyTrickle's []); an error or panic sends the input
// and is counted.
// Returned frames other than the input become the processor's, as with
// video.
type AudioHandler interface {
	HandleAudio(ctx context.Context, f *frame.Audio) ([]*frame.Audio, error)
}

// ModelLoader loads the model once, before the first stream; the processor
// reports LOADING until it returns and ERROR if it fails.
type ModelLoader interface {
	LoadModel(ctx context.Context) error
}

// ParamUpdater receives parameter updates from /stream/params and the
// control channel while a stream runs ("load_model" removed).
type ParamUpdater interface {
	UpdateParams(ctx context.Context, p Params) error
}

// StreamStarter is called when a stream starts, before its first frame,
// with the params of the start request (an empty map when there were none).
type StreamStarter interface {
	OnStreamStart(ctx context.Context, p Params) error
}

// StreamStopper is called when a stream ends, after its last frame and
// before the output is closed.
type StreamStopper interface {
	OnStreamStop(ctx context.Context) error
}

var (
	// ErrDrop makes the processor send nothing for a frame.
	ErrDrop = errors.New("processor: drop this frame")
	// ErrWithheld makes the processor send the fallback frame for a video
	// frame whose result is not ready.
	ErrWithheld = errors.New("processor: result withheld")
)

// Funcs adapts plain functions to the handler interfaces; nil fields are
// absent handlers.
type Funcs struct {
	Video       func(ctx context.Context, f *frame.Video) (*frame.Video, error)
	Audio       func(ctx context.Context, f *frame.Audio) ([]*frame.Audio, error)
	LoadModel   func(ctx context.Context) error
	Params      func(ctx context.Context, p Params) error
	StreamStart func(ctx context.Context, p Params) error
	StreamStop  func(ctx context.Context) error
}

// handlers is what the processor calls: each field nil when the user's
// value does not provide it.
type handlers struct {
	video  VideoHandler
	audio  AudioHandler
	loader ModelLoader
	params ParamUpdater
	start  StreamStarter
	stop   StreamStopper
}

// detect finds the handler interfaces h implements. A Funcs value (or
// pointer) provides exactly its non-nil functions.
func detect(h any) handlers {
	switch f := h.(type) {
	case Funcs:
		return f.handlers()
	case *Funcs:
		if f != nil {
			return f.handlers()
		}
		return handlers{}
	}
	var hs handlers
	hs.video, _ = h.(VideoHandler)
	hs.audio, _ = h.(AudioHandler)
	hs.loader, _ = h.(ModelLoader)
	hs.params, _ = h.(ParamUpdater)
	hs.start, _ = h.(StreamStarter)
	hs.stop, _ = h.(StreamStopper)
	return hs
}

func (f Funcs) handlers() handlers {
	var hs handlers
	if f.Video != nil {
		hs.video = videoFunc(f.Video)
	}
	if f.Audio != nil {
		hs.audio = audioFunc(f.Audio)
	}
	if f.LoadModel != nil {
		hs.loader = loaderFunc(f.LoadModel)
	}
	if f.Params != nil {
		hs.params = paramsFunc(f.Params)
	}
	if f.StreamStart != nil {
		hs.start = startFunc(f.StreamStart)
	}
	if f.StreamStop != nil {
		hs.stop = stopFunc(f.StreamStop)
	}
	return hs
}

type (
	videoFunc  func(context.Context, *frame.Video) (*frame.Video, error)
	audioFunc  func(context.Context, *frame.Audio) ([]*frame.Audio, error)
	loaderFunc func(context.Context) error
	paramsFunc func(context.Context, Params) error
	startFunc  func(context.Context, Params) error
	stopFunc   func(context.Context) error
)

func (f videoFunc) HandleVideo(ctx context.Context, v *frame.Video) (*frame.Video, error) {
	return f(ctx, v)
}
func (f audioFunc) HandleAudio(ctx context.Context, a *frame.Audio) ([]*frame.Audio, error) {
	return f(ctx, a)
}
func (f loaderFunc) LoadModel(ctx context.Context) error              { return f(ctx) }
func (f paramsFunc) UpdateParams(ctx context.Context, p Params) error { return f(ctx, p) }
func (f startFunc) OnStreamStart(ctx context.Context, p Params) error { return f(ctx, p) }
func (f stopFunc) OnStreamStop(ctx context.Context) error             { return f(ctx) }

// errHandlerTimeout and errHandlerBusy are what a guarded handler call
// returns when the handler overran Config.HandlerTimeout, and when an
// earlier call that overran has still not returned, so the frame was not
// given to the handler at all.
var (
	errHandlerTimeout = errors.New("processor: handler call timed out")
	errHandlerBusy    = errors.New("processor: handler still running a call that timed out")
)

// callGuard runs one kind of frame handler (video or audio) with a
// deadline, so that a handler that hangs stalls neither the pipeline nor
// a stop. It is used from one worker goroutine.
type callGuard struct {
	// busy is set while a call that overran is still running. Only one
	// call is ever outstanding: while it runs, frames are not handed to
	// the handler, so a hung handler costs one goroutine, not one per
	// frame.
	busy atomic.Bool
}

// Outcomes of a guarded call, shared by the call's goroutine and the
// worker: whichever moves a call out of guardRunning first decides who
// owns the call's frames.
const (
	guardRunning int32 = iota
	guardReturned
	guardAbandoned
)

// call runs f, turning a panic into an error. Without a deadline
// (timeout <= 0) f runs on the caller's goroutine. With one, f runs on a
// goroutine of its own; when it has not returned in time, call returns
// errHandlerTimeout and whatever f was given now belongs to the late call:
// late runs once f finally returns, on f's goroutine, to release it. While
// such a call is outstanding, call returns errHandlerBusy without running
// f, and the caller keeps its frames.
func (g *callGuard) call(timeout time.Duration, f func() error, late func()) error {
	if timeout <= 0 {
		return callSafely(f)
	}
	if g.busy.Load() {
		return errHandlerBusy
	}
	var state atomic.Int32
	done := make(chan error, 1)
	go func() {
		err := callSafely(f)
		if state.CompareAndSwap(guardRunning, guardReturned) {
			done <- err
			return
		}
		// The worker gave up on this call and went on without it.
		late()
		g.busy.Store(false)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
	}
	// busy goes up before the call is abandoned, so that the late call,
	// which clears it, cannot do so before it is set.
	g.busy.Store(true)
	if state.CompareAndSwap(guardRunning, guardAbandoned) {
		return errHandlerTimeout
	}
	g.busy.Store(false)
	return <-done // it returned just as the deadline passed
}

// handlerTimedOut counts a call that overran Config.HandlerTimeout and the
// frame it holds, lost, and reports it as a handler_error event.
func (s *stream) handlerTimedOut(kind string) {
	n := s.ctr.handlerTimeouts.Add(1)
	if kind == "video" {
		s.ctr.videoLost.Add(1)
	} else {
		s.ctr.audioLost.Add(1)
	}
	s.handlerEvent(kind, fmt.Errorf("%w after %v", errHandlerTimeout, s.p.cfg.HandlerTimeout), n)
}
