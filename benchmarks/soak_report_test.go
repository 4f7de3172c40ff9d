package benchmarks

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"time"
)

// soakCSV writes the soak's samples as they are taken, so that a run cut
// short still leaves what it saw.
type soakCSV struct {
	f *os.File
	w *csv.Writer
}

func newSoakCSV(path string) (*soakCSV, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	c := &soakCSV{f: f, w: csv.NewWriter(f)}
	c.w.Write([]string{"t_s", "rss_mb", "go_mb", "heap_mb", "fds", "goroutines",
		"frames_in", "frames_skipped", "frames_out", "matched", "lat_p50_ms", "lat_p95_ms"})
	c.w.Flush()
	return c, c.w.Error()
}

func (c *soakCSV) add(s soakSample) error {
	ff := func(x float64) string { return strconv.FormatFloat(x, 'f', 2, 64) }
	c.w.Write([]string{ff(s.T), ff(s.RSSMB), ff(s.GoMB), ff(s.HeapMB), strconv.Itoa(s.FDs), strconv.Itoa(s.Goroutines),
		strconv.FormatInt(s.FramesIn, 10), strconv.FormatInt(s.Skipped, 10), strconv.FormatInt(s.FramesOut, 10),
		strconv.Itoa(s.Matched), ff(s.LatP50), ff(s.LatP95)})
	c.w.Flush()
	return c.w.Error()
}

func (c *soakCSV) close() error {
	c.w.Flush()
	return errors.Join(c.w.Error(), c.f.Close())
}

// writeSoakSummary writes the verdict as JSON.
func writeSoakSummary(path string, v soakVerdict) error {
	summary := struct {
		Date    string
		Verdict soakVerdict
		Pass    bool
	}{time.Now().UTC().Format("2006-01-02 15:04 MST"), v, len(v.Failures) == 0}
	b, err := json.MarshalIndent(summary, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
