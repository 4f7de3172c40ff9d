package brokenprocessor

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/processor"
)

func TestParseMutation(t *testing.T) {
	for _, m := range AllMutations() {
		if m.Description() == "" || !m.Valid() {
			t.Errorf("%q has no description", m)
		}
		if got, err := ParseMutation(" " + string(m) + " "); err != nil || got != m {
			t.Errorf("ParseMutation(%q) = %q, %v", m, got, err)
		}
	}
	for _, s := range []string{"", "none"} {
		if got, err := ParseMutation(s); err != nil || got != MutationNone {
			t.Errorf("ParseMutation(%q) = %q, %v; want none", s, got, err)
		}
	}
	if _, err := ParseMutation("no-such-bug"); err == nil || !strings.Contains(err.Error(), string(MutationNoHeartbeat)) {
		t.Errorf("an unknown name: %v, want an error listing the known ones", err)
	}
	if _, err := New(Config{Mutation: "no-such-bug"}); err == nil {
		t.Error("New took an unknown mutation")
	}
}

// both runs f without the mutation and with it.
func both(t *testing.T, m Mutation, f func(t *testing.T, m Mutation)) {
	for _, mm := range []Mutation{MutationNone, m} {
		name := string(mm)
		if mm == MutationNone {
			name = "none"
		}
		t.Run(name, func(t *testing.T) { t.Parallel(); f(t, mm) })
	}
}

func TestParamsError500(t *testing.T) {
	both(t, MutationParamsError500, func(t *testing.T, m Mutation) {
		e := newEnv(t, m, processor.Config{})
		want := 400
		if m != MutationNone {
			want = 500
		}
		for _, c := range []struct{ body, ct string }{
			{`{"max_framerate":0}`, ""},
			{`{"width":320}`, ""},
			{`[1]`, ""},
			{`{}`, "text/plain"},
		} {
			code, body := e.call("POST", "/stream/params", c.body, c.ct)
			if code != want || !strings.Contains(body, `"Parameter update failed: `) {
				t.Errorf("%s (%s): %d %s, want %d with the validation message", c.body, c.ct, code, body, want)
			}
		}
		// Not validation errors: left alone.
		if code, body := e.call("POST", "/stream/params", `{"prompt":"x"}`, ""); code != 400 || !strings.Contains(body, "No active stream to update") {
			t.Errorf("params without a stream: %d %s", code, body)
		}
		if code, _ := e.call("POST", "/stream/params", `{"x":"`+strings.Repeat("a", 2<<20)+`"}`, ""); code != 413 {
			t.Errorf("an oversized body: %d, want 413", code)
		}
		if code, _ := e.call("POST", "/stream/start", `{}`, ""); code != 400 {
			t.Errorf("a start without gateway_request_id: %d, want 400", code)
		}
	})
}

func TestHealthOKAfterEnd(t *testing.T) {
	both(t, MutationHealthOKAfterEnd, func(t *testing.T, m Mutation) {
		e := newEnv(t, m, processor.Config{})
		if h := e.health(); h != "IDLE" {
			t.Fatalf("before a stream: %s", h)
		}
		// An input channel that does not exist ends the stream at once.
		e.start(map[string]any{"subscribe_url": e.tURL + "missing-in"})
		eventually(t, 5*time.Second, "the stream to end", func() bool {
			_, b := e.call("GET", "/stream/status", "", "")
			return strings.Contains(b, `"client_running":false`)
		})
		want := "IDLE"
		if m != MutationNone {
			want = "OK"
			time.Sleep(200 * time.Millisecond)
		} else {
			eventually(t, 5*time.Second, "IDLE", func() bool { return e.health() == "IDLE" })
		}
		if h := e.health(); h != want {
			t.Errorf("after the input ended: %s, want %s", h, want)
		}
		// The processor itself is free: a new stream starts.
		e.start(map[string]any{})
		if h := e.health(); h != "OK" {
			t.Errorf("during a stream: %s", h)
		}
		e.stop()
		if h := e.health(); h != "IDLE" {
			t.Errorf("after a stop: %s", h)
		}
	})
}

