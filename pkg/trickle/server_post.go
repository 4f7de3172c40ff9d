package trickle

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// readBufSize is the read size for POST bodies: large enough that a fast
// publisher costs few wake-ups, small enough that readers see bytes soon.
const readBufSize = 32 << 10

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// bodyResult is how a POST body reader finished.
type bodyResult struct {
	n        int64
	err      error // a read error other than io.EOF
	tooLarge bool  // the body went past MaxSegmentBytes
	lost     bool  // the segment closed or the claim was taken over
}

// handlePost serves POST /{channel}/{seq}: the body becomes the segment,
// fanned out to readers as it arrives.
func (s *Server) handlePost(w http.ResponseWriter, r *http.Request, name string, seq int64) {
	h := w.Header()
	st := s.lookup(name)
	var prefix []byte
	if st == nil && s.cfg.Autocreate {
		if s.full() {
			// Refuse before waiting on the body: a full server should not
			// hold connections open for channels it cannot make.
			h.Set("Connection", "close")
			s.tooManyChannels(w, name)
			return
		}
		// Create the channel only once the segment has a byte (or ends
		// empty): a preconnected POST that never sends anything must not
		// bring back a channel that was just deleted under it.
		var ok bool
		if prefix, ok = s.awaitFirstBytes(w, r); !ok {
			return
		}
		var err error
		if st, err = s.getOrCreate(name, r.Header.Get("Content-Type"), true); err != nil {
			h.Set("Connection", "close")
			if errors.Is(err, ErrTooManyChannels) {
				s.tooManyChannels(w, name)
			} else {
				textError(w, http.StatusServiceUnavailable, err.Error())
			}
			return
		}
	}
	if st == nil {
		h.Set("Connection", "close")
		textError(w, http.StatusNotFound, "stream not found")
		return
	}
	pw := newPostWriter()
	seg, served, latest, out := st.forWrite(seq, r.Header.Get(HeaderReset) != "", pw)
	h.Set(HeaderSeq, formatSeq(served))
	switch out {
	case writeClosed:
		h.Set(HeaderClosed, ClosedValue)
		h.Set("Connection", "close")
		w.WriteHeader(http.StatusOK)
		return
	case writeGone:
		h.Set(HeaderLatest, formatSeq(latest))
		h.Set("Connection", "close")
		textError(w, StatusSequenceNonexistent, "segment is older than the server keeps")
		return
	case writeConflict:
		h.Set(HeaderLatest, formatSeq(latest))
		h.Set("Connection", "close")
		textError(w, http.StatusConflict, "segment already written")
		return
	}

	// Interim 100 responses carry the headers set so far; keep them clean.
	h.Del(HeaderSeq)
	done := make(chan bodyResult, 1)
	first := make(chan struct{})
	go func() { done <- s.readBody(r.Body, prefix, st, seg, pw, first) }()

	var keepalive <-chan time.Time
	if s.cfg.FirstByteKeepalive > 0 {
		t := time.NewTicker(s.cfg.FirstByteKeepalive)
		defer t.Stop()
		keepalive = t.C
	}
	var (
		res     bodyResult
		stopped string // why the handler stopped the body reader, if it did
	)
wait:
	for {
		select {
		case res = <-done:
			break wait
		case <-first:
			first, keepalive = nil, nil
		case <-keepalive:
			// An interim response keeps an idle preconnected POST alive.
			w.WriteHeader(http.StatusContinue)
		case <-seg.done:
			stopped = "closed"
		case <-pw.replaced:
			stopped = "replaced"
		}
		if stopped != "" {
			// The reader may be blocked in Body.Read; a past deadline
			// wakes it so that no goroutine outlives the request.
			if err := http.NewResponseController(w).SetReadDeadline(time.Now()); err != nil {
				s.log.Debug("cannot interrupt POST body", "channel", name, "seq", served, "err", err)
			}
			res = <-done
			break
		}
	}

	h.Set(HeaderSeq, formatSeq(served))
	switch {
	case stopped == "replaced" || (res.lost && !seg.isClosed()):
		h.Set("Connection", "close")
		textError(w, http.StatusConflict, "a newer POST took this segment over")
	case stopped == "closed" || res.lost:
		if st.isClosed() {
			h.Set(HeaderClosed, ClosedValue)
		}
		h.Set("Connection", "close")
		w.WriteHeader(http.StatusOK)
	case res.tooLarge:
		seg.finish(pw)
		h.Set("Connection", "close")
		textError(w, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("segment is larger than %d bytes; it was cut there", s.cfg.MaxSegmentBytes))
		s.log.Warn("segment cut at size limit", "channel", name, "seq", served, "limit", s.cfg.MaxSegmentBytes)
	case res.err != nil && res.n == 0:
		// The publisher went away before sending a byte: give the claim
		// up but keep the segment open, so a retry of this seq can write
		// it and its waiting readers get it.
		seg.release(pw)
		h.Set("Connection", "close")
		textError(w, http.StatusBadRequest, "request body failed before any byte: "+res.err.Error())
	case res.err != nil:
		// The publisher went away part-way: end the segment where it
		// stands so its readers are not left waiting.
		seg.finish(pw)
		h.Set("Connection", "close")
		textError(w, http.StatusBadRequest, "request body failed: "+res.err.Error())
		s.log.Debug("POST body failed", "channel", name, "seq", served, "bytes", res.n, "err", res.err)
	default:
		if res.n == 0 {
			st.started(served) // an empty segment still moves the channel on
		}
		seg.finish(pw)
		w.WriteHeader(http.StatusOK)
	}
}

