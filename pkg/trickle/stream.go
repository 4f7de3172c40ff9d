package trickle

import (
	"sync"
	"sync/atomic"
	"time"
)

// stream is one channel on the server: a ring of recent segments and the
// number of the next segment to start.
type stream struct {
	name string
	mime string

	mu     sync.Mutex
	ring   []*segment // segment seq lives in slot seq % len(ring)
	next   int64      // the next segment to start ("latest" on the wire)
	closed bool

	// lastActive is the Unix-nano time of the last byte written or segment
	// started; the idle sweeper closes channels that stay quiet too long.
	lastActive atomic.Int64
	// readers counts the GETs being answered, for MaxSubscribers.
	readers atomic.Int64
}

func newStream(name, mime string, ringSize int, now time.Time) *stream {
	st := &stream{name: name, mime: mime, ring: make([]*segment, ringSize)}
	st.lastActive.Store(now.UnixNano())
	return st
}

func (st *stream) touch() { st.lastActive.Store(time.Now().UnixNano()) }

func (st *stream) slot(seq int64) int { return int(seq % int64(len(st.ring))) }

// latest returns the next segment to start and whether the channel is closed.
func (st *stream) latest() (int64, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.next, st.closed
}

// resolveRead maps -1 and -2 to absolute sequence numbers.
func (st *stream) resolveReadLocked(seq int64) int64 {
	switch seq {
	case SeqNext:
		return st.next
	case SeqCurrent:
		return max(st.next-1, 0)
	}
	return seq
}

// forRead finds the segment a GET asks for. A segment that has not started
// is created (so the reader can wait for it) only when it is the next one
// to start, or segment 1 on a channel where nothing has started yet (the
// window go-livepeer allows). seg is nil when the segment is gone or too far
// ahead; served is the resolved sequence number.
func (st *stream) forRead(seq int64) (seg *segment, served, latest int64, closed bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	served = st.resolveReadLocked(seq)
	if st.closed {
		return nil, served, st.next, true
	}
	if cur := st.ring[st.slot(served)]; cur != nil && cur.seq == served {
		return cur, served, st.next, false
	}
	if served == st.next || (st.next == 0 && served == 1) {
		seg = st.replaceLocked(served)
		return seg, served, st.next, false
	}
	return nil, served, st.next, false
}

// replaceLocked puts a new segment for seq in its slot, closing whatever
// older segment was there (its readers drain it and see its end).
func (st *stream) replaceLocked(seq int64) *segment {
	i := st.slot(seq)
	if old := st.ring[i]; old != nil {
		old.close()
	}
	seg := newSegment(seq)
	st.ring[i] = seg
	return seg
}

// writeOutcome says why forWrite refused a POST.
type writeOutcome int

const (
	writeOK       writeOutcome = iota
	writeClosed                // the channel has ended
	writeGone                  // the seq is older than the ring holds
	writeConflict              // the segment is complete or has a writer that sent bytes
)

// forWrite claims the segment a POST writes. A POST for a segment that is
// already complete, or whose writer has sent bytes, is refused: appending
// a second body to a segment (go-livepeer's behaviour) corrupts media. A
// claim whose writer has sent nothing yet is taken over, so a publisher can
// retry a segment whose first connection died silently.
func (st *stream) forWrite(seq int64, reset bool, w *postWriter) (seg *segment, served, latest int64, out writeOutcome) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if seq == SeqNext {
		seq = st.next
	}
	if st.closed {
		return nil, seq, st.next, writeClosed
	}
	cur := st.ring[st.slot(seq)]
	switch {
	case cur != nil && cur.seq > seq:
		return nil, seq, st.next, writeGone
	case cur != nil && cur.seq == seq:
		if !cur.claim(w) {
			return nil, seq, st.next, writeConflict
		}
		seg = cur
	default:
		seg = st.replaceLocked(seq)
		seg.claim(w)
	}
	if reset {
		for _, s := range st.ring {
			if s != nil && s.seq < seq {
				s.close()
			}
		}
	}
	return seg, seq, st.next, writeOK
}

// started records that segment seq has begun (its first byte, or its end
// when empty): the next segment to start moves past it. Segments before it
// that were only waited on and never written are closed, so their readers
// are released instead of waiting for data that will not come.
func (st *stream) started(seq int64) {
	st.touch()
	st.mu.Lock()
	defer st.mu.Unlock()
	if seq+1 <= st.next {
		return
	}
	st.next = seq + 1
	for _, s := range st.ring {
		if s != nil && s.seq < seq && s.idle() {
			s.close()
		}
	}
}

// closeSeq ends one segment if the ring still holds it.
func (st *stream) closeSeq(seq int64) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	cur := st.ring[st.slot(seq)]
	if cur == nil || cur.seq != seq {
		return false
	}
	cur.close()
	return true
}

// close ends the channel: every segment closes and waiting readers and
// writers are released.
func (st *stream) close() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return
	}
	st.closed = true
	for _, s := range st.ring {
		if s != nil {
			s.close()
		}
	}
}

func (st *stream) isClosed() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.closed
}
