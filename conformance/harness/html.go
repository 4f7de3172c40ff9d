package harness

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"strings"
)

//go:embed summary.html.tmpl
var htmlTemplate string

var summaryHTML = template.Must(template.New("summary").Funcs(template.FuncMap{
	"upper": strings.ToUpper,
	"ms":    msText,
	"statuses": func(res *Results) []statusCount {
		var out []statusCount
		for s := StatusNotRun; s <= StatusError; s++ {
			if n := res.Counts[s.String()]; n > 0 {
				out = append(out, statusCount{s.String(), n})
			}
		}
		return out
	},
	"duration": func(res *Results) string { return res.Finished.Sub(res.Started).Round(1e6).String() },
}).Parse(htmlTemplate))

type statusCount struct {
	Status string
	N      int
}

// HTML renders the summary as one self-contained page (no scripts, no
// external styles): the verdict, the counts, why it failed, and a table of
// every requirement with its specs folded under it.
func HTML(res *Results) ([]byte, error) {
	var b bytes.Buffer
	if err := summaryHTML.Execute(&b, res); err != nil {
		return nil, fmt.Errorf("summary.html: %w", err)
	}
	return b.Bytes(), nil
}
