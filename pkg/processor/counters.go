package processor

import "sync/atomic"

// counters are a stream's running totals, updated from its goroutines.
// Each frame and input segment is counted once on the way in and once
// more where it ends (see Counters for the sums they keep).
type counters struct {
	videoIn, videoOut, videoSkipped, videoFailed, videoDropped atomic.Uint64
	audioIn, audioOut, audioSkipped, audioFailed               atomic.Uint64
	segmentsIn, segmentsOut, bytesIn, bytesOut                 atomic.Uint64
	badSegments, encodeErrors, segmentsLost                    atomic.Uint64

	videoCapped, videoLost, audioLost, audioDropped, audioAdded atomic.Uint64
	decodeErrors, inputLost, inputStalls, handlerTimeouts       atomic.Uint64
}

func (s *stream) counters() Counters {
	c := &s.ctr
	// Outcomes are read before the totals they come out of: a frame is
	// counted in before it is counted out, so in-flight is never negative
	// even while the workers run.
	out := Counters{
		VideoOut: c.videoOut.Load(), VideoSkipped: c.videoSkipped.Load(), VideoDropped: c.videoDropped.Load(),
		VideoLost: c.videoLost.Load(), VideoFailed: c.videoFailed.Load(),
		AudioOut: c.audioOut.Load(), AudioSkipped: c.audioSkipped.Load(), AudioDropped: c.audioDropped.Load(),
		AudioLost: c.audioLost.Load(), AudioFailed: c.audioFailed.Load(),
		SegmentsOut: c.segmentsOut.Load(), SegmentsLost: c.segmentsLost.Load(), BytesOut: c.bytesOut.Load(),
		CorruptInput: c.badSegments.Load(), EncodeErrors: c.encodeErrors.Load(),
		DecodeErrors: c.decodeErrors.Load(), InputStalls: c.inputStalls.Load(), HandlerTimeouts: c.handlerTimeouts.Load(),
		EventsDropped: s.events.Dropped(), DataDropped: s.data.Dropped(),
		EventsFailed: s.events.Failed(), DataFailed: s.data.Failed(),
	}
	out.AudioAdded = c.audioAdded.Load()
	out.VideoIn, out.AudioIn = c.videoIn.Load(), c.audioIn.Load()
	out.VideoCapped = c.videoCapped.Load()
	out.SegmentsIn, out.BytesIn, out.InputSegmentsLost = c.segmentsIn.Load(), c.bytesIn.Load(), c.inputLost.Load()
	out.VideoInFlight = out.VideoIn - (out.VideoOut + out.VideoSkipped + out.VideoDropped + out.VideoLost)
	out.AudioInFlight = out.AudioIn + out.AudioAdded - (out.AudioOut + out.AudioSkipped + out.AudioDropped + out.AudioLost)
	if s.egress != nil {
		out.OutputBuffered = uint64(s.egress.heldBytes())
	}
	s.deviceCounters(&out)
	return out
}
