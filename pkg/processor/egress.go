package processor

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// errOutputBackedUp is what the encoder's writes to a segment get once
// that segment was dropped because the network fell too far behind.
var errOutputBackedUp = errors.New("processor: the output is backed up: segment dropped")

// errOutputStalled gives up a segment the server took nothing of, or did
// not answer the end of, for Config.OutputStallTimeout.
var errOutputStalled = errors.New("processor: the publish server made no progress for the output stall timeout")

// errOutputAbandoned ends the segments a stop could not wait for.
var errOutputAbandoned = errors.New("processor: the stop gave up on the output")

// segmentPublisher is what the egress needs of a trickle.Publisher.
type segmentPublisher interface {
	Next(ctx context.Context) (segmentWriter, error)
}

// segmentWriter is one segment on the wire (trickle.SegmentWriter).
type segmentWriter interface {
	io.WriteCloser
	Abort(cause error)
	// Cancel ends a Write or Close blocked on the server, from another
	// goroutine.
	Cancel(cause error)
}

type tricklePublisher struct{ p *trickle.Publisher }

func (t tricklePublisher) Next(ctx context.Context) (segmentWriter, error) {
	w, err := t.p.Next(ctx)
	if err != nil {
		return nil, err
	}
	return w, nil
}

// egress carries the encoder's segments to the publisher from a goroutine
// of its own, so that the encoder, which runs under the output lock on
// the video worker, never waits on the network: a server that is slow, a
// POST being retried or a connection being set up only delays the bytes.
// Segments keep their order and stream as they are written (a segment's
// first bytes go out while the encoder is still making the rest).
//
// What waits is bounded by limit bytes. A write that would pass it drops
// the segment it belongs to whole: the bytes not yet sent are freed, a
// POST already under way is aborted (the server closes the segment where
// it stands), the segment is counted lost, and the encoder's later writes
// to it fail, so it moves on to its next segment, which starts at a
// keyframe and goes out clean.
//
// A segment the server takes no bytes of, or does not answer the end of,
// for stall (Config.OutputStallTimeout) is given up (lost), so that one
// stuck POST cannot hold the output for ever.
type egress struct {
	pub       segmentPublisher
	ctx       context.Context
	limit     int
	stall     time.Duration // <= 0: wait for ever
	ctr       *counters
	firstByte func()
	log       *slog.Logger

	mu     sync.Mutex
	wake   *sync.Cond // signalled on every change below
	queue  []*queuedSegment
	held   int // bytes written by the encoder and not yet sent
	closed bool
	done   chan struct{}
}

// queuedSegment is one segment between the encoder and the wire.
type queuedSegment struct {
	e       *egress
	chunks  [][]byte
	size    int   // bytes in chunks
	ended   bool  // the encoder closed it
	dropped error // why it is dropped whole (overflow, or a stop gave up), if it is
	err     error // why the encoder's writes are refused, once they are
}

func newEgress(ctx context.Context, pub segmentPublisher, limit int, stall time.Duration, ctr *counters, firstByte func(), log *slog.Logger) *egress {
	e := &egress{pub: pub, ctx: ctx, limit: limit, stall: stall, ctr: ctr, firstByte: firstByte, log: log, done: make(chan struct{})}
	e.wake = sync.NewCond(&e.mu)
	go e.run()
	return e
}

// segment starts the encoder's next segment. A segment before it that the
// encoder left open (a muxer that failed to start) ends here, so that it
// cannot hold up the ones behind it.
func (e *egress) segment() io.WriteCloser {
	q := &queuedSegment{e: e}
	e.mu.Lock()
	if n := len(e.queue); n > 0 {
		e.queue[n-1].ended = true
	}
	e.queue = append(e.queue, q)
	e.wake.Broadcast()
	e.mu.Unlock()
	return q
}

// Write queues a copy of b (the muxer reuses its buffer). It never waits.
func (q *queuedSegment) Write(b []byte) (int, error) {
	e := q.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if q.err != nil {
		return 0, q.err
	}
	if e.held+len(b) > e.limit {
		q.refuseLocked(errOutputBackedUp)
		q.dropped = errOutputBackedUp
		e.wake.Broadcast() // the sender counts it (and logs the first of a run)
		return 0, errOutputBackedUp
	}
	q.chunks = append(q.chunks, bytes.Clone(b))
	q.size += len(b)
	e.held += len(b)
	e.wake.Broadcast()
	return len(b), nil
}

// refuseLocked frees what q holds and fails the encoder's later writes
// to it with err.
func (q *queuedSegment) refuseLocked(err error) {
	q.e.held -= q.size
	q.chunks, q.size, q.err = nil, 0, err
}

