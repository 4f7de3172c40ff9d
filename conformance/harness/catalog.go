package harness

import (
	"bufio"
	"regexp"
	"strings"
)

// Requirement is one numbered requirement of a spec document.
type Requirement struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Level    Level    `json:"level"`
	Category Category `json:"category"`
}

var (
	reqHeading = regexp.MustCompile(`^#{2,4}\s+([A-Z]+(?:-[A-Z]+)*-\d{3})\s+[—–-]\s+(.+?)\s*$`)
	reqLevel   = regexp.MustCompile(`Level:\s*\**(MUST|SHOULD|MAY)\**\s*·\s*Category:\s*\**([a-z]+)\**`)
)

// ParseRequirements reads the requirements out of a spec document: each is
// a heading "### ID — title" followed by a line
// "Level: MUST · Category: core".
func ParseRequirements(doc string) []Requirement {
	var out []Requirement
	var cur *Requirement
	sc := bufio.NewScanner(strings.NewReader(doc))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := reqHeading.FindStringSubmatch(line); m != nil {
			out = append(out, Requirement{ID: m[1], Title: m[2]})
			cur = &out[len(out)-1]
			continue
		}
		if cur != nil && cur.Level == "" {
			if m := reqLevel.FindStringSubmatch(line); m != nil {
				cur.Level, cur.Category = Level(m[1]), Category(m[2])
			}
		}
	}
	return out
}

// RequirementsWithPrefix is ParseRequirements limited to IDs starting with
// prefix (e.g. "TRK-SRV-"): the catalog of one suite.
func RequirementsWithPrefix(doc, prefix string) []Requirement {
	var out []Requirement
	for _, r := range ParseRequirements(doc) {
		if strings.HasPrefix(r.ID, prefix) {
			out = append(out, r)
		}
	}
	return out
}
