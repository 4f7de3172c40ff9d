package processor

import "errors"

// StartRequest is what /stream/start carries (PyTrickle's
// StreamStartRequest). Empty URLs mean the channel is not used: no
// subscribe URL means no input, no publish URL means output frames are
// counted and discarded.
type StartRequest struct {
	SubscribeURL     string `json:"subscribe_url"`
	PublishURL       string `json:"publish_url"`
	ControlURL       string `json:"control_url"`
	EventsURL        string `json:"events_url"`
	DataURL          string `json:"data_url"`
	GatewayRequestID string `json:"gateway_request_id"`
	Params           Params `json:"params"`
}

// State is the pipeline state /health reports.
type State string

// The four states, as PyTrickle spells them.
const (
	StateLoading State = "LOADING"
	StateIdle    State = "IDLE"
	StateOK      State = "OK"
	StateError   State = "ERROR"
)

// StatePayload is the pipeline-state object PyTrickle returns as
// current_state and at the top of /stream/status.
type StatePayload struct {
	Status          State          `json:"status"`
	State           State          `json:"state"`
	ErrorMessage    *string        `json:"error_message"`
	PipelineReady   bool           `json:"pipeline_ready"`
	ActiveStreams   int            `json:"active_streams"`
	StartupComplete bool           `json:"startup_complete"`
	PipelineState   State          `json:"pipeline_state"`
	AdditionalInfo  map[string]any `json:"additional_info"`
}

// FPS holds the four rates /stream/status and heartbeats report, each over
// a sliding window and counted where frames cross the wire.
type FPS struct {
	IngressVideo float64 `json:"ingress_video_fps"`
	IngressAudio float64 `json:"ingress_audio_fps"`
	EgressVideo  float64 `json:"egress_video_fps"`
	EgressAudio  float64 `json:"egress_audio_fps"`
}

// CurrentParams is the part of the start request /stream/status echoes.
type CurrentParams struct {
	SubscribeURL     string `json:"subscribe_url"`
	PublishURL       string `json:"publish_url"`
	GatewayRequestID string `json:"gateway_request_id"`
}

// Status is the body of /stream/status: the state payload, PyTrickle's
// client fields, and gotrickle's degradation flags and counters.
type Status struct {
	StatePayload
	ClientActive  bool           `json:"client_active"`
	ClientRunning *bool          `json:"client_running,omitempty"`
	FPS           *FPS           `json:"fps,omitempty"`
	CurrentParams *CurrentParams `json:"current_params,omitempty"`
	// DegradedInput: no input frame for 2 s, or input below 15 fps.
	DegradedInput *bool `json:"degraded_input,omitempty"`
	// DegradedInference: no output frame for 2 s, or output below
	// min(10, 0.8 × input) fps.
	DegradedInference *bool     `json:"degraded_inference,omitempty"`
	Counters          *Counters `json:"counters,omitempty"`
}

