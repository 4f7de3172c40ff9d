package processor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/gotrickle/gotrickle/conformance/harness"
	"github.com/gotrickle/gotrickle/fixtures"
)

// HTTP API specs: routes, bodies, start/stop/status, version and hardware
// (docs/spec/processor-api.md §5, §7.1, §7.3, §8, §9).

// apiExpectJSON checks that rep is a JSON object with a JSON content type.
func apiExpectJSON(rep reply) {
	GinkgoHelper()
	Expect(rep.err).NotTo(HaveOccurred())
	Expect(rep.header.Get("Content-Type")).To(HavePrefix("application/json"), "status %d, body %q", rep.status, rep.body)
	Expect(rep.json).NotTo(BeNil(), "the body is not a JSON object: %q", rep.body)
}

// apiExpectError checks an error answer: status code, JSON
// {"status":"error","message":…} whose message starts with prefix.
func apiExpectError(rep reply, code int, prefix string) string {
	GinkgoHelper()
	Expect(rep.err).NotTo(HaveOccurred())
	Expect(rep.status).To(Equal(code), "body %q", rep.body)
	apiExpectJSON(rep)
	Expect(rep.json).To(HaveKeyWithValue("status", "error"), "body %q", rep.body)
	msg, ok := rep.json["message"].(string)
	Expect(ok).To(BeTrue(), "message is not a string: %q", rep.body)
	Expect(msg).To(HavePrefix(prefix), "body %q", rep.body)
	return msg
}

// apiExpectState checks a pipeline-state object (PROC-009); health is the
// /health value it must agree with ("" to skip that check).
func apiExpectState(v any, health string) map[string]any {
	GinkgoHelper()
	m, ok := v.(map[string]any)
	Expect(ok).To(BeTrue(), "the pipeline state is not an object: %#v", v)
	for _, k := range []string{"status", "state", "error_message", "pipeline_ready", "active_streams", "startup_complete", "pipeline_state", "additional_info"} {
		Expect(m).To(HaveKey(k), "pipeline state %v", m)
	}
	Expect(m["status"]).To(BeElementOf("LOADING", "IDLE", "OK", "ERROR"))
	Expect(m["state"]).To(Equal(m["status"]), "state and status differ: %v", m)
	if health != "" {
		Expect(m["status"]).To(Equal(health), "pipeline state %v", m)
	}
	Expect(m["pipeline_ready"]).To(BeAssignableToTypeOf(true))
	Expect(m["startup_complete"]).To(BeAssignableToTypeOf(true))
	Expect(m["active_streams"]).To(BeElementOf(0.0, 1.0))
	Expect(m["pipeline_state"]).To(BeElementOf("LOADING", "IDLE", "ERROR"), "pipeline_state is never OK: %v", m)
	Expect(m["additional_info"]).To(BeAssignableToTypeOf(map[string]any{}))
	if m["status"] == "ERROR" {
		Expect(m["error_message"]).To(BeAssignableToTypeOf(""), "error_message while ERROR: %v", m)
		Expect(m["pipeline_ready"]).To(BeFalse())
	} else {
		Expect(m["error_message"]).To(BeNil(), "error_message without an error: %v", m)
	}
	return m
}

// apiOtherPrefix is a stream route under a prefix the processor does not use.
func apiOtherPrefix(route string) string {
	if cfg.prefix == "" {
		return "/api/stream/" + route
	}
	return "/stream/" + route
}

// apiOpenRequests lists the processor's requests on r's channels that have
// not ended (its reads of input and control, its writes of the rest).
func apiOpenRequests(r *run) []string {
	var open []string
	for _, q := range suite.Requests() {
		mine := false
		switch q.Channel {
		case r.in, r.control:
			mine = q.Method == "GET"
		case r.out, r.events, r.data:
			mine = q.Method == "POST" || q.Method == "DELETE"
		}
		if mine && q.End.IsZero() {
			open = append(open, q.Method+" "+q.Path)
		}
	}
	return open
}

