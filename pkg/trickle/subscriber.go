package trickle

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Start says where a Subscriber begins reading. The zero value is SeqNext:
// wait for the next segment to start.
type Start struct {
	seq int64
	set bool
}

// StartAt begins at seq: an absolute sequence number, SeqNext or SeqCurrent.
func StartAt(seq int64) Start { return Start{seq: seq, set: true} }

// Seq returns the sequence number (or alias) reading starts at.
func (s Start) Seq() int64 {
	if !s.set {
		return SeqNext
	}
	return s.seq
}

// SubscriberConfig configures a Subscriber. Only URL is required.
type SubscriberConfig struct {
	// URL is the channel's URL, e.g. "http://host:port/ai/trickle/abc".
	URL string
	// Client sends the requests. It defaults to a client with its own
	// transport, whose connections Close releases.
	Client *http.Client
	// Token, when set, is sent to the channel's host as "Authorization:
	// Bearer <Token>" (a server's PublishToken or SubscribeToken). A
	// user:password@ in URL is sent as Basic auth instead when there is no
	// Token; either way it never appears in logs or errors.
	Token string
	// Start is where reading begins; the zero value waits for the next
	// segment (-1). The processor reads its input from SeqCurrent (-2).
	Start Start
	// MaxRetries is how many failures in a row (transport errors, 5xx,
	// 429, a 470 that names no newer segment) Next tolerates before it
	// returns the error. It defaults to 5; a negative value disables
	// retries. The GET for a segment is made ahead, while the one before
	// arrives, and retried at once when it fails; if those retries run out
	// it is made once more when the segment is due, with MaxRetries of its
	// own.
	MaxRetries int
	// RetryBackoff is the pause before the first retry; it doubles each
	// time, up to 5 s, and each pause is moved by up to a fifth either
	// way at random so that the clients of a server that restarts do not
	// all come back at once. It defaults to 300 ms.
	RetryBackoff time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// SubscriberStats counts what a Subscriber did.
type SubscriberStats struct {
	Segments int64 // segments handed out
	Skipped  int64 // segments jumped over after 470 answers
	Jumps    int64 // times the subscriber moved to the server's latest seq
	Retries  int64 // requests repeated after a failure
}

// Segment is one segment being received. Read it like any io.Reader:
// io.EOF marks the end of this segment only. Close it when done.
type Segment struct {
	// Seq is the segment's sequence number as the server reported it.
	Seq int64
	// Latest is the server's next seq to start when the request was made,
	// or -1 when the server did not say (it omits it when equal to Seq).
	Latest int64
	// ContentType is the channel's MIME type.
	ContentType string

	body io.ReadCloser
}

func (s *Segment) Read(p []byte) (int, error) { return s.body.Read(p) }

// Close releases the segment's connection; unread bytes are discarded.
func (s *Segment) Close() error { return s.body.Close() }

// Subscriber reads a trickle channel segment after segment. As soon as a
// segment starts arriving, the request for the one after it is made in the
// background, so the next segment's first byte is not delayed by a round
// trip.
type Subscriber struct {
	cfg    SubscriberConfig
	base   string
	client *http.Client
	own    *http.Transport
	log    *slog.Logger

	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	seq     int64
	pending *get
	seen    bool
	closed  bool

	segments, skipped, jumps, retries atomic.Int64
}

// get is one GET in flight.
type get struct {
	seq    int64
	ahead  bool // made before Next asked for the segment
	gaveUp bool // its retries ran out on failures a retry might cure
	cancel context.CancelFunc
	done   chan struct{}
	resp   *http.Response
	err    error
}

// NewSubscriber checks the configuration. No request is made until Next.
func NewSubscriber(cfg SubscriberConfig) (*Subscriber, error) {
	base, user, err := channelURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if start := cfg.Start.Seq(); start < SeqCurrent || start > MaxSeq {
		return nil, fmt.Errorf("trickle: start seq %d is out of range", start)
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 5
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 300 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Subscriber{cfg: cfg, base: base, client: cfg.Client, seq: cfg.Start.Seq(),
		log: cfg.Logger.With("component", "trickle-subscriber", "url", base)}
	if s.client == nil {
		s.own = newTransport()
		s.client = &http.Client{Transport: s.own}
	}
	s.client = withCredentials(s.client, hostOf(base), cfg.Token, user)
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	return s, nil
}

// Stats returns the counters so far.
func (s *Subscriber) Stats() SubscriberStats {
	return SubscriberStats{Segments: s.segments.Load(), Skipped: s.skipped.Load(),
		Jumps: s.jumps.Load(), Retries: s.retries.Load()}
}

// Seq returns the sequence number Next will ask for (it may be an alias).
func (s *Subscriber) Seq() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// SetSeq makes the next Next read seq (absolute or an alias), dropping any
// request made ahead.
func (s *Subscriber) SetSeq(seq int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq = seq
	s.dropPendingLocked()
}

func (s *Subscriber) dropPendingLocked() {
	if g := s.pending; g != nil {
		s.pending = nil
		g.cancel()
		s.wg.Add(1)
		go func() { // reap it so its connection is released
			defer s.wg.Done()
			<-g.done
			if g.resp != nil {
				g.resp.Body.Close()
			}
		}()
	}
}

// startGet issues GET {base}/{seq} in the background. Caller holds s.mu.
//
// Transport errors and 5xx/429 answers are retried here, with back-off,
// up to MaxRetries times: the GET for a segment is made while the one
// before it is still arriving, so a failure of it is found and retried
// before the segment is needed instead of when Next asks for it.
func (s *Subscriber) startGet(seq int64, ahead bool) *get {
	ctx, cancel := context.WithCancel(s.ctx)
	g := &get{seq: seq, ahead: ahead, cancel: cancel, done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(g.done)
		url := s.base + "/" + formatSeq(seq)
		for attempt := 1; ; attempt++ {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				g.err = err
				return
			}
			g.resp, g.err = s.client.Do(req)
			if !s.worthRetrying(ctx, g.resp, g.err) {
				return
			}
			if attempt > s.cfg.MaxRetries {
				g.gaveUp = s.cfg.MaxRetries > 0 // none at all when retries are off
				return
			}
			s.log.Debug("retrying", "seq", seq, "attempt", attempt, "err", g.err, "status", status(g.resp))
			if g.resp != nil {
				errorBody(g.resp)
				g.resp = nil
			}
			s.retries.Add(1)
			if err := backoff(ctx, s.cfg.RetryBackoff, attempt); err != nil {
				g.err = err
				return
			}
		}
	}()
	return g
}

// worthRetrying reports whether a GET's outcome is a failure that asking
// again may cure: a transport error (not a cancellation) or a 5xx/429
// answer that does not say the stream has ended.
func (s *Subscriber) worthRetrying(ctx context.Context, resp *http.Response, err error) bool {
	if err != nil {
		return ctx.Err() == nil
	}
	if resp.Header.Get(HeaderClosed) != "" {
		return false
	}
	return (&HTTPError{Code: resp.StatusCode}).Temporary()
}

func status(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

// Next returns the next segment once its first byte (or its end) has
// arrived. It returns ErrStreamClosed when the stream has ended,
// ErrStreamNotFound when the channel does not exist, and other errors after
// MaxRetries failures in a row. After a 470 it moves to the server's latest
// segment and counts what it skipped; a 470 that names no newer segment is
// asked again after a pause, up to MaxRetries times.
func (s *Subscriber) Next(ctx context.Context) (*Segment, error) {
	failures := 0
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		g := s.pending
		if g == nil || g.seq != s.seq {
			s.dropPendingLocked()
			g = s.startGet(s.seq, false)
			s.pending = g
		}
		s.mu.Unlock()

		select {
		case <-g.done:
		case <-ctx.Done():
			return nil, context.Cause(ctx) // the request stays pending for the next call
		case <-s.ctx.Done():
			return nil, ErrClosed
		}
		s.mu.Lock()
		if s.pending != g { // SetSeq or Close raced with us
			s.mu.Unlock()
			continue
		}
		if g.ahead && g.gaveUp {
			// The GET made ahead used up its retries, mostly before the
			// segment was due: ask again with retries of its own, as the
			// outage it met may be over.
			s.dropPendingLocked()
			s.retries.Add(1)
			s.pending = s.startGet(s.seq, false)
			s.mu.Unlock()
			continue
		}
		s.pending = nil
		seg, retry, err := s.handleLocked(g)
		s.mu.Unlock()
		if seg != nil || err != nil && !retry {
			return seg, err
		}
		if err == nil {
			continue // moved on (470 jump): no pause needed
		}
		failures++
		if s.cfg.MaxRetries < 0 || failures > s.cfg.MaxRetries {
			return nil, err
		}
		s.retries.Add(1)
		s.log.Debug("retrying", "seq", g.seq, "attempt", failures, "err", err)
		if err := backoff(ctx, s.cfg.RetryBackoff, failures); err != nil {
			return nil, err
		}
	}
}

// handleLocked interprets a finished GET. It returns a segment, or an
// error with retry saying whether a pause-and-retry may help, or neither
// when the subscriber moved to another seq and should ask again at once.
func (s *Subscriber) handleLocked(g *get) (seg *Segment, retry bool, err error) {
	url := s.base + "/" + formatSeq(g.seq)
	// Transport errors and 5xx answers arrive here after startGet has
	// retried them: they are final.
	if g.err != nil {
		if s.ctx.Err() != nil {
			return nil, false, ErrClosed
		}
		return nil, false, fmt.Errorf("trickle: GET %s: %w", url, g.err)
	}
	resp := g.resp
	if resp.Header.Get(HeaderClosed) != "" {
		resp.Body.Close()
		return nil, false, fmt.Errorf("%w: GET %s", ErrStreamClosed, url)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		errorBody(resp)
		if s.seen {
			return nil, false, fmt.Errorf("%w: GET %s: 404", ErrStreamClosed, url)
		}
		return nil, false, fmt.Errorf("%w: GET %s", ErrStreamNotFound, url)
	case StatusSequenceNonexistent:
		errorBody(resp)
		latest, ok := headerSeq(resp.Header, HeaderLatest)
		if !ok && g.seq != SeqNext {
			// No hint where to go: the next segment to start is always a
			// sound place to resume a live stream.
			latest, ok = SeqNext, true
		}
		if ok && (latest >= 0 || latest == SeqNext) && latest != g.seq {
			if g.seq >= 0 && latest > g.seq {
				s.skipped.Add(latest - g.seq)
			}
			if latest == SeqNext {
				s.log.Info("segment not available and no latest given; moving to the next segment", "seq", g.seq)
				s.jumps.Add(1)
				s.seq = SeqNext
				return nil, false, nil
			}
			s.jumps.Add(1)
			s.log.Info("segment not available; moving to the latest", "seq", g.seq, "latest", latest)
			s.seq = latest
			return nil, false, nil
		}
		return nil, true, fmt.Errorf("%w: GET %s (latest %d)", ErrSegmentGone, url, latest)
	default:
		body := errorBody(resp)
		return nil, false, &HTTPError{Method: "GET", URL: url, Code: resp.StatusCode, Body: body}
	}
	served, ok := headerSeq(resp.Header, HeaderSeq)
	if !ok || served < 0 {
		if g.seq < 0 {
			resp.Body.Close()
			return nil, false, fmt.Errorf("trickle: GET %s: answer has no %s header", url, HeaderSeq)
		}
		served = g.seq
	}
	latest, ok := headerSeq(resp.Header, HeaderLatest)
	if !ok {
		latest = -1
	}
	s.seen = true
	s.seq = served + 1
	s.pending = s.startGet(s.seq, true)
	s.segments.Add(1)
	return &Segment{Seq: served, Latest: latest, ContentType: resp.Header.Get("Content-Type"), body: resp.Body}, false, nil
}

// Close stops the subscriber: requests in flight are cancelled, and so are
// the bodies of segments still being received.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.dropPendingLocked()
	s.mu.Unlock()
	s.cancel(ErrClosed)
	s.wg.Wait()
	if s.own != nil {
		s.own.CloseIdleConnections()
	}
	return nil
}
