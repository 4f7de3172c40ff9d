package processor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"sync"
)

// loadModelKey is the params key that asks for the model to load
// (PyTrickle's StreamProcessor: update_params({"load_model": True})).
const loadModelKey = "load_model"

// modelLoader runs the user's ModelLoader at most once successfully, like
// PyTrickle's ensure_model_loaded, and keeps the stateMachine in step:
// startupComplete on success, ERROR ("Model loading failed: <err>") on
// failure.
//
// Concurrent callers share one attempt: the first runs LoadModel, the
// others wait for it and get its result. After a success every call is a
// no-op returning nil (DECISIONS.md: {"load_model": true} after a
// successful load is a no-op); after a failure the next call tries again.
type modelLoader struct {
	loader ModelLoader   // nil: nothing to load
	state  *stateMachine // nil: no state to update

	mu       sync.Mutex
	done     bool         // a load succeeded
	inflight *loadAttempt // the attempt running now, if any
}

// loadAttempt is one run of LoadModel; done closes when err is set.
type loadAttempt struct {
	done      chan struct{}
	err       error
	cancelled bool // err came from the attempt's ctx ending
}

// newModelLoader returns a loader for l (nil: the model loads instantly)
// that reports to state.
func newModelLoader(l ModelLoader, state *stateMachine) *modelLoader {
	return &modelLoader{loader: l, state: state}
}

// load makes sure the model is loaded. The first caller runs LoadModel with
// its own ctx, so callers should pass a context that lives as long as the
// processor, not a request's. A caller that finds an attempt in flight
// waits for it; if its ctx ends first it returns ctx.Err() and the attempt
// goes on. If the attempt is given up because its own caller's ctx ended,
// a waiter whose ctx is still live starts a new one.
//
// A panic in LoadModel is recovered and becomes the attempt's error. A
// failure sets ERROR (causeModelLoad), except when LoadModel gave up
// because the attempt's ctx ended: the model did not fail, the pipeline
// stays as it was (LOADING) and the next call tries again.
func (m *modelLoader) load(ctx context.Context) error {
	for {
		m.mu.Lock()
		if m.done {
			m.mu.Unlock()
			return nil
		}
		a := m.inflight
		if a == nil {
			break // m.mu still held: start an attempt
		}
		m.mu.Unlock()
		select {
		case <-a.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !a.cancelled || ctx.Err() != nil {
			return a.err
		}
		// The attempt was cancelled by its caller's ctx, not ours: try
		// again on our own.
	}
	a := &loadAttempt{done: make(chan struct{})}
	m.inflight = a
	m.mu.Unlock()

	err := m.run(ctx)
	cancelled := err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err())

	// Update the state before releasing the waiters, so that whoever
	// returns from load sees the state it produced.
	if m.state != nil {
		switch {
		case err == nil:
			m.state.startupComplete()
		case cancelled:
			// Given up, not failed: leave the state alone.
		default:
			m.state.setError("Model loading failed: "+err.Error(), causeModelLoad)
		}
	}
	m.mu.Lock()
	m.inflight = nil
	m.done = err == nil
	a.err = err
	a.cancelled = cancelled
	close(a.done)
	m.mu.Unlock()
	return err
}

// wait waits for the load attempt in flight, if any, and returns its error
// (nil on success); without one it returns nil at once, whether or not the
// model is loaded, so callers check the stateMachine afterwards. If ctx
// ends first it returns ctx.Err(). /stream/start uses it to wait for a
// model that is still loading, as PyTrickle awaits its startup task.
func (m *modelLoader) wait(ctx context.Context) error {
	m.mu.Lock()
	a := m.inflight
	m.mu.Unlock()
	if a == nil {
		return nil
	}
	select {
	case <-a.done:
		return a.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// loaded reports whether a load has succeeded.
func (m *modelLoader) loaded() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.done
}

// run calls LoadModel, turning a panic into an error.
func (m *modelLoader) run(ctx context.Context) (err error) {
	if m.loader == nil {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("LoadModel panicked: %v", r)
		}
	}()
	return m.loader.LoadModel(ctx)
}

// stripLoadModel returns a copy of p without "load_model", and whether
// "load_model" asked for a load. p itself is not modified; a nil p gives a
// nil copy.
//
// The value is judged by Python truthiness, as PyTrickle's
// params.get("load_model") is: true, a non-zero number, a non-empty string
// (even "false" or "0", as in Python), a non-empty map or list, or any
// other non-nil value ask for a load; nil, false, zero, "" and empty
// maps or lists do not.
//
// Unlike PyTrickle, which removes the key only when it is truthy, the key
// is always removed: the ParamUpdater never sees "load_model".
func stripLoadModel(p Params) (rest Params, requested bool) {
	if p == nil {
		return nil, false
	}
	rest = maps.Clone(p)
	v, ok := rest[loadModelKey]
	if !ok {
		return rest, false
	}
	delete(rest, loadModelKey)
	return rest, pyTruthy(v)
}

// pyTruthy reports whether v is truthy the way Python's bool(v) is for the
// value JSON decoding (or a Go caller) produced.
func pyTruthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case float64:
		return x != 0 // NaN is truthy in Python too
	case interface{ Float64() (float64, error) }: // json.Number
		f, err := x.Float64()
		return err != nil || f != 0
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int() != 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return rv.Uint() != 0
	case reflect.Float32, reflect.Float64:
		return rv.Float() != 0
	case reflect.Bool:
		return rv.Bool()
	case reflect.String, reflect.Map, reflect.Slice, reflect.Array:
		return rv.Len() != 0
	case reflect.Pointer, reflect.Interface, reflect.Func, reflect.Chan:
		return !rv.IsNil()
	}
	return true
}
