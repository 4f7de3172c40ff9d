package trickle

import (
	"errors"
	"fmt"
)

// Protocol conditions reported by Publisher and Subscriber. Test with
// errors.Is: the returned errors wrap these with detail.
var (
	// ErrStreamNotFound: the server does not know the channel (404), and it
	// was never seen by this client.
	ErrStreamNotFound = errors.New("trickle: stream not found")
	// ErrStreamClosed: the channel has ended (Lp-Trickle-Closed, or a 404 for
	// a channel this client had already read or written). It is the end of
	// the whole stream; io.EOF only ever means the end of one segment.
	ErrStreamClosed = errors.New("trickle: stream closed")
	// ErrSegmentGone: the server no longer (or does not yet) hold the
	// requested segment (470).
	ErrSegmentGone = errors.New("trickle: segment not available")
	// ErrSegmentConflict: the server refused a POST because that segment is
	// already written or being written by someone else (409).
	ErrSegmentConflict = errors.New("trickle: segment already written")
	// ErrSegmentTooLarge: the server cut a segment at its size limit (413).
	ErrSegmentTooLarge = errors.New("trickle: segment too large")
	// ErrPartialSegment: a segment failed after some of its bytes were sent;
	// the publisher closed it on the server and moved on.
	ErrPartialSegment = errors.New("trickle: segment failed part-way")
	// ErrClosed: the Publisher or Subscriber was closed by its owner.
	ErrClosed = errors.New("trickle: client closed")
)

// HTTPError is an unexpected HTTP status from a trickle server.
type HTTPError struct {
	Method string
	URL    string
	Code   int
	Body   string // the first bytes of the body, for the message
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("trickle: %s %s: status %d: %s", e.Method, e.URL, e.Code, e.Body)
}

// Temporary reports whether a retry may succeed (5xx and 429).
func (e *HTTPError) Temporary() bool { return e.Code >= 500 || e.Code == 429 }
