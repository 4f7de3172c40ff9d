package trickleserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// errDropped is what the handler's reads and writes get once a fault has
// dropped the connection, so that it stops promptly.
var errDropped = errors.New("trickleserver: connection dropped by a fault")

// respWriter sits between the real server and the connection. It records
// what is sent and applies the response side of faults and mutations.
//
// It never buffers: every Write goes straight to the underlying writer and
// every Flush reaches it, because the fake must stream as promptly as the
// real server (only MutationBufferWholeSegment holds bytes back, on
// purpose). Unwrap lets http.ResponseController reach the connection for
// the deadlines the real server sets.
//
// The handler's goroutine does almost everything; the exception is a POST
// body reader dropping the connection (dropConn), so state is locked.
type respWriter struct {
	w   http.ResponseWriter
	e   *entry
	s   *Server
	ctx context.Context
	// cancel ends the context the real server sees, so that a handler
	// waiting for segment data notices a dropped connection at once.
	cancel context.CancelFunc
	opts   writerOpts

	mu          sync.Mutex
	wroteHeader bool
	status      int           // the final status, after mutations
	held        *bytes.Buffer // the whole response, while MutationBufferWholeSegment holds it
	sent        int64         // body bytes handed to w
	delayed     bool          // the first-byte delay has been served
	gone        bool          // the connection is not ours any more (dropped or hijacked)
	abort       bool          // a drop was due but the connection could not be hijacked
}

// writerOpts is what the respWriter does to one response; it is fixed
// before the request is served.
type writerOpts struct {
	hold        bool          // MutationBufferWholeSegment
	lateFirst   time.Duration // MutationLateFirstByte
	rewrite470  bool          // MutationEvicted404
	stripLatest bool          // MutationNoLatestHeader
	header      map[string]string
	head        bool  // HEAD: net/http discards the body, so none is recorded
	dropAfter   int64 // response-body bytes before the connection is dropped; -1 never
	stallAfter  int64 // response-body bytes before the response stalls; -1 never
}

func (rw *respWriter) Header() http.Header { return rw.w.Header() }

// Unwrap gives http.ResponseController the real writer for everything the
// respWriter does not implement itself (read and write deadlines, full
// duplex).
func (rw *respWriter) Unwrap() http.ResponseWriter { return rw.w }

func (rw *respWriter) WriteHeader(code int) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	rw.writeHeaderLocked(code)
}

func (rw *respWriter) writeHeaderLocked(code int) {
	if rw.gone || rw.wroteHeader {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// Interim answers (a parked POST's 100 Continue keepalive) pass
		// through untouched; they are not the response's status.
		if !rw.opts.hold {
			rw.w.WriteHeader(code)
		}
		return
	}
	rw.wroteHeader = true
	h := rw.w.Header()
	if rw.opts.rewrite470 && code == trickle.StatusSequenceNonexistent {
		code = http.StatusNotFound
	}
	if rw.opts.stripLatest && code == http.StatusOK {
		h.Del(trickle.HeaderLatest)
	}
	for k, v := range rw.opts.header {
		h.Set(k, v)
	}
	rw.status = code
	if rw.opts.hold {
		rw.held = new(bytes.Buffer)
		return
	}
	rw.w.WriteHeader(code)
	rw.e.status(code)
}

func (rw *respWriter) Write(p []byte) (int, error) {
	rw.mu.Lock()
	if rw.gone {
		rw.mu.Unlock()
		return 0, errDropped
	}
	if !rw.wroteHeader {
		rw.writeHeaderLocked(http.StatusOK)
	}
	if rw.held != nil {
		rw.held.Write(p)
		rw.mu.Unlock()
		return len(p), nil
	}
	rw.mu.Unlock()
	return rw.send(p)
}

// send writes body bytes to the connection, applying the first-byte delay
// and cutting the body where a drop or stall fault says.
func (rw *respWriter) send(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	rw.delayFirstByte()
	limit, stall := rw.cutAt()
	sent := rw.sentBytes()
	cut := limit >= 0 && sent+int64(len(p)) > limit
	if cut {
		p = p[:limit-sent]
	}
	n, err := rw.writeBody(p)
	if err != nil || !cut {
		return n, err
	}
	rw.cutOff(stall)
	return n, errDropped
}

