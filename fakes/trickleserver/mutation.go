package trickleserver

import (
	"fmt"
	"strings"
	"time"
)

// Mutation is a planted bug: it breaks exactly one protocol requirement and
// leaves everything else as the real server does it. The conformance suite
// proves it can catch each one by running against a fake that carries it.
type Mutation string

const (
	// MutationEvicted404 answers 404 where the real server answers 470 to a
	// GET or HEAD of a segment older than the channel's latest (evicted),
	// including 470 Status faults on such seqs: the status is changed, the
	// text body and headers are kept. Clients then take a gone segment for a
	// gone channel. 470s for segments too far ahead are left alone.
	MutationEvicted404 Mutation = "evicted-404"
	// MutationBufferWholeSegment holds back every GET /{channel}/{seq}
	// response, headers included, until the real server has finished it,
	// so a segment reaches readers only once it is complete instead of
	// streaming while it is written.
	MutationBufferWholeSegment Mutation = "buffer-whole-segment"
	// MutationIgnoreSeqAliases answers 400 to GET, HEAD and POST on seq -1
	// and -2, as a server that knows only absolute sequence numbers would.
	MutationIgnoreSeqAliases Mutation = "ignore-seq-aliases"
	// MutationNoLatestHeader removes Lp-Trickle-Latest from segment GET
	// and HEAD responses that serve data (status 200); 470s and
	// GET /{channel}/next keep it.
	MutationNoLatestHeader Mutation = "no-latest-header"
	// MutationLateFirstByte holds the first body byte of every GET that
	// serves segment data (status 200) for LateFirstByteDelay, headers
	// included since they travel with it.
	MutationLateFirstByte Mutation = "late-first-byte"
)

// LateFirstByteDelay is how long MutationLateFirstByte holds a response:
// well past the suite's 250 ms streaming margin, yet short enough that a
// spec making a few reads in a row stays inside a 3 s idle timeout.
const LateFirstByteDelay = 400 * time.Millisecond

// AllMutations lists every known mutation.
func AllMutations() []Mutation {
	return []Mutation{
		MutationEvicted404,
		MutationBufferWholeSegment,
		MutationIgnoreSeqAliases,
		MutationNoLatestHeader,
		MutationLateFirstByte,
	}
}

// Description says in one line what the mutation breaks, "" for an unknown
// one.
func (m Mutation) Description() string {
	switch m {
	case MutationEvicted404:
		return "answer 404 instead of 470 for evicted segments (older than latest)"
	case MutationBufferWholeSegment:
		return "send GET responses only once the segment is complete (no streaming)"
	case MutationIgnoreSeqAliases:
		return "answer 400 to seq -1 and -2 on GET and POST"
	case MutationNoLatestHeader:
		return "strip Lp-Trickle-Latest from segment data responses (200)"
	case MutationLateFirstByte:
		return fmt.Sprintf("hold the first byte of every segment GET for %v", LateFirstByteDelay)
	}
	return ""
}

// Valid reports whether m is a known mutation.
func (m Mutation) Valid() bool { return m.Description() != "" }

// ParseMutations reads a comma-separated list of mutation names; blanks
// around names and empty items are ignored.
func ParseMutations(list string) ([]Mutation, error) {
	var out []Mutation
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		m := Mutation(name)
		if !m.Valid() {
			return nil, fmt.Errorf("unknown mutation %q (known: %s)", name, mutationNames())
		}
		out = append(out, m)
	}
	return out, nil
}

func mutationNames() string {
	var names []string
	for _, m := range AllMutations() {
		names = append(names, string(m))
	}
	return strings.Join(names, ", ")
}

// mutationSet is the fixed set of mutations a Server carries; it is read
// concurrently and never written after New.
type mutationSet map[Mutation]bool

func (ms mutationSet) has(m Mutation) bool { return ms[m] }
