package trickle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// errPostDone closes a POST's pipe once the server has answered, so that a
// writer never blocks on a request that is over.
var errPostDone = errors.New("trickle: POST already answered")

// post is one streaming POST: the body is a pipe the SegmentWriter feeds.
type post struct {
	seq     int64
	attempt int // 1 for the first POST of seq, +1 for each retry made ahead (the writer's own are counted apart)
	url     string
	pw      *io.PipeWriter
	cancel  context.CancelFunc
	done    chan struct{}
	result  postResult // valid after done
}

type postResult struct {
	err    error
	latest int64 // Lp-Trickle-Latest, -1 when absent
}

// startPost opens POST {base}/{seq} with an empty pipe as its body: the
// request goes out at once (net/http flushes headers for a streaming body)
// and waits on the server for the first byte. Caller holds p.mu.
func (p *Publisher) startPost(seq int64, attempt int) *post {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(p.ctx)
	po := &post{seq: seq, attempt: attempt, url: p.base + "/" + formatSeq(seq), pw: pw, cancel: cancel, done: make(chan struct{})}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, po.url, pr)
	if err != nil { // only a malformed URL, which channelURL has ruled out
		po.result = postResult{err: err, latest: -1}
		close(po.done)
		return po
	}
	req.Header.Set("Content-Type", p.cfg.ContentType)
	// With Expect, net/http holds the body back until the server says it
	// has accepted the segment (100 Continue), so a refusal (409, 470, 404)
	// leaves the bytes with us to send elsewhere.
	req.Header.Set("Expect", "100-continue")
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer cancel()
		resp, err := p.client.Do(req)
		po.result = p.classify(po.url, resp, err)
		pr.CloseWithError(errPostDone)
		close(po.done)
		p.retryAhead(po)
	}()
	return po
}

// retryAhead opens po again, after the back-off, when po was the POST
// opened ahead for the next segment and the server or the network failed
// it in a way a retry may cure. The refusal comes while the segment before
// is still being written, so the retries are made before the writer needs
// the POST instead of under its Write. They stop after MaxRetries; the
// writer that takes po then has MaxRetries of its own
// (SegmentWriter.recoverLocked), since the outage may have ended while the
// segment before was written.
func (p *Publisher) retryAhead(po *post) {
	if err := po.result.err; err == nil || !temporary(err) ||
		p.cfg.MaxRetries < 0 || po.attempt > p.cfg.MaxRetries || !p.isPending(po) {
		return
	}
	p.log.Debug("retrying the POST opened ahead", "seq", po.seq, "attempt", po.attempt, "cause", po.result.err)
	if backoff(p.ctx, p.cfg.RetryBackoff, po.attempt) != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == po && !p.closed {
		p.retries.Add(1)
		p.pending = p.startPost(po.seq, po.attempt+1)
	}
}

func (p *Publisher) isPending(po *post) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending == po
}

// temporary reports whether a POST failed for a reason a retry of the same
// seq may cure: a transport error or a 5xx/429 answer. (Conflicts and 470
// are handled by moving to another seq, in recoverLocked.)
func temporary(err error) bool {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Temporary()
	}
	return retryable(err) && !errors.Is(err, ErrSegmentConflict) && !errors.Is(err, ErrSegmentGone)
}

// classify turns a POST's outcome into an error (nil on success).
func (p *Publisher) classify(url string, resp *http.Response, err error) postResult {
	if err != nil {
		return postResult{err: fmt.Errorf("trickle: POST %s: %w", url, err), latest: -1}
	}
	body := errorBody(resp)
	latest, ok := headerSeq(resp.Header, HeaderLatest)
	if !ok {
		latest = -1
	}
	r := postResult{latest: latest}
	switch {
	case resp.Header.Get(HeaderClosed) != "":
		r.err = fmt.Errorf("%w: POST %s", ErrStreamClosed, url)
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusNotFound:
		if p.hasSeen() {
			r.err = fmt.Errorf("%w: POST %s: 404", ErrStreamClosed, url)
		} else {
			r.err = fmt.Errorf("%w: POST %s", ErrStreamNotFound, url)
		}
	case resp.StatusCode == http.StatusConflict:
		r.err = fmt.Errorf("%w: POST %s: %s", ErrSegmentConflict, url, body)
	case resp.StatusCode == StatusSequenceNonexistent:
		r.err = fmt.Errorf("%w: POST %s: %s", ErrSegmentGone, url, body)
	case resp.StatusCode == http.StatusRequestEntityTooLarge:
		r.err = fmt.Errorf("%w: POST %s: %s", ErrSegmentTooLarge, url, body)
	default:
		r.err = &HTTPError{Method: "POST", URL: url, Code: resp.StatusCode, Body: body}
	}
	return r
}

