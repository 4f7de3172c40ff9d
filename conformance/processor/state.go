package processor

import (
	"context"
	"errors"
	"maps"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/gotrickle/gotrickle/conformance/harness"
	"github.com/gotrickle/gotrickle/fakes/trickleserver"
	"github.com/gotrickle/gotrickle/pkg/api"
	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/media"
	"github.com/gotrickle/gotrickle/pkg/processor"
)

// Health, the state machine and handler hand-over (§6, PROC-026, §7.4).

// stateInstance is a processor of the spec's own: gotrickle's processor
// with the spec's handler functions (a model loader among them), behind
// pkg/api on a loopback test server. Driver specs about model loading need
// it: the shared processor loaded its model long ago. It runs (loads its
// model) when run is true; the spec can call p.Run itself otherwise.
type stateInst struct {
	url string
	p   *processor.Processor
	ctx context.Context
}

func stateInstance(f processor.Funcs, run bool) *stateInst {
	GinkgoHelper()
	needDriver()
	p, err := processor.New(f, processor.Config{Codecs: media.Codecs{}, Logger: quiet})
	if err != nil {
		harness.HarnessError(err)
	}
	srv := api.New(p, api.Config{Logger: quiet, RoutePrefix: cfg.prefix})
	p.SetObserver(srv.Observer())
	ts := httptest.NewServer(srv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	inst := &stateInst{url: ts.URL, p: p, ctx: ctx}
	DeferCleanup(func() {
		cancel()
		if run {
			<-done
		}
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		p.Stop(sctx)
		ts.Close()
	})
	if run {
		go func() { defer close(done); p.Run(ctx) }()
	}
	return inst
}

func (s *stateInst) call(method, path string, body []byte) reply {
	return callAt(s.url, method, path, body, "")
}

func (s *stateInst) health() string {
	r := s.call("GET", "/health", nil)
	h, _ := r.json["status"].(string)
	return h
}

func (s *stateInst) status() map[string]any {
	return s.call("GET", stream("status"), nil).json
}

// stateRecorder records the parameters handed to a handler function.
type stateRecorder struct {
	mu    sync.Mutex
	calls []processor.Params
}

func (r *stateRecorder) record(p processor.Params) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, maps.Clone(p))
}

func (r *stateRecorder) get() []processor.Params {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]processor.Params(nil), r.calls...)
}

