package trickle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// PublisherConfig configures a Publisher. Only URL is required.
type PublisherConfig struct {
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
	// ContentType is sent with every segment POST. It defaults to
	// "video/mp2t".
	ContentType string
	// StartAtNext asks the server where to begin (GET {URL}/next) instead of
	// starting at seq 0. Servers without /next make NewPublisher fail.
	StartAtNext bool
	// MaxRetries is how many times a segment is re-POSTed when its request
	// failed before any byte of it was sent. It defaults to 3; a negative
	// value disables retries. A segment that failed after bytes were sent
	// is never re-sent: the publisher closes it on the server and moves on.
	// The POST for a segment is opened ahead, while the one before is
	// written, and re-opened up to MaxRetries times when the server or the
	// network fails it (5xx, 429, transport errors); those retries do not
	// count against the segment's own.
	MaxRetries int
	// RetryBackoff is the pause before the first retry; it doubles each
	// time, up to 5 s, and each pause is moved by up to a fifth either
	// way at random so that the clients of a server that restarts do not
	// all come back at once. It defaults to 250 ms.
	RetryBackoff time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// PublisherStats counts what a Publisher did.
type PublisherStats struct {
	Segments int64 // segments the server accepted whole
	Bytes    int64 // bytes of those segments
	Retries  int64 // re-POSTs of segments that had sent no byte
	Lost     int64 // segments that failed part-way and were closed
	Jumps    int64 // times the publisher moved to the server's latest seq
}

// Publisher writes a trickle channel: one streaming POST per segment, with
// the POST for the following segment opened ahead of time so that its
// first byte goes out without a connection set-up.
type Publisher struct {
	cfg    PublisherConfig
	base   string
	client *http.Client
	own    *http.Transport // set when the Publisher made its own transport
	log    *slog.Logger

	ctx    context.Context // ends when the Publisher closes
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	seq     int64 // the seq the next Next hands out
	pending *post // preconnected POST for seq, if any
	closed  bool
	ended   error          // set when the server said the stream is gone: no more segments
	current *SegmentWriter // the segment being written, if any
	seen    bool           // the server has accepted a segment: a later 404 means closed

	segments, bytes, retries, lost, jumps atomic.Int64
}

// NewPublisher checks the configuration, finds the first seq and opens the
// POST for it. ctx bounds only the set-up.
func NewPublisher(ctx context.Context, cfg PublisherConfig) (*Publisher, error) {
	base, user, err := channelURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.ContentType == "" {
		cfg.ContentType = ContentTypeMPEGTS
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 3
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 250 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Publisher{cfg: cfg, base: base, client: cfg.Client, log: cfg.Logger.With("component", "trickle-publisher", "url", base)}
	if p.client == nil {
		p.own = newTransport()
		p.client = &http.Client{Transport: p.own}
	}
	p.client = withCredentials(p.client, hostOf(base), cfg.Token, user)
	p.ctx, p.cancel = context.WithCancelCause(context.Background())
	if cfg.StartAtNext {
		next, err := fetchNext(ctx, p.client, base)
		if err != nil {
			p.release()
			return nil, err
		}
		p.seq = next
	}
	p.mu.Lock()
	p.pending = p.startPost(p.seq, 1)
	p.mu.Unlock()
	return p, nil
}

// fetchNext asks the server for the next seq to start.
func fetchNext(ctx context.Context, c *http.Client, base string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/next", nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("trickle: GET %s/next: %w", base, err)
	}
	body := errorBody(resp)
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return 0, fmt.Errorf("%w: %s", ErrStreamNotFound, base)
	case resp.StatusCode != http.StatusOK:
		return 0, &HTTPError{Method: "GET", URL: base + "/next", Code: resp.StatusCode, Body: body}
	}
	n, err := strconv.ParseInt(body, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("trickle: GET %s/next: body %q is not a sequence number", base, body)
	}
	return n, nil
}

// Stats returns the counters so far.
func (p *Publisher) Stats() PublisherStats {
	return PublisherStats{
		Segments: p.segments.Load(), Bytes: p.bytes.Load(), Retries: p.retries.Load(),
		Lost: p.lost.Load(), Jumps: p.jumps.Load(),
	}
}

// Seq returns the seq the next segment will be written to.
func (p *Publisher) Seq() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seq
}

