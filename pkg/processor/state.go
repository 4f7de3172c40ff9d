package processor

import "sync"

// errorCause says what put the pipeline into ERROR, which decides what
// clears it.
type errorCause int

const (
	// causeNone: no error.
	causeNone errorCause = iota
	// causeParams: a parameter update failed (/stream/params or the
	// control channel). It clears on the next successful update, on stop,
	// or when a new stream starts.
	causeParams
	// causeStream: a stream failed at runtime. Nothing sets it today: a
	// dead input is only logged, because pkg/api refuses starts while
	// /health says ERROR and a failed stream must not block the next
	// (PROC-017). It would clear when a new stream starts.
	causeStream
	// causeModelLoad: LoadModel failed. It clears only on a successful
	// load retry, and blocks starting a stream until then.
	causeModelLoad
)

func (c errorCause) String() string {
	switch c {
	case causeNone:
		return "none"
	case causeParams:
		return "params"
	case causeStream:
		return "stream"
	case causeModelLoad:
		return "model load"
	}
	return "unknown"
}

// stateMachine is the pipeline state behind /health, /stream/status and the
// current_state of every response (PyTrickle's PipelineState plus its
// active-stream bookkeeping).
//
// The internal state (pipeline_state) is LOADING until startup completes,
// IDLE after, and ERROR while an error is set; the reported status adds OK
// when a stream is active. PyTrickle's ERROR is sticky (the server never
// calls clear_error); gotrickle clears it by cause (see errorCause), as
// DECISIONS.md records.
//
// The zero value is a pipeline that is LOADING. It is safe for concurrent
// use.
type stateMachine struct {
	mu       sync.Mutex
	startup  bool // startup complete: the model loaded
	cause    errorCause
	errMsg   string
	isActive bool
}

// newStateMachine returns a pipeline that is LOADING.
func newStateMachine() *stateMachine { return &stateMachine{} }

// startupComplete records a successful model load: LOADING becomes IDLE,
// and an ERROR from a failed load clears. An ERROR of another cause stays.
func (s *stateMachine) startupComplete() {
	s.mu.Lock()
	s.startup = true
	if s.cause == causeModelLoad {
		s.clearLocked()
	}
	s.mu.Unlock()
}

// setError puts the pipeline into ERROR with msg. When an error is already
// set, a cause at least as severe replaces it (model load > stream >
// params) and a milder one is ignored, so a late params failure cannot
// shorten the life of a stream or model-load error.
func (s *stateMachine) setError(msg string, cause errorCause) {
	if cause == causeNone {
		return
	}
	s.mu.Lock()
	if cause >= s.cause {
		s.cause = cause
		s.errMsg = msg
	}
	s.mu.Unlock()
}

// paramsSucceeded records a successful parameter update, which clears an
// ERROR from a failed one.
func (s *stateMachine) paramsSucceeded() {
	s.mu.Lock()
	if s.cause == causeParams {
		s.clearLocked()
	}
	s.mu.Unlock()
}

// streamStopped records the end of a stream (a stop request or the input
// ending): the stream is no longer active, and an ERROR from a failed
// parameter update clears. An ERROR from a failed stream stays, so /health
// reports it until the next stream starts.
func (s *stateMachine) streamStopped() {
	s.mu.Lock()
	s.isActive = false
	if s.cause == causeParams {
		s.clearLocked()
	}
	s.mu.Unlock()
}

// setActive marks a client/stream active (status OK) or not. Becoming
// active starts a new stream, which clears any ERROR that belonged to the
// previous one (params or stream); a model-load ERROR stays.
func (s *stateMachine) setActive(active bool) {
	s.mu.Lock()
	s.isActive = active
	if active && (s.cause == causeParams || s.cause == causeStream) {
		s.clearLocked()
	}
	s.mu.Unlock()
}

func (s *stateMachine) clearLocked() {
	s.cause = causeNone
	s.errMsg = ""
}

// ready reports whether a stream may start: startup is complete and the
// model did not fail to load.
//
// PyTrickle answers 503 to /stream/start while in any ERROR, because
// pipeline_ready is then false. gotrickle keeps that for model-load errors
// only: a params ERROR exists only while a stream runs and clears on stop,
// so it can never block a start, and a stream ERROR describes a stream that
// is over, so a new start is allowed and clears it.
func (s *stateMachine) ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startup && s.cause != causeModelLoad
}

// health returns the status /health reports: ERROR if an error is set,
// else OK if a stream is active, else IDLE if startup is complete, else
// LOADING (PyTrickle's rule, state.py).
func (s *stateMachine) health() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.healthLocked()
}

func (s *stateMachine) healthLocked() State {
	switch {
	case s.cause != causeNone:
		return StateError
	case s.isActive:
		return StateOK
	case s.startup:
		return StateIdle
	}
	return StateLoading
}

// internalLocked is the internal pipeline state PyTrickle reports as
// pipeline_state: LOADING, IDLE or ERROR (never OK, which is derived).
func (s *stateMachine) internalLocked() State {
	switch {
	case s.cause != causeNone:
		return StateError
	case s.startup:
		return StateIdle
	}
	return StateLoading
}

// payload returns PyTrickle's pipeline-state payload (current_state, and the
// top of /stream/status).
func (s *stateMachine) payload() StatePayload {
	s.mu.Lock()
	defer s.mu.Unlock()
	status := s.healthLocked()
	internal := s.internalLocked()
	var msg *string
	if s.cause != causeNone {
		m := s.errMsg
		msg = &m
	}
	active := 0
	if s.isActive {
		active = 1
	}
	return StatePayload{
		Status:          status,
		State:           status,
		ErrorMessage:    msg,
		PipelineReady:   internal == StateIdle || internal == StateOK,
		ActiveStreams:   active,
		StartupComplete: s.startup,
		PipelineState:   internal,
		AdditionalInfo:  map[string]any{},
	}
}
