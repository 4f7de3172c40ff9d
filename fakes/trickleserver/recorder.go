package trickleserver

import (
	"sync"
	"time"
)

// Request is the record of one HTTP request the fake served. Times are
// zero until the event happens; byte times are taken when the bytes were
// handed to or taken from the connection.
type Request struct {
	Method string
	Path   string // the URL path as received
	// Channel is the path element after the base path, "" when the path is
	// not a trickle path.
	Channel string
	// Seq is the sequence number as requested (-1 stays -1); HasSeq says
	// whether the path held one (it does not for /{channel} and
	// /{channel}/next).
	Seq    int64
	HasSeq bool
	// Status is the status sent, after any mutation: 0 while the request
	// runs, and still 0 when the connection was dropped before a status was
	// sent. Interim 1xx answers are not recorded.
	Status int

	Start        time.Time // the handler began: the request's headers had arrived
	FirstByteIn  time.Time // first request-body byte read
	LastByteIn   time.Time // latest request-body byte read
	FirstByteOut time.Time // first response-body byte written
	LastByteOut  time.Time // latest response-body byte written
	End          time.Time // the handler returned; zero while it runs

	BytesIn  int64 // request-body bytes read
	BytesOut int64 // response-body bytes written (none for HEAD: net/http discards them)

	// Fault describes the fault applied to this request (Fault.String),
	// "" when none was.
	Fault string
}

// recorder keeps every request in arrival order. Each entry has its own
// lock so that a busy stream's byte counting does not contend with other
// requests.
type recorder struct {
	mu      sync.Mutex
	entries []*entry
}

type entry struct {
	mu  sync.Mutex
	req Request
}

// start records a request that has just begun and returns its entry.
func (rc *recorder) start(req Request) *entry {
	e := &entry{req: req}
	rc.mu.Lock()
	rc.entries = append(rc.entries, e)
	rc.mu.Unlock()
	return e
}

// snapshot copies every request recorded so far.
func (rc *recorder) snapshot() []Request {
	rc.mu.Lock()
	entries := rc.entries[:len(rc.entries):len(rc.entries)]
	rc.mu.Unlock()
	out := make([]Request, len(entries))
	for i, e := range entries {
		e.mu.Lock()
		out[i] = e.req
		e.mu.Unlock()
	}
	return out
}

// reset forgets every request. Requests still running keep updating their
// entries, which are no longer listed.
func (rc *recorder) reset() {
	rc.mu.Lock()
	rc.entries = nil
	rc.mu.Unlock()
}

func (e *entry) bodyIn(n int, at time.Time) {
	e.mu.Lock()
	if e.req.BytesIn == 0 {
		e.req.FirstByteIn = at
	}
	e.req.BytesIn += int64(n)
	e.req.LastByteIn = at
	e.mu.Unlock()
}

func (e *entry) bodyOut(n int, at time.Time) {
	e.mu.Lock()
	if e.req.BytesOut == 0 {
		e.req.FirstByteOut = at
	}
	e.req.BytesOut += int64(n)
	e.req.LastByteOut = at
	e.mu.Unlock()
}

func (e *entry) status(code int) {
	e.mu.Lock()
	e.req.Status = code
	e.mu.Unlock()
}

// end records the end of the request and returns its final record.
func (e *entry) end(at time.Time) Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.req.End = at
	return e.req
}
