package harness

import (
	"strings"

	"github.com/onsi/ginkgo/v2/types"
)

// Status is a spec's or requirement's outcome. Statuses are ordered; a
// requirement takes the worst status of its specs.
type Status int

// Statuses, least to worst.
const (
	StatusNotRun      Status = iota // filtered out of this run
	StatusDisabled                  // its category was switched off
	StatusSkip                      // skipped for another reason (e.g. a setting too long to test)
	StatusUnsupported               // the implementation lacks an optional feature
	StatusPass
	StatusFail
	StatusError // the harness itself broke
)

var statusNames = [...]string{"not-run", "disabled", "skip", "unsupported", "pass", "fail", "error"}

func (s Status) String() string { return statusNames[s] }

// MarshalText writes the status name.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a status name.
func (s *Status) UnmarshalText(b []byte) error {
	for i, n := range statusNames {
		if n == string(b) {
			*s = Status(i)
			return nil
		}
	}
	*s = StatusError
	return nil
}

// specStatus maps a ginkgo spec report to a Status and a one-line detail.
func specStatus(r types.SpecReport) (Status, string) {
	msg := strings.TrimSpace(r.Failure.Message)
	switch {
	case r.State == types.SpecStatePassed:
		return StatusPass, ""
	case r.State == types.SpecStateSkipped && msg == "":
		return StatusNotRun, ""
	case r.State == types.SpecStatePending:
		return StatusSkip, "pending: not implemented yet"
	case r.State == types.SpecStateSkipped:
		switch {
		case strings.HasPrefix(msg, unsupportedPrefix):
			return StatusUnsupported, strings.TrimPrefix(msg, unsupportedPrefix)
		case strings.HasPrefix(msg, disabledPrefix):
			return StatusDisabled, strings.TrimPrefix(msg, disabledPrefix)
		}
		return StatusSkip, msg
	case r.State == types.SpecStateFailed && strings.HasPrefix(msg, harnessPrefix):
		return StatusError, strings.TrimPrefix(msg, harnessPrefix)
	case r.State == types.SpecStateFailed, r.State == types.SpecStateTimedout:
		return StatusFail, firstLine(msg)
	}
	// Panics, aborts and interrupts are the harness's fault, not the target's.
	return StatusError, r.State.String() + ": " + firstLine(msg)
}

// firstLine makes a failure message fit one report cell: gomega puts the
// caller's description first and "Expected <actual> to be <op> <expected>"
// on the lines after it, so the lines are joined, not cut, and whitespace
// is collapsed.
func firstLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:297] + "..."
	}
	return s
}
