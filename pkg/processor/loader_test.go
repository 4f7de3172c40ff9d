package processor

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// countingLoader is a ModelLoader that counts its calls and runs fn.
type countingLoader struct {
	calls atomic.Int32
	fn    func(ctx context.Context, call int32) error
}

func (l *countingLoader) LoadModel(ctx context.Context) error {
	n := l.calls.Add(1)
	if l.fn == nil {
		return nil
	}
	return l.fn(ctx, n)
}

func errMsg(p StatePayload) string {
	if p.ErrorMessage == nil {
		return ""
	}
	return *p.ErrorMessage
}

func TestModelLoaderLoadsOnceUnderConcurrentCallers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &countingLoader{fn: func(ctx context.Context, _ int32) error {
			time.Sleep(5 * time.Second) // a slow model, in the bubble's fake time
			return nil
		}}
		var s stateMachine
		ml := newModelLoader(l, &s)
		errs := make(chan error, 10)
		for range 10 {
			go func() { errs <- ml.load(t.Context()) }()
		}
		synctest.Wait() // all ten are in load: one runs LoadModel, nine wait
		if got := s.health(); got != StateLoading {
			t.Errorf("health while loading = %s, want LOADING", got)
		}
		for range 10 {
			if err := <-errs; err != nil {
				t.Errorf("load = %v, want nil", err)
			}
		}
		if got := l.calls.Load(); got != 1 {
			t.Errorf("LoadModel called %d times, want 1", got)
		}
		if got := s.health(); got != StateIdle {
			t.Errorf("health after loading = %s, want IDLE", got)
		}
		if err := ml.load(t.Context()); err != nil || l.calls.Load() != 1 {
			t.Errorf("load after success = %v with %d calls, want a no-op", err, l.calls.Load())
		}
		if !ml.loaded() {
			t.Error("loaded = false after a successful load")
		}
	})
}

func TestModelLoaderFailureAndRetry(t *testing.T) {
	t.Run("a failure sets ERROR and a retry that succeeds clears it", func(t *testing.T) {
		boom := errors.New("out of memory")
		l := &countingLoader{fn: func(_ context.Context, call int32) error {
			if call == 1 {
				return boom
			}
			return nil
		}}
		var s stateMachine
		ml := newModelLoader(l, &s)

		if err := ml.load(t.Context()); !errors.Is(err, boom) {
			t.Fatalf("first load = %v, want %v", err, boom)
		}
		p := s.payload()
		if p.Status != StateError || errMsg(p) != "Model loading failed: out of memory" || s.ready() || ml.loaded() {
			t.Fatalf("after a failed load: status %s, message %q, ready %v, loaded %v; want ERROR, %q, false, false",
				p.Status, errMsg(p), s.ready(), ml.loaded(), "Model loading failed: out of memory")
		}

		if err := ml.load(t.Context()); err != nil {
			t.Fatalf("retry = %v, want nil", err)
		}
		if got := s.health(); got != StateIdle || !s.ready() {
			t.Errorf("after a successful retry: health %s, ready %v; want IDLE, true", got, s.ready())
		}
		if err := ml.load(t.Context()); err != nil || l.calls.Load() != 2 {
			t.Errorf("load after the retry = %v with %d calls, want a no-op after 2", err, l.calls.Load())
		}
	})

	t.Run("callers waiting on a failed attempt all get its error", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			boom := errors.New("bad weights")
			l := &countingLoader{fn: func(context.Context, int32) error {
				time.Sleep(time.Second)
				return boom
			}}
			var s stateMachine
			ml := newModelLoader(l, &s)
			errs := make(chan error, 5)
			for range 5 {
				go func() { errs <- ml.load(t.Context()) }()
			}
			for range 5 {
				if err := <-errs; !errors.Is(err, boom) {
					t.Errorf("load = %v, want %v", err, boom)
				}
			}
			if got := l.calls.Load(); got != 1 {
				t.Errorf("LoadModel called %d times, want 1", got)
			}
		})
	})
}

func TestModelLoaderRecoversAPanic(t *testing.T) {
	t.Run("a panic in LoadModel becomes an error and ERROR", func(t *testing.T) {
		l := &countingLoader{fn: func(context.Context, int32) error { panic("cuda exploded") }}
		var s stateMachine
		ml := newModelLoader(l, &s)
		err := ml.load(t.Context())
		if err == nil || !strings.Contains(err.Error(), "cuda exploded") {
			t.Fatalf("load = %v, want an error naming the panic", err)
		}
		p := s.payload()
		if p.Status != StateError || !strings.HasPrefix(errMsg(p), "Model loading failed: ") ||
			!strings.Contains(errMsg(p), "cuda exploded") {
			t.Errorf("after a panic: status %s, message %q", p.Status, errMsg(p))
		}
	})
}

