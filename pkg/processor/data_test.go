package processor

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

func TestDataSegmentBody(t *testing.T) {
	tests := []struct {
		name     string
		items    []string
		idle     time.Duration
		wantBody string
		wantSend bool
	}{
		{
			name:     "queued items go out as one JSON array and a newline",
			items:    []string{"a", "b"},
			idle:     time.Second,
			wantBody: "[\"a\",\"b\"]\n",
			wantSend: true,
		},
		{
			name:     "JSON strings are encoded again inside the array, as PyTrickle does",
			items:    []string{`{"label":"cat"}`},
			wantBody: "[\"{\\\"label\\\":\\\"cat\\\"}\"]\n",
			wantSend: true,
		},
		{
			name:     "HTML characters are not escaped",
			items:    []string{"<a&b>"},
			wantBody: "[\"<a&b>\"]\n",
			wantSend: true,
		},
		{
			name:     "items go out even right after a keepalive",
			items:    []string{"x"},
			idle:     0,
			wantBody: "[\"x\"]\n",
			wantSend: true,
		},
		{
			name:     "nothing is sent while idle is under the keepalive",
			idle:     24 * time.Second,
			wantSend: false,
		},
		{
			name:     "an empty array is sent once idle reaches the keepalive",
			idle:     25 * time.Second,
			wantBody: "[]\n",
			wantSend: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, send := dataSegmentBody(tc.items, tc.idle, 25*time.Second)
			if send != tc.wantSend || string(body) != tc.wantBody {
				t.Fatalf("got %q, %v; want %q, %v", body, send, tc.wantBody, tc.wantSend)
			}
		})
	}
}

func TestDataSenderBatchesEveryIntervalAndKeepsTheChannelAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval, keepalive = 333 * time.Millisecond, 5 * time.Second
		pub := newRecordingPublisher()
		start := time.Now()
		s := startDataSender(pub, nil, interval, keepalive, sideTestLogger())

		s.Send("a")
		s.Send("b")
		time.Sleep(interval)
		synctest.Wait()
		s.Send("c")
		time.Sleep(interval)
		synctest.Wait()
		// Nothing more is sent until the keepalive is due.
		time.Sleep(keepalive + interval)
		synctest.Wait()
		s.Send("last")
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}

		bodies, times, closed := pub.got()
		want := []struct {
			body string
			at   time.Duration
		}{
			{"[\"a\",\"b\"]\n", interval},
			{"[\"c\"]\n", 2 * interval},
			// The first tick at or after 5 s without a segment.
			{"[]\n", 2*interval + 16*interval},
			{"[\"last\"]\n", 3*interval + keepalive},
		}
		if len(bodies) != len(want) {
			t.Fatalf("published %q, want %d segments", bodies, len(want))
		}
		for i, w := range want {
			if bodies[i] != w.body || times[i].Sub(start) != w.at {
				t.Errorf("segment %d: %q at %v, want %q at %v", i, bodies[i], times[i].Sub(start), w.body, w.at)
			}
		}
		if !closed {
			t.Error("Close did not close the publisher")
		}
		if s.Send("after") {
			t.Error("Send after Close returned true")
		}
		if s.Segments() != 4 {
			t.Errorf("Segments() = %d, want 4", s.Segments())
		}
	})
}

func TestDataSegmentsAreNeverCloserThanTheIntervalAfterASlowOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 333 * time.Millisecond
		pub := newRecordingPublisher()
		gate := make(chan struct{})
		pub.gate = gate
		s := startDataSender(pub, nil, interval, time.Hour, sideTestLogger())
		s.Send("slow")
		time.Sleep(interval)
		synctest.Wait() // the first round is stuck in its Write
		s.Send("b")
		time.Sleep(350 * time.Millisecond) // past where the second round was due
		close(gate)
		synctest.Wait() // the second round runs late, at once
		s.Send("c")
		time.Sleep(interval + 10*time.Millisecond)
		synctest.Wait()
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		pub.mu.Lock()
		bodies, starts := pub.bodies, pub.starts
		pub.mu.Unlock()
		if len(bodies) != 3 {
			t.Fatalf("published %q, want three segments", bodies)
		}
		for i := 1; i < len(starts); i++ {
			if gap := starts[i].Sub(starts[i-1]); gap < interval {
				t.Errorf("segments %d and %d began %v apart, less than the %v interval", i-1, i, gap, interval)
			}
		}
	})
}

