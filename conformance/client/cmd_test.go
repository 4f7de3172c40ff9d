package client_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/conformance/harness"
)

// These tests run the client suite in command mode (driver_cmd.go) against
// the reference third-party clients in testdata/, POSIX sh scripts around
// curl: the scripts must pass every run spec, and broken copies of them
// must fail the requirement they break. Ginkgo runs one suite per process,
// so each run is a child process: this test binary again, running only
// TestClientConformance with TRICKLE_PUBLISHER_CMD and
// TRICKLE_SUBSCRIBER_CMD set (what `gotrickle conformance client
// --publisher-cmd … --subscriber-cmd …` sets too).

// Requirements the run specs check, and those only call specs check (which
// command mode reports unsupported).
var (
	runIDs = []string{"TRK-CLI-001", "TRK-CLI-002", "TRK-CLI-003", "TRK-CLI-006", "TRK-CLI-009", "TRK-CLI-010",
		"TRK-CLI-011", "TRK-CLI-012", "TRK-CLI-013", "TRK-CLI-014", "TRK-CLI-015", "TRK-CLI-016", "TRK-CLI-018",
		"TRK-CLI-019", "TRK-CLI-020", "TRK-CLI-021", "TRK-CLI-022", "TRK-CLI-023", "TRK-CLI-024", "TRK-CLI-025",
		"TRK-CLI-026", "TRK-CLI-027", "TRK-CLI-028", "TRK-CLI-029"}
	callOnlyIDs = []string{"TRK-CLI-004", "TRK-CLI-005", "TRK-CLI-007", "TRK-CLI-008", "TRK-CLI-017", "TRK-CLI-030"}
)

