package processor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// controlMaxMessageBytes caps one control message. PyTrickle parses only
// the first read (≤ 32 KiB) of a segment; gotrickle reads the whole
// segment up to this size and skips larger ones.
const controlMaxMessageBytes = 1 << 20

// errControlNotFound is returned by controlReader.run when the server does
// not know the control channel (404). It wraps trickle.ErrStreamNotFound
// too. PyTrickle ends the stream on it; the caller decides.
var errControlNotFound = errors.New("processor: control channel not found")

// controlReader reads parameter updates from the control channel
// (PyTrickle protocol.py:421-449): one JSON object per trickle segment,
// {"keep":"alive"} ignored, invalid JSON skipped, every other message
// passed to apply in the order received.
//
// Unlike PyTrickle, whose every GET times out after 30 s (so a control
// channel without keepalives ends the stream after about 150 s), the
// subscriber waits for the next message as long as it takes.
type controlReader struct {
	url   string
	apply func(ctx context.Context, p Params)
	log   *slog.Logger

	// For tests: the subscriber's retry settings (trickle defaults when 0).
	maxRetries   int
	retryBackoff time.Duration
	client       *http.Client

	applied, skipped atomic.Uint64
}

// newControlReader returns a reader for the control channel at url that
// passes each message to apply. An empty url gives a reader whose run
// returns nil at once.
func newControlReader(url string, apply func(ctx context.Context, p Params), log *slog.Logger) *controlReader {
	if log == nil {
		log = slog.Default()
	}
	if apply == nil {
		apply = func(context.Context, Params) {}
	}
	return &controlReader{url: strings.TrimSpace(url), apply: apply, log: log.With("channel", "control")}
}

// run reads control messages until ctx ends (nil) or the channel ends (an
// error wrapping trickle.ErrStreamClosed). A channel the server does not
// know returns an error wrapping errControlNotFound and
// trickle.ErrStreamNotFound; other failures
// (after the subscriber's own retries) return their error. apply runs on
// run's goroutine, one message at a time.
func (c *controlReader) run(ctx context.Context) error {
	if c == nil || c.url == "" {
		return nil
	}
	sub, err := trickle.NewSubscriber(trickle.SubscriberConfig{
		URL:          c.url,
		Client:       c.client,
		Start:        trickle.StartAt(trickle.SeqCurrent), // PyTrickle starts at -2 too
		MaxRetries:   c.maxRetries,
		RetryBackoff: c.retryBackoff,
		Logger:       c.log,
	})
	if err != nil {
		return fmt.Errorf("control channel: %w", err)
	}
	defer sub.Close()
	for {
		seg, err := sub.Next(ctx)
		switch {
		case ctx.Err() != nil:
			if seg != nil {
				seg.Close()
			}
			return nil
		case errors.Is(err, trickle.ErrStreamClosed):
			// Closed, or gone (404) after it was read: either way the
			// gateway has ended the session.
			return fmt.Errorf("control channel ended: %w", err)
		case errors.Is(err, trickle.ErrStreamNotFound):
			return fmt.Errorf("%w: %w", errControlNotFound, err)
		case err != nil:
			return fmt.Errorf("control channel: %w", err)
		}
		body, err := readControlSegment(seg)
		seq := seg.Seq
		seg.Close()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.skipped.Add(1)
			c.log.Warn("control message skipped", "seq", seq, "err", err)
			continue
		}
		p, keep, err := parseControlMessage(body)
		switch {
		case err != nil:
			c.skipped.Add(1)
			c.log.Warn("control message is not a JSON object; skipped", "seq", seq, "err", err)
			continue
		case keep:
			continue
		}
		c.applied.Add(1)
		c.apply(ctx, p)
	}
}

// readControlSegment reads a whole segment, refusing one over the cap.
func readControlSegment(seg io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(seg, controlMaxMessageBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > controlMaxMessageBytes {
		return nil, fmt.Errorf("message larger than %d bytes", controlMaxMessageBytes)
	}
	return b, nil
}

// parseControlMessage parses one control segment's body. keep is true for
// messages to ignore without complaint: an empty (or all-blank) body and
// the keepalive {"keep":"alive"}. Anything that is not exactly one JSON
// object is an error.
func parseControlMessage(body []byte) (p Params, keep bool, err error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, true, nil
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, false, err
	}
	if p == nil { // the JSON was null
		return nil, false, errors.New("message is null, not an object")
	}
	if len(p) == 1 && p["keep"] == "alive" {
		return nil, true, nil
	}
	return p, false, nil
}

// Skipped returns how many control messages were skipped as invalid.
func (c *controlReader) Skipped() uint64 {
	if c == nil {
		return 0
	}
	return c.skipped.Load()
}

// Applied returns how many control messages were passed to apply.
func (c *controlReader) Applied() uint64 {
	if c == nil {
		return 0
	}
	return c.applied.Load()
}
