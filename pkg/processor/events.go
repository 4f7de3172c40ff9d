package processor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// Event types and queue types as PyTrickle spells them (protocol.py,
// media.py, server.py, stream_processor.py).
const (
	eventTypeHeartbeat       = "heartbeat"
	eventTypeFirstIngest     = "receive_first_ingest_segment"
	eventTypeFirstProcessed  = "send_first_processed_segment"
	eventTypeStreamStopped   = "stream_stopped"
	eventTypeParamsUpdated   = "params_updated"
	eventQueueDefault        = "ai_stream_events"
	eventQueueHeartbeat      = "stream_heartbeat"
	eventQueueMonitoring     = "custom_monitoring_event"
	eventsContentType        = "application/json"
	eventSenderQueueCapacity = 256
)

// eventTimestamp is the "timestamp" of an event: Unix time in milliseconds,
// as PyTrickle's int(time.time() * 1000).
func eventTimestamp() int64 { return time.Now().UnixMilli() }

// typedEvent returns {"type": typ, "timestamp": ms}, the shape of
// receive_first_ingest_segment, send_first_processed_segment and
// stream_stopped.
func typedEvent(typ string) map[string]any {
	return map[string]any{"type": typ, "timestamp": eventTimestamp()}
}

// paramsEvent returns {"type": "params_updated", "timestamp": ms,
// "params": p}.
func paramsEvent(p Params) map[string]any {
	ev := typedEvent(eventTypeParamsUpdated)
	if p == nil {
		p = Params{}
	}
	ev["params"] = p
	return ev
}

// heartbeatEvent returns PyTrickle's heartbeat (protocol.py:385-419), sent
// on queue "stream_heartbeat". urls is keyed subscribe, publish, control,
// events and data; missing keys are sent as "". width and height are the
// configured target size.
func heartbeatEvent(urls map[string]string, width, height int, fps FPS) map[string]any {
	u := make(map[string]any, 5)
	for _, k := range []string{"subscribe", "publish", "control", "events", "data"} {
		u[k] = urls[k] // "" when missing
	}
	return map[string]any{
		"type":      eventTypeHeartbeat,
		"timestamp": eventTimestamp(),
		"urls":      u,
		"dimensions": map[string]any{
			"width":  width,
			"height": height,
		},
		"fps": map[string]any{
			"ingress_video_fps": fps.IngressVideo,
			"ingress_audio_fps": fps.IngressAudio,
			"egress_video_fps":  fps.EgressVideo,
			"egress_audio_fps":  fps.EgressAudio,
		},
	}
}

// eventEnvelope is the body of one events segment. The field order gives
// exactly {"event":…,"queue_event_type":…}.
type eventEnvelope struct {
	Event          map[string]any `json:"event"`
	QueueEventType string         `json:"queue_event_type"`
}

// marshalSideJSON encodes v compactly without a trailing newline. Unlike
// json.Marshal it leaves <, > and & as they are, as Python's json.dumps does.
func marshalSideJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// jsonSegmentPublisher is the part of *trickle.Publisher the events and
// data senders use; tests replace it.
type jsonSegmentPublisher interface {
	Write(ctx context.Context, r io.Reader) (int64, error)
	Close(ctx context.Context) error
}

// eventSender publishes monitoring events on the events channel, each
// event as its own trickle segment (PyTrickle protocol.py:374-383).
//
// Send never blocks: events wait in a bounded queue that one goroutine
// drains. A nil *eventSender (no events URL) is valid and does nothing.
//
// Unlike PyTrickle, a failed events POST does not end the stream: it is
// logged and counted (Failed), and the next event is tried. Monitoring is
// not worth stopping a working video stream for.
type eventSender struct {
	log  *slog.Logger
	pub  jsonSegmentPublisher
	kill func() // drops every connection of pub at once; nil in tests

	queue chan []byte

	mu       sync.Mutex // guards closed and sends on queue against its close
	closed   bool
	dropWarn bool // a drop has been logged at warn since the last queued event

	runCtx    context.Context // cancelled when Close gives up waiting
	cancelRun context.CancelFunc
	done      chan struct{} // closed when the goroutine has returned

	closeOnce sync.Once
	closeErr  error

	sent, dropped, failed atomic.Uint64
}

// newEventSender starts a sender for the events channel at url. An empty
// url gives a nil sender whose methods do nothing.
func newEventSender(url string, log *slog.Logger) (*eventSender, error) {
	if strings.TrimSpace(url) == "" {
		return nil, nil
	}
	if log == nil {
		log = slog.Default()
	}
	pub, kill, err := newSidePublisher(url, eventsContentType, log)
	if err != nil {
		return nil, err
	}
	return startEventSender(pub, kill, log.With("channel", "events")), nil
}

// startEventSender starts the goroutine that publishes queued events.
func startEventSender(pub jsonSegmentPublisher, kill func(), log *slog.Logger) *eventSender {
	s := &eventSender{
		log:   log,
		pub:   pub,
		kill:  kill,
		queue: make(chan []byte, eventSenderQueueCapacity),
		done:  make(chan struct{}),
	}
	s.runCtx, s.cancelRun = context.WithCancel(context.Background())
	go s.publishLoop()
	return s
}

