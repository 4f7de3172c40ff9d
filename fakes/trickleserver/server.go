package trickleserver

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// Config configures a Server.
type Config struct {
	// Trickle configures the real server inside. Its Logger is used for the
	// fake's own logs too.
	Trickle trickle.ServerConfig
	// Faults are armed from the start, as if added with AddFault.
	Faults []Fault
	// Mutations are the planted bugs the server carries for its whole life.
	Mutations []Mutation
}

// Server is a trickle server with scripted faults, planted bugs and a
// recording of every request. It is an http.Handler; create it with New and
// stop it with Close.
type Server struct {
	trickle   *trickle.Server
	base      string
	log       *slog.Logger
	mutations mutationSet
	rec       recorder

	faultsMu sync.Mutex
	faults   []*armedFault

	// done is closed by Close; it releases stalls and delays.
	done      chan struct{}
	closeOnce sync.Once
}

// New returns a Server around trickle.NewServer(cfg.Trickle). It panics on
// a mutation that is not one of AllMutations, a programming error (commands
// check names with ParseMutations).
func New(cfg Config) *Server {
	ms := make(mutationSet, len(cfg.Mutations))
	for _, m := range cfg.Mutations {
		if !m.Valid() {
			panic(fmt.Sprintf("trickleserver: unknown mutation %q", m))
		}
		ms[m] = true
	}
	log := cfg.Trickle.Logger
	if log == nil {
		log = slog.Default()
	}
	ts := trickle.NewServer(cfg.Trickle)
	s := &Server{
		trickle:   ts,
		base:      ts.Config().BasePath,
		log:       log.With("component", "trickleserver"),
		mutations: ms,
		done:      make(chan struct{}),
	}
	for _, f := range cfg.Faults {
		s.AddFault(f)
	}
	return s
}

// Trickle returns the real server inside, e.g. to create channels.
func (s *Server) Trickle() *trickle.Server { return s.trickle }

// Requests returns a copy of every request recorded so far, in arrival
// order. A request is listed as soon as it starts and updated as it runs.
func (s *Server) Requests() []Request { return s.rec.snapshot() }

// ResetRecording forgets the requests recorded so far.
func (s *Server) ResetRecording() { s.rec.reset() }

// Close closes the real server (every waiting reader and writer is
// released, later requests get 503) and ends every stall and delay.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.trickle.Close()
	})
}

// ServeHTTP records the request, applies the first fault that fires and
// the server's mutations, and has the real server answer the rest.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	t := s.parseTarget(r)
	f, faulty := s.pickFault(r.Method, t)
	req := Request{
		Method: r.Method, Path: r.URL.Path,
		Channel: t.channel, Seq: t.seq, HasSeq: t.hasSeq,
		Start: start,
	}
	if faulty {
		req.Fault = f.String()
		s.log.Info("fault applied", "fault", req.Fault, "method", r.Method, "path", r.URL.Path)
	}
	e := s.rec.start(req)
	defer func() {
		done := e.end(time.Now())
		s.log.Debug("request", "method", done.Method, "path", done.Path, "status", done.Status,
			"bytes_in", done.BytesIn, "bytes_out", done.BytesOut, "duration", done.End.Sub(done.Start), "fault", done.Fault)
	}()

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	rw := &respWriter{w: w, e: e, s: s, ctx: ctx, cancel: cancel, opts: s.writerOpts(r, t, f)}
	r = r.WithContext(ctx)
	if r.Body != nil {
		drop := int64(-1)
		if r.Method == http.MethodPost {
			drop = f.dropAfter()
		}
		r.Body = &recBody{rc: r.Body, e: e, rw: rw, dropAfter: drop}
	}

	s.serve(rw, r, t, f)
	if rw.finish() {
		// The connection could not be dropped (HTTP/2): resetting the
		// stream is the closest thing.
		panic(http.ErrAbortHandler)
	}
}

// writerOpts decides what the response writer does to this response.
func (s *Server) writerOpts(r *http.Request, t target, f Fault) writerOpts {
	isGet := r.Method == http.MethodGet || r.Method == http.MethodHead
	segment := isGet && t.hasSeq
	o := writerOpts{
		hold:        segment && s.mutations.has(MutationBufferWholeSegment),
		rewrite470:  segment && s.mutations.has(MutationEvicted404) && s.behind(t),
		stripLatest: segment && s.mutations.has(MutationNoLatestHeader),
		header:      f.Header,
		head:        r.Method == http.MethodHead,
		dropAfter:   -1,
		stallAfter:  f.stallAfter(),
	}
	if segment && s.mutations.has(MutationLateFirstByte) {
		o.lateFirst = LateFirstByteDelay
	}
	if r.Method != http.MethodPost {
		o.dropAfter = f.dropAfter()
	}
	return o
}

// serve answers the request once it is recorded and wrapped.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, t target, f Fault) {
	if f.Latency > 0 {
		s.pause(r.Context(), f.Latency)
	}
	switch {
	case f.Status != 0:
		s.answerStatus(w, t, f.Status)
	case s.mutations.has(MutationIgnoreSeqAliases) && t.isSeqAlias() &&
		(r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodPost):
		textAnswer(w, http.StatusBadRequest, "invalid sequence number: sequence number is out of range")
	default:
		s.trickle.ServeHTTP(w, r)
	}
}

// behind reports whether t names a segment older than the channel's next
// one to start: one that was, or could have been, evicted.
func (s *Server) behind(t target) bool {
	latest, ok := s.latest(t.channel)
	return ok && t.hasSeq && t.seq >= 0 && t.seq < latest
}