// Next starts the next segment. Write its bytes to the returned writer and
// Close it; only one segment is written at a time. The POST for the
// segment after it is opened now.
func (p *Publisher) Next(ctx context.Context) (*SegmentWriter, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return nil, ErrClosed
	case p.ended != nil:
		return nil, p.ended
	case p.current != nil:
		return nil, errors.New("trickle: Next called before the previous segment was closed")
	}
	po := p.pending
	if po == nil || po.seq != p.seq {
		if po != nil {
			po.abandon()
		}
		po = p.startPost(p.seq, 1)
	}
	p.seq++
	p.pending = p.startPost(p.seq, 1)
	// The retries made ahead (retryAhead) do not count against the
	// segment's own: they ran before it was due, and an outage they
	// outlasted may be over by now.
	p.current = &SegmentWriter{p: p, post: po, seq: po.seq, cancelCh: make(chan struct{})}
	return p.current, nil
}

// Write sends r as one whole segment and waits for the server's answer.
func (p *Publisher) Write(ctx context.Context, r io.Reader) (int64, error) {
	w, err := p.Next(ctx)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(w, r)
	if err != nil {
		w.Abort(err)
		return n, err
	}
	return n, w.Close()
}

// Close ends the stream: a segment still being written is finished
// properly, then the server closes the channel (DELETE {URL}) and its
// readers see the end of the stream. The Publisher cannot be used
// afterwards. ctx bounds it: past it, requests still in flight (a stalled
// server, or the DELETE that closes a last segment that failed) are
// cancelled and Close returns ctx's error.
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	pending, current, ended := p.pending, p.current, p.ended
	p.pending = nil
	p.mu.Unlock()

	var err error
	if current != nil {
		// The last segment's Close waits for the server's answer, and a
		// Write in progress may be stuck on a full connection: past ctx,
		// every request is cancelled, which ends both.
		finished := make(chan error, 1)
		go func() { finished <- current.Close() }()
		select {
		case cerr := <-finished:
			if cerr != nil {
				p.log.Debug("finishing the last segment", "err", cerr)
			}
		case <-ctx.Done():
			err = fmt.Errorf("trickle: closing %s: the last segment was not accepted in time: %w", p.base, context.Cause(ctx))
			p.cancel(ErrClosed)
			<-finished
		}
	}
	if ended == nil && err == nil {
		err = p.delete(ctx, p.base)
	}
	if pending != nil {
		pending.abandon()
	}
	p.release()
	return err
}

func (p *Publisher) release() {
	p.cancel(ErrClosed)
	p.wg.Wait()
	if p.own != nil {
		p.own.CloseIdleConnections()
	}
}

// delete sends DELETE to url, treating 404 as "already gone".
func (p *Publisher) delete(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, url, nil)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("trickle: DELETE %s: %w", url, err)
	}
	body := errorBody(resp)
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusNotFound:
		return fmt.Errorf("%w: DELETE %s", ErrStreamNotFound, url)
	}
	return &HTTPError{Method: "DELETE", URL: url, Code: resp.StatusCode, Body: body}
}

// jumpTo moves the publisher to latest after the server refused a seq it
// has already passed, re-opening the POST ahead.
func (p *Publisher) jumpTo(latest int64) (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || latest < p.seq {
		return 0, false
	}
	if p.pending != nil {
		p.pending.abandon()
	}
	seq := latest
	p.seq = seq + 1
	p.pending = p.startPost(p.seq, 1)
	p.jumps.Add(1)
	return seq, true
}

// segmentDone records how a segment ended. A segment that failed is
// counted as lost; one the server refused because the stream is gone ends
// publishing.
func (p *Publisher) segmentDone(w *SegmentWriter, n int64, err error) {
	p.mu.Lock()
	if p.current == w {
		p.current = nil
	}
	switch {
	case err == nil:
		p.seen = true
	case errors.Is(err, ErrStreamNotFound), errors.Is(err, ErrStreamClosed):
		if p.ended == nil {
			p.ended = err
		}
	}
	p.mu.Unlock()
	if err == nil {
		p.segments.Add(1)
		p.bytes.Add(n)
	} else {
		p.lost.Add(1)
	}
}

func (p *Publisher) hasSeen() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen
}

// streamGone returns the error of the POST opened ahead when the server
// answered it with the end of the stream (404 or Lp-Trickle-Closed).
func (p *Publisher) streamGone() error {
	p.mu.Lock()
	po := p.pending
	p.mu.Unlock()
	if po == nil || !po.finished() {
		return nil
	}
	if err := po.result.err; errors.Is(err, ErrStreamNotFound) || errors.Is(err, ErrStreamClosed) {
		return err
	}
	return nil
}
