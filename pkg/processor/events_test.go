package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// sideTestLogger discards logs.
func sideTestLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// sideRequest is one request a test server received.
type sideRequest struct {
	Method, Path, ContentType string
}

// sideRequestLog records the requests a test server received.
type sideRequestLog struct {
	mu   sync.Mutex
	reqs []sideRequest
}

func (l *sideRequestLog) add(r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, sideRequest{r.Method, r.URL.Path, r.Header.Get("Content-Type")})
}

func (l *sideRequestLog) all() []sideRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sideRequest(nil), l.reqs...)
}

func (l *sideRequestLog) has(method, path string) bool {
	for _, r := range l.all() {
		if r.Method == method && r.Path == path {
			return true
		}
	}
	return false
}

// newSideTestServer runs an in-process trickle server on loopback and
// returns it, its base URL and the log of the requests it received.
func newSideTestServer(t *testing.T, cfg trickle.ServerConfig) (*trickle.Server, string, *sideRequestLog) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = sideTestLogger()
	}
	srv := trickle.NewServer(cfg)
	log := &sideRequestLog{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.add(r)
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	return srv, hs.URL, log
}

// newSideTestSubscriber reads channel url from seq start.
func newSideTestSubscriber(t *testing.T, url string, start int64) *trickle.Subscriber {
	t.Helper()
	sub, err := trickle.NewSubscriber(trickle.SubscriberConfig{
		URL: url, Start: trickle.StartAt(start), Logger: sideTestLogger(), RetryBackoff: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	return sub
}

// readSideSegment reads the next whole segment.
func readSideSegment(t *testing.T, ctx context.Context, sub *trickle.Subscriber) (*trickle.Segment, string) {
	t.Helper()
	seg, err := sub.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	defer seg.Close()
	b, err := io.ReadAll(seg)
	if err != nil {
		t.Fatalf("reading seq %d: %v", seg.Seq, err)
	}
	return seg, string(b)
}

// sideWaitFor polls cond until it holds or the time is up.
func sideWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recordingPublisher is a jsonSegmentPublisher that keeps what it is
// given. When gate is set, each Write waits for it (or for ctx).
type recordingPublisher struct {
	gate    chan struct{}
	entered chan struct{} // gets a value each time a Write starts
	err     error         // returned by every Write when set

	mu     sync.Mutex
	bodies []string
	times  []time.Time // when each Write ended
	starts []time.Time // when each Write began
	closed bool
}

func newRecordingPublisher() *recordingPublisher {
	return &recordingPublisher{entered: make(chan struct{}, 4096)}
}

func (p *recordingPublisher) Write(ctx context.Context, r io.Reader) (int64, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return 0, err
	}
	p.entered <- struct{}{}
	p.mu.Lock()
	p.starts = append(p.starts, time.Now())
	p.mu.Unlock()
	if p.gate != nil {
		select {
		case <-p.gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if p.err != nil {
		return 0, p.err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bodies = append(p.bodies, string(b))
	p.times = append(p.times, time.Now())
	return int64(len(b)), nil
}

func (p *recordingPublisher) Close(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	return nil
}

func (p *recordingPublisher) got() ([]string, []time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.bodies...), append([]time.Time(nil), p.times...), p.closed
}

func TestEventShapesFollowPyTrickle(t *testing.T) {
	fps := FPS{IngressVideo: 30, IngressAudio: 50, EgressVideo: 29.5, EgressAudio: 50}
	tests := []struct {
		name  string
		event func() map[string]any
		want  string // JSON with the timestamp removed
	}{
		{
			name:  "a first ingest segment event is its type and a timestamp",
			event: func() map[string]any { return typedEvent(eventTypeFirstIngest) },
			want:  `{"type":"receive_first_ingest_segment"}`,
		},
		{
			name:  "a stream stopped event is its type and a timestamp",
			event: func() map[string]any { return typedEvent(eventTypeStreamStopped) },
			want:  `{"type":"stream_stopped"}`,
		},
		{
			name:  "a params updated event carries the params",
			event: func() map[string]any { return paramsEvent(Params{"prompt": "cat", "strength": 0.5}) },
			want:  `{"params":{"prompt":"cat","strength":0.5},"type":"params_updated"}`,
		},
		{
			name:  "a params updated event without params carries an empty object",
			event: func() map[string]any { return paramsEvent(nil) },
			want:  `{"params":{},"type":"params_updated"}`,
		},
		{
			name: "a heartbeat sends missing URLs as empty strings",
			event: func() map[string]any {
				return heartbeatEvent(map[string]string{"subscribe": "http://in", "publish": "http://out"}, 512, 288, fps)
			},
			want: `{"dimensions":{"height":288,"width":512},` +
				`"fps":{"egress_audio_fps":50,"egress_video_fps":29.5,"ingress_audio_fps":50,"ingress_video_fps":30},` +
				`"type":"heartbeat",` +
				`"urls":{"control":"","data":"","events":"","publish":"http://out","subscribe":"http://in"}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now().UnixMilli()
			ev := tc.event()
			after := time.Now().UnixMilli()
			ts, ok := ev["timestamp"].(int64)
			if !ok || ts < before || ts > after {
				t.Fatalf("timestamp %v (%T), want ms in [%d, %d]", ev["timestamp"], ev["timestamp"], before, after)
			}
			delete(ev, "timestamp")
			got, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestEventSenderPublishesEachEventAsItsOwnSegmentWithExactJSON(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, base, reqs := newSideTestServer(t, trickle.ServerConfig{Autocreate: true})
	url := base + "/events"
	s, err := newEventSender(url, sideTestLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())

	sends := []struct {
		event     map[string]any
		queueType string
		want      string
	}{
		{map[string]any{"type": "a", "n": 1}, "", `{"event":{"n":1,"type":"a"},"queue_event_type":"ai_stream_events"}`},
		{map[string]any{"type": "heartbeat"}, eventQueueHeartbeat, `{"event":{"type":"heartbeat"},"queue_event_type":"stream_heartbeat"}`},
		{map[string]any{"msg": "<b>&</b>"}, "custom_monitoring_event", `{"event":{"msg":"<b>&</b>"},"queue_event_type":"custom_monitoring_event"}`},
	}
	for _, snd := range sends {
		if !s.Send(snd.event, snd.queueType) {
			t.Fatalf("Send(%v) = false", snd.event)
		}
	}
	sideWaitFor(t, "three events sent", func() bool { return s.Sent() == 3 })

	sub := newSideTestSubscriber(t, url, 0)
	for i, snd := range sends {
		seg, body := readSideSegment(t, ctx, sub)
		if seg.Seq != int64(i) {
			t.Errorf("event %d: seq %d", i, seg.Seq)
		}
		if seg.ContentType != "application/json" {
			t.Errorf("event %d: Content-Type %q", i, seg.ContentType)
		}
		if body != snd.want {
			t.Errorf("event %d:\n got  %q\n want %q", i, body, snd.want)
		}
	}
	for _, r := range reqs.all() {
		if r.Method == http.MethodPost && r.ContentType != "application/json" {
			t.Errorf("POST %s with Content-Type %q", r.Path, r.ContentType)
		}
	}

	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if s.Send(typedEvent("late"), "") {
		t.Error("Send after Close returned true")
	}
	if !reqs.has(http.MethodDelete, "/events") {
		t.Error("Close did not end the channel with DELETE")
	}
	if _, err := sub.Next(ctx); !errors.Is(err, trickle.ErrStreamClosed) {
		t.Errorf("reader after Close: %v, want ErrStreamClosed", err)
	}
	if s.Dropped() != 0 || s.Failed() != 0 {
		t.Errorf("dropped %d, failed %d; want 0, 0", s.Dropped(), s.Failed())
	}
}

func TestEventSenderDropsAndCountsNewEventsWhenTheQueueIsFull(t *testing.T) {
	pub := newRecordingPublisher()
	pub.gate = make(chan struct{})
	s := startEventSender(pub, nil, sideTestLogger())

	if !s.Send(map[string]any{"i": 0}, "") {
		t.Fatal("first Send refused")
	}
	<-pub.entered // the first event is being written; the queue is empty
	for i := 1; i <= eventSenderQueueCapacity; i++ {
		if !s.Send(map[string]any{"i": i}, "") {
			t.Fatalf("Send %d refused with room in the queue", i)
		}
	}
	start := time.Now()
	if s.Send(map[string]any{"i": "dropped"}, "") {
		t.Fatal("Send on a full queue returned true")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Send on a full queue took %v", d)
	}
	if got := s.Dropped(); got != 1 {
		t.Fatalf("Dropped() = %d, want 1", got)
	}

	close(pub.gate)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	bodies, _, closed := pub.got()
	if len(bodies) != eventSenderQueueCapacity+1 || !closed {
		t.Fatalf("published %d events (closed %v), want %d and closed", len(bodies), closed, eventSenderQueueCapacity+1)
	}
	for i, b := range bodies {
		want := fmt.Sprintf(`{"event":{"i":%d},"queue_event_type":"ai_stream_events"}`, i)
		if b != want {
			t.Fatalf("event %d = %s, want %s", i, b, want)
		}
	}
}

func TestEventSenderCountsFailedPublishesAndKeepsGoing(t *testing.T) {
	pub := newRecordingPublisher()
	pub.err = errors.New("POST failed with status 500")
	s := startEventSender(pub, nil, sideTestLogger())
	for i := range 3 {
		if !s.Send(map[string]any{"i": i}, "") {
			t.Fatalf("Send %d refused", i)
		}
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.Failed() != 3 || s.Sent() != 0 {
		t.Fatalf("failed %d, sent %d; want 3, 0", s.Failed(), s.Sent())
	}
}

func TestEventSenderRefusesEventsThatAreNotJSON(t *testing.T) {
	pub := newRecordingPublisher()
	s := startEventSender(pub, nil, sideTestLogger())
	defer s.Close(context.Background())
	if s.Send(map[string]any{"c": make(chan int)}, "") {
		t.Fatal("Send of an unencodable event returned true")
	}
	if s.Failed() != 1 {
		t.Fatalf("Failed() = %d, want 1", s.Failed())
	}
}

func TestNilAndEmptyURLSendersDoNothing(t *testing.T) {
	ev, err := newEventSender("  ", nil)
	if err != nil || ev != nil {
		t.Fatalf("newEventSender(\"\") = %v, %v; want nil, nil", ev, err)
	}
	data, err := newDataSender("", 0, 0, nil)
	if err != nil || data != nil {
		t.Fatalf("newDataSender(\"\") = %v, %v; want nil, nil", data, err)
	}
	if ev.Send(typedEvent("x"), "") || data.Send("x") {
		t.Error("a nil sender accepted something")
	}
	if ev.Dropped()+ev.Failed()+ev.Sent()+data.Dropped()+data.Failed()+data.Segments() != 0 {
		t.Error("a nil sender counted something")
	}
	if ev.Close(context.Background()) != nil || data.Close(context.Background()) != nil {
		t.Error("closing a nil sender failed")
	}
}

func TestSendersRejectMalformedURLs(t *testing.T) {
	for _, url := range []string{"ftp://host/ch", "http://host/bad name", "http:///ch"} {
		if s, err := newEventSender(url, sideTestLogger()); err == nil {
			s.Close(context.Background())
			t.Errorf("newEventSender(%q) accepted it", url)
		}
		if s, err := newDataSender(url, 0, 0, sideTestLogger()); err == nil {
			s.Close(context.Background())
			t.Errorf("newDataSender(%q) accepted it", url)
		}
	}
}

func TestEventSenderCloseReturnsSoonAfterItsContextEndsWhenTheServerHangs(t *testing.T) {
	release := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // take the body, never answer
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hs.Close()
	defer close(release)

	s, err := newEventSender(hs.URL+"/events", sideTestLogger())
	if err != nil {
		t.Fatal(err)
	}
	s.Send(typedEvent("stuck"), "")
	s.Send(typedEvent("queued"), "")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Close(ctx)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Close took %v", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close: %v, want a deadline error", err)
	}
	if s.Sent() != 0 || s.Failed()+s.Dropped() != 2 {
		t.Errorf("sent %d, failed %d, dropped %d; want the two events failed or dropped", s.Sent(), s.Failed(), s.Dropped())
	}
	if !strings.Contains(fmt.Sprint(err), "flush cut short") {
		t.Errorf("Close error %q does not say the flush was cut short", err)
	}
}
