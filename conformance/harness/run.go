package harness

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/onsi/gomega"
	"go.uber.org/goleak"
)

var strictFlag = flag.Bool("strict", false, "fail the run on SHOULD-level failures too (also TRICKLE_STRICT=1)")

// Strict reports whether SHOULD-level failures fail the run.
func Strict() bool {
	if *strictFlag {
		return true
	}
	v := strings.ToLower(os.Getenv("TRICKLE_STRICT"))
	return v == "1" || v == "true" || v == "yes"
}

// Suite describes one conformance suite.
type Suite struct {
	// Name is the short name used in reports ("server", "client").
	Name string
	// Title is ginkgo's suite description.
	Title string
	// Catalog lists the requirements the suite covers, so that the report
	// shows every one of them, tested or not.
	Catalog []Requirement
}

var (
	targetMu sync.Mutex
	target   string
)

// SetTarget records what the suite is testing (a URL, or a description of
// the in-process implementation), for the reports.
func SetTarget(s string) {
	targetMu.Lock()
	defer targetMu.Unlock()
	target = s
}

func getTarget() string {
	targetMu.Lock()
	defer targetMu.Unlock()
	return target
}

// ReportDir is where reports go: TRICKLE_REPORT_DIR, or reports/<suite>
// under the working directory. "none" disables reports.
func ReportDir(suite string) string {
	if d := os.Getenv("TRICKLE_REPORT_DIR"); d != "" {
		return d
	}
	return filepath.Join("reports", suite)
}

// CategoryGate skips specs whose category is listed in TRICKLE_DISABLE
// (comma-separated), reporting them as disabled. Suites install it with a
// top-level BeforeEach.
func CategoryGate() {
	disabled := os.Getenv("TRICKLE_DISABLE")
	if disabled == "" {
		return
	}
	cat := labelValue(ginkgo.CurrentSpecReport().Labels(), categoryPrefix)
	for _, c := range strings.Split(disabled, ",") {
		if strings.TrimSpace(c) == cat {
			ginkgo.Skip(disabledPrefix + "category " + cat + " is disabled by TRICKLE_DISABLE")
		}
	}
}

// recorder stands in for *testing.T inside ginkgo: ginkgo's own pass/fail
// does not decide the run, the verdict does (levels, strict mode).
type recorder struct{ failed bool }

func (r *recorder) Fail() { r.failed = true }

// Run runs the suite's specs, writes the reports and fails t when the
// verdict is "fail". It returns the results for callers that check them.
func Run(t *testing.T, s Suite) *Results {
	t.Helper()
	gomega.RegisterFailHandler(ginkgo.Fail)
	strict := Strict()
	var res *Results
	var reportErr error
	ginkgo.ReportAfterSuite("conformance reports", func(rep types.Report) {
		res = collect(s.Name, getTarget(), strict, s.Catalog, rep)
		if dir := ReportDir(s.Name); dir != "none" {
			reportErr = writeReports(dir, res, rep)
		}
	})
	suiteCfg, reporterCfg := ginkgo.GinkgoConfiguration()
	before := goleak.IgnoreCurrent()
	ginkgo.RunSpecs(&recorder{}, s.Title, suiteCfg, reporterCfg)
	// Whatever the suite started (in-process servers, clients, requests)
	// must be gone once it has cleaned up. Ginkgo keeps its interrupt
	// handler running; that one is not ours.
	if err := goleak.Find(before, goleak.IgnoreAnyFunction(
		"github.com/onsi/ginkgo/v2/internal/interrupt_handler.(*InterruptHandler).registerForInterrupts.func2")); err != nil {
		t.Errorf("harness: the suite leaked goroutines: %v", err)
	}
	if res == nil {
		t.Fatal("harness: the suite produced no report")
	}
	if reportErr != nil {
		t.Errorf("harness: %v", reportErr)
	}
	if res.Verdict != "pass" {
		for _, r := range res.Reasons {
			t.Errorf("conformance failure: %s", r)
		}
	}
	t.Logf("conformance %s: verdict %s, strict %v, requirements %v", s.Name, res.Verdict, strict, res.Counts)
	return res
}
