package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"
)

// writeReports writes junit.xml, results.json, summary.md and summary.html
// into dir.
func writeReports(dir string, res *Results, rep types.Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report dir: %w", err)
	}
	if err := reporters.GenerateJUnitReportWithConfig(rep, filepath.Join(dir, "junit.xml"),
		reporters.JunitReportConfig{OmitLeafNodeType: true}); err != nil {
		return fmt.Errorf("junit report: %w", err)
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("results.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("results.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.md"), []byte(Markdown(res)), 0o644); err != nil {
		return fmt.Errorf("summary.md: %w", err)
	}
	page, err := HTML(res)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.html"), page, 0o644); err != nil {
		return fmt.Errorf("summary.html: %w", err)
	}
	return nil
}

// Markdown renders the summary table a third party attaches to a bug report.
func Markdown(res *Results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Conformance: %s\n\n", res.Suite)
	fmt.Fprintf(&b, "- target: `%s`\n", res.Target)
	fmt.Fprintf(&b, "- run: %s (%s)\n", res.Started.UTC().Format("2006-01-02 15:04:05 MST"),
		res.Finished.Sub(res.Started).Round(1e6))
	fmt.Fprintf(&b, "- strict: %v\n", res.Strict)
	fmt.Fprintf(&b, "- verdict: **%s**\n", strings.ToUpper(res.Verdict))
	var counts []string
	for s := StatusNotRun; s <= StatusError; s++ {
		if n := res.Counts[s.String()]; n > 0 {
			counts = append(counts, fmt.Sprintf("%s %d", s, n))
		}
	}
	fmt.Fprintf(&b, "- requirements: %s\n", strings.Join(counts, ", "))
	if len(res.Reasons) > 0 {
		b.WriteString("\nWhy it failed:\n\n")
		for _, r := range res.Reasons {
			fmt.Fprintf(&b, "- %s\n", mdEscape(r))
		}
	}
	b.WriteString("\n| ID | Level | Category | Status | Time | Title | Detail |\n|---|---|---|---|---|---|---|\n")
	for _, q := range res.Requirements {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", q.ID, q.Level, q.Category,
			statusCell(q.Status), msText(q.DurationMS), mdEscape(q.Title), mdEscape(q.Detail))
	}
	return b.String()
}

func statusCell(s Status) string {
	if s >= StatusFail {
		return "**" + s.String() + "**"
	}
	return s.String()
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// msText formats a duration in milliseconds for the summaries.
func msText(v float64) string {
	switch {
	case v == 0:
		return ""
	case v >= 1000:
		return fmt.Sprintf("%.1f s", v/1000)
	}
	return fmt.Sprintf("%.0f ms", v)
}