// delayFirstByte serves MutationLateFirstByte: the first byte of a
// segment's data waits.
func (rw *respWriter) delayFirstByte() {
	rw.mu.Lock()
	due := rw.opts.lateFirst > 0 && !rw.delayed && rw.status == http.StatusOK
	rw.delayed = true
	rw.mu.Unlock()
	if due {
		rw.s.pause(rw.ctx, rw.opts.lateFirst)
	}
}

func (rw *respWriter) cutAt() (limit int64, stall bool) {
	if rw.opts.dropAfter >= 0 {
		return rw.opts.dropAfter, false
	}
	return rw.opts.stallAfter, rw.opts.stallAfter >= 0
}

func (rw *respWriter) sentBytes() int64 {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.sent
}

func (rw *respWriter) writeBody(p []byte) (int, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.gone {
		return 0, errDropped
	}
	n, err := rw.w.Write(p)
	rw.sent += int64(n)
	if n > 0 && !rw.opts.head {
		rw.e.bodyOut(n, time.Now())
	}
	return n, err
}

// cutOff ends a response where a fault said: the bytes so far go onto the
// wire, then (for a stall) nothing more until the client leaves or the
// server closes, then the connection is dropped.
func (rw *respWriter) cutOff(stall bool) {
	if err := rw.FlushError(); err != nil {
		return
	}
	if stall {
		select {
		case <-rw.ctx.Done():
		case <-rw.s.done:
		}
	}
	rw.dropConn()
}

// dropConn closes the TCP connection under the request without finishing
// the response. It may be called from the POST body reader's goroutine.
func (rw *respWriter) dropConn() {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.gone {
		return
	}
	rw.gone = true
	defer rw.cancel()
	conn, _, err := http.NewResponseController(rw.w).Hijack()
	if err != nil {
		// HTTP/2 cannot hand its connection over; the handler aborts the
		// stream instead once the real server returns.
		rw.abort = true
		rw.s.log.Debug("cannot hijack to drop; aborting the response instead", "err", err)
		return
	}
	conn.Close()
}

// FlushError sends what has been written; the real server flushes after
// every chunk through http.ResponseController, which calls this.
func (rw *respWriter) FlushError() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.gone {
		return errDropped
	}
	if !rw.wroteHeader {
		rw.writeHeaderLocked(http.StatusOK)
	}
	if rw.held != nil {
		return nil
	}
	return http.NewResponseController(rw.w).Flush()
}

// Flush is http.Flusher for handlers that do not use ResponseController.
func (rw *respWriter) Flush() { _ = rw.FlushError() }

// Hijack hands the connection to a handler that asks for it.
func (rw *respWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.gone {
		return nil, nil, http.ErrHijacked
	}
	conn, brw, err := http.NewResponseController(rw.w).Hijack()
	if err == nil {
		rw.gone = true
	}
	return conn, brw, err
}

// finish completes the response after the real server has returned: it
// releases a held response, and drops or stalls a response that reached a
// fault's byte count exactly. It reports whether the handler must abort the
// response because a drop could not hijack the connection.
func (rw *respWriter) finish() (abort bool) {
	rw.mu.Lock()
	if !rw.gone && !rw.wroteHeader {
		rw.writeHeaderLocked(http.StatusOK) // what net/http would send
	}
	held := rw.held
	if !rw.gone && held != nil {
		rw.held = nil
		rw.w.WriteHeader(rw.status)
		rw.e.status(rw.status)
	}
	gone := rw.gone
	rw.mu.Unlock()
	if !gone {
		if held != nil {
			// A failed send has already dropped the connection or lost
			// the client; there is nothing more to do about it.
			_, _ = rw.send(held.Bytes())
		}
		if limit, stall := rw.cutAt(); limit >= 0 && rw.sentBytes() >= limit {
			rw.cutOff(stall)
		}
	}
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.abort
}