// readBody copies a POST body, after the prefix already read from it, into
// the segment. first is closed when the first byte has been stored.
func (s *Server) readBody(body io.Reader, prefix []byte, st *stream, seg *segment, pw *postWriter, first chan struct{}) bodyResult {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	buf := *bp
	limit := s.cfg.MaxSegmentBytes
	var n int64
	if len(prefix) > 0 {
		body = io.MultiReader(bytes.NewReader(prefix), body)
	}
	for {
		want := buf
		if limit > 0 {
			if left := limit - n; left < int64(len(want)) {
				// At the cap, read one byte more to tell "exactly at the cap"
				// from "past it".
				want = buf[:max(left, 1)]
			}
		}
		k, err := body.Read(want)
		if k > 0 {
			if limit > 0 && n+int64(k) > limit {
				return bodyResult{n: n, tooLarge: true}
			}
			if n == 0 {
				pw.sent.Store(true)
				st.started(seg.seq)
			}
			if !seg.append(pw, want[:k]) {
				return bodyResult{n: n, lost: true}
			}
			if n == 0 {
				close(first)
			}
			n += int64(k)
			st.touch()
		}
		if errors.Is(err, io.EOF) {
			return bodyResult{n: n}
		}
		if err != nil {
			return bodyResult{n: n, err: err}
		}
	}
}

// awaitFirstBytes reads the start of a POST body for a channel that does
// not exist yet. It returns what it read (nil for an empty body); ok is
// false when the request failed and has been answered.
func (s *Server) awaitFirstBytes(w http.ResponseWriter, r *http.Request) (prefix []byte, ok bool) {
	buf := make([]byte, 4<<10)
	type result struct {
		n   int
		err error
	}
	got := make(chan result, 1)
	go func() {
		n, err := io.ReadAtLeast(r.Body, buf, 1)
		got <- result{n, err}
	}()
	var keepalive <-chan time.Time
	if s.cfg.FirstByteKeepalive > 0 {
		t := time.NewTicker(s.cfg.FirstByteKeepalive)
		defer t.Stop()
		keepalive = t.C
	}
	var res result
wait:
	for {
		select {
		case res = <-got:
			break wait
		case <-keepalive:
			w.WriteHeader(http.StatusContinue)
		case <-s.closing:
			// Shutting down: wake the reader so no goroutine outlives us.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now())
			<-got
			w.Header().Set("Connection", "close")
			textError(w, http.StatusServiceUnavailable, "server is shutting down")
			return nil, false
		}
	}
	n, err := res.n, res.err
	switch {
	case n > 0:
		return buf[:n], true
	case errors.Is(err, io.EOF):
		return nil, true
	}
	w.Header().Set("Connection", "close")
	textError(w, http.StatusBadRequest, "request body failed before any byte: "+err.Error())
	return nil, false
}
