package statuspage

import (
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// client is one connected browser. What the page publishes waits in the
// client's own bounded outbox until its writer goroutine sends it, so a
// publisher only ever takes the client's lock for a moment:
//   - events (and the hello) queue in order, at most max; past that the
//     oldest is dropped and counted, and the browser is told how many;
//   - a snapshot or a preview replaces the one still waiting, if any.
type client struct {
	conn *websocket.Conn
	max  int

	mu       sync.Mutex
	events   [][]byte // text messages, oldest first
	dropped  int      // events dropped since the last notice
	snapshot []byte   // the newest snapshot not yet sent
	preview  []byte   // the newest JPEG not yet sent
	closed   bool

	wake chan struct{} // capacity 1: something waits in the outbox
	quit chan struct{} // closed when the client must go
	once sync.Once
}

func newClient(conn *websocket.Conn, max int) *client {
	return &client{conn: conn, max: max, wake: make(chan struct{}, 1), quit: make(chan struct{})}
}

// pushEvent queues an event message, dropping the oldest when full.
func (c *client) pushEvent(msg []byte) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if len(c.events) >= c.max {
		n := len(c.events) - c.max + 1
		c.events = append(c.events[:0], c.events[n:]...)
		c.dropped += n
	}
	c.events = append(c.events, msg)
	c.mu.Unlock()
	c.signal()
}

// setSnapshot makes msg the snapshot to send next, replacing any waiting.
func (c *client) setSnapshot(msg []byte) {
	c.mu.Lock()
	c.snapshot = msg
	c.mu.Unlock()
	c.signal()
}

// setPreview makes jpg the preview to send next, replacing any waiting.
func (c *client) setPreview(jpg []byte) {
	c.mu.Lock()
	c.preview = jpg
	c.mu.Unlock()
	c.signal()
}

func (c *client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// pending reports how many messages wait in the outbox.
func (c *client) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.events)
	if c.snapshot != nil {
		n++
	}
	if c.preview != nil {
		n++
	}
	return n
}

// outbox is what take hands the writer, in sending order.
type outbox struct {
	events   [][]byte
	dropped  int
	snapshot []byte
	preview  []byte
}

func (c *client) take() outbox {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := outbox{events: c.events, dropped: c.dropped, snapshot: c.snapshot, preview: c.preview}
	c.events, c.dropped, c.snapshot, c.preview = nil, 0, nil, nil
	return o
}

// close tells the writer to say goodbye and stop; safe to call twice.
func (c *client) close() {
	c.once.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		close(c.quit)
	})
}

// writeLoop sends the outbox as it fills, and pings, until the client is
// closed or a write fails; then it closes the connection, which ends the
// reader too.
func (c *client) writeLoop(writeTimeout, pingInterval time.Duration) {
	defer c.conn.Close()
	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	for {
		select {
		case <-c.quit:
			msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "status page closing")
			_ = c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			return
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
				return
			}
			continue
		case <-c.wake:
		}
		if err := c.flush(writeTimeout); err != nil {
			return
		}
	}
}

// flush writes what waits in the outbox: events in order (after a notice
// of those dropped), then the newest snapshot, then the newest preview.
func (c *client) flush(writeTimeout time.Duration) error {
	o := c.take()
	write := func(kind int, b []byte) error {
		if err := c.conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
			return err
		}
		return c.conn.WriteMessage(kind, b)
	}
	if o.dropped > 0 {
		if err := write(websocket.TextMessage, droppedMessage(o.dropped)); err != nil {
			return err
		}
	}
	for _, m := range o.events {
		if err := write(websocket.TextMessage, m); err != nil {
			return err
		}
	}
	if o.snapshot != nil {
		if err := write(websocket.TextMessage, o.snapshot); err != nil {
			return err
		}
	}
	if o.preview != nil {
		if err := write(websocket.BinaryMessage, o.preview); err != nil {
			return err
		}
	}
	return nil
}