func (q *queuedSegment) refuse(err error) {
	q.e.mu.Lock()
	q.refuseLocked(err)
	q.e.mu.Unlock()
}

// Close ends the segment; how it fares on the wire is counted later.
func (q *queuedSegment) Close() error {
	e := q.e
	e.mu.Lock()
	q.ended = true
	e.wake.Broadcast()
	e.mu.Unlock()
	return nil
}

// close waits until every queued segment has been sent, or ctx ends. The
// encoder has finished: a segment it left open ends here.
func (e *egress) close(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	for _, q := range e.queue {
		q.ended = true
	}
	e.wake.Broadcast()
	e.mu.Unlock()
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// abandon drops every segment still queued, after a close that ran out
// of time: the one on the wire is aborted at its next write (a write
// stuck on a stalled server ends when the publisher closes), the rest
// never take a seq. All are counted lost.
func (e *egress) abandon() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, q := range e.queue {
		if q.dropped == nil {
			q.refuseLocked(errOutputAbandoned)
			q.dropped = errOutputAbandoned
		}
	}
	e.wake.Broadcast()
}

// heldBytes is the buffer's fill (Counters.OutputBuffered).
func (e *egress) heldBytes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.held
}

func (e *egress) run() {
	defer close(e.done)
	first := true
	for {
		e.mu.Lock()
		for len(e.queue) == 0 && !e.closed {
			e.wake.Wait()
		}
		if len(e.queue) == 0 {
			e.mu.Unlock()
			return
		}
		q := e.queue[0]
		e.mu.Unlock()

		e.send(q, &first)

		e.mu.Lock()
		e.queue = e.queue[1:]
		e.mu.Unlock()
	}
}

// take waits until q has bytes, has ended or was dropped, and takes its
// bytes (still counted in held until released).
func (e *egress) take(q *queuedSegment) (chunks [][]byte, ended bool, dropped error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for len(q.chunks) == 0 && !q.ended && q.dropped == nil {
		e.wake.Wait()
	}
	chunks, q.chunks, q.size = q.chunks, nil, 0
	return chunks, q.ended, q.dropped
}

func (e *egress) release(n int) {
	e.mu.Lock()
	e.held -= n
	e.mu.Unlock()
}

// send puts one segment on the wire and counts how it ended.
func (e *egress) send(q *queuedSegment, first *bool) {
	chunks, ended, dropped := e.take(q)
	if dropped != nil && len(chunks) == 0 {
		// Dropped before a byte of it was taken: it never takes a seq.
		e.lost(dropped)
		return
	}
	w, err := e.pub.Next(e.ctx)
	if err != nil {
		for _, c := range chunks {
			e.release(len(c))
		}
		q.refuse(err)
		e.lost(err)
		e.drain(q)
		return
	}
	var werr error
	for {
		for _, c := range chunks {
			if werr == nil {
				disarm := e.watch(w)
				n, err := w.Write(c)
				disarm()
				e.ctr.bytesOut.Add(uint64(n))
				if n > 0 && *first {
					*first = false
					e.firstByte()
				}
				if werr = err; werr != nil {
					q.refuse(werr) // the rest of it has nowhere to go
				}
			}
			e.release(len(c))
		}
		switch {
		case dropped != nil && werr == nil:
			// An abort waits for the POST to end, which a server that
			// stopped reading never lets happen by itself.
			disarm := e.watch(w)
			w.Abort(dropped)
			disarm()
			e.lost(dropped)
			return
		case dropped != nil || ended:
			disarm := e.watch(w)
			if err := w.Close(); werr == nil {
				werr = err
			}
			disarm()
			if werr != nil {
				e.lost(werr)
			} else {
				e.ctr.segmentsOut.Add(1)
			}
			return
		}
		chunks, ended, dropped = e.take(q)
	}
}

// drain waits for the encoder to end a segment that is not sent, so that
// the segment after it is not taken early. Its writes are refused, so
// nothing more piles up.
func (e *egress) drain(q *queuedSegment) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for !q.ended && q.dropped == nil {
		e.wake.Wait()
	}
}

// watch cancels w if the call about to be made on it (a Write, the Close
// that waits for the server's answer, or an Abort that waits for the POST
// to end) takes longer than the stall timeout. The returned func disarms it.
func (e *egress) watch(w segmentWriter) (disarm func()) {
	if e.stall <= 0 {
		return func() {}
	}
	t := time.AfterFunc(e.stall, func() { w.Cancel(errOutputStalled) })
	return func() { t.Stop() }
}

func (e *egress) lost(err error) {
	if n := e.ctr.segmentsLost.Add(1); n == 1 || n%100 == 0 {
		e.log.Warn("output segment lost", "err", err, "lost", n)
	}
}
