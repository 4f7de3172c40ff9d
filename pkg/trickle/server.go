package trickle

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ServerConfig configures a Server. The zero value is a working server with
// go-livepeer's defaults, except that it refuses to create channels on
// demand (Autocreate), as go-livepeer does in production.
type ServerConfig struct {
	// BasePath is the URL path prefix the server answers under, e.g.
	// "/ai/trickle/". It defaults to "/". A missing leading or trailing
	// slash is added.
	BasePath string
	// RingSize is how many segments per channel the server holds: the one
	// being written, the next (when preconnected) and recent ones that late
	// readers can still fetch. It defaults to 5, go-livepeer's value; a
	// reader asking for anything older gets 470.
	RingSize int
	// IdleTimeout closes a channel when no byte has been written to it for
	// this long. It defaults to 5 minutes; a negative value disables idle
	// expiry. Channel names starting with '_' never expire.
	IdleTimeout time.Duration
	// SweepInterval is how often idle channels are looked for. It defaults
	// to IdleTimeout/5, at most one minute.
	SweepInterval time.Duration
	// MaxSegmentBytes caps a segment's size. A POST that goes past it gets
	// 413 and the segment ends where the cap is (readers get the bytes up to
	// it). It defaults to 32 MiB; a negative value means no limit.
	MaxSegmentBytes int64
	// FirstByteKeepalive is how often a POST that has not yet sent its first
	// byte (a preconnected publisher) is sent an interim "100 Continue", so
	// that proxies and clients keep the idle request open. It defaults to 10
	// seconds; a negative value disables it.
	FirstByteKeepalive time.Duration
	// Autocreate lets POST /{channel} and POST /{channel}/{seq} create
	// channels that do not exist. When false (the default) channels are
	// made with Server.CreateChannel.
	Autocreate bool
	// MaxChannels caps how many channels the server holds at once. Creating
	// one more (POST /{channel}, a segment POST that would auto-create, or
	// CreateChannel) is refused with 503 and a text body, or
	// ErrTooManyChannels, until a channel is deleted or expires. It
	// defaults to DefaultMaxChannels; a negative value means no limit.
	MaxChannels int
	// MaxSubscribers caps the segment GETs (and HEADs) open at once on one
	// channel; one more gets 503 with a text body, and a reader that leaves
	// frees its place at once. A Subscriber holds two (the segment it reads
	// and the next one, asked for ahead), so the default,
	// DefaultMaxSubscribers, is room for 256 of them. A negative value
	// means no limit.
	MaxSubscribers int
	// PublishToken, when set, is the bearer token every POST and DELETE
	// must carry ("Authorization: Bearer <token>"); others get 401 with
	// "WWW-Authenticate: Bearer". It also opens reads when SubscribeToken is
	// set. Empty (the default): anyone who can reach the server may write.
	PublishToken string
	// SubscribeToken, when set, is the bearer token GET and HEAD requests
	// must carry (PublishToken works too). Empty (the default): reads are
	// open.
	SubscribeToken string
	// Logger receives request and lifecycle logs. It defaults to
	// slog.Default(). Tokens are never logged.
	Logger *slog.Logger
}

