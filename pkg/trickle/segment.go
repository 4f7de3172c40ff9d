package trickle

import (
	"sync"
	"sync/atomic"
)

// Page sizes of a segment's buffer: the first page is small so that short
// control messages stay cheap; pages double up to pageMax so that a large
// media segment needs few allocations and no copying as it grows.
const (
	pageMin = 32 << 10
	pageMax = 1 << 20
)

// segment is one trickle segment held by the server: an append-only list of
// pages that readers follow while the writer fills it. Bytes, once written,
// never change, so readers may use the slices they were handed without a
// lock.
type segment struct {
	seq int64

	mu     sync.Mutex
	pages  [][]byte // every page but the last is full
	size   int64
	closed bool
	// wake is closed (and replaced) whenever bytes arrive or the segment
	// closes, waking every reader waiting on it.
	wake chan struct{}
	// writer is the POST currently filling the segment, nil when none.
	writer *postWriter
	// done is closed when the segment closes.
	done chan struct{}
}

// postWriter identifies one POST's claim on a segment so that a later POST
// can take over a claim that has not sent any byte.
type postWriter struct {
	sent     atomic.Bool   // the POST has delivered at least one byte
	replaced chan struct{} // closed when a newer POST takes the claim over
}

func newPostWriter() *postWriter { return &postWriter{replaced: make(chan struct{})} }

// claim makes w the segment's writer. It fails when the segment is closed,
// holds bytes, or has a writer that has sent bytes; a writer that has sent
// nothing is replaced.
func (s *segment) claim(w *postWriter) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.size > 0 {
		return false
	}
	if old := s.writer; old != nil {
		if old.sent.Load() {
			return false
		}
		close(old.replaced)
	}
	s.writer = w
	return true
}

// release drops w's claim without closing the segment.
func (s *segment) release(w *postWriter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writer == w {
		s.writer = nil
	}
}

// idle reports whether the segment is open, empty and unclaimed: only
// readers wait on it.
func (s *segment) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed && s.size == 0 && s.writer == nil
}

func newSegment(seq int64) *segment {
	return &segment{seq: seq, wake: make(chan struct{}), done: make(chan struct{})}
}

// append copies p to the end of the segment on behalf of writer w and wakes
// the readers. It reports false when the segment was closed or w lost its
// claim meanwhile (the bytes are then dropped). A nil w is an in-process
// writer that holds no claim. Writers read into their own buffer and copy
// here, so that a writer being taken over can never scribble on bytes
// readers already see.
func (s *segment) append(w *postWriter, p []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || (w != nil && s.writer != w) {
		return false
	}
	for len(p) > 0 {
		last := len(s.pages) - 1
		if last < 0 || len(s.pages[last]) == cap(s.pages[last]) {
			size := pageMin
			if last >= 0 {
				size = min(cap(s.pages[last])*2, pageMax)
			}
			s.pages = append(s.pages, make([]byte, 0, size))
			last++
		}
		pg := s.pages[last]
		n := min(len(p), cap(pg)-len(pg))
		s.pages[last] = append(pg, p[:n]...)
		s.size += int64(n)
		p = p[n:]
	}
	s.broadcastLocked()
	return true
}

func (s *segment) broadcastLocked() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// close ends the segment. Readers drain what is buffered, then see the end.
func (s *segment) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
}

func (s *segment) closeLocked() {
	if s.closed {
		return
	}
	s.closed = true
	s.writer = nil
	close(s.done)
	s.broadcastLocked()
}

// readAt returns the bytes from offset off that are available now (possibly
// several pages), whether the segment is closed, and a channel that is
// closed when anything changes. The returned slices must not be modified.
func (s *segment) readAt(off int64, dst [][]byte) (chunks [][]byte, closed bool, wake <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	chunks = dst[:0]
	if off < s.size {
		var base int64
		for _, p := range s.pages {
			end := base + int64(len(p))
			if off < end {
				start := max(off-base, 0)
				chunks = append(chunks, p[start:])
			}
			base = end
		}
	}
	return chunks, s.closed, s.wake
}

// finish closes the segment if w still holds its claim.
func (s *segment) finish(w *postWriter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writer == w {
		s.closeLocked()
	}
}

func (s *segment) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