func TestDataSenderDropsTheOldestItemWhenThousandAreQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pub := newRecordingPublisher()
		s := startDataSender(pub, nil, time.Hour, 2*time.Hour, sideTestLogger())
		for i := range dataSenderMaxItems + 1 {
			if !s.Send(strconv.Itoa(i)) {
				t.Fatalf("Send %d refused", i)
			}
		}
		if s.Dropped() != 1 {
			t.Fatalf("Dropped() = %d, want 1", s.Dropped())
		}
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		bodies, _, _ := pub.got()
		if len(bodies) != 1 {
			t.Fatalf("published %d segments, want one flush", len(bodies))
		}
		var items []string
		if err := json.Unmarshal([]byte(bodies[0]), &items); err != nil {
			t.Fatal(err)
		}
		if len(items) != dataSenderMaxItems || items[0] != "1" || items[len(items)-1] != "1000" {
			t.Fatalf("flushed %d items from %q to %q; want 1000 from \"1\" to \"1000\"", len(items), items[0], items[len(items)-1])
		}
	})
}

func TestDataSenderCountsFailedSegmentsAndKeepsGoing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pub := newRecordingPublisher()
		pub.err = fmt.Errorf("POST failed with status 500")
		s := startDataSender(pub, nil, time.Second, time.Hour, sideTestLogger())
		s.Send("a")
		time.Sleep(time.Second)
		synctest.Wait()
		s.Send("b")
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if s.Failed() != 2 || s.Segments() != 0 {
			t.Fatalf("failed %d, segments %d; want 2, 0", s.Failed(), s.Segments())
		}
	})
}

func TestDataSenderDropsWhatIsLeftWhenCloseRunsOutOfTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pub := newRecordingPublisher()
		pub.gate = make(chan struct{}) // never opens: a stuck server
		s := startDataSender(pub, nil, time.Second, time.Hour, sideTestLogger())
		s.Send("stuck")
		time.Sleep(time.Second)
		synctest.Wait() // the tick's segment is stuck in Write
		s.Send("left")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := s.Close(ctx); err == nil {
			t.Fatal("Close returned nil after its context ended")
		}
		if s.Failed() != 1 || s.Dropped() != 1 {
			t.Fatalf("failed %d, dropped %d; want 1, 1", s.Failed(), s.Dropped())
		}
	})
}

func TestDataSenderPublishesJSONLinesOnTheWire(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, base, reqs := newSideTestServer(t, trickle.ServerConfig{})
	if err := srv.CreateChannel("data", "application/jsonl"); err != nil {
		t.Fatal(err)
	}
	url := base + "/data"
	sub := newSideTestSubscriber(t, url, 0)

	s, err := newDataSender(url, 20*time.Millisecond, time.Hour, sideTestLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	want := []string{"x", `{"a":1}`, "z"}
	for _, item := range want {
		s.Send(item)
	}
	// The items may straddle a tick: gather them from as many segments as
	// they took, each a JSON array and a newline.
	var got []string
	for len(got) < len(want) {
		seg, body := readSideSegment(t, ctx, sub)
		if seg.ContentType != "application/jsonl" {
			t.Errorf("segment %d: Content-Type %q", seg.Seq, seg.ContentType)
		}
		if body == "" || body[len(body)-1] != '\n' {
			t.Fatalf("segment %d: body %q does not end in a newline", seg.Seq, body)
		}
		var items []string
		if err := json.Unmarshal([]byte(body), &items); err != nil || len(items) == 0 {
			t.Fatalf("segment %d: body %q is not a non-empty JSON array of strings: %v", seg.Seq, body, err)
		}
		got = append(got, items...)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("items %q, want %q", got, want)
	}
	for _, r := range reqs.all() {
		if r.Method == http.MethodPost && r.ContentType != "application/jsonl" {
			t.Errorf("POST %s with Content-Type %q", r.Path, r.ContentType)
		}
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !reqs.has(http.MethodDelete, "/data") {
		t.Error("Close did not end the channel with DELETE")
	}
}

func TestDataSenderSendsAKeepaliveOnTheWire(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, base, _ := newSideTestServer(t, trickle.ServerConfig{})
	if err := srv.CreateChannel("data", "application/jsonl"); err != nil {
		t.Fatal(err)
	}
	url := base + "/data"
	sub := newSideTestSubscriber(t, url, 0)
	s, err := newDataSender(url, 10*time.Millisecond, 50*time.Millisecond, sideTestLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if _, body := readSideSegment(t, ctx, sub); body != "[]\n" {
		t.Fatalf("keepalive body %q, want %q", body, "[]\n")
	}
}