func TestModelLoaderWithoutALoader(t *testing.T) {
	t.Run("a nil ModelLoader loads at once", func(t *testing.T) {
		var s stateMachine
		ml := newModelLoader(nil, &s)
		if err := ml.load(t.Context()); err != nil {
			t.Fatalf("load = %v", err)
		}
		if got := s.health(); got != StateIdle || !ml.loaded() {
			t.Errorf("health %s, loaded %v; want IDLE, true", got, ml.loaded())
		}
	})
	t.Run("a nil state is allowed", func(t *testing.T) {
		if err := newModelLoader(&countingLoader{}, nil).load(t.Context()); err != nil {
			t.Errorf("load = %v", err)
		}
	})
}

func TestModelLoaderCancellation(t *testing.T) {
	t.Run("a waiter whose context ends stops waiting while the attempt goes on", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			release := make(chan struct{})
			l := &countingLoader{fn: func(context.Context, int32) error { <-release; return nil }}
			var s stateMachine
			ml := newModelLoader(l, &s)
			first := make(chan error, 1)
			go func() { first <- ml.load(t.Context()) }()
			synctest.Wait()

			ctx, cancel := context.WithCancel(t.Context())
			waiter := make(chan error, 1)
			go func() { waiter <- ml.load(ctx) }()
			synctest.Wait()
			cancel()
			if err := <-waiter; !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled waiter's load = %v, want context.Canceled", err)
			}
			close(release)
			if err := <-first; err != nil {
				t.Errorf("first load = %v, want nil", err)
			}
			if got := s.health(); got != StateIdle || l.calls.Load() != 1 {
				t.Errorf("health %s after %d calls, want IDLE after 1", got, l.calls.Load())
			}
		})
	})

	t.Run("an attempt given up on its caller's cancellation leaves LOADING and a live waiter retries", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := &countingLoader{fn: func(ctx context.Context, call int32) error {
				if call == 1 {
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			}}
			var s stateMachine
			ml := newModelLoader(l, &s)
			ctx, cancel := context.WithCancel(t.Context())
			first := make(chan error, 1)
			go func() { first <- ml.load(ctx) }()
			synctest.Wait()
			waiter := make(chan error, 1)
			go func() { waiter <- ml.load(t.Context()) }()
			synctest.Wait()

			cancel()
			if err := <-first; !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled load = %v, want context.Canceled", err)
			}
			if err := <-waiter; err != nil {
				t.Errorf("waiter's load = %v, want nil from its own attempt", err)
			}
			if got := l.calls.Load(); got != 2 {
				t.Errorf("LoadModel called %d times, want 2", got)
			}
			if got := s.health(); got != StateIdle {
				t.Errorf("health = %s, want IDLE", got)
			}
		})
	})

	t.Run("a cancelled attempt alone leaves the pipeline LOADING, not ERROR", func(t *testing.T) {
		l := &countingLoader{fn: func(ctx context.Context, _ int32) error { return ctx.Err() }}
		var s stateMachine
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := newModelLoader(l, &s).load(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("load = %v, want context.Canceled", err)
		}
		if got := s.health(); got != StateLoading {
			t.Errorf("health = %s, want LOADING", got)
		}
	})
}

func TestModelLoaderIsSafeForConcurrentUse(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	l := &countingLoader{fn: func(context.Context, int32) error {
		if fail.Load() {
			return errors.New("not yet")
		}
		return nil
	}}
	var s stateMachine
	ml := newModelLoader(l, &s)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if i == 10 {
				fail.Store(false)
			}
			_ = ml.load(t.Context())
			_ = s.payload()
		})
	}
	wg.Wait()
	if err := ml.load(t.Context()); err != nil || s.health() != StateIdle {
		t.Errorf("final load = %v, health %s; want nil, IDLE", err, s.health())
	}
}

