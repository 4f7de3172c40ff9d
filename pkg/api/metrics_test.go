package api

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gotrickle/gotrickle/pkg/processor"
)

func scrape(t *testing.T, s *Server) string {
	t.Helper()
	rec := serve(s, "GET", "/metrics", "", "")
	if rec.Code != 200 {
		t.Fatalf("GET /metrics = %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
	return rec.Body.String()
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.state = statePayload(processor.StateOK, true)
	f.status = processor.Status{
		FPS: &processor.FPS{IngressVideo: 30, EgressVideo: 24.5, IngressAudio: 50, EgressAudio: 50},
		Counters: &processor.Counters{
			VideoIn: 100, VideoOut: 90, VideoSkipped: 7, VideoFailed: 2, VideoDropped: 1,
			AudioIn: 200, AudioOut: 199, AudioFailed: 1,
			SegmentsIn: 5, SegmentsOut: 4, BytesIn: 123456, BytesOut: 65432,
			CorruptInput: 1, EventsDropped: 3, DataDropped: 6,
			DeviceUploads: 100, DeviceDownloads: 11, DeviceEncoded: 89, DeviceErrors: 1,
		},
	}
	s := New(f, Config{Logger: quiet, Version: "v1.2.3", Pipeline: "p", ModelID: "m"})
	s.Observer().ObserveHandler("video", 3*time.Millisecond)
	s.Observer().ObserveHandler("video", 40*time.Millisecond)
	s.Observer().ObserveHandler("audio", 100*time.Microsecond)
	s.Observer().ObserveHandler("depth", time.Millisecond)

	text := scrape(t, s)
	for _, want := range []string{
		`gotrickle_build_info{app_version="0.0.1",model_id="m",pipeline="p",version="v1.2.3"} 1`,
		`gotrickle_state{state="OK"} 1`,
		`gotrickle_state{state="IDLE"} 0`,
		`gotrickle_state{state="LOADING"} 0`,
		`gotrickle_state{state="ERROR"} 0`,
		`gotrickle_active_streams 1`,
		`gotrickle_fps{direction="in",media="video"} 30`,
		`gotrickle_fps{direction="out",media="video"} 24.5`,
		`gotrickle_frames_in_total{media="video"} 100`,
		`gotrickle_frames_in_total{media="audio"} 200`,
		`gotrickle_frames_out_total{media="video"} 90`,
		`gotrickle_frames_out_total{media="audio"} 199`,
		`gotrickle_frames_skipped_total{media="video"} 7`,
		`gotrickle_frames_failed_total{media="video"} 2`,
		`gotrickle_frames_failed_total{media="audio"} 1`,
		`gotrickle_frames_dropped_total{media="video"} 1`,
		`gotrickle_segments_total{direction="in"} 5`,
		`gotrickle_segments_total{direction="out"} 4`,
		`gotrickle_segment_bytes_total{direction="in"} 123456`,
		`gotrickle_segment_bytes_total{direction="out"} 65432`,
		`gotrickle_corrupt_segments_total 1`,
		`gotrickle_events_dropped_total 3`,
		`gotrickle_data_dropped_total 6`,
		`gotrickle_device_frames_total{op="upload"} 100`,
		`gotrickle_device_frames_total{op="download"} 11`,
		`gotrickle_device_frames_total{op="encode"} 89`,
		`gotrickle_device_frames_total{op="error"} 1`,
		`# TYPE gotrickle_handler_seconds histogram`,
		`gotrickle_handler_seconds_count{kind="video"} 2`,
		`gotrickle_handler_seconds_count{kind="audio"} 1`,
		`gotrickle_handler_seconds_count{kind="other"} 1`,
		`gotrickle_handler_seconds_bucket{kind="video",le="0.004"} 1`,
		`gotrickle_handler_seconds_bucket{kind="video",le="+Inf"} 2`,
		`# TYPE gotrickle_frames_in_total counter`,
		`# TYPE gotrickle_state gauge`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		// The server's own series are gotrickle_*; the standard process_*
		// and go_* collectors come with its registry.
		name := strings.TrimPrefix(strings.TrimPrefix(line, "# HELP "), "# TYPE ")
		if !strings.HasPrefix(name, "gotrickle_") && !strings.HasPrefix(name, "process_") && !strings.HasPrefix(name, "go_") {
			t.Errorf("a series of neither the server nor the standard collectors: %s", line)
		}
	}
}

func TestMetricsWithoutCountersAreZero(t *testing.T) {
	t.Parallel()
	text := scrape(t, New(newFake(), Config{Logger: quiet}))
	for _, want := range []string{
		`gotrickle_frames_in_total{media="video"} 0`,
		`gotrickle_state{state="IDLE"} 1`,
		`gotrickle_active_streams 0`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, "gotrickle_fps") {
		t.Error("fps reported without FPS figures")
	}
}

func TestMetricsOnAGivenRegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	s := New(newFake(), Config{Logger: quiet, Registerer: reg})
	s.Observer().ObserveHandler("audio", time.Millisecond)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"gotrickle_handler_seconds", "gotrickle_frames_in_total", "gotrickle_state"} {
		if !names[n] {
			t.Errorf("registry lacks %s", n)
		}
	}
	if !strings.Contains(scrape(t, s), `gotrickle_handler_seconds_count{kind="audio"} 1`) {
		t.Error("/metrics does not serve the given registry")
	}

	// A second server on the same registry shares the histogram and keeps
	// working; its collector is refused and logged.
	s2 := New(newFake(), Config{Logger: quiet, Registerer: reg})
	s2.Observer().ObserveHandler("audio", time.Millisecond)
	if !strings.Contains(scrape(t, s2), `gotrickle_handler_seconds_count{kind="audio"} 2`) {
		t.Error("second server does not share the histogram")
	}
}

// gathererOnly is a Registerer that is not a Gatherer.
type registererOnly struct{ prometheus.Registerer }

func TestGathererDefaults(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	s := New(newFake(), Config{Logger: quiet, Registerer: registererOnly{reg}})
	if s.Config().Gatherer != prometheus.DefaultGatherer {
		t.Error("Gatherer should fall back to prometheus.DefaultGatherer")
	}
	own := New(newFake(), Config{Logger: quiet})
	if g, ok := own.Config().Gatherer.(*prometheus.Registry); !ok || g == nil || own.Config().Registerer != prometheus.Registerer(g) {
		t.Error("without a Registerer the server should gather its own registry")
	}
}

func TestMetricsSurviveAPanickingBackend(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.panicOn = "Status"
	text := scrape(t, New(f, Config{Logger: quiet}))
	if !strings.Contains(text, "gotrickle_build_info") {
		t.Errorf("metrics before the panic are lost:\n%s", text)
	}
}

func TestObserverIsAProcessorObserver(t *testing.T) {
	t.Parallel()
	var o processor.Observer = New(newFake(), Config{Logger: quiet}).Observer()
	if o == nil {
		t.Fatal(errors.New("nil observer"))
	}
}

func TestTheOwnRegistryCarriesProcessAndRuntimeMetrics(t *testing.T) {
	t.Parallel()
	text := scrape(t, New(newFake(), Config{Logger: quiet}))
	for _, want := range []string{"process_resident_memory_bytes ", "process_open_fds ", "go_goroutines "} {
		if !strings.Contains(text, "\n"+want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
