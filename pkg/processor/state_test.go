package processor

import (
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"testing"
)

// stateStep is one event applied to a stateMachine and what it must report
// afterwards.
type stateStep struct {
	do         string // a readable name of the event
	apply      func(*stateMachine)
	wantHealth State
	wantReady  bool
}

var (
	stepStartup = func(s *stateMachine) { s.startupComplete() }
	stepStart   = func(s *stateMachine) { s.setActive(true) }
	stepEnd     = func(s *stateMachine) { s.setActive(false) }
	stepStopped = func(s *stateMachine) { s.streamStopped() }
	stepParamOK = func(s *stateMachine) { s.paramsSucceeded() }
	stepFail    = func(cause errorCause) func(*stateMachine) {
		return func(s *stateMachine) { s.setError(cause.String()+" failed", cause) }
	}
)

func TestStateMachineTransitions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []stateStep
	}{
		{
			name: "LOADING becomes IDLE on startup, OK while a stream runs and IDLE after",
			steps: []stateStep{
				{"nothing", func(*stateMachine) {}, StateLoading, false},
				{"startup completes", stepStartup, StateIdle, true},
				{"a stream starts", stepStart, StateOK, true},
				{"the stream ends", stepEnd, StateIdle, true},
				{"another stream starts", stepStart, StateOK, true},
				{"it is stopped", stepStopped, StateIdle, true},
			},
		},
		{
			name: "a failed model load is ERROR until a retry succeeds",
			steps: []stateStep{
				{"the model fails to load", stepFail(causeModelLoad), StateError, false},
				{"a stream start is attempted anyway", stepStart, StateError, false},
				{"the start is undone", stepEnd, StateError, false},
				{"a stop", stepStopped, StateError, false},
				{"a params success", stepParamOK, StateError, false},
				{"the retry succeeds", stepStartup, StateIdle, true},
			},
		},
		{
			name: "a failed params update is ERROR until an update succeeds",
			steps: []stateStep{
				{"startup completes", stepStartup, StateIdle, true},
				{"a stream starts", stepStart, StateOK, true},
				{"an update fails", stepFail(causeParams), StateError, true},
				{"the next update succeeds", stepParamOK, StateOK, true},
			},
		},
		{
			name: "a failed params update is ERROR until the stream stops",
			steps: []stateStep{
				{"startup completes", stepStartup, StateIdle, true},
				{"a stream starts", stepStart, StateOK, true},
				{"an update fails", stepFail(causeParams), StateError, true},
				{"the stream stops", stepStopped, StateIdle, true},
			},
		},
		{
			name: "a failed stream is ERROR after it stops and clears when a new stream starts",
			steps: []stateStep{
				{"startup completes", stepStartup, StateIdle, true},
				{"a stream starts", stepStart, StateOK, true},
				{"the stream fails", stepFail(causeStream), StateError, true},
				{"the stream stops", stepStopped, StateError, true},
				{"a params success", stepParamOK, StateError, true},
				{"a new stream starts", stepStart, StateOK, true},
			},
		},
		{
			name: "a params failure after a stream failure does not replace it",
			steps: []stateStep{
				{"startup completes", stepStartup, StateIdle, true},
				{"a stream starts", stepStart, StateOK, true},
				{"the stream fails", stepFail(causeStream), StateError, true},
				{"an update fails", stepFail(causeParams), StateError, true},
				{"the stream stops", stepStopped, StateError, true},
			},
		},
		{
			name: "a stream failure after a params failure replaces it",
			steps: []stateStep{
				{"startup completes", stepStartup, StateIdle, true},
				{"a stream starts", stepStart, StateOK, true},
				{"an update fails", stepFail(causeParams), StateError, true},
				{"the stream fails", stepFail(causeStream), StateError, true},
				{"a params success", stepParamOK, StateError, true},
				{"the stream stops", stepStopped, StateError, true},
			},
		},
		{
			name: "startup completing again is harmless",
			steps: []stateStep{
				{"startup completes", stepStartup, StateIdle, true},
				{"startup completes again", stepStartup, StateIdle, true},
				{"a stream starts", stepStart, StateOK, true},
				{"startup completes once more", stepStartup, StateOK, true},
			},
		},
		{
			name: "a success clears nothing when no error is set",
			steps: []stateStep{
				{"a params success while loading", stepParamOK, StateLoading, false},
				{"a stop while loading", stepStopped, StateLoading, false},
				{"an error with no cause is ignored", stepFail(causeNone), StateLoading, false},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStateMachine()
			for i, st := range tc.steps {
				st.apply(s)
				if got := s.health(); got != st.wantHealth {
					t.Fatalf("step %d (%s): health = %s, want %s", i, st.do, got, st.wantHealth)
				}
				if got := s.ready(); got != st.wantReady {
					t.Fatalf("step %d (%s): ready = %v, want %v", i, st.do, got, st.wantReady)
				}
				p := s.payload()
				if p.Status != st.wantHealth || p.State != st.wantHealth {
					t.Fatalf("step %d (%s): payload status %s, state %s; want %s", i, st.do, p.Status, p.State, st.wantHealth)
				}
				if (p.ErrorMessage != nil) != (st.wantHealth == StateError) {
					t.Fatalf("step %d (%s): error_message %v with health %s", i, st.do, p.ErrorMessage, st.wantHealth)
				}
			}
		})
	}
}

