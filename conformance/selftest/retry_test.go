package selftest

import (
	"slices"
	"testing"

	"github.com/gotrickle/gotrickle/conformance/harness"
)

func TestAFailureOutsideTheDeclaredSetIsForgivenOnlyWhenItPassesAlone(t *testing.T) {
	req := func(id string, level harness.Level, st harness.Status) harness.RequirementResult {
		return harness.RequirementResult{Requirement: harness.Requirement{ID: id, Level: level}, Status: st, Detail: "why"}
	}
	first := func() *harness.Results {
		return &harness.Results{
			Verdict: "fail",
			Reasons: []string{"PROC-001 (MUST): why", "PROC-035 (SHOULD): why", "PROC-049 (SHOULD): why"},
			Counts:  map[string]int{harness.StatusFail.String(): 3},
			Requirements: []harness.RequirementResult{
				req("PROC-001", harness.Must, harness.StatusFail), // the plant's target
				req("PROC-035", harness.Should, harness.StatusFail),
				req("PROC-049", harness.Should, harness.StatusFail),
			},
		}
	}
	retry := &harness.Results{Requirements: []harness.RequirementResult{
		req("PROC-035", harness.Should, harness.StatusPass),
		req("PROC-049", harness.Should, harness.StatusFail),
	}}

	t.Run("strays are what failed outside the declared set", func(t *testing.T) {
		if got := strayFailures(first(), []string{"PROC-001"}); !slices.Equal(got, []string{"PROC-035", "PROC-049"}) {
			t.Fatalf("strays %v", got)
		}
		if got := idFilter([]string{"PROC-035", "PROC-049"}); got != "ID:PROC-035 || ID:PROC-049" {
			t.Fatalf("filter %q", got)
		}
	})
	t.Run("one that passes alone is forgiven, one that fails again is not", func(t *testing.T) {
		res := first()
		again := passedAgain(res, retry, []string{"PROC-035", "PROC-049"})
		if !slices.Equal(again, []string{"PROC-035"}) {
			t.Fatalf("forgiven %v, want PROC-035 only", again)
		}
		if res.Status("PROC-035") != harness.StatusPass || res.Status("PROC-049") != harness.StatusFail || res.Status("PROC-001") != harness.StatusFail {
			t.Fatalf("statuses %v %v %v", res.Status("PROC-001"), res.Status("PROC-035"), res.Status("PROC-049"))
		}
		if res.Verdict != "fail" || !slices.Equal(res.Reasons, []string{"PROC-001 (MUST): why", "PROC-049 (SHOULD): why"}) {
			t.Fatalf("verdict %q, reasons %q", res.Verdict, res.Reasons)
		}
		if res.Counts[harness.StatusFail.String()] != 2 || res.Counts[harness.StatusPass.String()] != 1 {
			t.Fatalf("counts %v", res.Counts)
		}
	})
	t.Run("a baseline whose only failures pass alone passes", func(t *testing.T) {
		res := &harness.Results{
			Verdict:      "fail",
			Reasons:      []string{"PROC-035 (SHOULD): why"},
			Requirements: []harness.RequirementResult{req("PROC-035", harness.Should, harness.StatusFail)},
		}
		passedAgain(res, retry, []string{"PROC-035"})
		if res.Verdict != "pass" || len(res.Failed()) != 0 {
			t.Fatalf("verdict %q, failed %v", res.Verdict, res.Failed())
		}
	})
	t.Run("a baseline with a harness problem besides does not pass", func(t *testing.T) {
		res := &harness.Results{
			Verdict:      "fail",
			Reasons:      []string{"harness: BeforeSuite failed", "PROC-035 (SHOULD): why"},
			Requirements: []harness.RequirementResult{req("PROC-035", harness.Should, harness.StatusFail)},
		}
		passedAgain(res, retry, []string{"PROC-035"})
		if res.Verdict != "fail" {
			t.Fatalf("verdict %q with reasons %q", res.Verdict, res.Reasons)
		}
	})
}
