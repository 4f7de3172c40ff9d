package client

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The suite runs a client only through the interfaces below, so that
// another trickle implementation can be checked by writing one more driver
// (see driver_gotrickle_test.go). A driver turns what its client reports
// into the driver-neutral outcomes; it must not make up for the client (no
// retries, no bookkeeping of its own).

// impl is the client under test.
var impl clientImpl = gotrickleImpl{}

// clientImpl makes publishers and subscribers of one implementation.
type clientImpl interface {
	// Name describes the implementation for the reports.
	Name() string
	// NewPublisher starts a publisher on a channel URL. It returns
	// errOptionUnsupported when the client cannot be configured as asked.
	NewPublisher(ctx context.Context, o pubOptions) (publisherDriver, error)
	// NewSubscriber starts a subscriber on a channel URL. It returns
	// errOptionUnsupported when the client cannot be configured as asked.
	NewSubscriber(ctx context.Context, o subOptions) (subscriberDriver, error)
}

// errOptionUnsupported: the client has no such setting; the spec that
// needs it is skipped.
var errOptionUnsupported = errors.New("the client cannot be configured this way")

// pubOptions configures a publisher.
type pubOptions struct {
	URL string // the channel's URL, {base}{ch}, without a trailing slash
	// Resume makes the publisher start where the server says (GET
	// /{ch}/next or POST to -1) rather than at seq 0.
	Resume bool
	// FastRetries shortens the client's pauses between retries, where the
	// client allows it. Specs set it only when the pauses are not what they
	// check, to keep the suite fast.
	FastRetries bool
}

// subOptions configures a subscriber.
type subOptions struct {
	URL string // the channel's URL, {base}{ch}, without a trailing slash
	// Start is the configured start position (-1, -2 or an absolute seq);
	// nil leaves it unconfigured, at the client's default.
	Start *int64
	// FastRetries: as for pubOptions.
	FastRetries bool
}

// outcome is what a client reported, in driver-neutral terms.
type outcome string

const (
	// outcomeOK: publisher: the segment was written and accepted;
	// subscriber: a segment was received to its normal end.
	outcomeOK outcome = "ok"
	// outcomeEndOfStream: the client reported the end of the stream.
	outcomeEndOfStream outcome = "end-of-stream"
	// outcomeNotFound: the client reported that the stream does not exist.
	outcomeNotFound outcome = "not-found"
	// outcomeError: any other failure the client reported (a truncated
	// segment, retries used up, a refused segment...).
	outcomeError outcome = "error"
	// outcomeStopped: the driver was closed while the call ran.
	outcomeStopped outcome = "stopped"
	// outcomeTimeout: the client reported nothing before the suite's
	// deadline for the call.
	outcomeTimeout outcome = "timeout"
)

// publisherDriver runs a publisher. Its methods may be called from several
// goroutines: Close while WriteSegment runs, in particular.
type publisherDriver interface {
	// WriteSegment produces one segment: it hands the client the chunks
	// in order, pausing between them, then ends the segment, and returns
	// what the client reported. ctx bounds the whole call.
	WriteSegment(ctx context.Context, chunks [][]byte, pause time.Duration) writeResult
	// Close stops publishing the way the client's own close does (it is
	// not told to finish a segment first).
	Close(ctx context.Context) (outcome, error)
	// Lost returns how many segments the client has counted as lost, and
	// false when it does not count them.
	Lost() (int64, bool)
}

// writeResult is what WriteSegment saw.
type writeResult struct {
	Outcome outcome
	Err     error // the client's error, for messages
	// Seq is the seq the client says it wrote the segment to, -1 when it
	// does not say.
	Seq int64
	// Began is when the driver began the segment; Handed holds, for each
	// chunk the client took, when it took it; Ended is when the driver
	// asked the client to end the segment (zero if it never got there).
	Began  time.Time
	Handed []time.Time
	Ended  time.Time
}

func (r writeResult) String() string {
	return fmt.Sprintf("outcome %s, seq %d, err %v", r.Outcome, r.Seq, r.Err)
}

// subscriberDriver runs a subscriber. Close may be called while Next runs.
type subscriberDriver interface {
	// Next returns the next segment, read to its end, or what the client
	// reported instead. ctx bounds the whole call.
	Next(ctx context.Context) readResult
	// Close stops the subscriber the way the client's own stop does.
	Close() error
}

// readResult is what Next saw.
type readResult struct {
	Outcome outcome
	Err     error
	// Seq is the segment's seq as the client reports it (-1 when none).
	Seq int64
	// Opened is when the client handed the segment over; Chunks are its
	// bytes as they reached the application, with arrival times.
	Opened time.Time
	Chunks []chunk
	// Done is when Next returned.
	Done time.Time
}

// chunk is part of a segment body and when the application got it.
type chunk struct {
	Data []byte
	At   time.Time
}

// Body joins the chunks.
func (r readResult) Body() string {
	var b []byte
	for _, c := range r.Chunks {
		b = append(b, c.Data...)
	}
	return string(b)
}

// bytesBy returns when the application had received n bytes of the body
// (zero time if it never had).
func (r readResult) bytesBy(n int) time.Time {
	got := 0
	for _, c := range r.Chunks {
		got += len(c.Data)
		if got >= n {
			return c.At
		}
	}
	return time.Time{}
}

func (r readResult) String() string {
	return fmt.Sprintf("outcome %s, seq %d, %d bytes, err %v", r.Outcome, r.Seq, len(r.Body()), r.Err)
}
