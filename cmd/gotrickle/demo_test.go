package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/media"
)

// make demo's command: the recording decodes to every input frame, and the
// summary shows the parameter change as a darker picture.
func TestDemoRecordsAProcessedStreamAndSummarizesIt(t *testing.T) {
	out := filepath.Join(t.TempDir(), "demo.ts")
	var stdout bytes.Buffer
	if err := execute(context.Background(), []string{"demo", "--out", out, "--log-level", "error"}, &stdout); err != nil {
		t.Fatalf("demo: %v\n%s", err, stdout.String())
	}
	summary := stdout.String()
	// Under the race detector the handler is slow enough that frames skip
	// (by design); every frame must still be accounted for.
	m := regexp.MustCompile(`frames\s+(\d+) in, (\d+) out, (\d+) skipped, 0 failed \(input has (\d+)\)`).FindStringSubmatch(summary)
	if m == nil {
		t.Fatalf("no frames line, or failed frames:\n%s", summary)
	}
	t.Log(m[0])
	in, _ := strconv.Atoi(m[1])
	outN, _ := strconv.Atoi(m[2])
	skipped, _ := strconv.Atoi(m[3])
	if strconv.Itoa(in) != m[4] || in != outN+skipped || outN < in/2 {
		t.Fatalf("frames not accounted for (in = out + skipped = input, out ≥ half):\n%s", summary)
	}
	l := regexp.MustCompile(`mean luma\s+([\d.]+) at intensity [\d.]+, ([\d.]+) at`).FindStringSubmatch(summary)
	if l == nil {
		t.Fatalf("no luma line:\n%s", summary)
	}
	before, _ := strconv.ParseFloat(l[1], 64)
	after, _ := strconv.ParseFloat(l[2], 64)
	if after >= before*0.95 {
		t.Fatalf("the stronger grade did not darken the output: %.1f then %.1f", before, after)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := media.NewDecoder(media.DecoderConfig{Width: 64, Height: 64, MaxFramerate: media.NoFramerateCap})
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	n := 0
	if _, err := dec.DecodeSegment(context.Background(), bytes.NewReader(data), media.Handlers{
		Video: func(v *frame.Video) error { n++; v.Release(); return nil },
	}); err != nil {
		t.Fatal(err)
	}
	if strconv.Itoa(n) != m[2] {
		t.Fatalf("the recording decodes to %d frames, the summary says %s", n, m[2])
	}
}