var _ = specs.Describe("HTTP API", func() {
	It("serves the stream routes under the prefix", harness.Req("PROC-001", harness.Must, harness.API), func(ctx SpecContext) {
		r := newRun()
		rep := postJSON(stream("start"), r.request(nil))
		Expect(rep.err).NotTo(HaveOccurred())
		Expect(rep.status).To(Equal(200), "POST %s: %s", stream("start"), rep.body)
		rep = call("GET", stream("status"), nil, "")
		Expect(rep.status).To(Equal(200), "GET %s: %s", stream("status"), rep.body)
		rep = postJSON(stream("params"), map[string]any{"prompt": "x"})
		Expect(rep.status).To(Equal(200), "POST %s: %s", stream("params"), rep.body)
		rep = call("POST", stream("stop"), nil, "")
		Expect(rep.status).To(Equal(200), "POST %s: %s", stream("stop"), rep.body)
	})

	It("serves the unprefixed routes, /live-video-to-video as a start", harness.Req("PROC-002", harness.Must, harness.API), func(ctx SpecContext) {
		for _, p := range []string{"/health", "/version", "/app-version", "/hardware/info", "/hardware/stats"} {
			rep := call("GET", p, nil, "")
			Expect(rep.err).NotTo(HaveOccurred())
			Expect(rep.status).To(Equal(200), "GET %s: %s", p, rep.body)
		}
		// A bad start through the alias is answered as a bad start.
		rep := call("POST", "/live-video-to-video", []byte(`{"params":{}}`), "")
		apiExpectError(rep, 400, "Error starting stream: ")
		apiExpectState(rep.json["current_state"], "IDLE")
		// A good one starts a stream like /stream/start.
		r := newRun()
		rep = postJSON("/live-video-to-video", r.request(nil))
		Expect(rep.status).To(Equal(200), "start through the alias: %s", rep.body)
		Expect(rep.json).To(HaveKeyWithValue("status", "success"))
		Expect(rep.json).To(HaveKeyWithValue("message", "Stream started successfully"))
		Expect(rep.json).To(HaveKeyWithValue("request_id", r.id))
		apiExpectState(rep.json["current_state"], "OK")
		Expect(health()).To(Equal("OK"))
		// While it runs, both routes see it as busy.
		other := newRun()
		rep = postJSON("/live-video-to-video", other.request(nil))
		apiExpectError(rep, 503, "Pipeline is still in use")
		rep = postJSON(stream("start"), other.request(nil))
		apiExpectError(rep, 503, "Pipeline is still in use")
		Expect(call("POST", stream("stop"), nil, "").status).To(Equal(200))
		Expect(health()).To(Equal("IDLE"))
	})

	DescribeTable("answers a JSON object with Content-Type application/json",
		harness.Req("PROC-003", harness.Must, harness.API),
		func(method, path string, body []byte, ct string, code int) {
			rep := call(method, path, body, ct)
			Expect(rep.err).NotTo(HaveOccurred())
			Expect(rep.status).To(Equal(code), "%s %s: %s", method, path, rep.body)
			apiExpectJSON(rep)
			if code >= 400 {
				Expect(rep.json).To(HaveKeyWithValue("status", "error"))
				Expect(rep.json["message"]).To(BeAssignableToTypeOf(""))
			}
		},
		Entry("GET /health", "GET", "/health", nil, "", 200),
		Entry("GET /version", "GET", "/version", nil, "", 200),
		Entry("GET /app-version", "GET", "/app-version", nil, "", 200),
		Entry("GET /hardware/info", "GET", "/hardware/info", nil, "", 200),
		Entry("GET /hardware/stats", "GET", "/hardware/stats", nil, "", 200),
		Entry("GET status", "GET", stream("status"), nil, "", 200),
		Entry("stop without a stream", "POST", stream("stop"), nil, "", 400),
		Entry("params without a stream", "POST", stream("params"), []byte(`{"prompt":"x"}`), "", 400),
		Entry("a start without gateway_request_id", "POST", stream("start"), []byte(`{}`), "", 400),
		Entry("a start with a bad content type", "POST", stream("start"), []byte(`{}`), "text/plain", 400),
	)

	apiBadRoutes := []TableEntry{
		Entry("an unknown path", "GET", "/nope", 404),
		Entry("an unknown stream route", "POST", stream("nope"), 404),
		Entry("a stream route under another prefix", "POST", apiOtherPrefix("stop"), 404),
		Entry("GET start", "GET", stream("start"), 405),
		Entry("GET stop", "GET", stream("stop"), 405),
		Entry("GET params", "GET", stream("params"), 405),
		Entry("POST status", "POST", stream("status"), 405),
		Entry("POST /health", "POST", "/health", 405),
		Entry("POST /version", "POST", "/version", 405),
		Entry("POST /app-version", "POST", "/app-version", 405),
		Entry("POST /hardware/info", "POST", "/hardware/info", 405),
		Entry("POST /hardware/stats", "POST", "/hardware/stats", 405),
		Entry("GET /live-video-to-video", "GET", "/live-video-to-video", 405),
		Entry("PUT start", "PUT", stream("start"), 405),
		Entry("DELETE /health", "DELETE", "/health", 405),
	}

	DescribeTable("answers unknown paths 404 and wrong methods 405, without effect",
		harness.Req("PROC-004", harness.Must, harness.API),
		func(method, path string, code int) {
			before := health()
			var body []byte
			if method != "GET" && method != "DELETE" {
				body = []byte(`{"gateway_request_id":"x"}`)
			}
			rep := call(method, path, body, "")
			Expect(rep.err).NotTo(HaveOccurred())
			Expect(rep.status).To(Equal(code), "%s %s: %s", method, path, rep.body)
			Expect(health()).To(Equal(before), "%s %s changed /health", method, path)
			Expect(apiStatus()).To(HaveKeyWithValue("active_streams", 0.0))
		},
		apiBadRoutes,
	)

	DescribeTable("answers every error with a JSON error body",
		harness.Req("PROC-005", harness.Should, harness.API),
		func(method, path string, code int) {
			var body []byte
			if method != "GET" && method != "DELETE" {
				body = []byte(`{}`)
			}
			rep := call(method, path, body, "")
			msg := apiExpectError(rep, code, "")
			Expect(msg).NotTo(BeEmpty())
		},
		apiBadRoutes,
	)

	DescribeTable("answers bodies over 1 MiB 413, without effect",
		harness.Req("PROC-006", harness.Should, harness.API),
		func(route func() string) {
			r := newRun()
			req := r.request(nil)
			req["pad"] = strings.Repeat("a", 1<<20+1024)
			rep := call("POST", route(), mustJSON(req), "")
			apiExpectError(rep, 413, "")
			Expect(health()).To(Equal("IDLE"))
			Expect(apiStatus()).To(HaveKeyWithValue("active_streams", 0.0))
		},
		Entry("start", func() string { return stream("start") }),
		Entry("/live-video-to-video", func() string { return "/live-video-to-video" }),
		Entry("params", func() string { return stream("params") }),
	)
})

