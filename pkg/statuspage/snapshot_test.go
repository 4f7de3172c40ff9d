package statuspage

import (
	"fmt"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/processor"
)

func TestABrowserGetsHelloThenSnapshotsWithStateParamsRatesAndLatency(t *testing.T) {
	src := newFakeSource(processor.StateOK)
	running := true
	src.set(func(f *fakeSource) {
		f.status.ClientActive = true
		f.status.ClientRunning = &running
		f.status.FPS = &processor.FPS{IngressVideo: 30, EgressVideo: 29.5}
		f.status.Counters = &processor.Counters{VideoIn: 100, VideoOut: 99}
		f.params = processor.Params{"prompt": "cat", "strength": 0.5}
	})
	tp := newTestPage(t, src, Config{RoutePrefix: "api/", Title: "my processor", SnapshotInterval: 50 * time.Millisecond})
	conn := tp.mustDial(t)

	hello := read(t, conn)
	if hello.typ != msgHello {
		t.Fatalf("the first message is %s, want hello", hello.raw)
	}
	if hello.json["params_url"] != "api/stream/params" || hello.json["title"] != "my processor" ||
		hello.json["snapshot_interval_ms"] != float64(50) || hello.json["preview_interval_ms"] != float64(500) {
		t.Errorf("hello: %s", hello.raw)
	}
	first := read(t, conn)
	if first.typ != msgSnapshot {
		t.Fatalf("the second message is %s, want a snapshot at once", first.raw)
	}
	st, _ := first.json["status"].(map[string]any)
	fps, _ := st["fps"].(map[string]any)
	params, _ := first.json["params"].(map[string]any)
	ctr, _ := st["counters"].(map[string]any)
	if st["state"] != "OK" || fps["ingress_video_fps"] != float64(30) || fps["egress_video_fps"] != 29.5 ||
		params["prompt"] != "cat" || ctr["video_frames_in"] != float64(100) || st["client_running"] != true {
		t.Errorf("snapshot: %s", first.raw)
	}

	// Three frames and two handler calls land in the next window.
	for _, ms := range []int{10, 20, 30} {
		tp.ObserveOutputVideo(quadrants(t, 8, 8), time.Duration(ms)*time.Millisecond)
	}
	tp.ObserveHandler("video", 4*time.Millisecond)
	tp.ObserveHandler("video", 8*time.Millisecond)
	tp.ObserveHandler("audio", time.Second) // not the video handler: left out
	src.set(func(f *fakeSource) { f.status.FPS.IngressVideo = 12 })
	m := readUntil(t, conn, func(m message) bool {
		lat, _ := m.json["latency"].(map[string]any)
		return m.typ == msgSnapshot && lat["frames"] != float64(0)
	})
	lat := m.json["latency"].(map[string]any)
	if lat["frames"] != float64(3) || lat["processing_avg_ms"] != float64(20) || lat["processing_max_ms"] != float64(30) ||
		lat["handler_avg_ms"] != float64(6) || lat["handler_max_ms"] != float64(8) {
		t.Errorf("latency window: %v", lat)
	}
	if fps := m.json["status"].(map[string]any)["fps"].(map[string]any); fps["ingress_video_fps"] != float64(12) {
		t.Errorf("the snapshot does not follow the source: %v", fps)
	}
	next := readUntil(t, conn, ofType(msgSnapshot))
	if lat := next.json["latency"].(map[string]any); lat["frames"] != float64(0) || lat["processing_avg_ms"] != nil {
		t.Errorf("an empty window: %v, want 0 frames and null latency", lat)
	}
}

func TestEventsArePushedAndTheRecentOnesGreetANewBrowser(t *testing.T) {
	tp := newTestPage(t, newFakeSource(processor.StateOK), Config{RecentEvents: 3, SnapshotInterval: time.Hour})
	early := tp.mustDial(t)
	readUntil(t, early, ofType(msgSnapshot))
	for i := range 5 {
		tp.ObserveEvent(map[string]any{"type": "params_updated", "n": i, "html": "<b>&</b>"}, "ai_stream_events")
	}
	tp.ObserveEvent(map[string]any{"bad": func() {}}, "q") // cannot be encoded: skipped
	for i := range 5 {
		m := readUntil(t, early, ofType(msgEvent))
		ev := m.json["event"].(map[string]any)
		if ev["n"] != float64(i) || m.json["queue"] != "ai_stream_events" || ev["html"] != "<b>&</b>" {
			t.Errorf("event %d: %s", i, m.raw)
		}
		if ts, _ := m.json["time"].(float64); ts <= 0 {
			t.Errorf("event %d has no time: %s", i, m.raw)
		}
	}

	late := tp.mustDial(t)
	hello := readUntil(t, late, ofType(msgHello))
	evs, _ := hello.json["events"].([]any)
	var ns []string
	for _, e := range evs {
		ns = append(ns, fmt.Sprint(e.(map[string]any)["event"].(map[string]any)["n"]))
	}
	if fmt.Sprint(ns) != "[2 3 4]" {
		t.Errorf("a new browser is greeted with events %v, want the 3 most recent [2 3 4]", ns)
	}
}

func TestASnapshotWithoutParamsSource(t *testing.T) {
	type statusOnly struct{ Source }
	tp := newTestPage(t, statusOnly{newFakeSource(processor.StateIdle)}, Config{})
	conn := tp.mustDial(t)
	m := readUntil(t, conn, ofType(msgSnapshot))
	if m.json["params"] != nil || m.json["status"].(map[string]any)["state"] != "IDLE" {
		t.Errorf("snapshot: %s", m.raw)
	}
}
