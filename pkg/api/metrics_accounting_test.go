package api

import (
	"strings"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/processor"
)

// The accounting counters reach /metrics with an outcome label, and the
// outcomes of the frames add up to the frames in (docs/reliability.md).
func TestMetricsExportWhereEveryFrameAndSegmentEnded(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.state = statePayload(processor.StateOK, true)
	c := processor.Counters{
		VideoIn: 100, VideoOut: 80, VideoSkipped: 9, VideoDropped: 4, VideoLost: 2, VideoInFlight: 5, VideoCapped: 20,
		AudioIn: 50, AudioAdded: 3, AudioOut: 47, AudioSkipped: 1, AudioDropped: 2, AudioLost: 1, AudioInFlight: 2,
		SegmentsIn: 10, CorruptInput: 3, InputSegmentsLost: 2, SegmentsOut: 6, SegmentsLost: 1,
		DecodeErrors: 17, InputStalls: 1, HandlerTimeouts: 4, EventsFailed: 5, DataFailed: 6, OutputBuffered: 4096,
	}
	if c.VideoOut+c.VideoSkipped+c.VideoDropped+c.VideoLost+c.VideoInFlight != c.VideoIn ||
		c.AudioOut+c.AudioSkipped+c.AudioDropped+c.AudioLost+c.AudioInFlight != c.AudioIn+c.AudioAdded {
		t.Fatal("the test's counters do not add up")
	}
	f.status = processor.Status{Counters: &c}
	s := New(f, Config{Logger: quiet})
	text := scrape(t, s)
	for _, want := range []string{
		`gotrickle_frame_outcomes_total{media="video",outcome="out"} 80`,
		`gotrickle_frame_outcomes_total{media="video",outcome="skipped"} 9`,
		`gotrickle_frame_outcomes_total{media="video",outcome="dropped"} 4`,
		`gotrickle_frame_outcomes_total{media="video",outcome="lost"} 2`,
		`gotrickle_frame_outcomes_total{media="video",outcome="capped"} 20`,
		`gotrickle_frame_outcomes_total{media="audio",outcome="out"} 47`,
		`gotrickle_frame_outcomes_total{media="audio",outcome="dropped"} 2`,
		`gotrickle_frame_outcomes_total{media="audio",outcome="lost"} 1`,
		`gotrickle_frames_in_flight{media="video"} 5`,
		`gotrickle_frames_in_flight{media="audio"} 2`,
		`gotrickle_output_buffered_bytes 4096`,
		`gotrickle_frames_added_total{media="audio"} 3`,
		`gotrickle_frames_dropped_total{media="audio"} 2`,
		`gotrickle_input_segment_outcomes_total{outcome="decoded"} 7`,
		`gotrickle_input_segment_outcomes_total{outcome="corrupt"} 3`,
		`gotrickle_input_segment_outcomes_total{outcome="lost"} 2`,
		`gotrickle_output_segment_outcomes_total{outcome="sent"} 6`,
		`gotrickle_output_segment_outcomes_total{outcome="lost"} 1`,
		`gotrickle_decode_errors_total 17`,
		`gotrickle_input_stalls_total 1`,
		`gotrickle_handler_timeouts_total 4`,
		`gotrickle_side_channel_failures_total{channel="events"} 5`,
		`gotrickle_side_channel_failures_total{channel="data"} 6`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