var _ = specs.Describe("Starting a stream", func() {
	It("answers a valid start 200 within 2 s", harness.Req("PROC-018", harness.Must, harness.API), func(ctx SpecContext) {
		r := newRun()
		t0 := time.Now()
		rep := postJSON(stream("start"), r.request(map[string]any{"prompt": "x"}))
		took := time.Since(t0)
		Expect(rep.err).NotTo(HaveOccurred())
		Expect(rep.status).To(Equal(200), "start: %s", rep.body)
		Expect(took).To(BeNumerically("<=", 2*time.Second), "the start took %v", took)
		apiExpectJSON(rep)
		Expect(rep.json).To(HaveKeyWithValue("status", "success"))
		Expect(rep.json).To(HaveKeyWithValue("message", "Stream started successfully"))
		Expect(rep.json).To(HaveKeyWithValue("request_id", r.id))
		st := apiExpectState(rep.json["current_state"], "OK")
		Expect(st).To(HaveKeyWithValue("active_streams", 1.0))
	})

	It("refuses a start without gateway_request_id", harness.Req("PROC-019", harness.Must, harness.API), func(ctx SpecContext) {
		r := newRun()
		req := r.request(nil)
		delete(req, "gateway_request_id")
		rep := postJSON(stream("start"), req)
		msg := apiExpectError(rep, 400, "Error starting stream: ")
		Expect(msg).To(ContainSubstring("gateway_request_id"))
		apiExpectState(rep.json["current_state"], "IDLE")
		Expect(health()).To(Equal("IDLE"))
	})

	It("ignores unknown top-level fields", harness.Req("PROC-019", harness.Must, harness.API), func(ctx SpecContext) {
		r := newRun()
		req := r.request(map[string]any{})
		req["unknown_field"] = map[string]any{"a": 1}
		req["stream_id"] = "s"
		rep := postJSON(stream("start"), req)
		Expect(rep.status).To(Equal(200), "start: %s", rep.body)
		Expect(rep.json).To(HaveKeyWithValue("request_id", r.id))
	})

	It("accepts a start with only gateway_request_id", harness.Req("PROC-020", harness.Must, harness.API), func(ctx SpecContext) {
		r := newRun()
		rep := postJSON(stream("start"), map[string]any{"gateway_request_id": r.id})
		Expect(rep.status).To(Equal(200), "start: %s", rep.body)
		Expect(health()).To(Equal("OK"))
		Consistently(health).WithTimeout(time.Second).WithPolling(100 * time.Millisecond).Should(Equal("OK"))
		rep = call("POST", stream("stop"), nil, "")
		Expect(rep.status).To(Equal(200), "stop: %s", rep.body)
		Expect(health()).To(Equal("IDLE"))
	})

	It("treats empty and blank side-channel URLs as unused", harness.Req("PROC-020", harness.Must, harness.API), func(ctx SpecContext) {
		r := newRun()
		req := r.request(nil)
		req["control_url"], req["events_url"], req["data_url"] = "", " ", ""
		rep := postJSON(stream("start"), req)
		Expect(rep.status).To(Equal(200), "start: %s", rep.body)
		_, segs := fixture("h264-aac-320x240")
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		out := r.readOutput(pctx)
		Expect(<-r.publish(pctx, segs[:2], 300*time.Millisecond, true)).To(Succeed())
		o := <-out
		Expect(o.frames).NotTo(BeEmpty(), "no output without side channels (ended: %v)", o.ended)
	})

	DescribeTable("refuses malformed start requests 400",
		harness.Req("PROC-021", harness.Must, harness.API),
		func(body, ct, want string, exact bool) {
			r := newRun()
			if strings.Contains(body, "ID") {
				body = strings.ReplaceAll(body, "ID", r.id)
			}
			rep := call("POST", stream("start"), []byte(body), ct)
			msg := apiExpectError(rep, 400, "Error starting stream: ")
			if exact {
				Expect(msg).To(Equal(want))
			}
			apiExpectState(rep.json["current_state"], "IDLE")
			Expect(health()).To(Equal("IDLE"))
		},
		Entry("text/plain", `{"gateway_request_id":"ID"}`, "text/plain", "Error starting stream: Unknown content type: text/plain", true),
		Entry("application/x-www-form-urlencoded", `gateway_request_id=ID`, "application/x-www-form-urlencoded",
			"Error starting stream: Unknown content type: application/x-www-form-urlencoded", true),
		Entry("a body that is not JSON", `{"gateway_request_id":`, "", "", false),
		Entry("an array", `[{"gateway_request_id":"ID"}]`, "", "", false),
		Entry("a string", `"ID"`, "", "", false),
		Entry("null", `null`, "", "", false),
		Entry("params a string", `{"gateway_request_id":"ID","params":"x"}`, "", "", false),
		Entry("params an array", `{"gateway_request_id":"ID","params":[1]}`, "", "", false),
		Entry("params a number", `{"gateway_request_id":"ID","params":5}`, "", "", false),
	)

	It("answers a start during a stream 503 and leaves the stream alone", harness.Req("PROC-023", harness.Must, harness.API), func(ctx SpecContext) {
		r := newRun()
		r.start(nil)
		other := newRun()
		rep := postJSON(stream("start"), other.request(nil))
		apiExpectError(rep, 503, "Pipeline is still in use")
		Expect(rep.json["message"]).To(Equal("Pipeline is still in use"))
		apiExpectState(rep.json["current_state"], "OK")
		Expect(health()).To(Equal("OK"))
		st := apiStatus()
		Expect(st["current_params"]).To(HaveKeyWithValue("gateway_request_id", r.id))
		// The running stream still processes its input.
		_, segs := fixture("h264-aac-320x240")
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		out := r.readOutput(pctx)
		Expect(<-r.publish(pctx, segs[:2], 300*time.Millisecond, true)).To(Succeed())
		Expect((<-out).frames).NotTo(BeEmpty())
		for _, q := range suite.Requests() {
			Expect(q.Channel).NotTo(BeElementOf(other.in, other.out), "the refused start's channels were used: %s %s", q.Method, q.Path)
		}
	})

	It("keeps the running stream when a bad start arrives", harness.Req("PROC-024", harness.Should, harness.Faults), func(ctx SpecContext) {
		r := newRun()
		r.start(map[string]any{"max_framerate": 30})
		_, segs := fixture("h264-aac-320x240")
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		out := r.readOutput(pctx)
		pub := r.publish(pctx, segs, time.Second, true)
		time.Sleep(1800 * time.Millisecond)
		other := newRun()
		rep := call("POST", stream("start"), mustJSON(other.request(nil)), "text/plain")
		apiExpectError(rep, 400, "Error starting stream: ")
		rep = postJSON(stream("start"), other.request(map[string]any{"width": 320}))
		apiExpectError(rep, 400, "Error starting stream: ")
		rep = call("POST", stream("start"), []byte(`{"gateway_request_id":`), "")
		apiExpectError(rep, 400, "Error starting stream: ")
		bad := time.Now()
		Expect(health()).To(Equal("OK"))
		Expect(apiStatus()["current_params"]).To(HaveKeyWithValue("gateway_request_id", r.id))
		Expect(<-pub).To(Succeed())
		o := <-out
		after := 0
		for _, t := range o.segStart {
			if t.After(bad) {
				after++
			}
		}
		Expect(after).To(BeNumerically(">=", 2), "output segments after the bad starts: %d of %d (ended: %v)", after, o.segments, o.ended)
	})

	It("accepts exactly one of five concurrent starts", harness.Req("PROC-025", harness.Should, harness.Faults), func(ctx SpecContext) {
		runs := make([]*run, 5)
		for i := range runs {
			runs[i] = newRun()
		}
		codes := make([]int, len(runs))
		var wg sync.WaitGroup
		for i, r := range runs {
			wg.Go(func() {
				defer GinkgoRecover()
				codes[i] = call("POST", stream("start"), mustJSON(r.request(nil)), "").status
			})
		}
		wg.Wait()
		winner := -1
		for i, c := range codes {
			Expect(c).To(BeElementOf(200, 503), "start %d: %d", i, c)
			if c == 200 {
				Expect(winner).To(Equal(-1), "more than one start answered 200: %v", codes)
				winner = i
			}
		}
		Expect(winner).NotTo(Equal(-1), "no start answered 200: %v", codes)
		time.Sleep(time.Second)
		Expect(apiStatus()["current_params"]).To(HaveKeyWithValue("gateway_request_id", runs[winner].id))
		for i, r := range runs {
			if i == winner {
				continue
			}
			for _, q := range suite.Requests() {
				Expect(q.Channel).NotTo(BeElementOf(r.in, r.out, r.control, r.events, r.data),
					"a refused start's channel was used: %s %s", q.Method, q.Path)
			}
		}
	})
})

