package statuspage

import (
	"errors"
	"sync"
	"sync/atomic"
)

// errTooManyClients refuses a browser past Config.MaxClients.
var errTooManyClients = errors.New("statuspage: too many clients")

// errClosed refuses a browser once the page is closed.
var errClosed = errors.New("statuspage: closed")

// hub keeps the connected clients and the ring of recent events, and hands
// every message to each client's outbox. Its methods never wait on a
// client: each takes the hub's lock and, briefly, each client's.
type hub struct {
	max int // clients at most

	mu      sync.Mutex
	clients map[*client]struct{}
	recent  [][]byte // ring of the latest event messages
	head    int      // index of the oldest in recent once it is full
	size    int      // ring capacity
	closed  bool

	n  atomic.Int32   // len(clients), read without the lock
	wg sync.WaitGroup // one per client added, done when its goroutines end
}

func newHub(maxClients, recentEvents int) *hub {
	return &hub{max: maxClients, clients: make(map[*client]struct{}), size: recentEvents}
}

// accepting reports whether add would take one more client now.
func (h *hub) accepting() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.closed && len(h.clients) < h.max
}

// count is how many clients are connected.
func (h *hub) count() int { return int(h.n.Load()) }

// add registers c and queues first the message that hello makes from the
// recent events (oldest first), so that c misses no event and gets none
// twice. A client added is counted until done is called for it, and wait
// waits for that; add fails once close has been called.
func (h *hub) add(c *client, hello func(recent [][]byte) []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errClosed
	}
	if len(h.clients) >= h.max {
		return errTooManyClients
	}
	c.pushEvent(hello(h.recentLocked()))
	h.clients[c] = struct{}{}
	h.n.Store(int32(len(h.clients)))
	h.wg.Add(1)
	return nil
}

// done says that the goroutines of a client add accepted have ended.
func (h *hub) done() { h.wg.Done() }

// wait waits, once close has been called, for every client to be done.
func (h *hub) wait() { h.wg.Wait() }

// remove unregisters c; removing twice is fine.
func (h *hub) remove(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, c)
	h.n.Store(int32(len(h.clients)))
}

// event records an event message in the ring and queues it for everyone.
func (h *hub) event(msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.recent) < h.size {
		h.recent = append(h.recent, msg)
	} else {
		h.recent[h.head] = msg
		h.head = (h.head + 1) % h.size
	}
	for c := range h.clients {
		c.pushEvent(msg)
	}
}

// recentLocked returns the ring's messages, oldest first.
func (h *hub) recentLocked() [][]byte {
	out := make([][]byte, 0, len(h.recent))
	out = append(out, h.recent[h.head:]...)
	return append(out, h.recent[:h.head]...)
}

// snapshot hands msg to every client as its newest snapshot.
func (h *hub) snapshot(msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		c.setSnapshot(msg)
	}
}

// preview hands jpg to every client as its newest preview.
func (h *hub) preview(jpg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		c.setPreview(jpg)
	}
}

// close refuses new clients and tells every client to go.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for c := range h.clients {
		c.close()
	}
}
