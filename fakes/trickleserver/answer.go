package trickleserver

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// answerStatus answers a Status fault. A 470 carries the headers a client
// needs to recover (the real latest, and the seq it stands for), as the
// real server's 470 does, so that the fault tests the client's handling of
// the status and not of missing headers.
func (s *Server) answerStatus(w http.ResponseWriter, t target, code int) {
	if code == trickle.StatusSequenceNonexistent {
		h := w.Header()
		latest, ok := s.latest(t.channel)
		if ok {
			h.Set(trickle.HeaderLatest, strconv.FormatInt(latest, 10))
		}
		switch {
		case t.hasSeq && t.seq >= 0:
			h.Set(trickle.HeaderSeq, strconv.FormatInt(t.seq, 10))
		case ok && t.seq == trickle.SeqNext:
			h.Set(trickle.HeaderSeq, strconv.FormatInt(latest, 10))
		case ok && t.seq == trickle.SeqCurrent:
			h.Set(trickle.HeaderSeq, strconv.FormatInt(max(latest-1, 0), 10))
		}
	}
	textAnswer(w, code, fmt.Sprintf("%d %s (injected fault)", code, statusText(code)))
}

// latest is the channel's next segment to start, as the real server holds it.
func (s *Server) latest(channel string) (int64, bool) {
	next, _, ok := s.trickle.Latest(channel)
	return next, ok
}

func statusText(code int) string {
	if code == trickle.StatusSequenceNonexistent {
		return "Segment Not Available"
	}
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "Status"
}

// textAnswer writes a short text/plain answer, as the real server does for
// its errors.
func textAnswer(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}
