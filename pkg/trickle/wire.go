// Package trickle implements the trickle protocol: live media carried as a
// sequence of numbered segments, each one streamed with a single HTTP POST by
// a publisher and fanned out, while it is still being written, to any number
// of HTTP GET subscribers.
//
// The package holds the three roles: Server (an http.Handler), Publisher and
// Subscriber. It is wire-compatible with go-livepeer's trickle package; the
// requirements it meets are numbered in docs/spec/trickle.md.
//
// The package is pure Go and builds with CGO_ENABLED=0.
package trickle

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Header names used on the wire.
const (
	// HeaderSeq carries the sequence number a response serves or a POST wrote.
	// On a 470 answer it echoes the requested sequence number.
	HeaderSeq = "Lp-Trickle-Seq"
	// HeaderLatest carries the server's next sequence number to be written.
	HeaderLatest = "Lp-Trickle-Latest"
	// HeaderClosed is present (value "terminated") when the channel has ended.
	HeaderClosed = "Lp-Trickle-Closed"
	// HeaderReset on a POST asks the server to close every older segment.
	HeaderReset = "Lp-Trickle-Reset"
	// HeaderExpectContent on POST /{channel} names the channel's MIME type.
	HeaderExpectContent = "Expect-Content"
)

// ClosedValue is the value servers put in HeaderClosed.
const ClosedValue = "terminated"

// StatusSequenceNonexistent (470) answers a request for a segment that is no
// longer, or not yet, available. HeaderLatest tells the client where to go.
const StatusSequenceNonexistent = 470

// Special sequence numbers.
const (
	// SeqNext (-1) names the next segment to start.
	SeqNext int64 = -1
	// SeqCurrent (-2) names the segment being written now, or the last one
	// written, served from its first byte.
	SeqCurrent int64 = -2
)

// MaxSeq is the largest sequence number accepted on the wire. It keeps
// seq+1 arithmetic far from overflow and fits a JavaScript number exactly.
const MaxSeq int64 = 1<<53 - 1

// MaxChannelNameLen is the longest channel name accepted, in bytes.
const MaxChannelNameLen = 256

// ContentTypeMPEGTS is the MIME type of media segments. Servers may spell it
// with other letter cases (go-livepeer sends "video/MP2T"); compare with
// strings.EqualFold.
const ContentTypeMPEGTS = "video/mp2t"

var (
	errNameEmpty   = errors.New("channel name is empty")
	errNameTooLong = fmt.Errorf("channel name is longer than %d bytes", MaxChannelNameLen)
	errNameDots    = errors.New(`channel name may not be "." or ".."`)
	errNameChars   = errors.New("channel name may only hold A-Z a-z 0-9 . _ ~ -")
	errSeqSyntax   = errors.New("sequence number is not a decimal integer")
	errSeqRange    = errors.New("sequence number is out of range")
)

// ValidChannelName reports why name cannot name a channel, or nil if it can.
// Names are 1 to 256 bytes of unreserved URL characters ([A-Za-z0-9._~-]),
// and not "." or "..", so they never need escaping and never alias a path.
func ValidChannelName(name string) error {
	switch {
	case name == "":
		return errNameEmpty
	case len(name) > MaxChannelNameLen:
		return errNameTooLong
	case name == "." || name == "..":
		return errNameDots
	}
	for i := 0; i < len(name); i++ {
		if !isUnreserved(name[i]) {
			return errNameChars
		}
	}
	return nil
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '~' || c == '-'
}

// ParseSeq parses a sequence number from a URL path element. Like
// go-livepeer it accepts a leading '+' and leading zeros; it rejects
// anything that is not a decimal integer in [-2, MaxSeq]. Callers decide
// which negative values a method allows.
func ParseSeq(s string) (int64, error) {
	if s == "" || len(s) > 24 {
		if s == "" {
			return 0, errSeqSyntax
		}
		return 0, errSeqRange
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, errSeqRange
		}
		return 0, errSeqSyntax
	}
	if n < SeqCurrent || n > MaxSeq {
		return 0, errSeqRange
	}
	return n, nil
}

// headerSeq reads a sequence-number header; ok is false when it is missing,
// malformed or outside [SeqCurrent, MaxSeq]. The range check keeps a
// server's wild value from overflowing the clients' seq+1 (found by
// FuzzSubscriberAnswers: Lp-Trickle-Seq 9223372036854775807 made a
// subscriber ask for seq -9223372036854775808).
func headerSeq(h http.Header, name string) (int64, bool) {
	v := strings.TrimSpace(h.Get(name))
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < SeqCurrent || n > MaxSeq {
		return 0, false
	}
	return n, true
}

func formatSeq(n int64) string { return strconv.FormatInt(n, 10) }
