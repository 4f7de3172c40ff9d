package trickleserver

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// target is what a request's path names, read the way a fault matches it:
// the seq as the client wrote it, before the real server resolves -1 and
// -2 or refuses values it does not accept.
type target struct {
	channel string
	seq     int64
	hasSeq  bool
}

func (s *Server) parseTarget(r *http.Request) target {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), s.base)
	if !ok || rest == "" {
		return target{}
	}
	name, elem, hasElem := strings.Cut(rest, "/")
	if strings.Contains(elem, "/") {
		return target{} // deeper than /{channel}/{seq}: not a trickle path
	}
	t := target{channel: name}
	if hasElem {
		if n, err := strconv.ParseInt(elem, 10, 64); err == nil {
			t.seq, t.hasSeq = n, true
		}
	}
	return t
}

// isSeqAlias reports whether the request names a segment by -1 or -2.
func (t target) isSeqAlias() bool {
	return t.hasSeq && (t.seq == trickle.SeqNext || t.seq == trickle.SeqCurrent)
}