// needCommandTools skips the test where the reference scripts cannot run.
func needCommandTools(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the command-mode runs start the client suite again in child processes")
	}
	for _, tool := range []string{"/bin/sh", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: the reference clients of the command-mode tests (testdata/*.sh) need it", tool)
		}
	}
}

// script returns the command template that runs testdata/name with args.
func script(t *testing.T, path, args string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return "sh " + abs + " " + args
}

// mutate writes a copy of testdata/name with each old string replaced by
// its new one (each must occur exactly once) and returns its path.
func mutate(t *testing.T, name string, pairs ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(pairs); i += 2 {
		if n := strings.Count(s, pairs[i]); n != 1 {
			t.Fatalf("mutating %s: %q occurs %d times, want once", name, pairs[i], n)
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(s), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// runCommandMode runs the client suite in a child process with the given
// templates ("": that role is not tested) and ginkgo label filter, and
// returns its results.
func runCommandMode(t *testing.T, pub, sub, labelFilter string) *harness.Results {
	t.Helper()
	dir := t.TempDir()
	args := []string{"-test.run=^TestClientConformance$", "-test.count=1", "-test.timeout=8m"}
	if labelFilter != "" {
		args = append(args, "-ginkgo.label-filter="+labelFilter)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), "TRICKLE_PUBLISHER_CMD="+pub, "TRICKLE_SUBSCRIBER_CMD="+sub,
		"TRICKLE_REPORT_DIR="+dir, "TRICKLE_DISABLE=", "TRICKLE_LONG=", "TRICKLE_STRICT=")
	start := time.Now()
	out, runErr := cmd.CombinedOutput()
	t.Logf("command-mode run (%s) took %v", labelFilter, time.Since(start).Round(time.Millisecond))
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatalf("the command-mode run wrote no results.json (%v, %v); its output ended with:\n%s", runErr, err, tail(out, 60))
	}
	var res harness.Results
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the command-mode run's output ended with:\n%s", tail(out, 60))
		}
	})
	return &res
}

func tail(b []byte, lines int) string {
	l := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(l[max(0, len(l)-lines):], "\n")
}

func requirement(t *testing.T, res *harness.Results, id string) harness.RequirementResult {
	t.Helper()
	for _, q := range res.Requirements {
		if q.ID == id {
			return q
		}
	}
	t.Fatalf("results.json has no %s", id)
	return harness.RequirementResult{}
}

// isRunSpec tells the run specs from the call specs by their containers.
func isRunSpec(name string) bool {
	return strings.HasPrefix(name, "Publisher run ") || strings.HasPrefix(name, "Subscriber run ")
}

func TestCommandModeReferenceClients(t *testing.T) {
	needCommandTools(t)
	pub := script(t, "testdata/publisher.sh", "{url} {seg_dir}")
	sub := script(t, "testdata/subscriber.sh", "{url} {file} {start}")
	res := runCommandMode(t, pub, sub, "")
	if res.Verdict != "pass" {
		t.Errorf("verdict %s, want pass: %v", res.Verdict, res.Reasons)
	}
	if !strings.Contains(res.Target, "publisher command") || !strings.Contains(res.Target, "subscriber command") {
		t.Errorf("target %q does not name the commands", res.Target)
	}
	for _, q := range res.Requirements {
		want := harness.StatusPass
		if slices.Contains(callOnlyIDs, q.ID) {
			want = harness.StatusUnsupported
		} else if !slices.Contains(runIDs, q.ID) {
			t.Errorf("%s is in neither list of this test", q.ID)
		}
		if q.Status != want {
			t.Errorf("%s: %s, want %s (%s)", q.ID, q.Status, want, q.Detail)
		}
		for _, s := range q.Specs {
			switch {
			case !isRunSpec(s.Name):
				if s.Status != harness.StatusUnsupported {
					t.Errorf("call spec %q: %s, want unsupported in command mode", s.Name, s.Status)
				}
			case s.Status == harness.StatusSkip && strings.Contains(s.Detail, "TRICKLE_LONG"):
			case s.Status == harness.StatusUnsupported && strings.Contains(s.Name, "unconfigured"):
				// The template passes {start}, so the default cannot be seen.
			case s.Status != harness.StatusPass:
				t.Errorf("run spec %q: %s, want pass: %s", s.Name, s.Status, s.Detail)
			}
		}
	}
}

func TestCommandModeSubscriberWithoutStartAndNoPublisher(t *testing.T) {
	needCommandTools(t)
	sub := script(t, "testdata/subscriber.sh", "{url} {file}")
	filter := "ID:TRK-CLI-001 || ID:TRK-CLI-015 || ID:TRK-CLI-020 || ID:TRK-CLI-026"
	res := runCommandMode(t, "", sub, filter)
	if res.Verdict != "pass" {
		t.Errorf("verdict %s, want pass: %v", res.Verdict, res.Reasons)
	}
	want := map[string]harness.Status{
		"TRK-CLI-001": harness.StatusSkip,        // no publisher command
		"TRK-CLI-015": harness.StatusPass,        // its default start, -1
		"TRK-CLI-020": harness.StatusUnsupported, // needs {start}
		"TRK-CLI-026": harness.StatusPass,
	}
	for id, st := range want {
		if q := requirement(t, res, id); q.Status != st {
			t.Errorf("%s: %s, want %s (%s)", id, q.Status, st, q.Detail)
		}
	}
	if q := requirement(t, res, "TRK-CLI-001"); !strings.Contains(q.Detail, "no publisher command") {
		t.Errorf("TRK-CLI-001 should say that no publisher command was given: %q", q.Detail)
	}
	for _, s := range requirement(t, res, "TRK-CLI-015").Specs {
		configured := strings.Contains(s.Name, "configured -") || strings.Contains(s.Name, "configured 3")
		if configured && s.Status != harness.StatusUnsupported {
			t.Errorf("%q: %s, want unsupported without {start}", s.Name, s.Status)
		}
	}
}

func TestCommandModeCatchesBrokenClients(t *testing.T) {
	needCommandTools(t)
	cases := []struct {
		name     string
		pub, sub []string // script name, then old/new pairs; nil: the reference
		id       string   // the requirement the bug breaks
	}{
		{name: "publisher starts at seq 1", id: "TRK-CLI-002",
			pub: []string{"publisher.sh", "seq=0 i=0", "seq=1 i=0"}},
		{name: "publisher re-POSTs a segment after bytes of it were sent", id: "TRK-CLI-009",
			pub: []string{"publisher.sh", `if [ "${sent:-0}" = 0 ] && [ "$tries"`, `if [ "$tries"`}},
		{name: "publisher sends no Content-Type", id: "TRK-CLI-003",
			pub: []string{"publisher.sh", "-H 'Content-Type: video/mp2t' ", ""}},
		{name: "subscriber skips a seq after each segment", id: "TRK-CLI-016",
			sub: []string{"subscriber.sh", "seq=$((${k:-$seq} + 1))", "seq=$((${k:-$seq} + 2))"}},
		{name: "subscriber ignores Lp-Trickle-Closed", id: "TRK-CLI-023",
			sub: []string{"subscriber.sh", `[ -n "$(header Lp-Trickle-Closed)" ]`, "false"}},
		{name: "subscriber writes each segment only once it has ended", id: "TRK-CLI-018",
			sub: []string{"subscriber.sh",
				`"$url/$seq" >>"$out" &`, `"$url/$seq" >"$tmp/b" &`,
				"\tpid=\n", "\tpid=\n\tcat \"$tmp/b\" >>\"$out\"\n"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			pubPath, subPath := "testdata/publisher.sh", "testdata/subscriber.sh"
			if c.pub != nil {
				pubPath = mutate(t, c.pub[0], c.pub[1:]...)
			}
			if c.sub != nil {
				subPath = mutate(t, c.sub[0], c.sub[1:]...)
			}
			res := runCommandMode(t, script(t, pubPath, "{url} {seg_dir}"), script(t, subPath, "{url} {file} {start}"), "ID:"+c.id)
			q := requirement(t, res, c.id)
			if q.Status != harness.StatusFail {
				t.Fatalf("%s: %s, want fail: the suite missed the bug", c.id, q.Status)
			}
			if q.Level == harness.Must && res.Verdict != "fail" {
				t.Errorf("verdict %s with a MUST failing", res.Verdict)
			}
			t.Logf("%s fails as it should: %s", c.id, q.Detail)
		})
	}
}
