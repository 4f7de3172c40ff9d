package harness

import (
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2/types"
)

func TestTheHTMLSummaryShowsTheVerdictEveryRequirementAndEscapesDetails(t *testing.T) {
	res := collect("t", "http://x/<y>", false, []Requirement{{ID: "X-001", Title: "first"}, {ID: "X-002", Title: "second"}},
		types.Report{SpecReports: []types.SpecReport{
			spec1("X-001", Must, types.SpecStateFailed, "expected <200> got 500"),
			spec1("X-002", Should, types.SpecStatePassed, ""),
		}})
	page, err := HTML(res)
	if err != nil {
		t.Fatal(err)
	}
	s := string(page)
	for _, want := range []string{
		`<span class="verdict fail">FAIL</span>`,
		`id="X-001"`, `id="X-002"`,
		"expected &lt;200&gt; got 500",
		"http://x/&lt;y&gt;",
		"fail 1", "pass 1",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary.html lacks %q", want)
		}
	}
	if strings.Contains(s, "<y>") || strings.Contains(s, "<script") || strings.Contains(s, "http-equiv") {
		t.Error("summary.html carries unescaped input or scripts")
	}
}

func TestADryRunIsACatalogueThatFailsWhenSuiteAndDocumentDisagree(t *testing.T) {
	cases := []struct {
		name     string
		catalog  []Requirement
		specs    []types.SpecReport
		problems []string
	}{
		{"every requirement has a spec", []Requirement{{ID: "X-001"}},
			[]types.SpecReport{spec1("X-001", Must, types.SpecStatePassed, "")}, nil},
		{"a requirement without a spec is a problem", []Requirement{{ID: "X-001"}, {ID: "X-002"}},
			[]types.SpecReport{spec1("X-001", Must, types.SpecStatePassed, "")}, []string{"X-002: no spec"}},
		{"a spec naming an unknown requirement is a problem", []Requirement{{ID: "X-001"}},
			[]types.SpecReport{spec1("X-001", Must, types.SpecStatePassed, ""), spec1("X-777", Must, types.SpecStatePassed, "")},
			[]string{"X-777: specs name a requirement"}},
		{"an unlabelled spec is a problem", []Requirement{{ID: "X-001"}},
			[]types.SpecReport{spec1("X-001", Must, types.SpecStatePassed, ""), {LeafNodeType: types.NodeTypeIt, LeafNodeText: "stray", State: types.SpecStatePassed}},
			[]string{"spec without an ID label: stray"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := collect("t", "", false, c.catalog, types.Report{SpecReports: c.specs})
			markDryRun(res)
			if len(res.Reasons) != len(c.problems) {
				t.Fatalf("problems %q, want %d like %q", res.Reasons, len(c.problems), c.problems)
			}
			for i, p := range c.problems {
				if !strings.HasPrefix(res.Reasons[i], p) {
					t.Errorf("problem %q, want it to start %q", res.Reasons[i], p)
				}
			}
			if want := map[bool]string{true: "pass", false: "fail"}[len(c.problems) == 0]; res.Verdict != want {
				t.Errorf("verdict %q, want %q", res.Verdict, want)
			}
			for _, q := range res.Requirements {
				if q.Status != StatusNotRun {
					t.Errorf("%s is %v after a dry run, want not-run", q.ID, q.Status)
				}
			}
		})
	}
}

func TestSpecsRegisterTheirNodesOnce(t *testing.T) {
	var s Specs
	n := 0
	s.add(func() { n++ })
	s.add(func() { n += 10 })
	s.Register()
	s.Register()
	if n != 11 {
		t.Fatalf("nodes ran %d, want each once (11)", n)
	}
}
