package brokenprocessor

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/processor"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

func TestRelayDropsAndRenumbers(t *testing.T) {
	e := newEnv(t, MutationNone, processor.Config{})
	e.channel("side")
	rl, err := newRelay()
	if err != nil {
		t.Fatal(err)
	}
	defer rl.close()
	url := rl.route(e.tURL+"side", func(b []byte) bool { return strings.HasPrefix(string(b), "x") })
	read := e.follow("side")

	ctx := context.Background()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	pub, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: url, Client: &http.Client{Transport: tr},
		ContentType: "application/json", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"x0", "a", "x1", "x2", "b", "c", "x3"} {
		if _, err := pub.Write(ctx, strings.NewReader(body)); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
	}
	read.wait(3)
	if err := pub.Close(ctx); err != nil { // DELETE, relayed
		t.Fatal(err)
	}
	got, seqs := bodies(read.all())
	if !slices.Equal(got, []string{"a", "b", "c"}) || !slices.Equal(seqs, []int64{0, 1, 2}) {
		t.Errorf("the channel holds %q on seqs %v, want a, b, c on 0, 1, 2", got, seqs)
	}
	for _, q := range e.trickle.Requests() {
		if q.Method == "POST" && q.BytesIn > 0 && q.Seq > 2 {
			t.Errorf("a segment reached seq %d", q.Seq)
		}
	}

	resp, err := http.Get(rl.base + "/nope/0")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("an unknown route: %d, want 404", resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestRelayDecidesOnce(t *testing.T) {
	rt := &route{drop: func(b []byte) bool { return string(b) == "x" }, mapped: map[int64]int64{}, changed: make(chan struct{})}
	for _, c := range []struct {
		seq  int64
		body string
		up   int64
		drop bool
	}{
		{0, "a", 0, false},
		{1, "x", -1, true},
		{1, "a", -1, true}, // a retry gets the first answer
		{2, "b", 1, false},
		{2, "x", 1, false},
	} {
		if up, drop := rt.decide(c.seq, []byte(c.body)); up != c.up || drop != c.drop {
			t.Errorf("seq %d %q: %d %v, want %d %v", c.seq, c.body, up, drop, c.up, c.drop)
		}
	}
	if up, ok := rt.lookup(1); ok {
		t.Errorf("lookup(1) = %d: it was dropped", up)
	}
	if up, ok := rt.lookup(2); !ok || up != 1 {
		t.Errorf("lookup(2) = %d %v, want 1", up, ok)
	}
	if !isHeartbeat([]byte(`{"event":{"type":"heartbeat","timestamp":1},"queue_event_type":"stream_heartbeat"}`)) ||
		isHeartbeat([]byte(`{"event":{"type":"params_updated"}}`)) || isHeartbeat([]byte(`not json`)) {
		t.Error("isHeartbeat")
	}
}
