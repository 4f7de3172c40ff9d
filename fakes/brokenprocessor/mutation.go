package brokenprocessor

import (
	"fmt"
	"strings"
)

// Mutation is a planted bug: a processor that breaks one requirement of
// docs/spec/processor-api.md and behaves as gotrickle's processor in every
// other respect.
type Mutation string

const (
	// MutationNone plants nothing.
	MutationNone Mutation = ""
	// MutationParamsError500 answers 500 where /stream/params refuses a
	// body that is not valid (400 "Parameter update failed: …"), as
	// PyTrickle does. Other answers, 413 and "No active stream to update"
	// included, are left alone.
	MutationParamsError500 Mutation = "params-error-500"
	// MutationNoHeartbeat never lets a heartbeat event reach the events
	// channel: its segment is dropped and the following events move down
	// one seq, so the channel stays gap-free.
	MutationNoHeartbeat Mutation = "no-heartbeat"
	// MutationIgnoreMaxFramerate drops max_framerate from the params of
	// /stream/start and /stream/params after pkg/api has validated them, so
	// the cap stays at the default 24 fps (invalid values are still
	// refused; the control channel's max_framerate still applies).
	MutationIgnoreMaxFramerate Mutation = "ignore-max-framerate"
	// MutationOutputLeftOpen never ends the output channel: the
	// publisher's DELETE of it is answered 200 without reaching the
	// server.
	MutationOutputLeftOpen Mutation = "output-left-open"
	// MutationHealthOKAfterEnd keeps /health at OK after a stream ended on
	// its own (end of input, missing input or control channel), until the
	// next /stream/stop; the real processor is IDLE and takes new starts.
	MutationHealthOKAfterEnd Mutation = "health-ok-after-end"
	// MutationDropFirstSegment loses each stream's first output segment:
	// its POST is read and answered 200 without reaching the server, and
	// the later segments move down one seq, so the output still starts at
	// seq 0 and has no gap.
	MutationDropFirstSegment Mutation = "drop-first-segment"
	// MutationSkipOutputSeq publishes output segments from seq 2 on one
	// seq later than the processor meant, leaving seq 2 empty: the output
	// goes 0, 1, 3, 4, …
	MutationSkipOutputSeq Mutation = "skip-output-seq"
)

// AllMutations lists every known mutation.
func AllMutations() []Mutation {
	return []Mutation{
		MutationParamsError500,
		MutationNoHeartbeat,
		MutationIgnoreMaxFramerate,
		MutationOutputLeftOpen,
		MutationHealthOKAfterEnd,
		MutationDropFirstSegment,
		MutationSkipOutputSeq,
	}
}

// Description says in one line what the mutation breaks; "" for an
// unknown one and for MutationNone.
func (m Mutation) Description() string {
	switch m {
	case MutationParamsError500:
		return "answer /stream/params validation errors 500 instead of 400"
	case MutationNoHeartbeat:
		return "never send a heartbeat event"
	case MutationIgnoreMaxFramerate:
		return "ignore max_framerate in start params and /stream/params"
	case MutationOutputLeftOpen:
		return "never end the output channel (its DELETE is swallowed)"
	case MutationHealthOKAfterEnd:
		return "keep /health OK after the stream ended on its own, until a stop"
	case MutationDropFirstSegment:
		return "lose the first output segment of every stream"
	case MutationSkipOutputSeq:
		return "skip output seq 2 (0, 1, 3, 4, …)"
	}
	return ""
}

// Valid reports whether m is a known mutation or MutationNone.
func (m Mutation) Valid() bool { return m == MutationNone || m.Description() != "" }

// ParseMutation reads a mutation's name; blanks around it are ignored and
// "" or "none" is MutationNone.
func ParseMutation(name string) (Mutation, error) {
	name = strings.TrimSpace(name)
	if name == "none" {
		return MutationNone, nil
	}
	m := Mutation(name)
	if !m.Valid() {
		var names []string
		for _, k := range AllMutations() {
			names = append(names, string(k))
		}
		return "", fmt.Errorf("unknown mutation %q (known: %s)", name, strings.Join(names, ", "))
	}
	return m, nil
}
