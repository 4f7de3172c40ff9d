// Package selftest proves that the server conformance suite catches bugs:
// it runs the suite, as a separate black-box binary, against the fake
// server with one planted bug at a time (a mutation) and checks that the
// suite fails exactly the requirement the bug breaks, and nothing outside a
// declared set of requirements that depend on the same behaviour. A run
// against the unmutated fake must pass cleanly in strict mode.
//
// It needs the go tool (it builds the suite binary) and takes a minute or
// two, so it runs when TRICKLE_SELFTEST=1 (make conformance sets it).
package selftest

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
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
	bin := buildSuite(t)

	t.Run("the unmutated fake passes the suite in strict mode", func(t *testing.T) {
		t.Parallel()
		res := runSuite(t, bin, nil)
		if res.Verdict != "pass" || len(res.Failed()) > 0 {
			t.Fatalf("baseline failed: %v %v", res.Failed(), res.Reasons)
		}
	})
	for _, p := range plants {
		t.Run(fmt.Sprintf("%s makes the suite fail %s", p.mutation, p.target), func(t *testing.T) {
			t.Parallel()
			res := runSuite(t, bin, []trickleserver.Mutation{p.mutation})
			if got := res.Status(p.target); got != harness.StatusFail {
				t.Errorf("%s: status %v, want fail", p.target, got)
			}
			allowed := append([]string{p.target}, p.mayAlso...)
			for _, id := range res.Failed() {
				if !slices.Contains(allowed, id) {
					t.Errorf("%s also failed %s, which is outside its declared set (%s)", p.mutation, id, p.why)
				}
			}
			if res.Verdict != "fail" {
				t.Errorf("verdict %q, want fail", res.Verdict)
			}
			t.Logf("%s failed %v", p.mutation, res.Failed())
		})
	}
}

// buildSuite compiles the server suite into a test binary once.
func buildSuite(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "server.test")
	cmd := exec.Command("go", "test", "-c", "-o", bin, "../server")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the server suite: %v\n%s", err, out)
	}
	return bin
}

// runSuite serves a fake with the given mutations on loopback, runs the
// suite binary against it in strict mode and returns its results.json.
func runSuite(t *testing.T, bin string, muts []trickleserver.Mutation) *harness.Results {
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

	dir := t.TempDir()
	cmd := exec.Command(bin, "-test.count=1")
	cmd.Env = append(os.Environ(),
		"TRICKLE_SERVER_URL="+hs.URL+"/",
		"TRICKLE_STRICT=1",
		"TRICKLE_REPORT_DIR="+dir,
		"TRICKLE_IDLE_TIMEOUT=3s",
		"TRICKLE_IDLE_SLACK=2s",
		"TRICKLE_KEEPALIVE=1s",
	)
	out, err := cmd.CombinedOutput()
	b, rerr := os.ReadFile(filepath.Join(dir, "results.json"))
	if rerr != nil {
		t.Fatalf("suite wrote no results (exit %v): %v\n%s", err, rerr, tail(out))
	}
	var res harness.Results
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	if (err == nil) != (res.Verdict == "pass") {
		t.Fatalf("exit status %v disagrees with verdict %q", err, res.Verdict)
	}
	for _, q := range res.Requirements {
		if q.Status == harness.StatusError {
			t.Errorf("harness error on %s: %s", q.ID, q.Detail)
		}
	}
	return &res
}

func tail(b []byte) string {
	s := string(b)
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return strings.TrimSpace(s)
}
