package trickle

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// silentServer accepts connections and never reads or answers: a publish
// server that stalled.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "http://" + ln.Addr().String()
}

// stallCases are the two places a segment's writer waits on a stalled
// server: a write, once the connection's buffers are full, and the end of
// the segment, waiting for the answer.
var stallCases = []struct {
	name  string
	bytes int // written: enough to fill the socket buffers when large
}{
	{"in a write stuck on a full connection", 64 << 20},
	{"in a Close waiting for an answer that never comes", 1 << 10},
}

// stalledSegment starts a segment on a server that never reads or
// answers.
func stalledSegment(t *testing.T) (*Publisher, *SegmentWriter) {
	t.Helper()
	base := silentServer(t)
	pub, err := NewPublisher(context.Background(), PublisherConfig{URL: base + "/ch", Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := pub.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return pub, w
}

// writeAll writes n bytes to w in 1 MiB chunks.
func writeAll(w io.Writer, n int) error {
	chunk := make([]byte, 1<<20)
	for sent := 0; sent < n; sent += len(chunk) {
		if _, err := w.Write(chunk[:min(len(chunk), n-sent)]); err != nil {
			return err
		}
	}
	return nil
}

func TestClosingAPublisherIsBoundedByItsContextWhenTheServerStalls(t *testing.T) {
	for _, tc := range stallCases {
		t.Run("while "+tc.name, func(t *testing.T) {
			pub, w := stalledSegment(t)
			writing := make(chan struct{})
			go func() {
				defer close(writing)
				writeAll(w, tc.bytes)
			}()
			if tc.bytes < 1<<20 {
				<-writing // the small write goes into the pipe's waiting request
			} else {
				time.Sleep(1500 * time.Millisecond) // past Expect's 1-s wait: the body flows until the buffers fill
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			closed := make(chan error, 1)
			go func() { closed <- pub.Close(ctx) }()
			select {
			case err := <-closed:
				if err == nil || !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Close = %v, want the context's deadline", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Close did not return after its context ended")
			}
			select {
			case <-writing:
			case <-time.After(10 * time.Second):
				t.Fatal("the stuck Write did not return once the publisher closed")
			}
		})
	}
}

func TestCancellingASegmentStuckOnAStalledServerFreesItsWriter(t *testing.T) {
	for _, tc := range stallCases {
		t.Run(tc.name, func(t *testing.T) {
			pub, w := stalledSegment(t)
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				pub.Close(ctx)
			}()
			stalled := errors.New("no progress for the stall timeout")
			result := make(chan error, 1)
			go func() {
				if err := writeAll(w, tc.bytes); err != nil {
					result <- err
					return
				}
				result <- w.Close()
			}()
			time.Sleep(1500 * time.Millisecond) // past Expect's 1-s wait: the body flows, then stalls
			w.Cancel(stalled)
			select {
			case err := <-result:
				if !errors.Is(err, stalled) {
					t.Errorf("the stuck call returned %v, want the cancel's cause", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the stuck call did not return after Cancel")
			}
			if _, err := w.Write([]byte("more")); !errors.Is(err, stalled) {
				t.Errorf("a write after Cancel = %v, want the cause", err)
			}
			if err := w.Close(); !errors.Is(err, stalled) {
				t.Errorf("Close after Cancel = %v, want the cause", err)
			}
			if st := pub.Stats(); st.Lost != 1 {
				t.Errorf("stats %+v, want the segment counted lost", st)
			}
			if seq := pub.Seq(); seq != 1 {
				t.Errorf("the publisher's next seq is %d, want 1 (it moves on)", seq)
			}
		})
	}
}

func TestCancellingASegmentEndsItsRetryPauseAndOpensNoMorePOSTs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	front, base := newFlakyServer(t, http.MethodPost, "/ch/0", 100)
	// The POST opened at NewPublisher is refused; its retry ahead and the
	// writer's own wait 5 s first.
	pub, err := NewPublisher(ctx, PublisherConfig{URL: base + "/ch", MaxRetries: 3, RetryBackoff: 5 * time.Second, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(context.Background())
	waitFor(t, "the first POST is refused", func() bool { return front.seen("POST /ch/0") == 1 })
	w, err := pub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stalled := errors.New("stalled")
	result := make(chan error, 1)
	go func() {
		_, err := w.Write([]byte("zero"))
		result <- err
	}()
	time.Sleep(200 * time.Millisecond) // into the first pause
	w.Cancel(stalled)
	select {
	case err := <-result:
		if !errors.Is(err, stalled) {
			t.Fatalf("Write = %v, want the cancel's cause", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Write waited out the retry pause after Cancel")
	}
	if n := front.seen("POST /ch/0"); n != 1 {
		t.Fatalf("seq 0 was posted %d times, want 1: no retry after Cancel", n)
	}
	if r := pub.Stats().Retries; r != 0 {
		t.Fatalf("Retries = %d, want 0", r)
	}
}

// A last segment that failed part-way is closed on the server with a
// DELETE; a server that leaves that unanswered must not hold Close past
// its context either (the DELETE's own bound is 2 s).
func TestClosingAPublisherIsBoundedByItsContextWhileAFailedSegmentIsDeleted(t *testing.T) {
	deleting := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			io.Copy(io.Discard, r.Body)
			http.Error(rw, "failed after the body", http.StatusInternalServerError)
		case http.MethodDelete:
			select {
			case deleting <- struct{}{}:
			default:
			}
			<-r.Context().Done()
		}
	}))
	defer srv.Close()
	pub, err := NewPublisher(context.Background(), PublisherConfig{URL: srv.URL + "/ch", Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := pub.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("the last segment")); err != nil {
		t.Fatal(err)
	}
	// Room for the POST's answer and the DELETE to come about on a loaded
	// machine first, and still well short of the DELETE's 2 s.
	const bound = time.Second
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	start := time.Now()
	err = pub.Close(ctx)
	took := time.Since(start)
	select {
	case <-deleting:
	default:
		t.Fatal("the failed segment was not closed with DELETE: the case did not arise")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want the context's deadline", err)
	}
	if took > bound+700*time.Millisecond {
		t.Errorf("Close took %v with a %v context: it waited for the DELETE", took, bound)
	}
}
