package trickle

import (
	"errors"
	"fmt"
	"net/http"
)

// Default caps of ServerConfig. They are far above what one gateway session
// needs (a stream uses a handful of channels, each read by a few
// subscribers) and low enough that a client looping on creates or GETs
// runs into them long before the server runs out of memory or file
// descriptors.
const (
	DefaultMaxChannels    = 1000
	DefaultMaxSubscribers = 512
)

// ErrTooManyChannels: the server holds MaxChannels channels and will not
// create another (answered 503 over HTTP).
var ErrTooManyChannels = errors.New("trickle: too many channels")

// fullLocked reports whether one more channel would pass MaxChannels.
// Caller holds s.mu.
func (s *Server) fullLocked() bool {
	return s.cfg.MaxChannels > 0 && len(s.streams) >= s.cfg.MaxChannels
}

// full is fullLocked for callers that do not hold the lock: a quick check
// before work that would be wasted on a full server. getOrCreate checks
// again under the lock.
func (s *Server) full() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.fullLocked()
}

// tooManyChannels answers a create refused at the cap.
func (s *Server) tooManyChannels(w http.ResponseWriter, name string) {
	s.log.Warn("channel refused: at the channel limit", "channel", name, "limit", s.cfg.MaxChannels)
	textError(w, http.StatusServiceUnavailable,
		fmt.Sprintf("%s (limit %d)", ErrTooManyChannels.Error(), s.cfg.MaxChannels))
}

// join counts one more reader of st, or reports false (counting nothing)
// when that would pass MaxSubscribers. Every successful join needs a leave.
func (s *Server) join(st *stream) bool {
	n := st.readers.Add(1)
	if limit := s.cfg.MaxSubscribers; limit > 0 && n > int64(limit) {
		st.readers.Add(-1)
		return false
	}
	return true
}

func (s *Server) leave(st *stream) { st.readers.Add(-1) }

// tooManySubscribers answers a GET refused at the reader cap.
func (s *Server) tooManySubscribers(w http.ResponseWriter, name string) {
	s.log.Warn("read refused: at the subscriber limit", "channel", name, "limit", s.cfg.MaxSubscribers)
	textError(w, http.StatusServiceUnavailable,
		fmt.Sprintf("too many subscribers on this channel (limit %d)", s.cfg.MaxSubscribers))
}
