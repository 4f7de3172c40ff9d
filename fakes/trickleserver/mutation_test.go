package trickleserver

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// Each mutation is run against the same scenario on a clean fake and on a
// mutated one: the observation must differ exactly as the mutation says.
func TestEachMutationBreaksItsRequirement(t *testing.T) {
	cases := []struct {
		name     string
		mutation Mutation
		ringSize int
		observe  func(t *testing.T, h *harness) string
		clean    string
		mutated  string
	}{
		{
			name:     "evicted-404 turns the 470 for an evicted seq into 404",
			mutation: MutationEvicted404,
			ringSize: 3,
			observe: func(t *testing.T, h *harness) string {
				h.publish("0", "1", "2", "3", "4", "5")
				resp, body := h.do(http.MethodGet, "/s/0", nil)
				held, _ := h.do(http.MethodGet, "/s/5", nil)
				ahead, _ := h.do(http.MethodGet, "/s/9", nil)
				return fmt.Sprintf("evicted %d (%s), held %d, ahead %d", resp.StatusCode, strings.TrimSpace(body), held.StatusCode, ahead.StatusCode)
			},
			clean:   "evicted 470 (segment not available), held 200, ahead 470",
			mutated: "evicted 404 (segment not available), held 200, ahead 470",
		},
		{
			name:     "buffer-whole-segment holds a reader back until the POST ends",
			mutation: MutationBufferWholeSegment,
			observe:  observeStreaming,
			clean:    "headers and first bytes while open; whole segment after",
			mutated:  "nothing while open; whole segment after",
		},
		{
			name:     "ignore-seq-aliases refuses -1 and -2 but not absolute seqs",
			mutation: MutationIgnoreSeqAliases,
			observe: func(t *testing.T, h *harness) string {
				h.publish("zero")
				cur, _ := h.do(http.MethodGet, "/s/-2", nil)
				next, _ := h.do(http.MethodPost, "/s/-1", strings.NewReader("one"))
				abs, _ := h.do(http.MethodGet, "/s/0", nil)
				return fmt.Sprintf("GET -2 %d, POST -1 %d, GET 0 %d", cur.StatusCode, next.StatusCode, abs.StatusCode)
			},
			clean:   "GET -2 200, POST -1 200, GET 0 200",
			mutated: "GET -2 400, POST -1 400, GET 0 200",
		},
		{
			name:     "no-latest-header strips Lp-Trickle-Latest from segment data answers only",
			mutation: MutationNoLatestHeader,
			observe: func(t *testing.T, h *harness) string {
				h.publish("zero", "one")
				next, body := h.do(http.MethodGet, "/s/next", nil)
				gone, _ := h.do(http.MethodGet, "/s/9", nil)
				seg, _ := h.do(http.MethodGet, "/s/0", nil)
				return fmt.Sprintf("next %q body %s, 470 %q, segment %q", next.Header.Get(trickle.HeaderLatest), body,
					gone.Header.Get(trickle.HeaderLatest), seg.Header.Get(trickle.HeaderLatest))
			},
			clean:   `next "2" body 2, 470 "2", segment "2"`,
			mutated: `next "2" body 2, 470 "2", segment ""`,
		},
		{
			name:     "late-first-byte holds a segment's first byte but not a 470",
			mutation: MutationLateFirstByte,
			observe: func(t *testing.T, h *harness) string {
				h.publish("zero")
				timed := func(path string) string {
					start := time.Now()
					h.do(http.MethodGet, path, nil)
					if time.Since(start) >= LateFirstByteDelay {
						return "late"
					}
					return "prompt"
				}
				return "segment " + timed("/s/0") + ", 470 " + timed("/s/9")
			},
			clean:   "segment prompt, 470 prompt",
			mutated: "segment late, 470 prompt",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, run := range []struct {
				label string
				muts  []Mutation
				want  string
			}{
				{"clean", nil, c.clean},
				{"mutated", []Mutation{c.mutation}, c.mutated},
			} {
				h := newHarness(t, Config{Trickle: trickle.ServerConfig{RingSize: c.ringSize}, Mutations: run.muts})
				if got := c.observe(t, h); got != run.want {
					t.Errorf("%s: observed %q, want %q", run.label, got, run.want)
				}
			}
		})
	}
}

// observeStreaming says what a reader of a segment gets while its POST is
// still open and after it ends.
func observeStreaming(t *testing.T, h *harness) string {
	pr, pw := io.Pipe()
	posted := make(chan error, 1)
	go func() {
		_, _, err := h.try(http.MethodPost, "/s/0", pr)
		posted <- err
	}()
	if _, err := pw.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first bytes to be stored", func() bool {
		r, ok := h.lastRequest(http.MethodPost, "/s/0")
		return ok && r.BytesIn == 5
	})

	type answer struct {
		resp *http.Response
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := h.client.Get(h.base + "/s/0")
		got <- answer{resp, err}
	}()
	var (
		a    answer
		open string
	)
	select {
	case a = <-got:
		b := make([]byte, 5)
		if _, err := io.ReadFull(a.resp.Body, b); err != nil || string(b) != "first" {
			t.Fatalf("first bytes %q: %v", b, err)
		}
		open = "headers and first bytes while open"
	case <-time.After(200 * time.Millisecond):
		open = "nothing while open"
	}
	pw.Write([]byte("-second"))
	pw.Close()
	if err := <-posted; err != nil {
		t.Fatal(err)
	}
	if a.resp == nil {
		a = <-got
	}
	if a.err != nil {
		t.Fatal(a.err)
	}
	defer a.resp.Body.Close()
	rest, err := io.ReadAll(a.resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := "first-second"
	if open != "nothing while open" {
		want = "-second" // "first" was read above
	}
	after := "whole segment after"
	if string(rest) != want {
		after = fmt.Sprintf("%q after", rest)
	}
	return open + "; " + after
}
