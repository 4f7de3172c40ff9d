package harness

import (
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/gotrickle/gotrickle/docs/spec"
)

func spec1(id string, level Level, state types.SpecState, msg string) types.SpecReport {
	return types.SpecReport{
		LeafNodeType:   types.NodeTypeIt,
		LeafNodeText:   id + " spec",
		LeafNodeLabels: []string{idPrefix + id, levelPrefix + string(level), categoryPrefix + "core"},
		State:          state,
		Failure:        types.Failure{Message: msg},
		RunTime:        10 * time.Millisecond,
	}
}

func TestTheVerdictAppliesLevelsAndStrictMode(t *testing.T) {
	cases := []struct {
		name   string
		specs  []types.SpecReport
		strict bool
		want   string
	}{
		{"all passing passes", []types.SpecReport{spec1("X-001", Must, types.SpecStatePassed, "")}, false, "pass"},
		{"a MUST failure fails", []types.SpecReport{spec1("X-001", Must, types.SpecStateFailed, "boom")}, false, "fail"},
		{"a SHOULD failure passes when not strict", []types.SpecReport{
			spec1("X-001", Must, types.SpecStatePassed, ""), spec1("X-002", Should, types.SpecStateFailed, "meh")}, false, "pass"},
		{"a SHOULD failure fails in strict mode", []types.SpecReport{
			spec1("X-001", Must, types.SpecStatePassed, ""), spec1("X-002", Should, types.SpecStateFailed, "meh")}, true, "fail"},
		{"an offered MAY feature that fails fails", []types.SpecReport{
			spec1("X-001", Must, types.SpecStatePassed, ""), spec1("X-003", May, types.SpecStateFailed, "broken")}, false, "fail"},
		{"an unsupported MAY feature passes", []types.SpecReport{
			spec1("X-001", Must, types.SpecStatePassed, ""), spec1("X-003", May, types.SpecStateSkipped, unsupportedPrefix+"absent")}, false, "pass"},
		{"a harness error fails", []types.SpecReport{
			spec1("X-001", Should, types.SpecStateFailed, harnessPrefix+"cannot start")}, false, "fail"},
		{"a panic is a harness error", []types.SpecReport{spec1("X-001", Should, types.SpecStatePanicked, "nil map")}, false, "fail"},
		{"nothing selected fails", []types.SpecReport{spec1("X-001", Must, types.SpecStateSkipped, "")}, false, "fail"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := collect("t", "target", c.strict, nil, types.Report{SpecReports: c.specs})
			if res.Verdict != c.want {
				t.Fatalf("verdict %q (%v), want %q", res.Verdict, res.Reasons, c.want)
			}
		})
	}
}

func TestARequirementTakesTheWorstStatusOfItsSpecs(t *testing.T) {
	res := collect("t", "target", false, []Requirement{{ID: "X-001"}, {ID: "X-009", Title: "untested"}}, types.Report{SpecReports: []types.SpecReport{
		spec1("X-001", Must, types.SpecStatePassed, ""),
		spec1("X-001", Must, types.SpecStateFailed, "second spec failed"),
		spec1("X-001", Must, types.SpecStateSkipped, unsupportedPrefix+"x"),
	}})
	if got := res.Requirements[0].DurationMS; got != 30 {
		t.Errorf("X-001 took %v ms, want its specs' 10+10+10", got)
	}
	if got := res.Status("X-001"); got != StatusFail {
		t.Fatalf("X-001 %v, want fail", got)
	}
	if got := res.Status("X-009"); got != StatusNotRun {
		t.Fatalf("untested requirement %v, want not-run", got)
	}
	md := Markdown(res)
	if !strings.Contains(md, "| X-001 |") || !strings.Contains(md, "**fail**") || !strings.Contains(md, "no spec in this suite") {
		t.Fatalf("summary lacks rows:\n%s", md)
	}
}

func TestTheTrickleSpecParsesIntoNumberedRequirements(t *testing.T) {
	reqs := ParseRequirements(spec.Trickle)
	seen := map[string]bool{}
	srv, cli := 0, 0
	for _, r := range reqs {
		if seen[r.ID] {
			t.Errorf("%s appears twice", r.ID)
		}
		seen[r.ID] = true
		if r.Level != Must && r.Level != Should && r.Level != May {
			t.Errorf("%s has no level", r.ID)
		}
		if r.Category == "" || r.Title == "" {
			t.Errorf("%s lacks a category or title", r.ID)
		}
		switch {
		case strings.HasPrefix(r.ID, "TRK-SRV-"):
			srv++
		case strings.HasPrefix(r.ID, "TRK-CLI-"):
			cli++
		}
	}
	if srv < 50 || cli < 20 {
		t.Fatalf("parsed %d server and %d client requirements; the parser missed some", srv, cli)
	}
}