func (c ServerConfig) withDefaults() ServerConfig {
	if c.BasePath == "" {
		c.BasePath = "/"
	}
	if !strings.HasPrefix(c.BasePath, "/") {
		c.BasePath = "/" + c.BasePath
	}
	if !strings.HasSuffix(c.BasePath, "/") {
		c.BasePath += "/"
	}
	if c.RingSize <= 0 {
		c.RingSize = 5
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 5 * time.Minute
	}
	if c.SweepInterval <= 0 && c.IdleTimeout > 0 {
		c.SweepInterval = min(c.IdleTimeout/5, time.Minute)
	}
	if c.MaxSegmentBytes == 0 {
		c.MaxSegmentBytes = 32 << 20
	}
	if c.FirstByteKeepalive == 0 {
		c.FirstByteKeepalive = 10 * time.Second
	}
	if c.MaxChannels == 0 {
		c.MaxChannels = DefaultMaxChannels
	}
	if c.MaxSubscribers == 0 {
		c.MaxSubscribers = DefaultMaxSubscribers
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Server is a trickle server: an http.Handler that holds channels in memory.
// Create it with NewServer and stop it with Close.
type Server struct {
	cfg ServerConfig
	log *slog.Logger

	mu      sync.RWMutex
	streams map[string]*stream
	closed  bool

	closing chan struct{}
	swept   sync.WaitGroup
}

// ErrServerClosed is returned by Server methods after Close.
var ErrServerClosed = errors.New("trickle: server closed")

// NewServer returns a Server. When idle expiry is on it starts a sweeper
// goroutine, stopped by Close.
func NewServer(cfg ServerConfig) *Server {
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "trickle-server"),
		streams: make(map[string]*stream),
		closing: make(chan struct{}),
	}
	if cfg.IdleTimeout > 0 {
		s.swept.Add(1)
		go s.sweep()
	}
	return s
}

// Config returns the configuration in use, defaults filled in.
func (s *Server) Config() ServerConfig { return s.cfg }

// CreateChannel makes a channel, whatever Autocreate says. Creating one
// that exists is not an error. mime is the Content-Type its segments are
// served with.
func (s *Server) CreateChannel(name, mime string) error {
	if err := ValidChannelName(name); err != nil {
		return err
	}
	_, err := s.getOrCreate(name, mime, true)
	return err
}

// CloseChannel ends a channel as DELETE /{channel} does. It reports whether
// the channel existed.
func (s *Server) CloseChannel(name string) bool {
	s.mu.Lock()
	st := s.streams[name]
	delete(s.streams, name)
	s.mu.Unlock()
	if st == nil {
		return false
	}
	st.close()
	s.log.Debug("channel closed", "channel", name)
	return true
}

// Channels returns the names of the open channels.
func (s *Server) Channels() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.streams))
	for n := range s.streams {
		names = append(names, n)
	}
	return names
}

// Close ends every channel, releasing all waiting readers and writers, and
// stops the sweeper. Requests that arrive later get 503.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	streams := s.streams
	s.streams = make(map[string]*stream)
	s.mu.Unlock()
	close(s.closing)
	for _, st := range streams {
		st.close()
	}
	s.swept.Wait()
}

func (s *Server) lookup(name string) *stream {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.streams[name]
}

func (s *Server) getOrCreate(name, mime string, create bool) (*stream, error) {
	if st := s.lookup(name); st != nil {
		return st, nil
	}
	if !create {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrServerClosed
	}
	if st := s.streams[name]; st != nil {
		return st, nil
	}
	if s.fullLocked() {
		return nil, fmt.Errorf("%w (limit %d)", ErrTooManyChannels, s.cfg.MaxChannels)
	}
	st := newStream(name, mime, s.cfg.RingSize, time.Now())
	s.streams[name] = st
	s.log.Debug("channel created", "channel", name, "mime", mime)
	return st, nil
}

func (s *Server) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// sweep closes channels that have been idle past IdleTimeout.
func (s *Server) sweep() {
	defer s.swept.Done()
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.closing:
			return
		case now := <-t.C:
			s.sweepOnce(now)
		}
	}
}

func (s *Server) sweepOnce(now time.Time) {
	limit := now.Add(-s.cfg.IdleTimeout).UnixNano()
	var idle []string
	s.mu.RLock()
	for name, st := range s.streams {
		if !strings.HasPrefix(name, "_") && st.lastActive.Load() < limit {
			idle = append(idle, name)
		}
	}
	s.mu.RUnlock()
	for _, name := range idle {
		if s.CloseChannel(name) {
			s.log.Info("idle channel expired", "channel", name, "idle_timeout", s.cfg.IdleTimeout)
		}
	}
}

