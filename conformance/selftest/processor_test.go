package selftest

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/conformance/harness"
	"github.com/gotrickle/gotrickle/fakes/brokenprocessor"
)

// The full processor suite takes minutes, so each planted bug runs the
// part of it that can see the bug: its target's category, less specs that
// would only make the run long (said where it happens). The baseline runs
// the union of those filters against the unmutated processor.
const (
	filterAPI  = "Category:api"
	filterCore = "Category:core"
	// The events and data specs; PROC-106 (conformance_invert on the
	// control channel) waits out its 40-s output read when the output never
	// ends, hence its absence from filterChannelsQuick.
	filterChannels      = "Category:channels"
	filterChannelsQuick = "Category:channels && !ID:PROC-052 && !ID:PROC-053 && !ID:PROC-084 && !ID:PROC-106"
	// The frame-rate specs, without the two that need the 20-s live-paced
	// 720p run (PROC-094 and PROC-107: PROC-093 and PROC-041 already judge
	// the cap) and the long ones (PROC-058, PROC-069, skipped anyway).
	filterTiming = "Category:timing && !ID:PROC-094 && !ID:PROC-107 && !ID:PROC-058 && !ID:PROC-069"
	filterMedia  = "Category:media"
	// The media specs without the 20-s live-paced 720p run (PROC-078) and
	// the audio specs that come with it.
	filterMediaQuick = "Category:media && !ID:PROC-078 && !ID:PROC-079 && !ID:PROC-080"
)

// procPlant is one bug planted in the processor.
type procPlant struct {
	mutation brokenprocessor.Mutation
	target   string
	mayAlso  []string
	why      string // why the extra IDs are allowed to fail
	filter   string // the specs it runs
	// alone: the filter holds specs that judge timing or run the
	// live-paced 720p stream, so the run has the machine to itself.
	alone bool
}

var procPlants = []procPlant{
	{
		mutation: brokenprocessor.MutationParamsError500,
		target:   "PROC-039",
		why:      "only the status of refused /stream/params changes, and PROC-037 allows any 4xx or 5xx",
		filter:   filterAPI,
	},
	{
		mutation: brokenprocessor.MutationHealthOKAfterEnd,
		target:   "PROC-015",
		why:      "only /health after a stream ended on its own changes; the other core specs stop their streams",
		filter:   filterCore,
	},
	{
		mutation: brokenprocessor.MutationNoHeartbeat,
		target:   "PROC-060",
		why:      "the other events keep their order and gap-free seqs",
		filter:   filterChannels,
	},
	{
		mutation: brokenprocessor.MutationOutputLeftOpen,
		target:   "PROC-034",
		why:      "only the output's DELETE is missing (PROC-084, which needs it too, is not in the quick filter)",
		filter:   filterChannelsQuick,
	},
	{
		mutation: brokenprocessor.MutationIgnoreMaxFramerate,
		target:   "PROC-093",
		mayAlso:  []string{"PROC-041", "PROC-048"},
		why: "they set max_framerate through the API and count output frames: PROC-041 lowers it to 10 " +
			"through /stream/params, PROC-048 expects rates of 27 to 33 fps under max_framerate 30",
		filter: filterTiming,
		alone:  true,
	},
	{
		mutation: brokenprocessor.MutationDropFirstSegment,
		target:   "PROC-078",
		mayAlso:  []string{"PROC-072", "PROC-075", "PROC-077", "PROC-079", "PROC-080", "PROC-097", "PROC-099"},
		why: "they compare the output with the whole input or judge frames of its first seconds: " +
			"PROC-072 and PROC-077 want every input frame, PROC-079/080 all the audio, PROC-075 reads a " +
			"short stream whose only segment is the first, PROC-097 wants frames from before show_loading " +
			"and PROC-099 loading frames that fall in the first segment",
		filter: filterMedia,
		alone:  true,
	},
	{
		mutation: brokenprocessor.MutationSkipOutputSeq,
		target:   "PROC-073",
		mayAlso:  []string{"PROC-074"},
		why:      "PROC-074 reads every output segment too and finds seq 2 empty",
		filter:   filterMediaQuick,
	},
}

// procParallel is how many runs that need not be alone may run at once
// (also bounded by go test -parallel).
const procParallel = 2

