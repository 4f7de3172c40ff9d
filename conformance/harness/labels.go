// Package harness is the shared machinery of gotrickle's conformance
// suites: requirement labels, the status model (disabled < skip <
// unsupported < pass < fail < error), the verdict that applies levels and
// strict mode, and the reports (JUnit XML, results.json, summary.md).
package harness

import (
	"fmt"
	"strings"

	"github.com/onsi/ginkgo/v2"
)

// Level is a requirement's RFC 2119 level.
type Level string

// Levels.
const (
	Must   Level = "MUST"
	Should Level = "SHOULD"
	May    Level = "MAY"
)

// Category groups requirements; a run can disable whole categories.
type Category string

// Categories.
const (
	Core     Category = "core"
	Timing   Category = "timing"
	Faults   Category = "faults"
	Channels Category = "channels"
	Media    Category = "media"
	API      Category = "api"
	Perf     Category = "perf"
)

// Label prefixes on every spec.
const (
	idPrefix       = "ID:"
	levelPrefix    = "Level:"
	categoryPrefix = "Category:"
)

// Req labels a spec with the requirement it checks. Every spec in a suite
// carries exactly one Req.
func Req(id string, level Level, cat Category) ginkgo.Labels {
	return ginkgo.Label(idPrefix+id, levelPrefix+string(level), categoryPrefix+string(cat))
}

// labelValue finds the value of a prefixed label.
func labelValue(labels []string, prefix string) string {
	for _, l := range labels {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			return v
		}
	}
	return ""
}

// Skip reasons carry a prefix so that the report can tell them apart.
const (
	unsupportedPrefix = "unsupported: "
	disabledPrefix    = "disabled: "
	harnessPrefix     = "harness error: "
)

// Unsupported ends the spec as "unsupported": the implementation lacks an
// optional feature the spec needs. It never fails a run.
func Unsupported(format string, args ...any) {
	ginkgo.Skip(unsupportedPrefix + fmt.Sprintf(format, args...))
}

// HarnessError ends the spec as "error": the suite itself could not do its
// job (e.g. it could not start its own server). It always fails a run.
func HarnessError(err error) {
	ginkgo.Fail(harnessPrefix + err.Error())
}