var _ = specs.Describe("Stopping a stream", func() {
	DescribeTable("answers a stop without a stream 400, whatever its body",
		harness.Req("PROC-031", harness.Must, harness.API),
		func(body []byte, ct string) {
			rep := call("POST", stream("stop"), body, ct)
			apiExpectError(rep, 400, "No active stream to stop")
			Expect(rep.json).To(Equal(map[string]any{"status": "error", "message": "No active stream to stop"}))
			Expect(health()).To(Equal("IDLE"))
		},
		Entry("no body", nil, ""),
		Entry("a JSON object", []byte(`{"gateway_request_id":"x"}`), ""),
		Entry("not JSON", []byte(`not json`), "text/plain"),
	)

	It("stops a stream, closing its requests, ready for the next", harness.Req("PROC-032", harness.Must, harness.API), func(ctx SpecContext) {
		r := newRun()
		r.start(nil)
		_, segs := fixture("h264-aac-320x240")
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		pub := r.publish(pctx, segs[:3], 500*time.Millisecond, false)
		Expect(<-pub).To(Succeed())
		t0 := time.Now()
		rep := call("POST", stream("stop"), []byte(`{"ignored":true}`), "")
		Expect(rep.err).NotTo(HaveOccurred())
		Expect(time.Since(t0)).To(BeNumerically("<=", 15*time.Second))
		Expect(rep.status).To(Equal(200), "stop: %s", rep.body)
		Expect(rep.json).To(Equal(map[string]any{"status": "success", "message": "Stream stopped successfully"}))
		Expect(health()).To(Equal("IDLE"))
		Eventually(func() []string { return apiOpenRequests(r) }).WithTimeout(cfg.reaction).WithPolling(50*time.Millisecond).
			Should(BeEmpty(), "requests the processor left open after the stop")
		next := newRun()
		next.start(nil)
	})

	It("answers the first stop after the input ended 200, the second 400", harness.Req("PROC-033", harness.Must, harness.API), func(ctx SpecContext) {
		r := newRun()
		r.start(nil)
		_, segs := fixture("h264-aac-320x240")
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		Expect(<-r.publish(pctx, segs[:2], 300*time.Millisecond, true)).To(Succeed())
		waitHealth("IDLE", 15*time.Second)
		rep := call("POST", stream("stop"), nil, "")
		Expect(rep.status).To(Equal(200), "first stop: %s", rep.body)
		Expect(rep.json).To(Equal(map[string]any{"status": "success", "message": "Stream stopped successfully"}))
		rep = call("POST", stream("stop"), nil, "")
		apiExpectError(rep, 400, "No active stream to stop")
		Expect(rep.json).To(Equal(map[string]any{"status": "error", "message": "No active stream to stop"}))
	})

	It("finishes the output on a stop", harness.Req("PROC-034", harness.Should, harness.Channels), func(ctx SpecContext) {
		needFeature("passthrough")
		fx, segs := fixture("h264-aac-320x240")
		vs, _ := fx.Video()
		r := newRun()
		r.start(map[string]any{"width": vs.Width, "height": vs.Height, "max_framerate": 30})
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		out := r.readOutput(pctx)
		const k = 2
		Expect(r.publishNow(pctx, segs[:k+1], 500*time.Millisecond, false)).To(Succeed())
		rep := call("POST", stream("stop"), nil, "")
		Expect(rep.status).To(Equal(200), "stop: %s", rep.body)
		stopped := time.Now()
		var o output
		select {
		case o = <-out:
		case <-time.After(5 * time.Second):
			Fail("the output did not end within 5 s of the stop")
		}
		var want []int64
		for _, p := range vs.PTS {
			if p < segs[k+1].FirstPTS.Ticks {
				want = append(want, p)
			}
		}
		got := map[int64]bool{}
		for _, f := range o.frames {
			got[f.pts] = true
		}
		var missing []int64
		for _, p := range want {
			if !got[p] {
				missing = append(missing, p)
			}
		}
		Expect(missing).To(BeEmpty(), "frames of segments 0..%d missing from the output (%d of %d; ended: %v)", k, len(missing), len(want), o.ended)
		Eventually(func() []string { return apiOpenRequests(r) }).WithTimeout(time.Until(stopped.Add(5 * time.Second))).
			WithPolling(50 * time.Millisecond).Should(BeEmpty())
		deleted := map[string]bool{}
		for _, q := range suite.Requests() {
			if q.Method == "POST" && q.Channel == r.out {
				Expect(q.Status).To(BeNumerically(">=", 200), "an output POST had no answer: %s", q.Path)
				Expect(q.Status).To(BeNumerically("<", 300), "output POST %s: %d", q.Path, q.Status)
			}
			if q.Method == "DELETE" {
				deleted[q.Channel] = true
			}
		}
		for _, ch := range []string{r.out, r.events, r.data} {
			Expect(deleted).To(HaveKey(ch), "no DELETE of %s", ch)
		}
	})

	It("answers a stop within 3 s", harness.Req("PROC-035", harness.Should, harness.Timing), func(ctx SpecContext) {
		r := newRun()
		r.start(nil)
		_, segs := fixture("h264-aac-320x240")
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		out := r.readOutput(pctx)
		Expect(r.publishNow(pctx, segs[:3], 500*time.Millisecond, false)).To(Succeed())
		t0 := time.Now()
		rep := call("POST", stream("stop"), nil, "")
		took := time.Since(t0)
		Expect(rep.status).To(Equal(200), "stop: %s", rep.body)
		Expect(took).To(BeNumerically("<=", 3*time.Second), "the stop took %v", took)
		cancel()
		<-out
	})
})