var _ = specs.Describe("Health and the state machine", func() {
	It("answers /health 200 with exactly {\"status\":X}", harness.Req("PROC-007", harness.Must, harness.Core), func(ctx SpecContext) {
		check := func(want string) {
			rep := call("GET", "/health", nil, "")
			Expect(rep.err).NotTo(HaveOccurred())
			Expect(rep.status).To(Equal(200))
			Expect(rep.json).To(Equal(map[string]any{"status": want}), "body %q", rep.body)
		}
		check("IDLE")
		r := newRun()
		r.start(nil)
		check("OK")
		Expect(call("POST", stream("stop"), nil, "").status).To(Equal(200))
		check("IDLE")
	})

	It("reports LOADING and ERROR in order (Driver)", harness.Req("PROC-007", harness.Must, harness.Core), func(ctx SpecContext) {
		release := make(chan struct{})
		inst := stateInstance(processor.Funcs{LoadModel: func(ctx context.Context) error {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return errors.New("no model")
		}}, true)
		rep := inst.call("GET", "/health", nil)
		Expect(rep.status).To(Equal(200))
		Expect(rep.json).To(Equal(map[string]any{"status": "LOADING"}))
		close(release)
		Eventually(inst.health).WithTimeout(5 * time.Second).Should(Equal("ERROR"))
		rep = inst.call("GET", "/health", nil)
		Expect(rep.json).To(Equal(map[string]any{"status": "ERROR"}))
	})

	It("follows the stream: OK from start until stop, IDLE after", harness.Req("PROC-008", harness.Must, harness.Core), func(ctx SpecContext) {
		r := newRun()
		Expect(health()).To(Equal("IDLE"))
		r.start(nil)
		Expect(health()).To(Equal("OK"))
		Consistently(health).WithTimeout(1500 * time.Millisecond).WithPolling(100 * time.Millisecond).Should(Equal("OK"))
		Expect(call("POST", stream("stop"), nil, "").status).To(Equal(200))
		Expect(health()).To(Equal("IDLE"))
	})

	It("sends the pipeline-state object everywhere", harness.Req("PROC-009", harness.Must, harness.API), func(ctx SpecContext) {
		apiExpectState(apiStatus(), "IDLE")
		r := newRun()
		rep := postJSON(stream("start"), r.request(nil))
		Expect(rep.status).To(Equal(200), "start: %s", rep.body)
		st := apiExpectState(rep.json["current_state"], "OK")
		Expect(st).To(HaveKeyWithValue("pipeline_ready", true))
		Expect(st).To(HaveKeyWithValue("startup_complete", true))
		Expect(st).To(HaveKeyWithValue("pipeline_state", "IDLE"))
		apiExpectState(apiStatus(), "OK")
		rep = postJSON(stream("start"), newRun().request(nil))
		Expect(rep.status).To(Equal(503))
		apiExpectState(rep.json["current_state"], "OK")
	})

	It("shows LOADING until the loader returns, then IDLE (Driver)", harness.Req("PROC-010", harness.Must, harness.Core), func(ctx SpecContext) {
		var calls atomic.Int32
		inst := stateInstance(processor.Funcs{LoadModel: func(ctx context.Context) error {
			calls.Add(1)
			time.Sleep(time.Second)
			return nil
		}}, true)
		Expect(inst.health()).To(Equal("LOADING"))
		st := apiExpectState(inst.status(), "LOADING")
		Expect(st).To(HaveKeyWithValue("pipeline_ready", false))
		Eventually(inst.health).WithTimeout(3 * time.Second).WithPolling(50 * time.Millisecond).Should(Equal("IDLE"))
		st = apiExpectState(inst.status(), "IDLE")
		Expect(st).To(HaveKeyWithValue("pipeline_ready", true))
		Expect(st).To(HaveKeyWithValue("startup_complete", true))
		Expect(calls.Load()).To(Equal(int32(1)))
	})

	It("runs the loader once under concurrent triggers (Driver)", harness.Req("PROC-011", harness.Must, harness.Core), func(ctx SpecContext) {
		var calls atomic.Int32
		inst := stateInstance(processor.Funcs{LoadModel: func(ctx context.Context) error {
			calls.Add(1)
			time.Sleep(500 * time.Millisecond)
			return nil
		}}, false)
		go inst.p.Run(inst.ctx) // returns when the instance's cleanup cancels its ctx
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { inst.call("POST", stream("params"), []byte(`{"load_model":true}`)) })
		}
		wg.Wait()
		Eventually(inst.health).WithTimeout(3 * time.Second).Should(Equal("IDLE"))
		inst.call("POST", stream("params"), []byte(`{"load_model":true}`))
		Expect(calls.Load()).To(Equal(int32(1)), "model loader calls")
	})

	It("keeps load_model from the parameter updater (Driver)", harness.Req("PROC-011", harness.Must, harness.Core), func(ctx SpecContext) {
		var rec stateRecorder
		useHandler(processor.Funcs{Params: func(ctx context.Context, p processor.Params) error { rec.record(p); return nil }})
		r := newRun()
		r.start(nil)
		rep := postJSON(stream("params"), map[string]any{"load_model": true, "intensity": 0.7})
		Expect(rep.status).To(Equal(200), "params: %s", rep.body)
		Expect(rec.get()).To(HaveLen(1))
		Expect(map[string]any(rec.get()[0])).To(Equal(map[string]any{"intensity": 0.7}))
	})

	It("reports ERROR and refuses starts when the model fails to load (Driver)", harness.Req("PROC-012", harness.Must, harness.Faults), func(ctx SpecContext) {
		inst := stateInstance(processor.Funcs{LoadModel: func(ctx context.Context) error { return errors.New("weights missing") }}, true)
		Eventually(inst.health).WithTimeout(3 * time.Second).Should(Equal("ERROR"))
		st := apiExpectState(inst.status(), "ERROR")
		Expect(st["error_message"]).To(HavePrefix("Model loading failed: "))
		rep := inst.call("POST", stream("start"), mustJSON(map[string]any{"gateway_request_id": "x"}))
		apiExpectError(rep, 503, "")
		Expect(rep.json["message"]).To(Equal("Pipeline is still initializing. Please wait for IDLE status."))
		apiExpectState(rep.json["current_state"], "ERROR")
		Expect(inst.health()).To(Equal("ERROR"))
	})

	It("makes a start during loading wait for the load (Driver)", harness.Req("PROC-013", harness.Must, harness.Core), func(ctx SpecContext) {
		inst := stateInstance(processor.Funcs{LoadModel: func(ctx context.Context) error {
			time.Sleep(2 * time.Second)
			return nil
		}}, true)
		t0 := time.Now()
		rep := inst.call("POST", stream("start"), mustJSON(map[string]any{"gateway_request_id": "x"}))
		took := time.Since(t0)
		Expect(rep.status).To(Equal(200), "start: %s", rep.body)
		Expect(took).To(BeNumerically(">=", 1500*time.Millisecond), "the start did not wait for the load")
		Expect(took).To(BeNumerically("<", 5*time.Second))
		Expect(inst.health()).To(Equal("OK"))
		Expect(inst.call("POST", stream("stop"), nil).status).To(Equal(200))
	})

	It("answers a start during a failing load 503 (Driver)", harness.Req("PROC-013", harness.Must, harness.Core), func(ctx SpecContext) {
		inst := stateInstance(processor.Funcs{LoadModel: func(ctx context.Context) error {
			time.Sleep(time.Second)
			return errors.New("weights missing")
		}}, true)
		t0 := time.Now()
		rep := inst.call("POST", stream("start"), mustJSON(map[string]any{"gateway_request_id": "x"}))
		Expect(time.Since(t0)).To(BeNumerically(">=", 700*time.Millisecond), "the start did not wait for the load")
		apiExpectError(rep, 503, "Pipeline is still initializing. Please wait for IDLE status.")
	})

	It("leaves /health alone on refused starts", harness.Req("PROC-014", harness.Must, harness.Faults), func(ctx SpecContext) {
		r := newRun()
		for _, body := range []string{`{}`, `{"gateway_request_id":"x","params":{"width":1}}`, `[`} {
			Expect(call("POST", stream("start"), []byte(body), "").status).To(Equal(400))
			Expect(health()).To(Equal("IDLE"))
		}
		Expect(call("POST", stream("start"), mustJSON(r.request(nil)), "text/plain").status).To(Equal(400))
		Expect(health()).To(Equal("IDLE"))
		r.start(nil)
		Expect(postJSON(stream("start"), newRun().request(nil)).status).To(Equal(503))
		Expect(health()).To(Equal("OK"))
		Expect(call("POST", stream("start"), []byte(`{}`), "").status).To(Equal(400))
		Expect(health()).To(Equal("OK"))
	})

	It("ends the stream when the input ends", harness.Req("PROC-015", harness.Must, harness.Core), func(ctx SpecContext) {
		_, segs := fixture("h264-aac-320x240")
		r := newRun()
		r.start(nil)
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		Expect(<-r.publish(pctx, segs, time.Second, false)).To(Succeed())
		suite.Trickle().CloseChannel(r.in)
		waitHealth("IDLE", 15*time.Second)
		newRun().start(nil)
		Expect(health()).To(Equal("OK"))
	})

	It("retries a failed model load on {\"load_model\": true} (Driver)", harness.Req("PROC-016", harness.Should, harness.Faults), func(ctx SpecContext) {
		var calls atomic.Int32
		inst := stateInstance(processor.Funcs{LoadModel: func(ctx context.Context) error {
			if calls.Add(1) == 1 {
				return errors.New("first try fails")
			}
			return nil
		}}, true)
		Eventually(inst.health).WithTimeout(3 * time.Second).Should(Equal("ERROR"))
		rep := inst.call("POST", stream("params"), []byte(`{"load_model":true}`))
		Expect(rep.status).To(Equal(200), "retry: %s", rep.body)
		Expect(rep.json).To(Equal(map[string]any{"status": "success", "message": "Parameters updated successfully"}))
		Expect(inst.health()).To(Equal("IDLE"))
		Expect(calls.Load()).To(Equal(int32(2)))
	})

	It("answers a failed retry 500 and stays ERROR (Driver)", harness.Req("PROC-016", harness.Should, harness.Faults), func(ctx SpecContext) {
		inst := stateInstance(processor.Funcs{LoadModel: func(ctx context.Context) error { return errors.New("weights missing") }}, true)
		Eventually(inst.health).WithTimeout(3 * time.Second).Should(Equal("ERROR"))
		rep := inst.call("POST", stream("params"), []byte(`{"load_model":true}`))
		apiExpectError(rep, 500, "Parameter update failed: Model loading failed: ")
		Expect(inst.health()).To(Equal("ERROR"))
	})

	It("accepts a start after a failed stream", harness.Req("PROC-017", harness.Should, harness.Faults), func(ctx SpecContext) {
		r := newRun()
		suite.AddFault(trickleserver.Fault{Name: "input 503", Method: "GET", Channel: r.in, Status: 503})
		DeferCleanup(suite.ClearFaults)
		r.start(nil)
		Eventually(func() any { return apiStatus()["client_running"] }).WithTimeout(15*time.Second).WithPolling(100*time.Millisecond).
			Should(Equal(false), "the stream did not end with its input unreachable")
		next := newRun()
		next.start(nil)
		Expect(health()).To(Equal("OK"))
	})

	It("gives start params to the stream-start handler only (Driver)", harness.Req("PROC-026", harness.Must, harness.Core), func(ctx SpecContext) {
		var starts, updates stateRecorder
		useHandler(processor.Funcs{
			StreamStart: func(ctx context.Context, p processor.Params) error { starts.record(p); return nil },
			Params:      func(ctx context.Context, p processor.Params) error { updates.record(p); return nil },
		})
		r := newRun()
		r.start(map[string]any{"prompt": "x", "width": "320", "height": 240.0, "max_framerate": "30"})
		Eventually(starts.get).WithTimeout(cfg.reaction).Should(HaveLen(1))
		got := starts.get()[0]
		Expect(got).To(HaveKeyWithValue("prompt", "x"))
		Expect(got["width"]).To(BeNumerically("==", 320))
		Expect(got["height"]).To(BeNumerically("==", 240))
		Expect(got["max_framerate"]).To(BeNumerically("==", 30))
		Expect(updates.get()).To(BeEmpty(), "start params reached the parameter updater")
		Expect(call("POST", stream("stop"), nil, "").status).To(Equal(200))

		r2 := newRun()
		r2.start(nil)
		Eventually(starts.get).WithTimeout(cfg.reaction).Should(HaveLen(2))
		Expect(starts.get()[1]).NotTo(BeNil(), "absent params must be an empty object")
		Expect(starts.get()[1]).To(BeEmpty())
		Expect(updates.get()).To(BeEmpty())
	})
})