func TestModelLoaderStripLoadModel(t *testing.T) {
	for _, tc := range []struct {
		name          string
		in            Params
		wantRest      Params
		wantRequested bool
	}{
		{"nil params give nil and no request", nil, nil, false},
		{"params without the key are copied unchanged", Params{"a": 1.0}, Params{"a": 1.0}, false},
		{"true asks for a load", Params{"load_model": true, "a": 1.0}, Params{"a": 1.0}, true},
		{"false does not ask but is still removed", Params{"load_model": false, "a": 1.0}, Params{"a": 1.0}, false},
		{"null does not ask", Params{"load_model": nil}, Params{}, false},
		{"a non-zero number asks", Params{"load_model": 1.0}, Params{}, true},
		{"a negative number asks", Params{"load_model": -2.0}, Params{}, true},
		{"NaN asks, as in Python", Params{"load_model": math.NaN()}, Params{}, true},
		{"zero does not ask", Params{"load_model": 0.0}, Params{}, false},
		{"an int zero does not ask", Params{"load_model": 0}, Params{}, false},
		{"an int one asks", Params{"load_model": 1}, Params{}, true},
		{"a uint8 one asks", Params{"load_model": uint8(1)}, Params{}, true},
		{"a json.Number zero does not ask", Params{"load_model": json.Number("0")}, Params{}, false},
		{"a json.Number one asks", Params{"load_model": json.Number("1")}, Params{}, true},
		{"an empty string does not ask", Params{"load_model": ""}, Params{}, false},
		{"a non-empty string asks", Params{"load_model": "yes"}, Params{}, true},
		{"the string false asks, as in Python", Params{"load_model": "false"}, Params{}, true},
		{"the string 0 asks, as in Python", Params{"load_model": "0"}, Params{}, true},
		{"an empty object does not ask", Params{"load_model": map[string]any{}}, Params{}, false},
		{"a non-empty object asks", Params{"load_model": map[string]any{"k": 1.0}}, Params{}, true},
		{"an empty list does not ask", Params{"load_model": []any{}}, Params{}, false},
		{"a non-empty list asks", Params{"load_model": []any{false}}, Params{}, true},
		{"a struct value asks, as a Python object would", Params{"load_model": struct{}{}}, Params{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before string
			if tc.in != nil {
				b, _ := json.Marshal(tc.in["a"])
				before = string(b)
			}
			_, hadKey := tc.in["load_model"]
			rest, requested := stripLoadModel(tc.in)
			if requested != tc.wantRequested {
				t.Errorf("requested = %v, want %v", requested, tc.wantRequested)
			}
			if (rest == nil) != (tc.wantRest == nil) || len(rest) != len(tc.wantRest) {
				t.Fatalf("rest = %#v, want %#v", rest, tc.wantRest)
			}
			for k, v := range tc.wantRest {
				if rest[k] != v {
					t.Errorf("rest[%q] = %#v, want %#v", k, rest[k], v)
				}
			}
			if _, ok := rest["load_model"]; ok {
				t.Error("rest still holds load_model")
			}
			if _, still := tc.in["load_model"]; still != hadKey {
				t.Error("the input map was modified")
			}
			if tc.in != nil {
				rest["a"] = "changed"
				if b, _ := json.Marshal(tc.in["a"]); string(b) != before {
					t.Error("rest shares memory with the input map")
				}
			}
		})
	}
}

func TestModelLoaderWait(t *testing.T) {
	t.Run("wait returns at once when no load is in flight", func(t *testing.T) {
		ml := newModelLoader(&countingLoader{}, newStateMachine())
		if err := ml.wait(t.Context()); err != nil {
			t.Errorf("wait = %v, want nil", err)
		}
	})
	t.Run("wait returns the result of the load in flight", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			boom := errors.New("bad weights")
			l := &countingLoader{fn: func(context.Context, int32) error { time.Sleep(time.Second); return boom }}
			s := newStateMachine()
			ml := newModelLoader(l, s)
			loaded := make(chan error, 1)
			go func() { loaded <- ml.load(t.Context()) }()
			synctest.Wait()
			if err := ml.wait(t.Context()); !errors.Is(err, boom) {
				t.Errorf("wait = %v, want %v", err, boom)
			}
			if err := <-loaded; !errors.Is(err, boom) {
				t.Errorf("the load itself = %v, want %v", err, boom)
			}
			if s.ready() || l.calls.Load() != 1 {
				t.Errorf("ready %v after %d calls, want false after 1 (wait never loads)", s.ready(), l.calls.Load())
			}
		})
	})
	t.Run("wait gives up when its context ends", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := &countingLoader{fn: func(context.Context, int32) error { time.Sleep(time.Minute); return nil }}
			ml := newModelLoader(l, newStateMachine())
			loaded := make(chan error, 1)
			go func() { loaded <- ml.load(t.Context()) }()
			synctest.Wait()
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			if err := ml.wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("wait = %v, want context.DeadlineExceeded", err)
			}
			if err := <-loaded; err != nil {
				t.Errorf("the load itself = %v, want nil", err)
			}
		})
	})
}