var _ = specs.Describe("Status", func() {
	It("answers the state and client_active false without a stream", harness.Req("PROC-045", harness.Must, harness.API), func(ctx SpecContext) {
		rep := call("GET", stream("status"), nil, "")
		Expect(rep.status).To(Equal(200), "status: %s", rep.body)
		apiExpectJSON(rep)
		st := apiExpectState(rep.json, health())
		Expect(st).To(HaveKeyWithValue("client_active", false))
		Expect(st).To(HaveKeyWithValue("active_streams", 0.0))
	})

	It("describes the running stream", harness.Req("PROC-046", harness.Must, harness.API), func(ctx SpecContext) {
		r := newRun()
		r.start(nil)
		st := apiExpectState(apiStatus(), "OK")
		Expect(st).To(HaveKeyWithValue("client_active", true))
		Expect(st).To(HaveKeyWithValue("client_running", true))
		Expect(st).To(HaveKeyWithValue("active_streams", 1.0))
		fps, ok := st["fps"].(map[string]any)
		Expect(ok).To(BeTrue(), "fps is not an object: %v", st["fps"])
		for _, k := range []string{"ingress_video_fps", "ingress_audio_fps", "egress_video_fps", "egress_audio_fps"} {
			Expect(fps[k]).To(BeAssignableToTypeOf(0.0), "fps.%s", k)
		}
		Expect(st["current_params"]).To(And(
			HaveKeyWithValue("subscribe_url", r.url(r.in)),
			HaveKeyWithValue("publish_url", r.url(r.out)),
			HaveKeyWithValue("gateway_request_id", r.id)))
	})

	It("shows client_running false and IDLE after the input ended", harness.Req("PROC-047", harness.Must, harness.API), func(ctx SpecContext) {
		r := newRun()
		r.start(nil)
		_, segs := fixture("h264-aac-320x240")
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		Expect(<-r.publish(pctx, segs[:2], 300*time.Millisecond, true)).To(Succeed())
		waitHealth("IDLE", 15*time.Second)
		st := apiExpectState(apiStatus(), "IDLE")
		Expect(st).To(HaveKeyWithValue("client_running", false))
	})

	It("measures frame rates over a sliding window", harness.Req("PROC-048", harness.Must, harness.Timing), func(ctx SpecContext) {
		fx, segs := fixture("h264-aac-320x240")
		r := newRun()
		r.start(map[string]any{"max_framerate": 30})
		rates := func() map[string]any {
			f, _ := apiStatus()["fps"].(map[string]any)
			return f
		}
		Expect(rates()).To(HaveKeyWithValue("ingress_video_fps", 0.0), "rates before any input")
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		pub := make(chan error, 1)
		go func() { defer GinkgoRecover(); pub <- apiPublishLive(pctx, r, segs) }()
		// The fixtures last 5 s: the rates are read over their last 2 s.
		time.Sleep(time.Duration((fx.DurationSeconds - 1.5) * float64(time.Second)))
		var samples []map[string]any
		for range 4 {
			samples = append(samples, rates())
			time.Sleep(250 * time.Millisecond)
		}
		Expect(<-pub).To(Succeed())
		for _, f := range samples {
			Expect(f["ingress_video_fps"]).To(BeNumerically("~", 30, 3), "rates %v", f)
			Expect(f["egress_video_fps"]).To(BeNumerically("~", 30, 3), "rates %v", f)
			Expect(f["ingress_audio_fps"]).To(BeNumerically(">", 0), "rates %v", f)
			Expect(f["egress_audio_fps"]).To(BeNumerically(">", 0), "rates %v", f)
		}
	})

	// Flat out, a fixture of 5 s goes through in a fraction of a second,
	// too short to tell a 10 % difference from the encoder's start-up
	// latency: the input is the 720p fixture looped to 25 s and sent at 4x real time.
	It("counts egress video at the wire", harness.Req("PROC-049", harness.Should, harness.Timing), NodeTimeout(90*time.Second), func(ctx SpecContext) {
		segs := mediaLooped("h264-aac-1280x720", 5)
		r := newRun()
		r.start(map[string]any{"width": 1280, "height": 720, "max_framerate": 30})
		pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		out := r.readOutput(pctx)
		// Four segments a second: faster than real time, slower than the
		// suite server's window of 16 segments could hide.
		Expect(r.feed(pctx, segs, feedOpts{pause: true, period: 250 * time.Millisecond, end: true})).To(Succeed())
		o := <-out
		// Right after the end the 10-s window still holds every frame.
		f, _ := apiStatus()["fps"].(map[string]any)
		var first, last time.Time
		for _, q := range suite.Requests() {
			if q.Method == "POST" && q.Channel == r.out && q.BytesIn > 0 {
				if first.IsZero() || q.FirstByteIn.Before(first) {
					first = q.FirstByteIn
				}
				if q.LastByteIn.After(last) {
					last = q.LastByteIn
				}
			}
		}
		Expect(len(o.frames)).To(BeNumerically(">", 10), "output frames (ended: %v)", o.ended)
		measured := float64(len(o.frames)-1) / last.Sub(first).Seconds()
		AddReportEntry("rates", fmt.Sprintf("egress_video_fps %v, at the wire %.1f fps (%d frames over %v)",
			f["egress_video_fps"], measured, len(o.frames), last.Sub(first)))
		Expect(f["egress_video_fps"]).To(BeNumerically("~", measured, measured*0.1),
			"egress_video_fps vs %d frames over %v at the wire", len(o.frames), last.Sub(first))
	})
})

