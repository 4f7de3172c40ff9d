package trickle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

func newPair(t *testing.T, cfg ServerConfig, start Start) (*Server, string, *Publisher, *Subscriber) {
	t.Helper()
	cfg.Autocreate = true
	srv, base := newTestServer(t, cfg)
	if err := srv.CreateChannel("ch", ContentTypeMPEGTS); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pub, err := NewPublisher(ctx, PublisherConfig{URL: base + "/ch", Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := NewSubscriber(SubscriberConfig{URL: base + "/ch", Start: start, Logger: discardLogger(), RetryBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sub.Close()
		pub.Close(context.Background())
	})
	return srv, base, pub, sub
}

func readSegment(t *testing.T, ctx context.Context, sub *Subscriber) (int64, string) {
	t.Helper()
	seg, err := sub.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	defer seg.Close()
	b, err := io.ReadAll(seg)
	if err != nil {
		t.Fatalf("read seq %d: %v", seg.Seq, err)
	}
	return seg.Seq, string(b)
}

func TestPublisherAndSubscriberCarrySegmentsInOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A ring larger than the run, so a slow reader never falls out of it.
	_, _, pub, sub := newPair(t, ServerConfig{RingSize: 16}, StartAt(0))
	written := make(chan struct{})
	go func() {
		defer close(written)
		for i := range 10 {
			if _, err := pub.Write(ctx, strings.NewReader(fmt.Sprintf("segment-%d", i))); err != nil {
				t.Errorf("write %d: %v", i, err)
				return
			}
		}
	}()
	for i := range 10 {
		seq, body := readSegment(t, ctx, sub)
		if seq != int64(i) || body != fmt.Sprintf("segment-%d", i) {
			t.Fatalf("got seq %d %q, want %d", seq, body, i)
		}
	}
	if st := sub.Stats(); st.Segments != 10 || st.Skipped != 0 {
		t.Fatalf("subscriber stats %+v", st)
	}
	<-written
	if st := pub.Stats(); st.Segments != 10 || st.Lost != 0 {
		t.Fatalf("publisher stats %+v", st)
	}
}

func TestSubscriberReportsTheEndOfTheStreamDistinctly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, pub, sub := newPair(t, ServerConfig{}, StartAt(0))
	if _, err := pub.Write(ctx, strings.NewReader("only")); err != nil {
		t.Fatal(err)
	}
	if _, body := readSegment(t, ctx, sub); body != "only" {
		t.Fatalf("body %q", body)
	}
	if err := pub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := sub.Next(ctx)
	if !errors.Is(err, ErrStreamClosed) {
		t.Fatalf("after close: %v, want ErrStreamClosed", err)
	}
	if errors.Is(err, io.EOF) {
		t.Fatal("end of stream must not be io.EOF")
	}
}

func TestSubscriberOnAMissingChannelReportsNotFound(t *testing.T) {
	_, base := newTestServer(t, ServerConfig{})
	sub, err := NewSubscriber(SubscriberConfig{URL: base + "/missing", Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := sub.Next(ctx); !errors.Is(err, ErrStreamNotFound) {
		t.Fatalf("got %v", err)
	}
}

func TestPublisherOnAMissingChannelReportsNotFound(t *testing.T) {
	_, base := newTestServer(t, ServerConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pub, err := NewPublisher(ctx, PublisherConfig{URL: base + "/missing", Logger: discardLogger(), RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(ctx)
	if _, err := pub.Write(ctx, strings.NewReader("x")); !errors.Is(err, ErrStreamNotFound) {
		t.Fatalf("got %v", err)
	}
}

func TestSubscriberThatFallsBehindJumpsToTheLatest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, pub, sub := newPair(t, ServerConfig{RingSize: 3}, StartAt(0))
	for i := range 8 {
		if _, err := pub.Write(ctx, strings.NewReader(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	go func() {
		for sub.Stats().Jumps == 0 && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		pub.Write(ctx, strings.NewReader("8"))
	}()
	seq, body := readSegment(t, ctx, sub)
	if seq != 8 || body != "8" {
		t.Fatalf("got seq %d %q, want the latest (8)", seq, body)
	}
	if st := sub.Stats(); st.Jumps != 1 || st.Skipped != 8 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSubscriberStartsWhereAsked(t *testing.T) {
	cases := []struct {
		name  string
		start Start
		want  string
	}{
		{"the zero start waits for the next segment", Start{}, "2"},
		{"SeqCurrent starts at the last segment written", StartAt(SeqCurrent), "1"},
		{"an absolute start replays from there", StartAt(0), "0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _, pub, sub := newPair(t, ServerConfig{}, c.start)
			for i := range 2 {
				pub.Write(ctx, strings.NewReader(fmt.Sprint(i)))
			}
			go func() {
				time.Sleep(50 * time.Millisecond)
				pub.Write(ctx, strings.NewReader("2"))
			}()
			if _, body := readSegment(t, ctx, sub); body != c.want {
				t.Fatalf("first segment %q, want %q", body, c.want)
			}
		})
	}
}

func TestPublisherStartAtNextContinuesAnExistingChannel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, base, pub, _ := newPair(t, ServerConfig{}, Start{})
	for range 3 {
		pub.Write(ctx, strings.NewReader("x"))
	}
	p2, err := NewPublisher(ctx, PublisherConfig{URL: base + "/ch", StartAtNext: true, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close(ctx)
	if p2.Seq() != 3 {
		t.Fatalf("second publisher starts at %d, want 3", p2.Seq())
	}
}

func TestRestartedPublisherMovesPastWrittenSegments(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, base, pub, _ := newPair(t, ServerConfig{}, Start{})
	for range 3 {
		pub.Write(ctx, strings.NewReader("x"))
	}
	p2, err := NewPublisher(ctx, PublisherConfig{URL: base + "/ch", Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close(ctx)
	w, err := p2.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "fresh")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Seq() < 3 {
		t.Fatalf("restarted publisher wrote seq %d over existing segments", w.Seq())
	}
	_, body := do(t, "GET", base+"/ch/"+formatSeq(w.Seq()), nil)
	if body != "fresh" {
		t.Fatalf("segment %d holds %q", w.Seq(), body)
	}
}

func TestChannelURLsAreChecked(t *testing.T) {
	for _, u := range []string{"", "ftp://h/ch", "http:///ch", "http://h/a%2Fb", "http://h/.."} {
		t.Run(fmt.Sprintf("%q is refused", u), func(t *testing.T) {
			if _, err := NewSubscriber(SubscriberConfig{URL: u}); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