// Counters are running totals for the current (or last) stream. Every
// input segment and every frame ends in exactly one outcome, so that they
// add up (docs/reliability.md, "Accounting"):
//
//	video_frames_in = out + skipped + dropped + lost + in_flight
//	audio_frames_in + audio_frames_added = out + skipped + dropped + lost + in_flight
//	video frames decoded = video_frames_in + video_frames_capped
//	segments_in = input segments decoded + corrupt_segments_in
//	input seqs read through = segments_in + input_segments_lost
//
// The failed counts are not an outcome: a frame whose handler failed is
// passed through and then counted as out (or lost).
type Counters struct {
	VideoIn      uint64 `json:"video_frames_in"`
	VideoOut     uint64 `json:"video_frames_out"`
	VideoSkipped uint64 `json:"video_frames_skipped"`
	VideoFailed  uint64 `json:"video_frames_failed"`
	VideoDropped uint64 `json:"video_frames_dropped"`
	AudioIn      uint64 `json:"audio_frames_in"`
	AudioOut     uint64 `json:"audio_frames_out"`
	AudioSkipped uint64 `json:"audio_frames_skipped"`
	AudioFailed  uint64 `json:"audio_frames_failed"`
	SegmentsIn   uint64 `json:"segments_in"`
	SegmentsOut  uint64 `json:"segments_out"`
	BytesIn      uint64 `json:"bytes_in"`
	BytesOut     uint64 `json:"bytes_out"`
	CorruptInput uint64 `json:"corrupt_segments_in"`
	// EncodeErrors counts frames the encoder refused or that came when no
	// encoder could start: they are neither sent nor skipped.
	EncodeErrors uint64 `json:"encode_errors"`
	// SegmentsLost counts output segments the server failed part-way,
	// refused after the retries or stalled on (Config.OutputStallTimeout),
	// and those dropped before they were sent because Config.OutputBuffer
	// overflowed or a stop gave up on them (not in SegmentsOut).
	SegmentsLost  uint64 `json:"segments_lost"`
	EventsDropped uint64 `json:"events_dropped"`
	DataDropped   uint64 `json:"data_dropped"`
	// VideoCapped counts decoded video frames the frame-rate cap left out
	// (before VideoIn, which counts the frames after the cap).
	VideoCapped uint64 `json:"video_frames_capped"`
	// VideoLost and AudioLost count frames that reached no outcome of
	// their own: the encoder refused them (or had not started), the
	// device lost them, or a handler call that timed out still holds
	// them. Part of EncodeErrors is these.
	VideoLost uint64 `json:"video_frames_lost"`
	AudioLost uint64 `json:"audio_frames_lost"`
	// AudioDropped counts input audio frames a handler replaced with
	// nothing (ErrDrop or an empty slice); AudioAdded the frames a handler
	// returned beyond one per input frame.
	AudioDropped uint64 `json:"audio_frames_dropped"`
	AudioAdded   uint64 `json:"audio_frames_added"`
	// VideoInFlight and AudioInFlight are frames in the queues or the
	// workers now: 0 once a stream has ended.
	VideoInFlight uint64 `json:"video_frames_in_flight"`
	AudioInFlight uint64 `json:"audio_frames_in_flight"`
	// OutputBuffered is encoded output waiting for the network now, in
	// bytes (Config.OutputBuffer bounds it): 0 once a stream has ended.
	OutputBuffered uint64 `json:"output_buffered_bytes"`
	// DecodeErrors counts packets and pictures the decoder rejected (a
	// corrupt input segment has at least one, or failed as a whole).
	DecodeErrors uint64 `json:"decode_errors"`
	// InputSegmentsLost counts input seqs never read: skipped over after
	// the server no longer had them (470), or missing from the seqs the
	// server served.
	InputSegmentsLost uint64 `json:"input_segments_lost"`
	// InputStalls counts input segments abandoned after
	// Config.InputStallTimeout without a byte (each also corrupt).
	InputStalls uint64 `json:"input_stalls"`
	// HandlerTimeouts counts handler calls that overran
	// Config.HandlerTimeout.
	HandlerTimeouts uint64 `json:"handler_timeouts"`
	// EventsFailed counts events and DataFailed data segments the server
	// did not accept.
	EventsFailed uint64 `json:"events_failed"`
	DataFailed   uint64 `json:"data_failed"`
	// The device path (Config.Device): frames uploaded after decode or
	// after a handler's host edits, frames whose pixels were brought back
	// to the host (for host handlers, the conformance effect, or an
	// encoder without YUVWriter), frames encoded from a device
	// conversion, and device operations that failed.
	DeviceUploads   uint64 `json:"device_uploads,omitempty"`
	DeviceDownloads uint64 `json:"device_downloads,omitempty"`
	DeviceEncoded   uint64 `json:"device_encoded,omitempty"`
	DeviceErrors    uint64 `json:"device_errors,omitempty"`
}

var (
	// ErrBusy: a stream is already running ("Pipeline is still in use").
	ErrBusy = errors.New("Pipeline is still in use")
	// ErrNotReady: the model has not loaded, or loading failed.
	ErrNotReady = errors.New("Pipeline is still initializing. Please wait for IDLE status.")
	// ErrNoStream: stop or params without a stream.
	ErrNoStream = errors.New("no active stream")
)