// apiPublishLive writes segs to r's input at live pace: each segment over
// its duration, in 30 equal slices, so that frames arrive spread over the
// second instead of at once. It ends the input afterwards.
func apiPublishLive(ctx context.Context, r *run, segs []fixtures.Segment) error {
	b, err := segBytes(segs)
	if err != nil {
		return err
	}
	durs := make([]float64, len(segs))
	for i, s := range segs {
		durs[i] = s.DurationSeconds
	}
	return r.feed(ctx, b, feedOpts{pause: true, write: spreadWrites(ctx, durs, 30), end: true})
}

var _ = specs.Describe("Version and hardware", func() {
	It("answers /version and /app-version", harness.Req("PROC-050", harness.Must, harness.API), func(ctx SpecContext) {
		rep := call("GET", "/version", nil, "")
		Expect(rep.status).To(Equal(200))
		apiExpectJSON(rep)
		for _, k := range []string{"pipeline", "model_id", "version"} {
			Expect(rep.json[k]).To(BeAssignableToTypeOf(""), "/version %s: %s", k, rep.body)
		}
		rep = call("GET", "/app-version", nil, "")
		Expect(rep.status).To(Equal(200))
		apiExpectJSON(rep)
		Expect(rep.json["version"]).To(BeAssignableToTypeOf(""), "/app-version: %s", rep.body)
	})

	It("answers /hardware/info and /hardware/stats", harness.Req("PROC-051", harness.Must, harness.API), func(ctx SpecContext) {
		v := call("GET", "/version", nil, "")
		Expect(v.status).To(Equal(200))
		for _, c := range []struct {
			path, key string
			fields    []string
		}{
			{"/hardware/info", "gpu_info", []string{"id", "name", "memory_total", "memory_free", "major", "minor"}},
			{"/hardware/stats", "gpu_stats", []string{"id", "name", "memory_total", "memory_free", "utilization_compute", "utilization_memory"}},
		} {
			rep := call("GET", c.path, nil, "")
			Expect(rep.status).To(Equal(200), "%s: %s", c.path, rep.body)
			apiExpectJSON(rep)
			Expect(rep.json["pipeline"]).To(Equal(v.json["pipeline"]), "%s pipeline", c.path)
			Expect(rep.json["model_id"]).To(Equal(v.json["model_id"]), "%s model_id", c.path)
			gpus, ok := rep.json[c.key].(map[string]any)
			Expect(ok).To(BeTrue(), "%s %s is not an object: %s", c.path, c.key, rep.body)
			for idx, e := range gpus {
				Expect(idx).To(MatchRegexp(`^(0|[1-9][0-9]*)$`), "%s key", c.path)
				entry, ok := e.(map[string]any)
				Expect(ok).To(BeTrue(), "%s[%s] is not an object", c.key, idx)
				for _, f := range c.fields {
					Expect(entry).To(HaveKey(f), "%s[%s]", c.key, idx)
				}
			}
		}
	})
})
