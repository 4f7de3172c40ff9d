package processor

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Data channel settings, PyTrickle's (client.py:388-422).
const (
	dataContentType            = "application/jsonl"
	dataSenderMaxItems         = 1000
	dataSenderDefaultInterval  = 333 * time.Millisecond
	dataSenderDefaultKeepalive = 25 * time.Second
)

// dataSender publishes the strings handlers send (PyTrickle's send_data)
// on the data channel. Items wait in a queue of at most 1000 (the oldest is
// dropped when it is full, like PyTrickle's deque(maxlen=1000)); every
// interval, whatever is queued goes out as ONE segment whose body is the
// JSON array of the items followed by "\n". After keepalive without a
// segment, "[]\n" is sent so the channel stays open.
//
// A nil *dataSender (no data URL) is valid and does nothing. As with
// events, a failed POST is logged and counted but does not end the stream
// (PyTrickle ends it).
type dataSender struct {
	log       *slog.Logger
	pub       jsonSegmentPublisher
	kill      func() // cuts pub's connections; nil in tests
	interval  time.Duration
	keepalive time.Duration

	mu       sync.Mutex
	items    []string
	closed   bool
	dropWarn bool // a drop has been logged at warn since the last flush

	closing   chan struct{} // closed by Close: flush and stop
	runCtx    context.Context
	cancelRun context.CancelFunc
	done      chan struct{}

	closeOnce sync.Once
	closeErr  error

	segments, dropped, failed atomic.Uint64
}

// newDataSender starts a sender for the data channel at url. interval (333
// ms when ≤ 0) is how often queued items are sent; keepalive (25 s when ≤
// 0) is the silence after which "[]\n" is sent. An empty url gives a nil
// sender whose methods do nothing.
func newDataSender(url string, interval, keepalive time.Duration, log *slog.Logger) (*dataSender, error) {
	if strings.TrimSpace(url) == "" {
		return nil, nil
	}
	if log == nil {
		log = slog.Default()
	}
	pub, kill, err := newSidePublisher(url, dataContentType, log)
	if err != nil {
		return nil, err
	}
	return startDataSender(pub, kill, interval, keepalive, log.With("channel", "data")), nil
}

// startDataSender starts the goroutine that publishes queued items.
func startDataSender(pub jsonSegmentPublisher, kill func(), interval, keepalive time.Duration, log *slog.Logger) *dataSender {
	if interval <= 0 {
		interval = dataSenderDefaultInterval
	}
	if keepalive <= 0 {
		keepalive = dataSenderDefaultKeepalive
	}
	s := &dataSender{
		log:       log,
		pub:       pub,
		kill:      kill,
		interval:  interval,
		keepalive: keepalive,
		closing:   make(chan struct{}),
		done:      make(chan struct{}),
	}
	s.runCtx, s.cancelRun = context.WithCancel(context.Background())
	go s.publishLoop()
	return s
}

// Send queues item for the next segment. When 1000 items are already
// queued the oldest is dropped (and counted) to make room. It returns false
// only when the sender is closed or nil.
func (s *dataSender) Send(item string) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if len(s.items) >= dataSenderMaxItems {
		n := copy(s.items, s.items[len(s.items)-dataSenderMaxItems+1:])
		clear(s.items[n:])
		s.items = s.items[:n]
		total := s.dropped.Add(1)
		if !s.dropWarn {
			s.dropWarn = true
			s.log.Warn("data queue full; dropping the oldest items", "capacity", dataSenderMaxItems, "dropped_total", total)
		}
	}
	s.items = append(s.items, item)
	return true
}

// take removes and returns every queued item.
func (s *dataSender) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	items := s.items
	s.items = nil
	s.dropWarn = false
	return items
}

// dataSegmentBody decides what one tick of the data loop sends: the queued
// items as a JSON array plus "\n" when there are any, else "[]\n" when idle
// (the time since the last segment) has reached keepalive, else nothing.
func dataSegmentBody(items []string, idle, keepalive time.Duration) ([]byte, bool) {
	if len(items) == 0 {
		if idle >= keepalive {
			return []byte("[]\n"), true
		}
		return nil, false
	}
	b, err := marshalSideJSON(items)
	if err != nil { // a []string always encodes
		panic(err)
	}
	return append(b, '\n'), true
}

// publishLoop sends a segment every interval when there is something to
// send, and flushes the queue once more when Close is called. Each round
// is timed from when the one before it began, not on a fixed beat: a
// round run late (a busy machine) followed by one on the beat would send
// two segments closer together than the interval (PROC-068).
func (s *dataSender) publishLoop() {
	defer close(s.done)
	t := time.NewTimer(s.interval)
	defer t.Stop()
	last := time.Now()
	failing := false
	publish := func(items []string, body []byte) {
		if s.runCtx.Err() != nil { // Close ran out of time
			s.dropped.Add(uint64(len(items)))
			return
		}
		_, err := s.pub.Write(s.runCtx, bytes.NewReader(body))
		last = time.Now()
		if err != nil {
			n := s.failed.Add(1)
			if !failing && s.runCtx.Err() == nil {
				s.log.Warn("data segment not published", "err", err, "failed_total", n)
			} else {
				s.log.Debug("data segment not published", "err", err, "failed_total", n)
			}
			failing = true
			return
		}
		if failing {
			s.log.Info("data channel publishing again")
			failing = false
		}
		s.segments.Add(1)
	}
	for {
		select {
		case <-s.closing:
			if items := s.take(); len(items) > 0 {
				body, _ := dataSegmentBody(items, 0, s.keepalive)
				publish(items, body)
			}
			return
		case <-t.C:
			began := time.Now()
			items := s.take()
			if body, ok := dataSegmentBody(items, time.Since(last), s.keepalive); ok {
				publish(items, body)
			}
			t.Reset(s.interval - time.Since(began))
		}
	}
}

// Close stops accepting items, sends what is still queued as a last
// segment (bounded by ctx; when ctx ends first the items are dropped and
// counted), then closes the publisher, which ends the channel on the
// server. Every goroutine the sender started has ended when it returns.
// Calling Close again returns the first call's result.
func (s *dataSender) Close(ctx context.Context) error {
	if s == nil {
		return nil
	}
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.closing)
		s.closeErr = closeSideSender(ctx, s.done, s.cancelRun, s.kill, s.pub)
	})
	return s.closeErr
}

// Segments returns how many segments the server accepted, keepalives
// included.
func (s *dataSender) Segments() uint64 {
	if s == nil {
		return 0
	}
	return s.segments.Load()
}

// Dropped returns how many items were dropped: the oldest when the queue
// was full, and those left when Close ran out of time.
func (s *dataSender) Dropped() uint64 {
	if s == nil {
		return 0
	}
	return s.dropped.Load()
}

// Failed returns how many segments could not be published.
func (s *dataSender) Failed() uint64 {
	if s == nil {
		return 0
	}
	return s.failed.Load()
}