func TestNoHeartbeat(t *testing.T) {
	both(t, MutationNoHeartbeat, func(t *testing.T, m Mutation) {
		e := newEnv(t, m, processor.Config{HeartbeatInterval: 100 * time.Millisecond})
		events := e.channel("events")
		read := e.follow("events")
		e.start(map[string]any{"events_url": events})
		time.Sleep(350 * time.Millisecond)
		if code, body := e.call("POST", "/stream/params", `{"prompt":"x"}`, ""); code != 200 {
			t.Fatalf("params: %d %s", code, body)
		}
		read.waitEvent("params_updated")
		time.Sleep(250 * time.Millisecond)
		e.stop()
		types, seqs, _ := eventsOf(t, read.all())
		beats := 0
		for _, typ := range types {
			if typ == "heartbeat" {
				beats++
			}
		}
		if m == MutationNone && (beats < 3 || types[0] != "heartbeat") {
			t.Errorf("events %v: want a heartbeat first and every 100 ms", types)
		}
		if m != MutationNone && beats > 0 {
			t.Errorf("events %v: a heartbeat got through", types)
		}
		for i, s := range seqs {
			if s != int64(i) {
				t.Fatalf("events seqs %v: want 0, 1, 2, …", seqs)
			}
		}
		// (stream_stopped is written just before the channel's DELETE: a
		// reader may miss it, so it is not looked for.)
		if !slices.Contains(types, "params_updated") {
			t.Errorf("events %v: want params_updated among them", types)
		}
	})
}

func TestIgnoreMaxFramerate(t *testing.T) {
	both(t, MutationIgnoreMaxFramerate, func(t *testing.T, m Mutation) {
		e := newEnv(t, m, processor.Config{})
		events := e.channel("events")
		read := e.follow("events")
		e.start(map[string]any{"events_url": events, "params": map[string]any{"max_framerate": 15}})
		if code, body := e.call("POST", "/stream/params", `{"max_framerate":"10","prompt":"x"}`, ""); code != 200 {
			t.Fatalf("params: %d %s", code, body)
		}
		// Invalid values are still refused.
		if code, _ := e.call("POST", "/stream/params", `{"max_framerate":61}`, ""); code != 400 {
			t.Errorf("max_framerate 61: %d, want 400", code)
		}
		read.waitEvent("params_updated")
		e.stop()
		if code, _ := e.call("POST", "/stream/start", `{"gateway_request_id":"x","params":{"max_framerate":0}}`, ""); code != 400 {
			t.Errorf("a start with max_framerate 0: %d, want 400", code)
		}
		types, _, evs := eventsOf(t, read.all())
		i := slices.Index(types, "params_updated")
		if i < 0 {
			t.Fatalf("no params_updated in %v", types)
		}
		params, _ := evs[i]["params"].(map[string]any)
		_, has := params["max_framerate"]
		if params["prompt"] != "x" || has != (m == MutationNone) {
			t.Errorf("params_updated params %v: the processor got max_framerate %v, want %v", params, has, m == MutationNone)
		}
	})
}

func TestOutputLeftOpen(t *testing.T) {
	both(t, MutationOutputLeftOpen, func(t *testing.T, m Mutation) {
		e := newEnv(t, m, processor.Config{})
		out, events := e.channel("out"), e.channel("events")
		e.start(map[string]any{"publish_url": out, "events_url": events})
		e.stop()
		deleted := map[string]bool{}
		for _, q := range e.trickle.Requests() {
			if q.Method == "DELETE" && !q.HasSeq {
				deleted[q.Channel] = true
			}
		}
		if !deleted["events"] {
			t.Error("the events channel was not ended")
		}
		if deleted["out"] != (m == MutationNone) {
			t.Errorf("DELETE of the output channel: %v, want %v", deleted["out"], m == MutationNone)
		}
	})
}