var _ = specs.Describe("Parameter updates and the handler", func() {
	It("hands the updater the validated body, in order, from the next frame (Driver)", harness.Req("PROC-040", harness.Must, harness.Core), func(ctx SpecContext) {
		var rec stateRecorder
		var current atomic.Int64
		type call struct {
			at   time.Time
			step int64
		}
		var mu sync.Mutex
		var frames []call
		useHandler(processor.Funcs{
			Params: func(ctx context.Context, p processor.Params) error {
				rec.record(p)
				if v, ok := p["step"].(int); ok {
					current.Store(int64(v))
				} else if v, ok := p["step"].(float64); ok {
					current.Store(int64(v))
				}
				return nil
			},
			Video: func(ctx context.Context, v *frame.Video) (*frame.Video, error) {
				mu.Lock()
				frames = append(frames, call{time.Now(), current.Load()})
				mu.Unlock()
				return nil, nil
			},
		})
		_, segs := fixture("h264-aac-320x240")
		r := newRun()
		r.start(map[string]any{"max_framerate": 30})
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		pub := r.publish(pctx, segs, 500*time.Millisecond, true)
		time.Sleep(800 * time.Millisecond)
		Expect(postJSON(stream("params"), map[string]any{"step": 1, "load_model": false}).status).To(Equal(200))
		r.sendControl(ctx, map[string]any{"step": 2})
		Eventually(func() int { return len(rec.get()) }).WithTimeout(cfg.reaction).Should(Equal(2))
		rep := postJSON(stream("params"), map[string]any{"step": 3, "width": "320", "height": 240.5})
		answered := time.Now()
		Expect(rep.status).To(Equal(200), "params: %s", rep.body)
		calls := rec.get()
		Expect(calls).To(HaveLen(3))
		Expect(map[string]any(calls[0])).To(HaveLen(1), "load_model or extra keys reached the updater: %v", calls[0])
		Expect(calls[0]["step"]).To(BeNumerically("==", 1))
		Expect(map[string]any(calls[1])).To(HaveLen(1), "%v", calls[1])
		Expect(calls[1]["step"]).To(BeNumerically("==", 2))
		Expect(map[string]any(calls[2])).To(HaveLen(3), "%v", calls[2])
		Expect(calls[2]["width"]).To(BeNumerically("==", 320))
		Expect(calls[2]["height"]).To(BeNumerically("==", 240))
		Expect(<-pub).To(Succeed())
		waitHealth("IDLE", 10*time.Second)
		mu.Lock()
		defer mu.Unlock()
		after := 0
		for _, f := range frames {
			if f.at.After(answered) {
				after++
				Expect(f.step).To(Equal(int64(3)), "a frame handled after the update was answered saw step %d", f.step)
			}
		}
		Expect(after).To(BeNumerically(">", 0), "no frame was handled after the last update")
	})

	DescribeTable("sets ERROR when the updater fails, and the stream goes on (Driver)",
		harness.Req("PROC-042", harness.Must, harness.Faults),
		func(fail func() error) {
			var frames atomic.Int32
			useHandler(processor.Funcs{
				Params: func(ctx context.Context, p processor.Params) error {
					if p["fail"] == true {
						return fail()
					}
					return nil
				},
				Video: func(ctx context.Context, v *frame.Video) (*frame.Video, error) { frames.Add(1); return nil, nil },
			})
			_, segs := fixture("h264-aac-320x240")
			r := newRun()
			r.start(map[string]any{"max_framerate": 30})
			pctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			pub := r.publish(pctx, segs, 500*time.Millisecond, false)
			time.Sleep(800 * time.Millisecond)
			postJSON(stream("params"), map[string]any{"fail": true})
			Expect(health()).To(Equal("ERROR"))
			st := apiExpectState(apiStatus(), "ERROR")
			Expect(st["error_message"]).To(HavePrefix("Parameter update failed: "))
			Expect(st).To(HaveKeyWithValue("client_running", true))
			n := frames.Load()
			Eventually(frames.Load).WithTimeout(3*time.Second).Should(BeNumerically(">", n+5), "frames stopped after the failed update")
			Expect(<-pub).To(Succeed())
		},
		Entry("an error", func() error { return errors.New("bad intensity") }),
		Entry("a panic", func() error { panic("bad intensity") }),
	)

	It("answers a failed update 500 without a params_updated event (Driver)", harness.Req("PROC-043", harness.Should, harness.API), func(ctx SpecContext) {
		useHandler(processor.Funcs{Params: func(ctx context.Context, p processor.Params) error {
			if p["fail"] == true {
				return errors.New("bad intensity")
			}
			return nil
		}})
		r := newRun()
		r.start(nil)
		ectx, cancel := context.WithCancel(ctx)
		evs := r.readEvents(ectx)
		rep := postJSON(stream("params"), map[string]any{"fail": true})
		apiExpectError(rep, 500, "Parameter update failed: ")
		Expect(rep.json["message"]).To(Equal("Parameter update failed: bad intensity"))
		Expect(postJSON(stream("params"), map[string]any{"fail": false}).status).To(Equal(200))
		time.Sleep(cfg.reaction)
		cancel()
		var updates []any
		for _, e := range <-evs {
			if e.Event["type"] == "params_updated" {
				updates = append(updates, e.Event["params"])
			}
		}
		Expect(updates).To(Equal([]any{map[string]any{"fail": false}}), "params_updated events")
	})

	It("clears ERROR from an update on the next good update and on stop (Driver)", harness.Req("PROC-044", harness.Should, harness.Faults), func(ctx SpecContext) {
		useHandler(processor.Funcs{Params: func(ctx context.Context, p processor.Params) error {
			if p["fail"] == true {
				return errors.New("bad intensity")
			}
			return nil
		}})
		r := newRun()
		r.start(nil)
		postJSON(stream("params"), map[string]any{"fail": true})
		Expect(health()).To(Equal("ERROR"))
		Expect(postJSON(stream("params"), map[string]any{"fail": false}).status).To(Equal(200))
		Expect(health()).To(Equal("OK"))
		postJSON(stream("params"), map[string]any{"fail": true})
		Expect(health()).To(Equal("ERROR"))
		Expect(call("POST", stream("stop"), nil, "").status).To(Equal(200))
		Expect(health()).To(Equal("IDLE"))
		newRun().start(nil)
		Expect(health()).To(Equal("OK"))
	})
})
