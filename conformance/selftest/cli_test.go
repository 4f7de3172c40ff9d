package selftest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/conformance/harness"
)

// Exit statuses of `gotrickle conformance`.
const (
	exitPass    = 0
	exitFail    = 1
	exitHarness = 3
)

var cli struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if cli.dir != "" {
		os.RemoveAll(cli.dir)
	}
	os.Exit(code)
}

// buildCLI builds the gotrickle command once per test binary: the suites
// run as it runs them for users, a separate process that knows the
// implementation only by its URL.
func buildCLI(t *testing.T) string {
	t.Helper()
	cli.once.Do(func() {
		if cli.dir, cli.err = os.MkdirTemp("", "gotrickle-selftest-"); cli.err != nil {
			return
		}
		cli.path = filepath.Join(cli.dir, "gotrickle")
		out, err := exec.Command("go", "build", "-o", cli.path, "github.com/gotrickle/gotrickle/cmd/gotrickle").CombinedOutput()
		if err != nil {
			cli.err = fmt.Errorf("building gotrickle: %v\n%s", err, out)
		}
	})
	if cli.err != nil {
		t.Fatal(cli.err)
	}
	return cli.path
}

// suiteRun is what one `gotrickle conformance` run produced.
type suiteRun struct {
	res  *harness.Results
	exit int
	took time.Duration
}

// runConformance runs `gotrickle conformance SUITE --strict` with args and
// returns its results.json. The environment's TRICKLE_* settings are left
// out: the flags say everything. A run whose harness broke (exit 3, a
// requirement in error), or whose exit status disagrees with its verdict,
// fails the test.
func runConformance(t *testing.T, bin, suite string, args ...string) suiteRun {
	t.Helper()
	dir := t.TempDir()
	argv := append([]string{"conformance", suite, "--strict", "--no-color", "--report-dir", dir}, args...)
	cmd := exec.Command(bin, argv...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "TRICKLE_") })
	start := time.Now()
	out, err := cmd.CombinedOutput()
	run := suiteRun{took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
		run.exit = exitPass
	case errors.As(err, &ee):
		run.exit = ee.ExitCode()
	default:
		t.Fatalf("running the suite: %v", err)
	}
	if run.exit != exitPass && run.exit != exitFail {
		t.Fatalf("gotrickle %s: exit status %d (the harness could not run)\n%s", strings.Join(argv, " "), run.exit, tail(out))
	}
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatalf("the suite wrote no results (exit %d): %v\n%s", run.exit, err, tail(out))
	}
	var res harness.Results
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	run.res = &res
	if (run.exit == exitPass) != (res.Verdict == "pass") {
		t.Fatalf("exit status %d disagrees with verdict %q\n%s", run.exit, res.Verdict, tail(out))
	}
	for _, q := range res.Requirements {
		if q.Status == harness.StatusError {
			t.Errorf("harness error on %s: %s", q.ID, q.Detail)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", tail(out))
	}
	return run
}

// expectCaught applies the rules of a planted bug: its target fails,
// nothing outside target and mayAlso fails, and the verdict is fail.
func expectCaught(t *testing.T, res *harness.Results, mutation, target string, mayAlso []string, why string) {
	t.Helper()
	if got := res.Status(target); got != harness.StatusFail {
		t.Errorf("%s: status %v, want fail", target, got)
	}
	allowed := append([]string{target}, mayAlso...)
	for _, id := range res.Failed() {
		if !slices.Contains(allowed, id) {
			q := requirement(res, id)
			t.Errorf("%s also failed %s, which is outside its declared set (%s): %s", mutation, id, why, q.Detail)
		}
	}
	if res.Verdict != "fail" {
		t.Errorf("verdict %q, want fail", res.Verdict)
	}
}

// expectClean is the rule of a baseline: a pass with nothing failed.
func expectClean(t *testing.T, res *harness.Results) {
	t.Helper()
	if res.Verdict != "pass" || len(res.Failed()) > 0 {
		for _, id := range res.Failed() {
			t.Errorf("%s: %s", id, requirement(res, id).Detail)
		}
		t.Fatalf("baseline failed: %v %v", res.Failed(), res.Reasons)
	}
}

// strayFailures lists what failed in res that is not in allowed.
func strayFailures(res *harness.Results, allowed []string) []string {
	var out []string
	for _, id := range res.Failed() {
		if !slices.Contains(allowed, id) {
			out = append(out, id)
		}
	}
	return out
}

// idFilter is the label filter that selects exactly ids.
func idFilter(ids []string) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = "ID:" + id
	}
	return strings.Join(parts, " || ")
}

// passedAgain takes the requirements among ids that passed in retry, the
// same target run again on just those, as passed in res, and returns them.
// The processor suite judges speed and latency on the machine it runs on,
// and a self-test runs it under load beside other runs: a requirement
// outside a run's declared set that fails once but passes when run again
// by itself (other runs may still share the machine) is the machine's
// doing, while a planted bug or a broken baseline fails both times. A
// run's verdict is worked out again afterwards.
func passedAgain(res, retry *harness.Results, ids []string) []string {
	var again []string
	for i := range res.Requirements {
		q := &res.Requirements[i]
		if !slices.Contains(ids, q.ID) || q.Status != harness.StatusFail || retry.Status(q.ID) != harness.StatusPass {
			continue
		}
		again = append(again, q.ID)
		if res.Counts != nil {
			res.Counts[q.Status.String()]--
			res.Counts[harness.StatusPass.String()]++
		}
		q.Status = harness.StatusPass
		q.Detail = "passed when run again by itself; first run: " + q.Detail
	}
	res.Reasons = slices.DeleteFunc(res.Reasons, func(r string) bool {
		return slices.ContainsFunc(again, func(id string) bool { return strings.HasPrefix(r, id+" ") })
	})
	if len(res.Reasons) == 0 {
		res.Verdict = "pass"
	}
	return again
}

func requirement(res *harness.Results, id string) harness.RequirementResult {
	for _, q := range res.Requirements {
		if q.ID == id {
			return q
		}
	}
	return harness.RequirementResult{}
}

func tail(b []byte) string {
	s := string(b)
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return strings.TrimSpace(s)
}
