package processor

import "time"

// Observer receives per-frame timings as they happen, for metrics. Its
// methods are called from the pipeline's goroutines and must not block.
type Observer interface {
	// ObserveHandler records how long one handler call took; kind is
	// "video" or "audio".
	ObserveHandler(kind string, d time.Duration)
}
