package harness

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/types"
)

// SpecResult is one ginkgo spec's outcome.
type SpecResult struct {
	Name       string  `json:"name"`
	Status     Status  `json:"status"`
	Detail     string  `json:"detail,omitempty"`
	DurationMS float64 `json:"duration_ms"`
	Location   string  `json:"location"`
}

// RequirementResult is one requirement's outcome: the worst of its specs.
type RequirementResult struct {
	Requirement
	Status Status `json:"status"`
	Detail string `json:"detail,omitempty"`
	// DurationMS is the time its specs took, together.
	DurationMS float64      `json:"duration_ms"`
	Specs      []SpecResult `json:"specs,omitempty"`
}

// Results is what a suite run produced; it is written as results.json.
type Results struct {
	Suite        string              `json:"suite"`
	Target       string              `json:"target"`
	Strict       bool                `json:"strict"`
	Started      time.Time           `json:"started"`
	Finished     time.Time           `json:"finished"`
	Verdict      string              `json:"verdict"` // "pass" or "fail"
	Reasons      []string            `json:"reasons,omitempty"`
	Counts       map[string]int      `json:"counts"`
	Requirements []RequirementResult `json:"requirements"`
	// Unlabelled lists specs without an ID label: a harness bug.
	Unlabelled []string `json:"unlabelled,omitempty"`
}

// Failed returns the IDs of requirements whose status is fail or error.
func (r *Results) Failed() []string {
	var ids []string
	for _, q := range r.Requirements {
		if q.Status >= StatusFail {
			ids = append(ids, q.ID)
		}
	}
	return ids
}

// HarnessBroke reports whether the harness itself failed: its set-up or
// tear-down, an unlabelled spec, or a requirement with status error. Such a
// run's verdict says nothing about the implementation.
func (r *Results) HarnessBroke() bool {
	for _, why := range r.Reasons {
		if strings.HasPrefix(why, "harness") {
			return true
		}
	}
	for _, q := range r.Requirements {
		if q.Status == StatusError {
			return true
		}
	}
	return false
}

// Status returns the status of one requirement (StatusNotRun if unknown).
func (r *Results) Status(id string) Status {
	for _, q := range r.Requirements {
		if q.ID == id {
			return q.Status
		}
	}
	return StatusNotRun
}

// collect turns a ginkgo report into Results, requirement by requirement.
// Requirements of the catalog that no spec checks are listed as not-run
// with a note, so a report always shows the whole spec.
func collect(suite, target string, strict bool, catalog []Requirement, rep types.Report) *Results {
	res := &Results{Suite: suite, Target: target, Strict: strict, Started: rep.StartTime,
		Finished: rep.EndTime, Counts: map[string]int{}}
	byID := map[string]*RequirementResult{}
	var order []string
	for _, q := range catalog {
		byID[q.ID] = &RequirementResult{Requirement: q, Detail: "no spec in this suite"}
		order = append(order, q.ID)
	}
	ran := 0
	for _, sr := range rep.SpecReports {
		if sr.LeafNodeType != types.NodeTypeIt {
			if sr.State.Is(types.SpecStateFailureStates) {
				// A failing BeforeSuite or AfterSuite is the harness breaking.
				res.Reasons = append(res.Reasons, "harness: "+sr.LeafNodeType.String()+" failed: "+firstLine(sr.Failure.Message))
			}
			continue
		}
		labels := sr.Labels()
		id := labelValue(labels, idPrefix)
		st, detail := specStatus(sr)
		if st != StatusNotRun {
			ran++
		}
		if id == "" {
			res.Unlabelled = append(res.Unlabelled, sr.FullText())
			continue
		}
		q := byID[id]
		if q == nil {
			q = &RequirementResult{Requirement: Requirement{ID: id, Title: notInSpec}}
			byID[id] = q
			order = append(order, id)
		}
		if q.Level == "" {
			q.Level = Level(labelValue(labels, levelPrefix))
			q.Category = Category(labelValue(labels, categoryPrefix))
		}
		if len(q.Specs) == 0 {
			q.Detail = ""
		}
		q.Specs = append(q.Specs, SpecResult{Name: sr.FullText(), Status: st, Detail: detail,
			DurationMS: float64(sr.RunTime.Microseconds()) / 1000, Location: sr.LeafNodeLocation.String()})
		q.DurationMS += float64(sr.RunTime.Microseconds()) / 1000
		if st > q.Status || len(q.Specs) == 1 {
			// The worst spec speaks for the requirement, even with no
			// detail: a pass must not keep a skipped spec's reason.
			q.Status, q.Detail = st, detail
		}
	}
	for _, id := range order {
		q := byID[id]
		res.Requirements = append(res.Requirements, *q)
		res.Counts[q.Status.String()]++
	}
	slices.SortStableFunc(res.Requirements, func(a, b RequirementResult) int { return cmp.Compare(a.ID, b.ID) })
	res.Verdict, res.Reasons = verdict(res, ran, strict, res.Reasons)
	return res
}

// verdict applies the levels: an error, a MUST failure or a failure of an
// optional (MAY) feature the implementation offers fails the run; SHOULD
// failures fail it only in strict mode. A run in which no spec ran fails
// too: a label filter that selected nothing proves nothing.
func verdict(res *Results, ran int, strict bool, reasons []string) (string, []string) {
	if ran == 0 && len(reasons) == 0 {
		// (A failed BeforeSuite also leaves nothing run; its reason is
		// already there and says more.)
		reasons = append(reasons, "no spec ran: the label filter selected nothing")
	}
	if len(res.Unlabelled) > 0 {
		reasons = append(reasons, "harness: specs without an ID label")
	}
	for _, q := range res.Requirements {
		switch {
		case q.Status == StatusError:
			reasons = append(reasons, q.ID+": harness error: "+q.Detail)
		case q.Status == StatusFail && (q.Level != Should || strict):
			reasons = append(reasons, q.ID+" ("+string(q.Level)+"): "+q.Detail)
		}
	}
	if len(reasons) > 0 {
		return "fail", reasons
	}
	return "pass", nil
}

// markDryRun turns a dry run's results into a catalogue: no spec ran, so
// every status is not-run, and the verdict says whether the suite and the
// spec document agree (CatalogueProblems).
func markDryRun(res *Results) {
	res.Counts = map[string]int{}
	for i := range res.Requirements {
		q := &res.Requirements[i]
		q.Status = StatusNotRun
		for j := range q.Specs {
			q.Specs[j].Status, q.Specs[j].Detail = StatusNotRun, "dry run"
		}
		res.Counts[q.Status.String()]++
	}
	res.Reasons = CatalogueProblems(res)
	res.Verdict = "pass"
	if len(res.Reasons) > 0 {
		res.Verdict = "fail"
	}
}

// CatalogueProblems lists where a suite and its spec document disagree:
// requirements no spec checks, specs labelled with IDs the document lacks,
// and specs with no ID at all.
func CatalogueProblems(res *Results) []string {
	var out []string
	for _, q := range res.Requirements {
		switch {
		case len(q.Specs) == 0:
			out = append(out, q.ID+": no spec checks this requirement")
		case q.Title == notInSpec:
			out = append(out, q.ID+": specs name a requirement the spec document does not have")
		}
	}
	for _, name := range res.Unlabelled {
		out = append(out, "spec without an ID label: "+name)
	}
	return out
}

// notInSpec is the title of a requirement that only a spec label names.
const notInSpec = "(not in the spec document)"