// ServeHTTP routes trickle requests by hand: the channel name must be one
// unescaped path element, so no path cleaning or redirects happen.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	rest, ok := strings.CutPrefix(path, s.cfg.BasePath)
	if !ok || rest == "" {
		textError(w, http.StatusNotFound, "not a trickle path")
		return
	}
	if s.isClosed() {
		textError(w, http.StatusServiceUnavailable, "server is shutting down")
		return
	}
	if !s.authorize(w, r) {
		return
	}
	name, elem, hasElem := strings.Cut(rest, "/")
	if hasElem && strings.Contains(elem, "/") {
		textError(w, http.StatusNotFound, "not a trickle path")
		return
	}
	if !hasElem {
		if r.Method != http.MethodPost && r.Method != http.MethodDelete {
			methodNotAllowed(w, "DELETE, POST")
			return
		}
	} else if elem == "next" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		// handled below once the name is checked
	} else if r.Method != http.MethodGet && r.Method != http.MethodHead &&
		r.Method != http.MethodPost && r.Method != http.MethodDelete {
		methodNotAllowed(w, "DELETE, GET, HEAD, POST")
		return
	}
	if err := ValidChannelName(name); err != nil {
		textError(w, http.StatusBadRequest, "invalid channel name: "+err.Error())
		return
	}
	if !hasElem {
		if r.Method == http.MethodPost {
			s.handleCreate(w, r, name)
		} else {
			s.handleDeleteChannel(w, name)
		}
		return
	}
	if elem == "next" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		s.handleNext(w, name)
		return
	}
	seq, err := ParseSeq(elem)
	if err != nil {
		textError(w, http.StatusBadRequest, "invalid sequence number: "+err.Error())
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.handleGet(w, r, name, seq)
	case http.MethodPost:
		if seq < SeqNext {
			textError(w, http.StatusBadRequest, "invalid sequence number: only -1 may be posted to")
			return
		}
		s.handlePost(w, r, name, seq)
	case http.MethodDelete:
		if seq < 0 {
			textError(w, http.StatusBadRequest, "invalid sequence number: segments to close are named by absolute number")
			return
		}
		s.handleDeleteSeq(w, name, seq)
	}
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request, name string) {
	st, err := s.getOrCreate(name, r.Header.Get(HeaderExpectContent), s.cfg.Autocreate)
	switch {
	case errors.Is(err, ErrTooManyChannels):
		s.tooManyChannels(w, name)
	case err != nil:
		textError(w, http.StatusServiceUnavailable, err.Error())
	case st == nil:
		textError(w, http.StatusNotFound, "stream not found")
	default:
		w.WriteHeader(http.StatusOK)
	}
}

func (s *Server) handleDeleteChannel(w http.ResponseWriter, name string) {
	if !s.CloseChannel(name) {
		textError(w, http.StatusNotFound, "stream not found")
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) handleDeleteSeq(w http.ResponseWriter, name string, seq int64) {
	st := s.lookup(name)
	if st == nil {
		textError(w, http.StatusNotFound, "stream not found")
		return
	}
	if !st.closeSeq(seq) {
		textError(w, http.StatusBadRequest, "nonexistent segment")
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) handleNext(w http.ResponseWriter, name string) {
	st := s.lookup(name)
	if st == nil {
		textError(w, http.StatusNotFound, "stream not found")
		return
	}
	next, closed := st.latest()
	h := w.Header()
	h.Set(HeaderLatest, formatSeq(next))
	if closed {
		h.Set(HeaderClosed, ClosedValue)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, next)
}

func textError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	textError(w, http.StatusMethodNotAllowed, "method not allowed")
}

// Latest reports a channel's next seq to start and whether it has ended;
// ok is false when the server does not know the channel.
func (s *Server) Latest(channel string) (next int64, closed, ok bool) {
	st := s.lookup(channel)
	if st == nil {
		return 0, false, false
	}
	next, closed = st.latest()
	return next, closed, true
}
