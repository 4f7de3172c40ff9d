package processor

import (
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// Observer receives per-frame timings as they happen, for metrics. Its
// methods are called from the pipeline's goroutines and must not block.
//
// An Observer may also implement EventObserver and OutputObserver, which
// the processor detects on it the way net/http detects http.Flusher; a
// stream keeps the observer it started with. Observers combines several
// observers into one.
type Observer interface {
	// ObserveHandler records how long one handler call took; kind is
	// "video" or "audio".
	ObserveHandler(kind string, d time.Duration)
}

// EventObserver is an optional Observer interface: ObserveEvent is called
// with every monitoring event the running stream emits (heartbeats,
// first segments, params_updated, handler errors, stream_stopped and those
// sent with Processor.SendEvent), whether or not the stream has an events
// URL and whether or not the events queue had room. queueType is the
// event's queue_event_type ("ai_stream_events" when the sender gave none).
//
// It is called from the goroutine that emits the event, sometimes with the
// encoder's lock held, so it must return quickly and never block. The map
// belongs to the caller: ObserveEvent must neither modify it nor keep it
// (or anything inside it) past the call; encode or copy what it needs.
type EventObserver interface {
	ObserveEvent(event map[string]any, queueType string)
}

// OutputObserver is an optional Observer interface: ObserveOutputVideo is
// called by the video worker with each output video frame the encoder has
// accepted, once the encoder is done with it. latency is how long the frame
// spent in the processor from the moment the decoder handed out its input
// frame: the wait in the video queue, the handler and the encode.
//
// It runs on the video pipeline's goroutine, so it must be cheap and never
// block: gate on time before touching the pixels. v belongs to the
// pipeline: it must not be modified, released or retained past the call;
// copy (or downscale into a buffer of your own) whatever is needed later.
type OutputObserver interface {
	ObserveOutputVideo(v *frame.Video, latency time.Duration)
}

// Observers returns one Observer that passes every call to each non-nil
// observer given, in order: ObserveHandler to all, ObserveEvent to those
// that implement EventObserver, ObserveOutputVideo to those that implement
// OutputObserver. With no non-nil observer it returns nil, with one it
// returns that observer itself.
func Observers(obs ...Observer) Observer {
	var f fanOut
	for _, o := range obs {
		if o == nil {
			continue
		}
		f.all = append(f.all, o)
		if e, ok := o.(EventObserver); ok {
			f.events = append(f.events, e)
		}
		if v, ok := o.(OutputObserver); ok {
			f.output = append(f.output, v)
		}
	}
	switch len(f.all) {
	case 0:
		return nil
	case 1:
		return f.all[0]
	}
	return &f
}

// fanOut is what Observers returns for two observers or more.
type fanOut struct {
	all    []Observer
	events []EventObserver
	output []OutputObserver
}

func (f *fanOut) ObserveHandler(kind string, d time.Duration) {
	for _, o := range f.all {
		o.ObserveHandler(kind, d)
	}
}

func (f *fanOut) ObserveEvent(event map[string]any, queueType string) {
	for _, o := range f.events {
		o.ObserveEvent(event, queueType)
	}
}

func (f *fanOut) ObserveOutputVideo(v *frame.Video, latency time.Duration) {
	for _, o := range f.output {
		o.ObserveOutputVideo(v, latency)
	}
}

// observeEvent hands an event the stream emits to its EventObserver.
func (s *stream) observeEvent(ev map[string]any, queueType string) {
	if o, ok := s.obs.(EventObserver); ok {
		if queueType == "" {
			queueType = eventQueueDefault
		}
		o.ObserveEvent(ev, queueType)
	}
}

// observeOutput hands an output video frame to the stream's OutputObserver.
func (s *stream) observeOutput(v *frame.Video, arrival time.Time) {
	if o, ok := s.obs.(OutputObserver); ok {
		o.ObserveOutputVideo(v, time.Since(arrival))
	}
}
