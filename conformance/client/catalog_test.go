package client_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gotrickle/gotrickle/conformance/harness"
	"github.com/gotrickle/gotrickle/docs/spec"
)

// These plain tests check that the conformance suites cover the whole
// spec: every requirement ID of docs/spec/trickle.md with the suite's
// prefix is the label of at least one spec (harness.Req("ID", ...)) in the
// suite's *.go files, and no label names an ID the spec lacks.

var reqLabel = regexp.MustCompile(`harness\.Req\(\s*"((?:TRK-[A-Z]+|PROC)-\d{3})"`)

// labelledIDs returns the requirement IDs labelled in dir's *.go files.
func labelledIDs(t *testing.T, dir string) map[string]int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no *.go files in %s", dir)
	}
	ids := map[string]int{}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range reqLabel.FindAllStringSubmatch(string(b), -1) {
			ids[m[1]]++
		}
	}
	return ids
}

func checkCoverage(t *testing.T, doc, dir, prefix string) {
	t.Helper()
	var want []string
	for _, r := range harness.ParseRequirements(doc) {
		if strings.HasPrefix(r.ID, prefix) {
			want = append(want, r.ID)
		}
	}
	if len(want) == 0 {
		t.Fatalf("the spec has no %s requirements", prefix)
	}
	got := labelledIDs(t, dir)
	var missing, unknown []string
	for _, id := range want {
		if got[id] == 0 {
			missing = append(missing, id)
		}
	}
	for id := range got {
		if strings.HasPrefix(id, prefix) && !slices.Contains(want, id) {
			unknown = append(unknown, id)
		}
	}
	slices.Sort(unknown)
	if len(missing) > 0 {
		t.Errorf("%d of %d %s requirements have no labelled spec in %s: %s", len(missing), len(want), prefix, dir, strings.Join(missing, " "))
	}
	if len(unknown) > 0 {
		t.Errorf("specs in %s are labelled with IDs the spec does not have: %s", dir, strings.Join(unknown, " "))
	}
}

func TestClientSuiteLabelsEveryClientRequirement(t *testing.T) {
	checkCoverage(t, spec.Trickle, ".", "TRK-CLI-")
}

// The server suite is written by others; this fails until it covers every
// TRK-SRV requirement.
func TestServerSuiteLabelsEveryServerRequirement(t *testing.T) {
	checkCoverage(t, spec.Trickle, filepath.Join("..", "server"), "TRK-SRV-")
}

func TestProcessorSuiteLabelsEveryProcessorRequirement(t *testing.T) {
	checkCoverage(t, spec.ProcessorAPI, filepath.Join("..", "processor"), "PROC-")
}
