package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/conformance/harness"
	"github.com/gotrickle/gotrickle/docs/spec"
)

// gotrickleCmd runs this test binary as the gotrickle command in a child
// process and returns its output and exit status.
func gotrickleCmd(t *testing.T, timeout time.Duration, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), "GOTRICKLE_TEST_AS_MAIN=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee) && ctx.Err() == nil:
		return string(out), ee.ExitCode()
	}
	t.Fatalf("gotrickle %s: %v\n%s", strings.Join(args, " "), err, out)
	return "", -1
}

func readResults(t *testing.T, dir string) *harness.Results {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res harness.Results
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return &res
}

// The catalogue is what the suites declare, listed by a dry run of the
// installed command; it must agree with the spec documents both ways.
func TestEverySuiteCoversItsSpecDocumentExactly(t *testing.T) {
	for _, c := range []struct{ suite, doc, prefix string }{
		{"server", spec.Trickle, "TRK-SRV-"},
		{"client", spec.Trickle, "TRK-CLI-"},
		{"processor", spec.ProcessorAPI, "PROC-"},
	} {
		t.Run("the "+c.suite+" suite has a spec for every "+c.prefix+" requirement and no other", func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			out, code := gotrickleCmd(t, time.Minute, "conformance", c.suite, "--dry-run", "--report-dir", dir)
			if code != 0 {
				t.Fatalf("dry run exit %d:\n%s", code, out)
			}
			res := readResults(t, dir)
			want := harness.RequirementsWithPrefix(c.doc, c.prefix)
			if len(res.Requirements) != len(want) {
				t.Errorf("catalogue lists %d requirements, the document %d", len(res.Requirements), len(want))
			}
			for i, q := range res.Requirements {
				if i < len(want) && q.ID != want[i].ID {
					t.Errorf("catalogue row %d is %s, the document's %s", i, q.ID, want[i].ID)
				}
				if len(q.Specs) == 0 {
					t.Errorf("%s has no spec", q.ID)
				}
				if q.Status != harness.StatusNotRun {
					t.Errorf("%s is %v after a dry run", q.ID, q.Status)
				}
			}
			if len(res.Unlabelled) > 0 {
				t.Errorf("specs without an ID: %v", res.Unlabelled)
			}
			if !strings.Contains(out, want[0].ID) || !strings.Contains(out, "requirements in the "+c.suite+" suite") {
				t.Errorf("the listing lacks the catalogue:\n%s", out)
			}
		})
	}
}

func TestConformanceRunsASuiteAndWritesEveryReport(t *testing.T) {
	dir := t.TempDir()
	out, code := gotrickleCmd(t, 2*time.Minute, "conformance", "server", "--label-filter", "ID:TRK-SRV-001 || ID:TRK-SRV-002",
		"--report-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, f := range []string{"junit.xml", "results.json", "summary.md", "summary.html"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	res := readResults(t, dir)
	if res.Verdict != "pass" || res.Status("TRK-SRV-001") != harness.StatusPass || res.Status("TRK-SRV-003") != harness.StatusNotRun {
		t.Errorf("verdict %s, SRV-001 %v, SRV-003 %v", res.Verdict, res.Status("TRK-SRV-001"), res.Status("TRK-SRV-003"))
	}
	if !strings.Contains(out, "PASS") {
		t.Errorf("no verdict on the console:\n%s", out)
	}
}

func TestConformanceExitStatusesSayWhatHappened(t *testing.T) {
	// A server that answers every request with an empty 200 is reachable
	// but no trickle server.
	wrong := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(wrong.Close) // the subtests run in parallel, after this function returns
	cases := []struct {
		name string
		args []string
		want int
	}{
		{"a server that is not there is reported as the harness unable to run (3)",
			[]string{"conformance", "server", "--url", "http://127.0.0.1:1/", "--label-filter", "ID:TRK-SRV-001", "--report-dir", "none"}, 3},
		{"a failing requirement fails the run with status 1",
			[]string{"conformance", "server", "--url", wrong.URL + "/", "--label-filter", "ID:TRK-SRV-001", "--report-dir", "none"}, 1},
		{"a filter that selects nothing fails the run", []string{"conformance", "client", "--label-filter", "ID:NOPE-001", "--report-dir", "none"}, 1},
		{"an unknown flag is a usage error", []string{"conformance", "processor", "--bogus"}, 2},
		{"a suite that does not exist is a usage error", []string{"conformance", "tracker"}, 2},
		{"a bad setting is a harness error (3), not a verdict", []string{"conformance", "processor", "--reaction", "soon",
			"--label-filter", "ID:PROC-007", "--report-dir", "none"}, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out, code := gotrickleCmd(t, 2*time.Minute, c.args...)
			if code != c.want {
				t.Fatalf("exit %d, want %d:\n%s", code, c.want, out)
			}
		})
	}
}
