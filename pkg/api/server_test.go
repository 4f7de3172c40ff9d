package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/processor"
)

var quiet = slog.New(slog.DiscardHandler)

// serve sends one request to h and returns the recorded answer.
func serve(h http.Handler, method, path, contentType, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// generic turns v into what decoding its JSON gives, for comparisons.
func generic(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func jsonBody(t testing.TB, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", rec.Body.String(), err)
	}
	return m
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	type check func(t *testing.T, f *fakeBackend)
	noBackendCalls := func(t *testing.T, f *fakeBackend) {
		t.Helper()
		if starts, stops, params := f.calls(); starts+stops+params != 0 {
			t.Errorf("backend called: %d starts, %d stops, %d param updates", starts, stops, params)
		}
	}
	running := func(f *fakeBackend) { f.state = statePayload(processor.StateOK, true) }
	okStart := `{"subscribe_url":"http://t/in","publish_url":"http://t/out","gateway_request_id":"req-7","params":{"width":"640","height":360}}`

	for _, tc := range []struct {
		name      string
		setup     func(f *fakeBackend)
		method    string
		path      string
		ct        string // "application/json" unless set; "-" for none
		body      string
		code      int
		want      map[string]any // the body, less current_state
		withState bool           // the body also has current_state = State() after the request
		check     check
	}{
		// POST /stream/start
		{
			name:   "a start succeeds with the request id and the new state",
			method: "POST", path: "/stream/start", body: okStart, code: 200, withState: true,
			want: map[string]any{"status": "success", "message": "Stream started successfully", "request_id": "req-7"},
			check: func(t *testing.T, f *fakeBackend) {
				want := processor.StartRequest{SubscribeURL: "http://t/in", PublishURL: "http://t/out",
					GatewayRequestID: "req-7", Params: processor.Params{"width": 640, "height": 360}}
				if len(f.starts) != 1 || !reflect.DeepEqual(f.starts[0], want) {
					t.Errorf("starts = %#v", f.starts)
				}
				if f.state.Status != processor.StateOK {
					t.Errorf("state %s", f.state.Status)
				}
			},
		},
		{
			name:   "live-video-to-video is an alias of start",
			method: "POST", path: "/live-video-to-video", body: okStart, code: 200, withState: true,
			want: map[string]any{"status": "success", "message": "Stream started successfully", "request_id": "req-7"},
		},
		{
			name: "a start with a text content type is refused without touching the stream", setup: running,
			method: "POST", path: "/stream/start", ct: "text/plain", body: okStart, code: 400, withState: true,
			want:  map[string]any{"status": "error", "message": "Error starting stream: Unknown content type: text/plain"},
			check: noBackendCalls,
		},
		{
			name:   "a start without a content type is refused",
			method: "POST", path: "/stream/start", ct: "-", body: okStart, code: 400, withState: true,
			want:  map[string]any{"status": "error", "message": "Error starting stream: Unknown content type: application/octet-stream"},
			check: noBackendCalls,
		},
		{
			name: "a start with malformed JSON is refused", setup: running,
			method: "POST", path: "/stream/start", body: `{"gateway_request_id":`, code: 400, withState: true,
			want:  map[string]any{"status": "error", "message": "Error starting stream: Invalid JSON body: unexpected EOF"},
			check: noBackendCalls,
		},
		{
			name: "a start without gateway_request_id is refused and the running stream is not stopped", setup: running,
			method: "POST", path: "/stream/start", body: `{"subscribe_url":"http://t/in"}`, code: 400, withState: true,
			want: map[string]any{"status": "error", "message": "Error starting stream: 1 validation error for StreamStartRequest\ngateway_request_id\n  Field required [type=missing]"},
			check: func(t *testing.T, f *fakeBackend) {
				noBackendCalls(t, f)
				if f.state.Status != processor.StateOK {
					t.Errorf("state = %s, want the stream still OK", f.state.Status)
				}
			},
		},
		{
			name:   "a start with a URL of the wrong type is refused",
			method: "POST", path: "/stream/start", body: `{"gateway_request_id":"r","publish_url":5}`, code: 400, withState: true,
			want:  map[string]any{"status": "error", "message": "Error starting stream: 1 validation error for StreamStartRequest\npublish_url\n  Input should be a valid string [type=string_type]"},
			check: noBackendCalls,
		},
		{
			name:   "a start with width but no height is refused with PyTrickle's words",
			method: "POST", path: "/stream/start", body: `{"gateway_request_id":"r","params":{"width":512}}`, code: 400, withState: true,
			want:  map[string]any{"status": "error", "message": "Error starting stream: 1 validation error for StreamStartRequest\nparams\n  Value error, Both 'width' and 'height' must be provided together [type=value_error]"},
			check: noBackendCalls,
		},
		{
			name:   "a start while a stream runs is busy",
			setup:  func(f *fakeBackend) { running(f); f.startErr = processor.ErrBusy },
			method: "POST", path: "/stream/start", body: okStart, code: 503, withState: true,
			want: map[string]any{"status": "error", "message": "Pipeline is still in use"},
		},
		{
			name:   "a wrapped busy error is busy too",
			setup:  func(f *fakeBackend) { f.startErr = fmt.Errorf("start: %w", processor.ErrBusy) },
			method: "POST", path: "/stream/start", body: okStart, code: 503, withState: true,
			want: map[string]any{"status": "error", "message": "Pipeline is still in use"},
		},
		{
			name:   "a start the backend finds not ready is 503",
			setup:  func(f *fakeBackend) { f.startErr = processor.ErrNotReady },
			method: "POST", path: "/stream/start", body: okStart, code: 503, withState: true,
			want: map[string]any{"status": "error", "message": "Pipeline is still initializing. Please wait for IDLE status."},
		},
		{
			name:   "a start while loading is 503 even with a bad body",
			setup:  func(f *fakeBackend) { f.state = statePayload(processor.StateLoading, false) },
			method: "POST", path: "/stream/start", ct: "text/plain", body: "junk", code: 503, withState: true,
			want:  map[string]any{"status": "error", "message": "Pipeline is still initializing. Please wait for IDLE status."},
			check: noBackendCalls,
		},
		{
			name:   "a start in ERROR is 503",
			setup:  func(f *fakeBackend) { f.state = statePayload(processor.StateError, false) },
			method: "POST", path: "/stream/start", body: okStart, code: 503, withState: true,
			want:  map[string]any{"status": "error", "message": "Pipeline is still initializing. Please wait for IDLE status."},
			check: noBackendCalls,
		},
		{
			name:   "a start the backend fails is 400",
			setup:  func(f *fakeBackend) { f.startErr = errors.New("subscribe: connection refused") },
			method: "POST", path: "/stream/start", body: okStart, code: 400, withState: true,
			want: map[string]any{"status": "error", "message": "Error starting stream: subscribe: connection refused"},
		},
		{
			name:   "GET on start is not allowed",
			method: "GET", path: "/stream/start", code: 405,
			want: map[string]any{"status": "error", "message": "405: Method Not Allowed"},
		},

		// POST /stream/stop
		{
			name: "a stop succeeds", setup: running,
			method: "POST", path: "/stream/stop", code: 200,
			want: map[string]any{"status": "success", "message": "Stream stopped successfully"},
			check: func(t *testing.T, f *fakeBackend) {
				if f.stops != 1 {
					t.Errorf("stops = %d", f.stops)
				}
			},
		},
		{
			name: "a stop ignores its body and content type", setup: running,
			method: "POST", path: "/stream/stop", ct: "text/plain", body: "{{{ not json", code: 200,
			want: map[string]any{"status": "success", "message": "Stream stopped successfully"},
		},
		{
			name:   "a stop without a stream is 400",
			setup:  func(f *fakeBackend) { f.stopErr = processor.ErrNoStream },
			method: "POST", path: "/stream/stop", code: 400,
			want: map[string]any{"status": "error", "message": "No active stream to stop"},
		},
		{
			name:   "a stop that fails is 500",
			setup:  func(f *fakeBackend) { f.stopErr = errors.New("publisher stuck") },
			method: "POST", path: "/stream/stop", code: 500,
			want: map[string]any{"status": "error", "message": "Error stopping stream: publisher stuck"},
		},

		// POST /stream/params
		{
			name: "a params update succeeds with converted values", setup: running,
			method: "POST", path: "/stream/params", body: `{"prompt":"cat","width":"512","height":"512","strength":0.7}`, code: 200,
			want: map[string]any{"status": "success", "message": "Parameters updated successfully"},
			check: func(t *testing.T, f *fakeBackend) {
				want := processor.Params{"prompt": "cat", "width": 512, "height": 512, "strength": 0.7}
				if len(f.params) != 1 || !reflect.DeepEqual(f.params[0], want) {
					t.Errorf("params = %#v", f.params)
				}
			},
		},
		{
			name:   "params without a stream is 400",
			setup:  func(f *fakeBackend) { f.paramErr = processor.ErrNoStream },
			method: "POST", path: "/stream/params", body: `{"prompt":"cat"}`, code: 400,
			want: map[string]any{"status": "error", "message": "No active stream to update"},
		},
		{
			name:   "invalid params are 400 and checked before the stream is looked for",
			setup:  func(f *fakeBackend) { f.paramErr = processor.ErrNoStream },
			method: "POST", path: "/stream/params", body: `{"width":512}`, code: 400,
			want:  map[string]any{"status": "error", "message": "Parameter update failed: Both 'width' and 'height' must be provided together"},
			check: noBackendCalls,
		},
		{
			name: "a non-integer width is refused with PyTrickle's words", setup: running,
			method: "POST", path: "/stream/params", body: `{"width":"512.0","height":512}`, code: 400,
			want:  map[string]any{"status": "error", "message": "Parameter update failed: Width and height must be valid integers or integer strings"},
			check: noBackendCalls,
		},
		{
			name: "a max_framerate over sixty is refused", setup: running,
			method: "POST", path: "/stream/params", body: `{"max_framerate":90}`, code: 400,
			want: map[string]any{"status": "error", "message": "Parameter update failed: max_framerate cannot exceed 60 FPS"},
		},
		{
			name: "a zero max_framerate is refused", setup: running,
			method: "POST", path: "/stream/params", body: `{"max_framerate":"0"}`, code: 400,
			want: map[string]any{"status": "error", "message": "Parameter update failed: max_framerate must be a positive integer"},
		},
		{
			name: "a word max_framerate is refused", setup: running,
			method: "POST", path: "/stream/params", body: `{"max_framerate":"fast"}`, code: 400,
			want: map[string]any{"status": "error", "message": "Parameter update failed: max_framerate must be a valid integer"},
		},
		{
			name: "a non-boolean detect_out_resolution is refused", setup: running,
			method: "POST", path: "/stream/params", body: `{"detect_out_resolution":"sure"}`, code: 400,
			want: map[string]any{"status": "error", "message": "Parameter update failed: detect_out_resolution must be a boolean value"},
		},
		{
			name: "a params body that is not an object is refused", setup: running,
			method: "POST", path: "/stream/params", body: `["prompt"]`, code: 400,
			want:  map[string]any{"status": "error", "message": "Parameter update failed: 1 validation error for StreamParamsUpdateRequest\n  Input should be a valid dictionary or instance of StreamParamsUpdateRequest [type=model_type]"},
			check: noBackendCalls,
		},
		{
			name: "params with a text content type are refused", setup: running,
			method: "POST", path: "/stream/params", ct: "text/plain", body: `{}`, code: 400,
			want:  map[string]any{"status": "error", "message": "Parameter update failed: Unknown content type: text/plain"},
			check: noBackendCalls,
		},
		{
			name: "params with malformed JSON are refused", setup: running,
			method: "POST", path: "/stream/params", body: `{"prompt"`, code: 400,
			want: map[string]any{"status": "error", "message": "Parameter update failed: Invalid JSON body: unexpected EOF"},
		},
		{
			name:   "a params update the handler fails is 500",
			setup:  func(f *fakeBackend) { running(f); f.paramErr = errors.New("model rejected prompt") },
			method: "POST", path: "/stream/params", body: `{"prompt":"x"}`, code: 500,
			want: map[string]any{"status": "error", "message": "Parameter update failed: model rejected prompt"},
		},

		// GET routes
		{
			name:   "health is the state alone",
			method: "GET", path: "/health", code: 200,
			want: map[string]any{"status": "IDLE"},
		},
		{
			name: "health reports OK while a stream runs", setup: running,
			method: "GET", path: "/health", code: 200,
			want: map[string]any{"status": "OK"},
		},
		{
			name:   "POST on health is not allowed",
			method: "POST", path: "/health", code: 405,
			want: map[string]any{"status": "error", "message": "405: Method Not Allowed"},
		},
		{
			name:   "app-version defaults to 0.0.1",
			method: "GET", path: "/app-version", code: 200,
			want: map[string]any{"version": "0.0.1"},
		},
		{
			name:   "hardware info has an empty GPU map without a hook",
			method: "GET", path: "/hardware/info", code: 200,
			want: map[string]any{"pipeline": "test-pipe", "model_id": "test-model", "gpu_info": map[string]any{}},
		},
		{
			name:   "hardware stats has an empty GPU map without a hook",
			method: "GET", path: "/hardware/stats", code: 200,
			want: map[string]any{"pipeline": "test-pipe", "model_id": "test-model", "gpu_stats": map[string]any{}},
		},
		{
			name:   "version reports pipeline, model and version",
			method: "GET", path: "/version", code: 200,
			want: map[string]any{"pipeline": "test-pipe", "model_id": "test-model", "version": "v9.9.9"},
		},

		// Unknown paths
		{name: "an unknown path is 404", method: "GET", path: "/nope", code: 404,
			want: map[string]any{"status": "error", "message": "404: Not Found"}},
		{name: "a trailing slash is another path", method: "POST", path: "/stream/start/", body: okStart, code: 404,
			want: map[string]any{"status": "error", "message": "404: Not Found"}, check: noBackendCalls},
		{name: "the old /api prefix is not served by default", method: "POST", path: "/api/stream/start", body: okStart, code: 404,
			want: map[string]any{"status": "error", "message": "404: Not Found"}, check: noBackendCalls},
		{name: "paths are not cleaned", method: "GET", path: "/x/../health", code: 404,
			want: map[string]any{"status": "error", "message": "404: Not Found"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			if tc.setup != nil {
				tc.setup(f)
			}
			s := New(f, Config{Logger: quiet, Pipeline: "test-pipe", ModelID: "test-model", Version: "v9.9.9"})
			ct := tc.ct
			switch ct {
			case "":
				ct = "application/json"
			case "-":
				ct = ""
			}
			rec := serve(s, tc.method, tc.path, ct, tc.body)
			if rec.Code != tc.code {
				t.Errorf("status = %d, want %d; body %s", rec.Code, tc.code, rec.Body)
			}
			got := jsonBody(t, rec)
			want := map[string]any{}
			for k, v := range tc.want {
				want[k] = v
			}
			if tc.withState {
				want["current_state"] = generic(t, f.State())
			}
			if !reflect.DeepEqual(got, generic(t, want)) {
				t.Errorf("body\n got %s\nwant %s", rec.Body, mustJSON(t, want))
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

func mustJSON(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStatusIsTheBackendStatus(t *testing.T) {
	t.Parallel()
	f := newFake()
	running := true
	f.state = statePayload(processor.StateOK, true)
	f.status = processor.Status{
		ClientActive:  true,
		ClientRunning: &running,
		FPS:           &processor.FPS{IngressVideo: 30, EgressVideo: 29.5},
		CurrentParams: &processor.CurrentParams{SubscribeURL: "http://t/in", PublishURL: "http://t/out", GatewayRequestID: "g"},
		Counters:      &processor.Counters{VideoIn: 10, VideoOut: 9},
	}
	rec := serve(New(f, Config{Logger: quiet}), "GET", "/stream/status", "", "")
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	got := jsonBody(t, rec)
	if want := generic(t, f.Status()); !reflect.DeepEqual(any(got), want) {
		t.Errorf("got %s\nwant %s", rec.Body, mustJSON(t, want))
	}
	for _, k := range []string{"status", "state", "error_message", "pipeline_ready", "active_streams",
		"startup_complete", "pipeline_state", "additional_info", "client_active", "client_running", "fps", "current_params"} {
		if _, ok := got[k]; !ok {
			t.Errorf("status lacks %q: %s", k, rec.Body)
		}
	}
}

func TestRoutePrefix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, prefix, want string
	}{
		{name: "no prefix serves /stream", prefix: "", want: ""},
		{name: "a lone slash is no prefix", prefix: "/", want: ""},
		{name: "the /api prefix serves /api/stream", prefix: "/api", want: "/api"},
		{name: "a trailing slash is trimmed", prefix: "/api/v2/", want: "/api/v2"},
		{name: "a missing leading slash is added", prefix: "api", want: "/api"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			s := New(f, Config{Logger: quiet, RoutePrefix: tc.prefix})
			if got := s.Config().RoutePrefix; got != tc.want {
				t.Errorf("RoutePrefix = %q, want %q", got, tc.want)
			}
			for _, r := range []struct{ method, path string }{
				{"POST", tc.want + "/stream/params"},
				{"GET", tc.want + "/stream/status"},
				{"POST", tc.want + "/stream/start"},
				{"POST", tc.want + "/stream/stop"},
				{"GET", "/health"},
				{"GET", "/version"},
				{"GET", "/app-version"},
				{"GET", "/hardware/info"},
				{"GET", "/hardware/stats"},
				{"POST", "/live-video-to-video"},
			} {
				body := `{"gateway_request_id":"r"}`
				if strings.HasSuffix(r.path, "/stop") {
					f.mu.Lock()
					f.state = statePayload(processor.StateOK, true)
					f.mu.Unlock()
				}
				if rec := serve(s, r.method, r.path, "application/json", body); rec.Code != 200 {
					t.Errorf("%s %s = %d %s", r.method, r.path, rec.Code, rec.Body)
				}
			}
			if tc.want != "" {
				for _, p := range []string{"/stream/start", "/stream/status", tc.want + "/health", tc.want + "/live-video-to-video"} {
					if rec := serve(s, "POST", p, "application/json", `{}`); rec.Code != 404 {
						t.Errorf("POST %s = %d, want 404", p, rec.Code)
					}
				}
			}
		})
	}
}

func TestMethodNotAllowedSaysWhatIs(t *testing.T) {
	t.Parallel()
	s := New(newFake(), Config{Logger: quiet})
	for _, tc := range []struct{ method, path, allow string }{
		{"GET", "/stream/stop", "POST"},
		{"PUT", "/stream/params", "POST"},
		{"HEAD", "/live-video-to-video", "POST"},
		{"POST", "/stream/status", "GET, HEAD"},
		{"DELETE", "/metrics", "GET, HEAD"},
		{"OPTIONS", "/version", "GET, HEAD"},
	} {
		rec := serve(s, tc.method, tc.path, "", "")
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != tc.allow {
			t.Errorf("%s %s = %d Allow %q, want 405 Allow %q", tc.method, tc.path, rec.Code, rec.Header().Get("Allow"), tc.allow)
		}
		if tc.method != "HEAD" {
			if got := jsonBody(t, rec); got["message"] != "405: Method Not Allowed" {
				t.Errorf("%s %s body %s", tc.method, tc.path, rec.Body)
			}
		}
	}
}

func TestHeadOnGetRoutes(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(New(newFake(), Config{Logger: quiet}))
	defer ts.Close()
	for _, p := range []string{"/health", "/version", "/app-version", "/hardware/info", "/hardware/stats", "/stream/status", "/metrics"} {
		req, err := http.NewRequest(http.MethodHead, ts.URL+p, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) != 0 {
			t.Errorf("HEAD %s = %d with %d body bytes", p, resp.StatusCode, len(b))
		}
		if p != "/metrics" && resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("HEAD %s Content-Type %q", p, resp.Header.Get("Content-Type"))
		}
	}
}

func TestOversizedBodies(t *testing.T) {
	t.Parallel()
	big := `{"gateway_request_id":"r","params":{"prompt":"` + strings.Repeat("x", 200) + `"}}`
	for _, tc := range []struct {
		name          string
		path          string
		unknownLength bool
		want          string
	}{
		{name: "a start body over the limit is 413", path: "/stream/start", want: "Error starting stream: request body exceeds 100 bytes"},
		{name: "a chunked start body over the limit is 413", path: "/stream/start", unknownLength: true, want: "Error starting stream: request body exceeds 100 bytes"},
		{name: "a params body over the limit is 413", path: "/stream/params", want: "Parameter update failed: request body exceeds 100 bytes"},
		{name: "a chunked params body over the limit is 413", path: "/stream/params", unknownLength: true, want: "Parameter update failed: request body exceeds 100 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			s := New(f, Config{Logger: quiet, MaxBodyBytes: 100})
			req := httptest.NewRequest("POST", tc.path, strings.NewReader(big))
			req.Header.Set("Content-Type", "application/json")
			if tc.unknownLength {
				req.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != http.StatusRequestEntityTooLarge {
				t.Errorf("status %d, want 413: %s", rec.Code, rec.Body)
			}
			if got := jsonBody(t, rec); got["status"] != "error" || got["message"] != tc.want {
				t.Errorf("body %s", rec.Body)
			}
			if starts, _, params := f.calls(); starts+params != 0 {
				t.Error("backend called")
			}
		})
	}
	t.Run("a body at the limit is read", func(t *testing.T) {
		t.Parallel()
		f := newFake()
		body := `{"gateway_request_id":"r"}`
		s := New(f, Config{Logger: quiet, MaxBodyBytes: int64(len(body))})
		if rec := serve(s, "POST", "/stream/start", "application/json", body); rec.Code != 200 {
			t.Errorf("status %d: %s", rec.Code, rec.Body)
		}
	})
	t.Run("a negative limit means none", func(t *testing.T) {
		t.Parallel()
		f := newFake()
		s := New(f, Config{Logger: quiet, MaxBodyBytes: -1})
		if rec := serve(s, "POST", "/stream/start", "application/json", big+strings.Repeat(" ", 2<<20)); rec.Code != 200 {
			t.Errorf("status %d: %s", rec.Code, rec.Body)
		}
	})
	t.Run("the default limit is one MiB", func(t *testing.T) {
		t.Parallel()
		s := New(newFake(), Config{Logger: quiet})
		if got := s.Config().MaxBodyBytes; got != 1<<20 {
			t.Errorf("MaxBodyBytes = %d", got)
		}
		rec := serve(s, "POST", "/stream/start", "application/json", big+strings.Repeat(" ", 1<<20))
		if rec.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d", rec.Code)
		}
	})
}

func TestStartWaitsForALoadInProgress(t *testing.T) {
	t.Parallel()
	t.Run("a backend that becomes ready lets the start through", func(t *testing.T) {
		t.Parallel()
		f := newFake()
		f.state = statePayload(processor.StateLoading, false)
		w := &waitingBackend{fakeBackend: f, become: statePayload(processor.StateIdle, true)}
		rec := serve(New(w, Config{Logger: quiet}), "POST", "/stream/start", "application/json", `{"gateway_request_id":"r"}`)
		if rec.Code != 200 || w.waits != 1 || len(f.starts) != 1 {
			t.Errorf("status %d, %d waits, %d starts: %s", rec.Code, w.waits, len(f.starts), rec.Body)
		}
	})
	t.Run("a backend still loading after the wait is 503", func(t *testing.T) {
		t.Parallel()
		f := newFake()
		f.state = statePayload(processor.StateError, false)
		w := &waitingBackend{fakeBackend: f, become: statePayload(processor.StateError, false)}
		rec := serve(New(w, Config{Logger: quiet}), "POST", "/stream/start", "application/json", `{"gateway_request_id":"r"}`)
		if rec.Code != 503 || w.waits != 1 || len(f.starts) != 0 {
			t.Errorf("status %d, %d waits, %d starts: %s", rec.Code, w.waits, len(f.starts), rec.Body)
		}
	})
	t.Run("a ready backend is not waited for", func(t *testing.T) {
		t.Parallel()
		w := &waitingBackend{fakeBackend: newFake()}
		rec := serve(New(w, Config{Logger: quiet}), "POST", "/stream/start", "application/json", `{"gateway_request_id":"r"}`)
		if rec.Code != 200 || w.waits != 0 {
			t.Errorf("status %d, %d waits", rec.Code, w.waits)
		}
	})
}

func TestConfigDefaults(t *testing.T) {
	// t.Setenv rules out t.Parallel here.
	for _, tc := range []struct {
		name              string
		env               map[string]string
		cfg               Config
		pipeline, modelID string
	}{
		{name: "without settings the pipeline is byoc and the model empty", pipeline: "byoc", modelID: ""},
		{name: "PIPELINE and CAPABILITY_NAME fill the defaults",
			env:      map[string]string{"PIPELINE": "live-video", "CAPABILITY_NAME": "cap", "MODEL_ID": "model"},
			pipeline: "live-video", modelID: "cap"},
		{name: "MODEL_ID is used without CAPABILITY_NAME",
			env: map[string]string{"MODEL_ID": "model"}, pipeline: "byoc", modelID: "model"},
		{name: "an empty CAPABILITY_NAME still wins over MODEL_ID, as os.getenv does",
			env: map[string]string{"CAPABILITY_NAME": "", "MODEL_ID": "model"}, pipeline: "byoc", modelID: ""},
		{name: "configured values win over the environment",
			env:      map[string]string{"PIPELINE": "env", "CAPABILITY_NAME": "env"},
			cfg:      Config{Pipeline: "cfg-pipe", ModelID: "cfg-model"},
			pipeline: "cfg-pipe", modelID: "cfg-model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"PIPELINE", "CAPABILITY_NAME", "MODEL_ID"} {
				t.Setenv(k, "")
				if err := os.Unsetenv(k); err != nil {
					t.Fatal(err)
				}
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg := tc.cfg
			cfg.Logger = quiet
			s := New(newFake(), cfg)
			got := jsonBody(t, serve(s, "GET", "/version", "", ""))
			if got["pipeline"] != tc.pipeline || got["model_id"] != tc.modelID {
				t.Errorf("version = %v, want pipeline %q model_id %q", got, tc.pipeline, tc.modelID)
			}
			if v, _ := got["version"].(string); v == "" {
				t.Errorf("version is empty: %v", got)
			}
			if got := jsonBody(t, serve(s, "GET", "/app-version", "", "")); got["version"] != "0.0.1" {
				t.Errorf("app-version = %v", got)
			}
		})
	}
}

func TestHardwareHook(t *testing.T) {
	t.Parallel()
	s := New(newFake(), Config{Logger: quiet, Pipeline: "p", ModelID: "m", Hardware: func() (map[string]any, map[string]any) {
		return map[string]any{"0": map[string]any{"name": "H100", "memory_total": 80}},
			map[string]any{"0": map[string]any{"utilization_compute": 12}}
	}})
	got := jsonBody(t, serve(s, "GET", "/hardware/info", "", ""))
	want := map[string]any{"pipeline": "p", "model_id": "m", "gpu_info": map[string]any{"0": map[string]any{"name": "H100", "memory_total": 80.0}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("info %v", got)
	}
	got = jsonBody(t, serve(s, "GET", "/hardware/stats", "", ""))
	want = map[string]any{"pipeline": "p", "model_id": "m", "gpu_stats": map[string]any{"0": map[string]any{"utilization_compute": 12.0}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stats %v", got)
	}
}

func TestBackendPanicsBecomeJSONErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, panicOn, method, path string
		want                        map[string]any
	}{
		{name: "a panicking start is 500", panicOn: "Start", method: "POST", path: "/stream/start",
			want: map[string]any{"status": "error", "message": "Internal server error: fake Start exploded"}},
		{name: "a panicking status is PyTrickle's status error", panicOn: "Status", method: "GET", path: "/stream/status",
			want: map[string]any{"status": "error", "message": "Error getting status: fake Status exploded"}},
		{name: "a panicking health is PyTrickle's health error", panicOn: "Health", method: "GET", path: "/health",
			want: map[string]any{"detail": map[string]any{"msg": "Failed to retrieve pipeline status."}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake()
			f.panicOn = tc.panicOn
			rec := serve(New(f, Config{Logger: quiet}), tc.method, tc.path, "application/json", `{"gateway_request_id":"r"}`)
			if rec.Code != 500 {
				t.Errorf("status %d", rec.Code)
			}
			if got := jsonBody(t, rec); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("body %s", rec.Body)
			}
		})
	}
}

// TestConcurrentRequests runs every route at once, for the race detector.
func TestConcurrentRequests(t *testing.T) {
	t.Parallel()
	f := newFake()
	s := New(f, Config{Logger: quiet})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 20 {
				serve(s, "POST", "/stream/start", "application/json", `{"gateway_request_id":"r","params":{"width":1,"height":1}}`)
				serve(s, "POST", "/stream/params", "application/json", `{"prompt":"p"}`)
				serve(s, "GET", "/stream/status", "", "")
				serve(s, "GET", "/health", "", "")
				serve(s, "GET", "/metrics", "", "")
				s.Observer().ObserveHandler("video", 1)
				if i%2 == 0 {
					serve(s, "POST", "/stream/stop", "", "")
				}
			}
		})
	}
	wg.Wait()
}
