package trickle

import (
	"net/http"
)

// handleGet serves GET and HEAD /{channel}/{seq}.
func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, name string, seq int64) {
	st := s.lookup(name)
	if st == nil {
		textError(w, http.StatusNotFound, "stream not found")
		return
	}
	if !s.join(st) {
		s.tooManySubscribers(w, name)
		return
	}
	defer s.leave(st)
	seg, served, latest, closed := st.forRead(seq)
	if seg == nil {
		h := w.Header()
		h.Set(HeaderSeq, formatSeq(served))
		h.Set(HeaderLatest, formatSeq(latest))
		if closed {
			h.Set(HeaderClosed, ClosedValue)
			textError(w, http.StatusOK, "stream closed")
			return
		}
		textError(w, StatusSequenceNonexistent, "segment not available")
		return
	}
	s.streamSegment(w, r, st, seg, latest)
}

// streamSegment copies a segment to one reader from its first byte,
// following the writer as it goes. Headers go out with the first bytes (as
// go-livepeer does), so a reader waiting on a segment that has not started
// sees nothing until it does; a segment that ends empty is answered with
// the channel's current state instead.
func (s *Server) streamSegment(w http.ResponseWriter, r *http.Request, st *stream, seg *segment, latest int64) {
	flusher := http.NewResponseController(w)
	ctx := r.Context()
	var (
		off     int64
		started bool
		chunks  [][]byte
	)
	for {
		var (
			closed bool
			wake   <-chan struct{}
		)
		chunks, closed, wake = seg.readAt(off, chunks)
		if len(chunks) > 0 {
			if !started {
				started = true
				h := w.Header()
				h.Set(HeaderSeq, formatSeq(seg.seq))
				if st.mime != "" {
					h.Set("Content-Type", st.mime)
				} else {
					h["Content-Type"] = nil // no sniffing: the channel has no type
				}
				if latest != seg.seq {
					h.Set(HeaderLatest, formatSeq(latest))
				}
				w.WriteHeader(http.StatusOK)
			}
			for _, c := range chunks {
				n, err := w.Write(c)
				off += int64(n)
				if err != nil {
					return // the reader went away
				}
			}
			if err := flusher.Flush(); err != nil {
				return
			}
			continue
		}
		if closed {
			if !started {
				next, streamClosed := st.latest()
				h := w.Header()
				h.Set(HeaderSeq, formatSeq(seg.seq))
				h.Set(HeaderLatest, formatSeq(next))
				if streamClosed {
					h.Set(HeaderClosed, ClosedValue)
				}
				w.WriteHeader(http.StatusOK)
			}
			return
		}
		select {
		case <-wake:
		case <-ctx.Done():
			if !started {
				// The reader left before anything was sent: drop the
				// connection rather than let net/http answer a bare
				// 200 that would look like an empty segment.
				panic(http.ErrAbortHandler)
			}
			return
		}
	}
}
