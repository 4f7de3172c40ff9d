package processor

import "sync/atomic"

// counters are a stream's running totals, updated from its goroutines.
type counters struct {
	videoIn, videoOut, videoSkipped, videoFailed, videoDropped atomic.Uint64
	audioIn, audioOut, audioSkipped, audioFailed               atomic.Uint64
	segmentsIn, segmentsOut, bytesIn, bytesOut                 atomic.Uint64
	badSegments, encodeErrors, segmentsLost                    atomic.Uint64
}

func (s *stream) counters() Counters {
	c := &s.ctr
	return Counters{
		VideoIn: c.videoIn.Load(), VideoOut: c.videoOut.Load(), VideoSkipped: c.videoSkipped.Load(),
		VideoFailed: c.videoFailed.Load(), VideoDropped: c.videoDropped.Load(),
		AudioIn: c.audioIn.Load(), AudioOut: c.audioOut.Load(), AudioSkipped: c.audioSkipped.Load(), AudioFailed: c.audioFailed.Load(),
		SegmentsIn: c.segmentsIn.Load(), SegmentsOut: c.segmentsOut.Load(),
		BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load(),
		CorruptInput: c.badSegments.Load(), EncodeErrors: c.encodeErrors.Load(), SegmentsLost: c.segmentsLost.Load(),
		EventsDropped: s.events.Dropped(), DataDropped: s.data.Dropped(),
	}
}
