package statuspage

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/gotrickle/gotrickle/pkg/processor"
)

// The websocket carries JSON text messages, each with a "type", and binary
// messages, each one JPEG preview of the latest output frame:
//
//	hello     first, once: the page's settings and the recent events
//	snapshot  every Config.SnapshotInterval: state, params, rates, latency, counters
//	event     each monitoring event the stream emits, as it happens
//	dropped   how many events this browser missed because it was slow
const (
	msgHello    = "hello"
	msgSnapshot = "snapshot"
	msgEvent    = "event"
	msgDropped  = "dropped"
)

// hello is the first message a browser gets.
type hello struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	// ParamsURL is where the form posts, relative to the page
	// ("stream/params", or "api/stream/params" under a route prefix), so
	// that the page also works behind a proxy that mounts it elsewhere.
	ParamsURL          string            `json:"params_url"`
	SnapshotIntervalMS int64             `json:"snapshot_interval_ms"`
	PreviewIntervalMS  int64             `json:"preview_interval_ms"` // -1: no previews
	Events             []json.RawMessage `json:"events"`              // the recent events, oldest first
}

// snapshot is what the page shows of the processor at one moment.
type snapshot struct {
	Type string `json:"type"`
	Time int64  `json:"time"` // Unix milliseconds
	// Status is the body of /stream/status: state, fps, counters, ...
	Status processor.Status `json:"status"`
	// Params are the stream's current parameters; null without a stream
	// or when the Source does not tell them.
	Params processor.Params `json:"params"`
	// Latency covers the output frames since the previous snapshot.
	Latency latencyWindow `json:"latency"`
}

// latencyWindow summarizes the frames of one snapshot interval. The
// averages and maxima are null when no frame (or handler call) was seen.
type latencyWindow struct {
	// Frames is how many output video frames the interval saw.
	Frames int64 `json:"frames"`
	// ProcessingAvgMS and ProcessingMaxMS: from the decoder handing out
	// the input frame to the encoder accepting the output (queue wait,
	// handler, encode), in milliseconds.
	ProcessingAvgMS *float64 `json:"processing_avg_ms"`
	ProcessingMaxMS *float64 `json:"processing_max_ms"`
	// HandlerAvgMS and HandlerMaxMS: the video handler calls alone.
	HandlerAvgMS *float64 `json:"handler_avg_ms"`
	HandlerMaxMS *float64 `json:"handler_max_ms"`
}

// event wraps one monitoring event as the stream emitted it.
type event struct {
	Type  string         `json:"type"`
	Time  int64          `json:"time"`  // when the page saw it, Unix milliseconds
	Queue string         `json:"queue"` // queue_event_type
	Event map[string]any `json:"event"`
}

// marshal encodes v compactly, leaving <, > and & as they are (the page
// never puts messages into HTML unescaped).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func droppedMessage(n int) []byte {
	return []byte(`{"type":"` + msgDropped + `","count":` + strconv.Itoa(n) + `}`)
}
