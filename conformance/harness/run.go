package harness

import (
	"errors"
	"flag"
	"fmt"
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

// Strict reports whether SHOULD-level failures fail the run: the -strict
// test flag or TRICKLE_STRICT.
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
	// Specs are the suite's ginkgo nodes, registered when it runs.
	Specs *Specs
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

// Options configure a run outside `go test` (gotrickle conformance). The
// zero value runs every spec, not strict, with reports under
// reports/<suite>.
type Options struct {
	// Strict makes SHOULD failures fail the run.
	Strict bool
	// LabelFilter is a ginkgo label filter, e.g. "Category:api" or
	// "ID:PROC-001 || ID:PROC-002".
	LabelFilter string
	// Focus runs only the specs whose text matches these regular
	// expressions.
	Focus []string
	// ReportDir is where junit.xml, results.json, summary.md and
	// summary.html go; "" means ReportDir(suite), "none" writes nothing.
	ReportDir string
	// DryRun walks the specs without running them, for the catalogue.
	DryRun bool
	// Verbose prints every spec as it runs; otherwise only failures.
	Verbose bool
	// NoColor turns off ANSI colours in the console output.
	NoColor bool
}

// ErrRan is returned by Main after a second run in one process: ginkgo
// keeps one spec tree per process.
var ErrRan = errors.New("harness: a suite already ran in this process")

var mainRan sync.Once

// Main runs one suite outside `go test` and returns its results; it writes
// the reports unless opts.ReportDir is "none". It runs at most once per
// process (ErrRan).
func Main(s Suite, opts Options) (*Results, error) {
	ran := false
	mainRan.Do(func() { ran = true })
	if !ran {
		return nil, ErrRan
	}
	suiteCfg, reporterCfg := ginkgo.GinkgoConfiguration()
	suiteCfg.LabelFilter = opts.LabelFilter
	suiteCfg.FocusStrings = opts.Focus
	suiteCfg.DryRun = opts.DryRun
	reporterCfg.Verbose = opts.Verbose
	reporterCfg.Succinct = !opts.Verbose
	reporterCfg.NoColor = opts.NoColor
	if opts.DryRun {
		// A dry run lists every spec; ginkgo prints nothing per spec
		// unless verbose, which is what a listing wants.
		reporterCfg.Verbose = false
		reporterCfg.Succinct = true
	}
	dir := opts.ReportDir
	if dir == "" {
		dir = ReportDir(s.Name)
	}
	res, _, err := run(s, opts.Strict, dir, suiteCfg, reporterCfg)
	return res, err
}

// Run runs the suite's specs under `go test`, writes the reports and fails
// t when the verdict is "fail". It returns the results for callers that
// check them.
func Run(t *testing.T, s Suite) *Results {
	t.Helper()
	suiteCfg, reporterCfg := ginkgo.GinkgoConfiguration()
	before := goleak.IgnoreCurrent()
	res, _, err := run(s, Strict(), ReportDir(s.Name), suiteCfg, reporterCfg)
	// Whatever the suite started (in-process servers, clients, requests)
	// must be gone once it has cleaned up. Ginkgo keeps its interrupt
	// handler running; that one is not ours.
	if err := goleak.Find(before, goleak.IgnoreAnyFunction(
		"github.com/onsi/ginkgo/v2/internal/interrupt_handler.(*InterruptHandler).registerForInterrupts.func2")); err != nil {
		t.Errorf("harness: the suite leaked goroutines: %v", err)
	}
	if res == nil {
		t.Fatalf("harness: %v", err)
	}
	if err != nil {
		t.Errorf("harness: %v", err)
	}
	if res.Verdict != "pass" {
		for _, r := range res.Reasons {
			t.Errorf("conformance failure: %s", r)
		}
	}
	t.Logf("conformance %s: verdict %s, strict %v, requirements %v", s.Name, res.Verdict, res.Strict, res.Counts)
	return res
}

// run registers the suite, runs it and collects the results. The error
// reports a failure to write the reports; res is nil only when the suite
// produced no report at all.
func run(s Suite, strict bool, dir string, suiteCfg types.SuiteConfig, reporterCfg types.ReporterConfig) (*Results, types.Report, error) {
	gomega.RegisterFailHandler(ginkgo.Fail)
	if s.Specs != nil {
		s.Specs.Register()
	}
	var (
		res       *Results
		report    types.Report
		reportErr error
	)
	ginkgo.ReportAfterSuite("conformance reports", func(rep types.Report) {
		report = rep
		res = collect(s.Name, getTarget(), strict, s.Catalog, rep)
		if suiteCfg.DryRun {
			markDryRun(res)
		}
		if dir != "none" {
			reportErr = writeReports(dir, res, rep)
		}
	})
	ginkgo.RunSpecs(&recorder{}, s.Title, suiteCfg, reporterCfg)
	if res == nil {
		return nil, report, fmt.Errorf("the %s suite produced no report", s.Name)
	}
	return res, report, reportErr
}
