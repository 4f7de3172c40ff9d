package trickleserver

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// The server's timing, judged from the recorder's clock on both sides of it:
// a reader waiting on a segment gets its first byte right after the
// publisher sends it, and a segment written over time reaches the reader
// as a stream, not in one piece at the end. Margins suit loopback on a
// shared two-core machine.
func TestTheRecorderShowsSegmentsStreamedAsTheyAreWritten(t *testing.T) {
	const (
		chunks   = 4
		pause    = 250 * time.Millisecond // longer than firstMax: a chunk held back till the next one shows
		firstMax = 150 * time.Millisecond // publisher's first byte in -> reader's first byte out
	)
	h := newHarness(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.srv.Trickle().CreateChannel("s", trickle.ContentTypeMPEGTS); err != nil {
		t.Fatal(err)
	}
	sub, err := trickle.NewSubscriber(trickle.SubscriberConfig{URL: h.base + "/s", Start: trickle.StartAt(0), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	pub, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: h.base + "/s", Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(ctx)

	read := make(chan []time.Time, 1)
	go func() {
		seg, err := sub.Next(ctx) // blocks: segment 0 has not started
		if err != nil {
			read <- nil
			return
		}
		defer seg.Close()
		var arrivals []time.Time
		buf := make([]byte, 64)
		for {
			n, err := seg.Read(buf)
			if n > 0 {
				arrivals = append(arrivals, time.Now())
			}
			if err != nil {
				break
			}
		}
		read <- arrivals
	}()
	time.Sleep(100 * time.Millisecond) // the reader is parked on segment 0

	w, err := pub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range chunks {
		if i > 0 {
			time.Sleep(pause)
		}
		if _, err := io.WriteString(w, "chunk"); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	arrivals := <-read
	if len(arrivals) < chunks {
		t.Fatalf("the reader got the segment in %d reads, want one per chunk (%d): it was not streamed", len(arrivals), chunks)
	}

	var post, get *Request
	for _, r := range h.srv.Requests() {
		switch {
		case r.Method == "POST" && r.HasSeq && r.Seq == 0 && r.BytesIn > 0:
			post = &r
		case r.Method == "GET" && r.HasSeq && r.Seq == 0 && r.BytesOut > 0:
			get = &r
		}
	}
	if post == nil || get == nil {
		t.Fatalf("recorder lacks the POST or GET of seq 0: %+v", h.srv.Requests())
	}
	if d := get.FirstByteOut.Sub(post.FirstByteIn); d < 0 || d > firstMax {
		t.Errorf("first byte reached the waiting reader %v after the publisher sent it, want within %v", d, firstMax)
	}
	if written := post.LastByteIn.Sub(post.FirstByteIn); written < (chunks-1)*pause {
		t.Fatalf("the publisher took %v, want about %v: the test did not write over time", written, (chunks-1)*pause)
	}
	if early := post.LastByteIn.Sub(get.FirstByteOut); early < (chunks-1)*pause-firstMax {
		t.Errorf("the reader's first byte went out only %v before the segment's last byte came in: not streamed", early)
	}
	if d := get.LastByteOut.Sub(post.LastByteIn); d > firstMax {
		t.Errorf("the last byte reached the reader %v after it came in, want within %v", d, firstMax)
	}
}
