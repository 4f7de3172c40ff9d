// Package selftest proves that the conformance suites catch bugs: it runs
// a suite, as users run it (the gotrickle command, a separate process that
// knows the implementation only by its URL), against a fake with one
// planted bug at a time (a mutation), and checks that the suite fails the
// requirement the bug breaks and nothing outside a declared set of
// requirements that observe the same behaviour. A run against the
// unmutated fake must pass cleanly in strict mode. The server suite is
// judged against fakes/trickleserver (this file), the processor suite
// against fakes/brokenprocessor (processor_test.go).
//
// It needs the go tool (it builds the gotrickle command) and takes several
// minutes, so it runs when TRICKLE_SELFTEST=1 (make conformance sets it).
package selftest

import (
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/conformance/harness"
	"github.com/gotrickle/gotrickle/fakes/trickleserver"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// plant is one planted bug: the requirement it breaks and the others it
// may also break because they observe the same behaviour.
type plant struct {
	mutation trickleserver.Mutation
	target   string
	mayAlso  []string
	why      string // why the extra IDs are allowed to fail
}

var plants = []plant{
	{
		mutation: trickleserver.MutationEvicted404,
		target:   "TRK-SRV-049",
		mayAlso:  []string{"TRK-SRV-045"},
		why:      "SRV-045 compares HEAD with GET, evicted seqs included",
	},
	{
		mutation: trickleserver.MutationNoLatestHeader,
		target:   "TRK-SRV-034",
		mayAlso:  []string{"TRK-SRV-032", "TRK-SRV-044", "TRK-SRV-045"},
		why:      "they check Lp-Trickle-Latest on 200 answers too: empty segments, released readers, HEAD",
	},
	{
		mutation: trickleserver.MutationIgnoreSeqAliases,
		target:   "TRK-SRV-035",
		mayAlso: []string{"TRK-SRV-036", "TRK-SRV-021", "TRK-SRV-010", "TRK-SRV-013", "TRK-SRV-014",
			"TRK-SRV-017", "TRK-SRV-050", "TRK-SRV-051", "TRK-SRV-053", "TRK-SRV-060"},
		why: "-1 and -2 are part of what these check: a new or re-created channel starts at -1 = 0, " +
			"waiting readers and writers ask for -1, the changefeed is probed at -2",
	},
	{
		mutation: trickleserver.MutationBufferWholeSegment,
		target:   "TRK-SRV-042",
		mayAlso: []string{"TRK-SRV-018", "TRK-SRV-027", "TRK-SRV-030", "TRK-SRV-031", "TRK-SRV-034",
			"TRK-SRV-035", "TRK-SRV-036", "TRK-SRV-037", "TRK-SRV-038", "TRK-SRV-040", "TRK-SRV-041",
			"TRK-SRV-046", "TRK-SRV-050", "TRK-SRV-055", "TRK-SRV-059"},
		why: "these observe the server's progress through a reader that gets bytes while the POST is still open",
	},
	{
		mutation: trickleserver.MutationLateFirstByte,
		target:   "TRK-SRV-042",
		why:      "only the timing of the first byte changes",
	},
}

func TestMutationsAreCaughtByTheServerSuite(t *testing.T) {
	if os.Getenv("TRICKLE_SELFTEST") != "1" {
		t.Skip("set TRICKLE_SELFTEST=1 to run the suite against planted bugs (make conformance does)")
	}
	bin := buildCLI(t)

	t.Run("the unmutated fake passes the suite in strict mode", func(t *testing.T) {
		t.Parallel()
		expectClean(t, runServerSuite(t, bin, nil))
	})
	for _, p := range plants {
		t.Run(fmt.Sprintf("%s makes the suite fail %s", p.mutation, p.target), func(t *testing.T) {
			t.Parallel()
			res := runServerSuite(t, bin, []trickleserver.Mutation{p.mutation})
			expectCaught(t, res, string(p.mutation), p.target, p.mayAlso, p.why)
			t.Logf("%s failed %v", p.mutation, res.Failed())
		})
	}
}

// runServerSuite serves a fake with the given mutations on loopback, runs
// the server suite against it in strict mode and returns its results.
func runServerSuite(t *testing.T, bin string, muts []trickleserver.Mutation) *harness.Results {
	t.Helper()
	fake := trickleserver.New(trickleserver.Config{
		Trickle: trickle.ServerConfig{
			Autocreate:         true,
			IdleTimeout:        3 * time.Second,
			SweepInterval:      100 * time.Millisecond,
			FirstByteKeepalive: time.Second,
			Logger:             slog.New(slog.NewTextHandler(io.Discard, nil)),
		},
		Mutations: muts,
	})
	hs := httptest.NewServer(fake)
	defer func() { fake.Close(); hs.Close() }()
	return runConformance(t, bin, "server", "--url", hs.URL+"/",
		"--idle-timeout", "3s", "--idle-slack", "2s", "--keepalive", "1s").res
}
