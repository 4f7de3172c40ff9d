package brokenprocessor

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gotrickle/gotrickle/pkg/processor"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// The output mutations change the processor's output segments, which need
// real media to appear; here they are tested on the processor's trickle
// client alone, with the publisher the processor uses.

// publishThrough publishes n segments ("seg0", "seg1", …) of contentType on
// channel name through the broken transport, waits for read (when not nil)
// to have read want of them, then ends the channel.
func publishThrough(t *testing.T, e *env, m Mutation, name, contentType string, n int, read *follower, want int) {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: &transport{next: tr, mut: m}}
	ctx := context.Background()
	pub, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: e.tURL + name, Client: client, ContentType: contentType, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := pub.Write(ctx, strings.NewReader(fmt.Sprintf("seg%d", i))); err != nil {
			t.Fatalf("segment %d: %v", i, err)
		}
	}
	if read != nil {
		read.wait(want)
	}
	if err := pub.Close(ctx); err != nil {
		t.Fatalf("closing: %v", err)
	}
}

// bodies returns the segments' bodies and seqs.
func bodies(segs []seg) (out []string, seqs []int64) {
	for _, s := range segs {
		out, seqs = append(out, string(s.body)), append(seqs, s.seq)
	}
	return out, seqs
}

func TestOutputTransport(t *testing.T) {
	cases := []struct {
		m        Mutation
		ct       string
		want     []string
		wantSeqs []int64
		deleted  bool
	}{
		{MutationNone, "video/mp2t", []string{"seg0", "seg1", "seg2", "seg3"}, []int64{0, 1, 2, 3}, true},
		{MutationDropFirstSegment, "video/MP2T", []string{"seg1", "seg2", "seg3"}, []int64{0, 1, 2}, true},
		{MutationSkipOutputSeq, "video/mp2t", []string{"seg0", "seg1", "seg2", "seg3"}, []int64{0, 1, 3, 4}, true},
		{MutationOutputLeftOpen, "video/mp2t", []string{"seg0", "seg1", "seg2", "seg3"}, []int64{0, 1, 2, 3}, false},
		// Only MPEG-TS is output.
		{MutationDropFirstSegment, "application/json", []string{"seg0", "seg1", "seg2", "seg3"}, []int64{0, 1, 2, 3}, true},
		{MutationSkipOutputSeq, "application/json", []string{"seg0", "seg1", "seg2", "seg3"}, []int64{0, 1, 2, 3}, true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s %s", c.m, c.ct), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, MutationNone, processor.Config{})
			e.channel("out")
			var read *follower
			want := len(c.want)
			skip := c.m == MutationSkipOutputSeq && c.ct == "video/mp2t"
			if skip {
				want = 2 // a reader waits for seq 2, which never comes
			}
			if c.deleted {
				read = e.follow("out")
			}
			publishThrough(t, e, c.m, "out", c.ct, 4, read, want)
			var posts []int64
			deleted := false
			for _, q := range e.trickle.Requests() {
				switch {
				case q.Method == "POST" && q.BytesIn > 0:
					posts = append(posts, q.Seq)
				case q.Method == "DELETE" && !q.HasSeq:
					deleted = true
				}
			}
			slices.Sort(posts)
			if !slices.Equal(posts, c.wantSeqs) {
				t.Errorf("the server got segments on seqs %v, want %v", posts, c.wantSeqs)
			}
			if deleted != c.deleted {
				t.Errorf("the server saw the channel's DELETE: %v, want %v", deleted, c.deleted)
			}
			if !c.deleted {
				return
			}
			got, seqs := bodies(read.all())
			if skip {
				if len(got) < 2 || got[0] != "seg0" || got[1] != "seg1" {
					t.Errorf("read back %q on seqs %v, want seg0 and seg1 first", got, seqs)
				}
				return
			}
			if !slices.Equal(got, c.want) || !slices.Equal(seqs, c.wantSeqs) {
				t.Errorf("read back %q on seqs %v, want %q on %v", got, seqs, c.want, c.wantSeqs)
			}
		})
	}
}

func TestTransportLeavesTheRestAlone(t *testing.T) {
	for _, m := range append([]Mutation{MutationNone}, AllMutations()...) {
		t.Run("mutation="+string(m), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, MutationNone, processor.Config{})
			e.channel("in")
			// The input subscriber's GETs go through unchanged.
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			read := e.followWith("in", &http.Client{Transport: &transport{next: tr, mut: m}})
			publishThrough(t, e, MutationNone, "in", "video/mp2t", 3, read, 3)
			got, _ := bodies(read.all())
			if !slices.Equal(got, []string{"seg0", "seg1", "seg2"}) {
				t.Errorf("read %q", got)
			}
		})
	}
}
