package api

import (
	"context"
	"sync"

	"github.com/gotrickle/gotrickle/pkg/processor"
)

// fakeBackend records calls and returns scripted errors. Its state is
// IDLE and ready unless a test changes it; a successful Start makes it OK.
type fakeBackend struct {
	mu       sync.Mutex
	state    processor.StatePayload
	status   processor.Status
	startErr error
	stopErr  error
	paramErr error
	panicOn  string // "Start", "Status", "Health", "State": panic there

	starts []processor.StartRequest
	stops  int
	params []processor.Params
}

func newFake() *fakeBackend {
	return &fakeBackend{state: statePayload(processor.StateIdle, true)}
}

func statePayload(s processor.State, ready bool) processor.StatePayload {
	active := 0
	if s == processor.StateOK {
		active = 1
	}
	return processor.StatePayload{
		Status: s, State: s, PipelineReady: ready, StartupComplete: ready,
		PipelineState: s, ActiveStreams: active, AdditionalInfo: map[string]any{},
	}
}

func (f *fakeBackend) maybePanic(method string) {
	if f.panicOn == method {
		panic("fake " + method + " exploded")
	}
}

func (f *fakeBackend) Start(_ context.Context, req processor.StartRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maybePanic("Start")
	f.starts = append(f.starts, req)
	if f.startErr != nil {
		return f.startErr
	}
	f.state = statePayload(processor.StateOK, true)
	return nil
}

func (f *fakeBackend) Stop(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops++
	if f.stopErr != nil {
		return f.stopErr
	}
	f.state = statePayload(processor.StateIdle, true)
	return nil
}

func (f *fakeBackend) UpdateParams(_ context.Context, p processor.Params) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.params = append(f.params, p)
	return f.paramErr
}

func (f *fakeBackend) Status() processor.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maybePanic("Status")
	st := f.status
	st.StatePayload = f.state
	return st
}

func (f *fakeBackend) Health() processor.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maybePanic("Health")
	return f.state.Status
}

func (f *fakeBackend) State() processor.StatePayload {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maybePanic("State")
	return f.state
}

func (f *fakeBackend) calls() (starts, stops, params int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.starts), f.stops, len(f.params)
}

// waitingBackend adds ReadyWaiter: WaitReady moves the state to become.
type waitingBackend struct {
	*fakeBackend
	become processor.StatePayload
	waits  int
}

func (w *waitingBackend) WaitReady(context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waits++
	w.state = w.become
	return nil
}