// Send queues event for the channel with the given queue_event_type
// ("ai_stream_events" when empty). It reports whether the event was
// queued: false when the queue is full (the event is dropped and counted),
// when the sender is closed or nil, or when the event cannot be encoded as
// JSON (counted as failed). The event is encoded before Send returns, so the
// caller may reuse the map.
func (s *eventSender) Send(event map[string]any, queueType string) bool {
	if s == nil {
		return false
	}
	if queueType == "" {
		queueType = eventQueueDefault
	}
	body, err := marshalSideJSON(eventEnvelope{Event: event, QueueEventType: queueType})
	if err != nil {
		s.failed.Add(1)
		s.log.Warn("event cannot be encoded as JSON; not sent", "queue_event_type", queueType, "err", err)
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	select {
	case s.queue <- body:
		s.dropWarn = false
		return true
	default:
		n := s.dropped.Add(1)
		if !s.dropWarn {
			s.dropWarn = true
			s.log.Warn("events queue full; dropping new events", "capacity", cap(s.queue), "dropped_total", n)
		}
		return false
	}
}

// publishLoop sends each queued event as one segment until the queue is
// closed and drained, or Close gives up.
func (s *eventSender) publishLoop() {
	defer close(s.done)
	failing := false
	for body := range s.queue {
		if s.runCtx.Err() != nil {
			s.dropped.Add(1) // Close ran out of time: what is left is dropped
			continue
		}
		_, err := s.pub.Write(s.runCtx, bytes.NewReader(body))
		if err != nil {
			n := s.failed.Add(1)
			if !failing && s.runCtx.Err() == nil {
				s.log.Warn("event not published", "err", err, "failed_total", n)
			} else {
				s.log.Debug("event not published", "err", err, "failed_total", n)
			}
			failing = true
			continue
		}
		if failing {
			s.log.Info("events channel publishing again")
			failing = false
		}
		s.sent.Add(1)
	}
}

// Close stops accepting events, publishes those still queued (for as long
// as ctx allows; the rest are dropped and counted), then closes the
// publisher, which ends the channel on the server. It returns once every
// goroutine it started has ended; when ctx ends first, connections are cut
// so that this takes at most a couple of seconds more (the publisher's own
// retry pauses). Calling Close again returns the first call's result.
func (s *eventSender) Close(ctx context.Context) error {
	if s == nil {
		return nil
	}
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.queue)
		s.mu.Unlock()
		s.closeErr = closeSideSender(ctx, s.done, s.cancelRun, s.kill, s.pub)
	})
	return s.closeErr
}

// Sent returns how many events the server accepted.
func (s *eventSender) Sent() uint64 {
	if s == nil {
		return 0
	}
	return s.sent.Load()
}

// Dropped returns how many events were dropped because the queue was full
// or Close ran out of time.
func (s *eventSender) Dropped() uint64 {
	if s == nil {
		return 0
	}
	return s.dropped.Load()
}

// Failed returns how many events could not be published (or encoded).
func (s *eventSender) Failed() uint64 {
	if s == nil {
		return 0
	}
	return s.failed.Load()
}

// closeSideSender waits for a sender's goroutine to finish its flush, or
// for ctx to end; in the latter case it cancels the goroutine's context
// and cuts its connections so that a write stuck on an unresponsive server
// returns. Then it closes the publisher (DELETE of the channel, bounded by
// ctx) and releases the connections.
func closeSideSender(ctx context.Context, done <-chan struct{}, cancelRun context.CancelFunc, kill func(), pub jsonSegmentPublisher) error {
	var flushErr error
	select {
	case <-done:
	case <-ctx.Done():
		flushErr = fmt.Errorf("flush cut short: %w", context.Cause(ctx))
		cancelRun()
		if kill != nil {
			kill()
		}
		<-done
	}
	cancelRun()
	err := pub.Close(ctx)
	if kill != nil {
		kill()
	}
	return errors.Join(flushErr, err)
}

// newSidePublisher opens a trickle publisher for a JSON side channel
// (events or data) with its own transport, and returns a function that
// cuts all of that transport's connections at once, for a Close whose
// deadline has passed.
func newSidePublisher(url, contentType string, log *slog.Logger) (*trickle.Publisher, func(), error) {
	conns := &sideChannelConns{conns: make(map[*sideChannelConn]struct{})}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = conns.dial
	tr.MaxIdleConnsPerHost = 4
	client := &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{
		URL:         url,
		Client:      client,
		ContentType: contentType,
		Logger:      log,
	})
	if err != nil {
		tr.CloseIdleConnections()
		conns.closeAll()
		return nil, nil, err
	}
	kill := func() {
		conns.closeAll()
		tr.CloseIdleConnections()
	}
	return pub, kill, nil
}

// errSideChannelClosed refuses new connections once a side channel has
// been shut down.
var errSideChannelClosed = errors.New("processor: side channel closed")

// sideChannelConns tracks the connections of one side channel's transport
// so they can all be closed, including those with a request in flight.
type sideChannelConns struct {
	dialer net.Dialer

	mu     sync.Mutex
	closed bool
	conns  map[*sideChannelConn]struct{}
}

func (t *sideChannelConns) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return nil, errSideChannelClosed
	}
	c, err := t.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		c.Close()
		return nil, errSideChannelClosed
	}
	tc := &sideChannelConn{Conn: c, owner: t}
	t.conns[tc] = struct{}{}
	return tc, nil
}

// closeAll closes every connection and refuses new ones.
func (t *sideChannelConns) closeAll() {
	t.mu.Lock()
	t.closed = true
	conns := make([]*sideChannelConn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

type sideChannelConn struct {
	net.Conn
	owner *sideChannelConns
	once  sync.Once
	err   error
}

func (c *sideChannelConn) Close() error {
	c.once.Do(func() {
		c.owner.mu.Lock()
		delete(c.owner.conns, c)
		c.owner.mu.Unlock()
		c.err = c.Conn.Close()
	})
	return c.err
}