func TestStatePayload(t *testing.T) {
	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		name  string
		steps []func(*stateMachine)
		want  StatePayload
	}{
		{
			name: "a loading pipeline reports LOADING, not ready and not started",
			want: StatePayload{
				Status: StateLoading, State: StateLoading, PipelineState: StateLoading,
				AdditionalInfo: map[string]any{},
			},
		},
		{
			name:  "an idle pipeline reports IDLE and ready",
			steps: []func(*stateMachine){stepStartup},
			want: StatePayload{
				Status: StateIdle, State: StateIdle, PipelineReady: true, StartupComplete: true,
				PipelineState: StateIdle, AdditionalInfo: map[string]any{},
			},
		},
		{
			name:  "a running stream reports OK with one active stream while pipeline_state stays IDLE",
			steps: []func(*stateMachine){stepStartup, stepStart},
			want: StatePayload{
				Status: StateOK, State: StateOK, PipelineReady: true, ActiveStreams: 1, StartupComplete: true,
				PipelineState: StateIdle, AdditionalInfo: map[string]any{},
			},
		},
		{
			name: "a failed model load reports ERROR with its message, not ready and not started",
			steps: []func(*stateMachine){func(s *stateMachine) {
				s.setError("Model loading failed: no GPU", causeModelLoad)
			}},
			want: StatePayload{
				Status: StateError, State: StateError, ErrorMessage: str("Model loading failed: no GPU"),
				PipelineState: StateError, AdditionalInfo: map[string]any{},
			},
		},
		{
			name: "a failed params update during a stream reports ERROR, one active stream and startup complete",
			steps: []func(*stateMachine){stepStartup, stepStart, func(s *stateMachine) {
				s.setError("Parameter update failed: bad", causeParams)
			}},
			want: StatePayload{
				Status: StateError, State: StateError, ErrorMessage: str("Parameter update failed: bad"),
				ActiveStreams: 1, StartupComplete: true, PipelineState: StateError,
				AdditionalInfo: map[string]any{},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s stateMachine
			for _, f := range tc.steps {
				f(&s)
			}
			got, err := json.Marshal(s.payload())
			if err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("payload\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestStatePayloadJSONHasPyTrickleKeys(t *testing.T) {
	// state.py's get_state_payload, in PyTrickle's order.
	pyKeys := []string{
		"status", "state", "error_message", "pipeline_ready",
		"active_streams", "startup_complete", "pipeline_state", "additional_info",
	}
	var s stateMachine
	b, err := json.Marshal(s.payload())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	t.Run("the keys are exactly PyTrickle's", func(t *testing.T) {
		got := slices.Sorted(maps.Keys(m))
		want := slices.Sorted(slices.Values(pyKeys))
		if !slices.Equal(got, want) {
			t.Errorf("keys = %v, want %v", got, want)
		}
	})
	t.Run("error_message is null without an error", func(t *testing.T) {
		if v, ok := m["error_message"]; !ok || v != nil {
			t.Errorf("error_message = %#v, want null", v)
		}
	})
	t.Run("additional_info is an empty object, not null", func(t *testing.T) {
		if v, ok := m["additional_info"].(map[string]any); !ok || len(v) != 0 {
			t.Errorf("additional_info = %#v, want {}", m["additional_info"])
		}
	})
	t.Run("active_streams is a number", func(t *testing.T) {
		if _, ok := m["active_streams"].(float64); !ok {
			t.Errorf("active_streams = %#v, want a number", m["active_streams"])
		}
	})
}

func TestStateMachinePayloadDoesNotShareMemory(t *testing.T) {
	var s stateMachine
	s.setError("first", causeModelLoad)
	p := s.payload()
	p.AdditionalInfo["x"] = 1
	*p.ErrorMessage = "changed"
	q := s.payload()
	if *q.ErrorMessage != "first" || len(q.AdditionalInfo) != 0 {
		t.Errorf("a later payload saw a caller's changes: %q, %v", *q.ErrorMessage, q.AdditionalInfo)
	}
}

func TestStateMachineIsSafeForConcurrentUse(t *testing.T) {
	var s stateMachine
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 500 {
				s.startupComplete()
				s.setActive(true)
				s.setError("x", causeParams)
				s.paramsSucceeded()
				s.streamStopped()
			}
		})
		wg.Go(func() {
			for range 500 {
				_ = s.health()
				_ = s.payload()
				_ = s.ready()
			}
		})
	}
	wg.Wait()
	if got := s.health(); got != StateIdle {
		t.Errorf("health after every goroutine stopped its stream = %s, want IDLE", got)
	}
}