func TestMutationsAreCaughtByTheProcessorSuite(t *testing.T) {
	if os.Getenv("TRICKLE_SELFTEST") != "1" {
		t.Skip("set TRICKLE_SELFTEST=1 to run the suite against planted bugs (make conformance does)")
	}
	bin := buildCLI(t)
	began := time.Now()

	type job struct {
		name    string
		filter  string
		run     func(t *testing.T, res *harness.Results)
		mut     brokenprocessor.Mutation
		allowed []string // may fail; for a baseline, none
	}
	var alone, together []job
	var aloneFilters, otherFilters []string
	for _, p := range procPlants {
		j := job{name: fmt.Sprintf("%s makes the suite fail %s", p.mutation, p.target), filter: p.filter, mut: p.mutation,
			allowed: append([]string{p.target}, p.mayAlso...),
			run: func(t *testing.T, res *harness.Results) {
				expectCaught(t, res, string(p.mutation), p.target, p.mayAlso, p.why)
			}}
		if p.alone {
			alone, aloneFilters = append(alone, j), append(aloneFilters, p.filter)
		} else {
			together, otherFilters = append(together, j), append(otherFilters, p.filter)
		}
	}
	// The baseline covers every spec any plant runs, in two runs: the
	// specs of the alone filters alone, the rest with the others.
	clean := func(t *testing.T, res *harness.Results) { expectClean(t, res) }
	alone = append([]job{{name: "the unmutated processor passes the alone filters", filter: union(aloneFilters), run: clean}}, alone...)
	together = append([]job{{name: "the unmutated processor passes the other filters",
		filter: "(" + union(otherFilters) + ") && !(" + union(aloneFilters) + ")", run: clean}}, together...)

	var (
		mu      sync.Mutex
		summary []string
	)
	do := func(t *testing.T, j job) {
		r := runProcessorSuite(t, bin, j.mut, j.filter)
		if stray := strayFailures(r.res, j.allowed); len(stray) > 0 {
			retry := runProcessorSuite(t, bin, j.mut, idFilter(stray))
			for _, id := range passedAgain(r.res, retry.res, stray) {
				t.Logf("%s failed, then passed when run again by itself (a loaded machine): %s", id, requirement(r.res, id).Detail)
			}
		}
		j.run(t, r.res)
		line := fmt.Sprintf("%-24s %5.1fs failed %v  [%s]", orNone(j.mut), r.took.Seconds(), r.res.Failed(), j.filter)
		t.Log(line)
		mu.Lock()
		summary = append(summary, line)
		mu.Unlock()
	}
	t.Run("alone", func(t *testing.T) {
		for _, j := range alone {
			t.Run(j.name, func(t *testing.T) { do(t, j) })
		}
	})
	t.Run("together", func(t *testing.T) {
		sem := make(chan struct{}, procParallel)
		for _, j := range together {
			t.Run(j.name, func(t *testing.T) {
				t.Parallel()
				sem <- struct{}{}
				defer func() { <-sem }()
				do(t, j)
			})
		}
	})
	t.Logf("processor self-test: %v in all\n%s", time.Since(began).Round(time.Second), strings.Join(summary, "\n"))
}

// runProcessorSuite serves a broken processor with mutation m on loopback
// and runs the processor suite's specs matching filter against it, in
// strict mode, claiming passthrough and effects as gotrickle's processor
// does.
func runProcessorSuite(t *testing.T, bin string, m brokenprocessor.Mutation, filter string) suiteRun {
	t.Helper()
	bp, err := brokenprocessor.New(brokenprocessor.Config{Mutation: m})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(bp)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		bp.Close(ctx)
		hs.Close()
	}()
	return runConformance(t, bin, "processor", "--url", hs.URL, "--features", "passthrough,effects",
		"--label-filter", filter)
}

// union is the label filter matching what any of filters matches.
func union(filters []string) string {
	parts := make([]string, len(filters))
	for i, f := range filters {
		parts[i] = "(" + f + ")"
	}
	return strings.Join(parts, " || ")
}

func orNone(m brokenprocessor.Mutation) string {
	if m == brokenprocessor.MutationNone {
		return "(none)"
	}
	return string(m)
}