// abandon drops a POST that will not be used: cancelling (rather than
// ending the body) keeps the server from recording an empty segment.
func (po *post) abandon() {
	po.cancel()
	po.pw.CloseWithError(context.Canceled)
}

// finished reports whether the server has answered.
func (po *post) finished() bool {
	select {
	case <-po.done:
		return true
	default:
		return false
	}
}

// retryable reports whether a POST that sent nothing may be tried again.
func retryable(err error) bool {
	var he *HTTPError
	switch {
	case errors.Is(err, ErrStreamNotFound), errors.Is(err, ErrStreamClosed),
		errors.Is(err, ErrSegmentTooLarge), errors.Is(err, ErrClosed):
		return false
	case errors.As(err, &he):
		return he.Temporary()
	}
	return true // transport errors, conflicts and 470 (handled by a jump)
}

// SegmentWriter writes one segment. Bytes go to the server (and on to
// readers) as they are written; Close ends the segment.
type SegmentWriter struct {
	p    *Publisher
	post *post
	seq  int64

	mu       sync.Mutex
	sent     int64 // bytes handed to the current POST
	attempts int
	err      error // sticky failure
	done     bool

	// cancelMu guards cancelled, and post for Cancel (post changes with
	// both mu and cancelMu held), so that Cancel never waits on mu, which
	// a call blocked on the server holds.
	cancelMu  sync.Mutex
	cancelled error
	cancelCh  chan struct{} // closed with cancelled set: ends a retry's back-off
}

// failedDeleteTimeout bounds the DELETE that closes a failed segment on
// the server: a server that answers at all does so at once, and one that
// has stalled must not hold the writer up for long. The publisher's end
// (Close running out of time) cuts it shorter.
const failedDeleteTimeout = 2 * time.Second

// Cancel gives the segment up from another goroutine, typically because
// the server has taken no byte of it, or not answered its end, for too
// long: a Write, Close or Abort blocked on the server returns, and every
// later call fails with an error wrapping cause (as does the Write or
// Close that was blocked). The segment then counts as
// failed: closed on the server (DELETE) if bytes of it were sent, and lost.
// The publisher goes on with the next seq.
func (w *SegmentWriter) Cancel(cause error) {
	if cause == nil {
		cause = errors.New("cancelled")
	}
	w.cancelMu.Lock()
	if w.cancelled == nil {
		w.cancelled = fmt.Errorf("trickle: segment given up: %w", cause)
		close(w.cancelCh)
	}
	po := w.post
	w.cancelMu.Unlock()
	po.cancel()
}

func (w *SegmentWriter) cancelErr() error {
	w.cancelMu.Lock()
	defer w.cancelMu.Unlock()
	return w.cancelled
}

// Seq returns the sequence number the segment is being written to. It can
// change before the first byte is sent if the server asks the publisher to
// move on (409 or 470 with Lp-Trickle-Latest).
func (w *SegmentWriter) Seq() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq
}

// Write sends b as part of the segment. It blocks while the server or the
// network is slower than the writer.
func (w *SegmentWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	if w.done {
		return 0, errors.New("trickle: write to a closed segment")
	}
	if len(b) == 0 {
		return 0, nil
	}
	if c := w.cancelErr(); c != nil {
		if w.sent > 0 {
			return 0, w.failLocked(c)
		}
		w.err = c
		w.post.abandon()
		return 0, c
	}
	if err := w.p.streamGone(); err != nil {
		// The server already told the POST ahead that the stream is gone:
		// stop sending this segment too.
		w.err = err
		w.post.abandon()
		return 0, err
	}
	for {
		if w.sent == 0 && w.post.finished() {
			if err := w.recoverLocked(w.post.result.err, w.post.result.latest); err != nil {
				return 0, err
			}
			continue
		}
		before := w.sent
		n, err := w.post.pw.Write(b)
		w.sent += int64(n)
		if err == nil {
			return n, nil
		}
		<-w.post.done // the pipe broke because the request ended
		if before == 0 && refusedWhole(w.post.result.err) {
			// The server refused the segment before storing any of it, so
			// b can go again, to another seq or after a pause.
			w.sent = 0
		}
		if w.sent == 0 {
			continue
		}
		return n, w.failLocked(w.post.result.err)
	}
}

// refusedWhole reports whether a POST's answer means the server stored
// none of the body: it refuses those before reading.
func refusedWhole(err error) bool {
	return errors.Is(err, ErrSegmentConflict) || errors.Is(err, ErrSegmentGone) || errors.Is(err, ErrStreamNotFound)
}

// recoverLocked handles a POST that ended before any byte of the segment
// was sent: retry the same seq, or move to the server's latest seq.
func (w *SegmentWriter) recoverLocked(cause error, latest int64) error {
	if c := w.cancelErr(); c != nil {
		w.err = c
		return c
	}
	if cause == nil {
		// The server completed the seq as empty (e.g. it was closed while we
		// waited); nothing of ours is in it, so the bytes need a new seq.
		cause = ErrSegmentConflict
	}
	if (errors.Is(cause, ErrSegmentConflict) || errors.Is(cause, ErrSegmentGone)) && latest > w.seq {
		if seq, ok := w.p.jumpTo(latest); ok {
			w.p.log.Info("moving to the server's latest segment", "from", w.seq, "to", seq, "cause", cause)
			w.seq = seq
			w.replaceLocked()
			return nil
		}
	}
	w.attempts++
	if !retryable(cause) || w.p.cfg.MaxRetries < 0 || w.attempts > w.p.cfg.MaxRetries {
		w.err = cause
		return cause
	}
	w.p.log.Debug("retrying segment", "seq", w.seq, "attempt", w.attempts, "cause", cause)
	ctx, stop := context.WithCancel(w.p.ctx)
	defer stop()
	go func() { // a Cancel ends the pause too
		select {
		case <-w.cancelCh:
			stop()
		case <-ctx.Done():
		}
	}()
	if err := backoff(ctx, w.p.cfg.RetryBackoff, w.attempts); err != nil {
		if c := w.cancelErr(); c != nil {
			err = c
		}
		w.err = err
		return err
	}
	w.p.retries.Add(1)
	w.replaceLocked()
	return nil
}

func (w *SegmentWriter) replaceLocked() {
	w.post.abandon()
	w.p.mu.Lock()
	po := w.p.startPost(w.seq, 1) // the writer's own: never pending, never retried ahead
	w.p.mu.Unlock()
	w.cancelMu.Lock()
	w.post = po
	if w.cancelled != nil { // Cancel came while the old POST was replaced
		po.cancel()
	}
	w.cancelMu.Unlock()
	w.sent = 0
}

// failLocked records a failure after bytes were sent: the segment is
// closed on the server so its readers are released, and counted as lost.
func (w *SegmentWriter) failLocked(cause error) error {
	if c := w.cancelErr(); c != nil && (cause == nil || errors.Is(cause, context.Canceled)) {
		cause = c // the request failed because it was cancelled
	}
	if cause == nil {
		cause = errors.New("trickle: POST body was not fully sent")
	}
	w.err = fmt.Errorf("%w: seq %d after %d bytes: %w", ErrPartialSegment, w.seq, w.sent, cause)
	w.post.abandon()
	// Not when the publisher is being torn down (Close ran out of time
	// on a stalled server): that server would not answer the DELETE
	// either.
	if !errors.Is(cause, ErrStreamClosed) && !errors.Is(cause, ErrStreamNotFound) && w.p.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(w.p.ctx, failedDeleteTimeout)
		defer cancel()
		if err := w.p.delete(ctx, w.post.url); errors.Is(err, ErrStreamNotFound) {
			// The connection broke because the channel ended under the
			// segment (the server's answer was lost with it): that is the
			// end of the stream, not a lost segment.
			w.err = fmt.Errorf("%w: seq %d: the channel is gone (%w)", ErrStreamClosed, w.seq, cause)
		} else if err != nil {
			w.p.log.Debug("closing failed segment", "seq", w.seq, "err", err)
		}
	}
	w.p.log.Warn("segment lost", "seq", w.seq, "bytes", w.sent, "err", cause)
	return w.err
}

// Close ends the segment and waits for the server to confirm it.
func (w *SegmentWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return w.err
	}
	w.done = true
	defer func() { w.p.segmentDone(w, w.sent, w.err) }()
	if w.err != nil {
		w.post.abandon()
		return w.err
	}
	for {
		if w.sent == 0 && w.post.finished() && w.post.result.err != nil {
			if err := w.recoverLocked(w.post.result.err, w.post.result.latest); err != nil {
				return err
			}
			continue
		}
		w.post.pw.Close()
		<-w.post.done
		if err := w.post.result.err; err != nil {
			if w.sent == 0 {
				continue // nothing was sent: retry as above
			}
			return w.failLocked(err)
		}
		return nil
	}
}

// Abort abandons the segment: the server closes it where it stands and the
// publisher moves on to the next seq. It waits for the POST to end, which
// bytes stuck on a connection the server stopped reading put off until
// the publisher closes or Cancel is called.
func (w *SegmentWriter) Abort(cause error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	w.done = true
	if w.err == nil {
		if cause == nil {
			cause = errors.New("aborted by the writer")
		}
		w.post.pw.CloseWithError(cause)
		<-w.post.done
		w.err = fmt.Errorf("%w: seq %d after %d bytes: %w", ErrPartialSegment, w.seq, w.sent, cause)
		ctx, cancel := context.WithTimeout(w.p.ctx, failedDeleteTimeout)
		defer cancel()
		_ = w.p.delete(ctx, w.post.url)
	}
	w.p.segmentDone(w, w.sent, w.err)
}
