package processor

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// fakePublisher records the segments the egress sends. While gate is
// open (non-nil and not closed), every Write waits on it, like a POST to
// a server that stopped reading.
type fakePublisher struct {
	mu       sync.Mutex
	segments []*wireSegment
	gate     chan struct{}
	nextErr  error
	writeErr error // every write fails with it
	// abortHangs makes Abort wait for Cancel, as the real one waits for
	// a POST whose bytes are stuck on a connection the server stopped
	// reading.
	abortHangs bool
}

type wireSegment struct {
	p         *fakePublisher
	buf       bytes.Buffer
	closed    bool
	aborted   error
	cancelled error
	cancel    chan struct{} // closed by Cancel
}

func (f *fakePublisher) Next(context.Context) (segmentWriter, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nextErr != nil {
		return nil, f.nextErr
	}
	s := &wireSegment{p: f, cancel: make(chan struct{})}
	f.segments = append(f.segments, s)
	return s, nil
}

func (f *fakePublisher) block() {
	f.mu.Lock()
	f.gate = make(chan struct{})
	f.mu.Unlock()
}

func (f *fakePublisher) unblock() {
	f.mu.Lock()
	close(f.gate)
	f.gate = nil
	f.mu.Unlock()
}

func (f *fakePublisher) sent() []*wireSegment {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*wireSegment(nil), f.segments...)
}

func (s *wireSegment) Write(b []byte) (int, error) {
	s.p.mu.Lock()
	gate, werr := s.p.gate, s.p.writeErr
	s.p.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-s.cancel:
		}
	}
	s.p.mu.Lock()
	cancelled := s.cancelled
	s.p.mu.Unlock()
	if cancelled != nil {
		return 0, cancelled
	}
	if werr != nil {
		return 0, werr
	}
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	return s.buf.Write(b)
}

func (s *wireSegment) Close() error {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	s.closed = true
	if s.p.writeErr != nil {
		return s.p.writeErr
	}
	return nil
}

func (s *wireSegment) Cancel(err error) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	if s.cancelled == nil {
		s.cancelled = err
		close(s.cancel)
	}
}

func (s *wireSegment) Abort(err error) {
	s.p.mu.Lock()
	s.aborted = err
	hangs := s.p.abortHangs
	s.p.mu.Unlock()
	if hangs {
		<-s.cancel
	}
}

func (s *wireSegment) String() string {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	return s.buf.String()
}

func newTestEgress(t *testing.T, pub *fakePublisher, limit int) (*egress, *counters, *int) {
	return newStallingEgress(t, pub, limit, -1)
}

func newStallingEgress(t *testing.T, pub *fakePublisher, limit int, stall time.Duration) (*egress, *counters, *int) {
	t.Helper()
	ctr := &counters{}
	firsts := new(int)
	e := newEgress(context.Background(), pub, limit, stall, ctr, func() { *firsts++ }, quietLogger())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.close(ctx)
	})
	return e, ctr, firsts
}

// writeSegment writes parts as one segment from the encoder's side and
// fails if the egress makes it wait.
func writeSegment(t *testing.T, e *egress, parts ...string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		w := e.segment()
		var err error
		for _, p := range parts {
			if _, werr := io.WriteString(w, p); werr != nil && err == nil {
				err = werr
			}
		}
		w.Close()
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("the encoder's writes waited on the network")
		return nil
	}
}

func TestTheEgressSendsSegmentsInOrderWhole(t *testing.T) {
	pub := &fakePublisher{}
	e, ctr, firsts := newTestEgress(t, pub, 1<<20)
	for _, parts := range [][]string{{"a1", "a2"}, {"b1"}, {"c1", "c2", "c3"}} {
		if err := writeSegment(t, e, parts...); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.close(context.Background()); err != nil {
		t.Fatalf("close: %v", err)
	}
	got := pub.sent()
	want := []string{"a1a2", "b1", "c1c2c3"}
	if len(got) != len(want) {
		t.Fatalf("sent %d segments, want %d", len(got), len(want))
	}
	for i, s := range got {
		if s.String() != want[i] || !s.closed || s.aborted != nil {
			t.Errorf("segment %d: %q closed=%v aborted=%v, want %q closed", i, s.String(), s.closed, s.aborted, want[i])
		}
	}
	if c := ctr.segmentsOut.Load(); c != 3 {
		t.Errorf("segments out %d, want 3", c)
	}
	if c := ctr.bytesOut.Load(); c != 12 {
		t.Errorf("bytes out %d, want 12", c)
	}
	if *firsts != 1 {
		t.Errorf("first-byte hook ran %d times, want once", *firsts)
	}
}

func TestTheEncoderDoesNotWaitWhileTheNetworkIsStalled(t *testing.T) {
	pub := &fakePublisher{}
	e, ctr, _ := newTestEgress(t, pub, 1<<20)
	pub.block()
	// Three segments go in while the first write is stuck on the wire.
	for _, s := range []string{"one", "two", "three"} {
		if err := writeSegment(t, e, s); err != nil {
			t.Fatal(err)
		}
	}
	if c := ctr.segmentsOut.Load(); c != 0 {
		t.Fatalf("%d segments counted out while the network was stalled", c)
	}
	if n := e.heldBytes(); n != len("one")+len("two")+len("three") {
		t.Fatalf("%d bytes held while the network was stalled, want all 11 written", n)
	}
	pub.unblock()
	if err := e.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := pub.sent()
	if len(got) != 3 || got[0].String() != "one" || got[1].String() != "two" || got[2].String() != "three" {
		t.Fatalf("sent %v after the stall, want one, two, three", got)
	}
	if c := ctr.segmentsOut.Load(); c != 3 {
		t.Errorf("segments out %d, want 3", c)
	}
}

func TestASegmentThatOverflowsTheBufferIsDroppedWholeAndTheNextOneGoesOut(t *testing.T) {
	pub := &fakePublisher{}
	e, ctr, _ := newTestEgress(t, pub, 10)
	pub.block()
	if err := writeSegment(t, e, "0123"); err != nil { // taken by the sender, stuck
		t.Fatal(err)
	}
	// "abcd" + "efgh" fit beside it; "ijkl" would pass 10 bytes held: the
	// segment is dropped, its bytes freed, and the writer told.
	err := writeSegment(t, e, "abcd", "efgh", "ijkl")
	if !errors.Is(err, errOutputBackedUp) {
		t.Fatalf("overflowing write = %v, want errOutputBackedUp", err)
	}
	// The space is free again: the next segment fits.
	if err := writeSegment(t, e, "next"); err != nil {
		t.Fatalf("the segment after the dropped one: %v", err)
	}
	pub.unblock()
	if err := e.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := pub.sent()
	if len(got) < 2 || got[0].String() != "0123" || got[len(got)-1].String() != "next" {
		t.Fatalf("sent %v, want 0123 first and next last", got)
	}
	for _, s := range got[1 : len(got)-1] {
		if s.aborted == nil {
			t.Errorf("the dropped segment went out as %q and was not aborted", s.String())
		}
	}
	if c := ctr.segmentsLost.Load(); c != 1 {
		t.Errorf("segments lost %d, want 1", c)
	}
	if c := ctr.segmentsOut.Load(); c != 2 {
		t.Errorf("segments out %d, want 2", c)
	}
}

// startOnTheWire starts a segment and waits until its first bytes,
// "head", have been written to the publisher.
func startOnTheWire(t *testing.T, e *egress, pub *fakePublisher) io.WriteCloser {
	t.Helper()
	w := e.segment()
	if _, err := io.WriteString(w, "head"); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		s := pub.sent()
		return len(s) == 1 && s[0].String() == "head"
	})
	return w
}

func TestADroppedSegmentThatWasAlreadyOnTheWireIsAborted(t *testing.T) {
	pub := &fakePublisher{}
	e, ctr, _ := newTestEgress(t, pub, 8)
	w := startOnTheWire(t, e, pub)
	pub.block()
	io.WriteString(w, "1234") // taken by the sender, stuck
	eventually(t, func() bool { return e.heldBytes() == 4 })
	if _, err := io.WriteString(w, "56789"); !errors.Is(err, errOutputBackedUp) {
		t.Fatalf("overflowing write = %v, want errOutputBackedUp", err)
	}
	if _, err := io.WriteString(w, "more"); !errors.Is(err, errOutputBackedUp) {
		t.Fatalf("a write to a dropped segment = %v, want errOutputBackedUp", err)
	}
	w.Close()
	pub.unblock()
	if err := e.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := pub.sent()
	if len(got) != 1 || got[0].aborted == nil {
		t.Fatalf("the segment was not aborted on the wire: %+v", got)
	}
	if c := ctr.segmentsLost.Load(); c != 1 || ctr.segmentsOut.Load() != 0 {
		t.Errorf("segments lost %d out %d, want 1 and 0", c, ctr.segmentsOut.Load())
	}
}

func TestASegmentThePublisherFailsIsCountedLostAndTheRestGoOn(t *testing.T) {
	pub := &fakePublisher{writeErr: errors.New("connection reset")}
	e, ctr, _ := newTestEgress(t, pub, 1<<20)
	if err := writeSegment(t, e, "lost"); err != nil {
		t.Fatalf("the encoder saw the network's error: %v", err)
	}
	eventually(t, func() bool { return ctr.segmentsLost.Load() == 1 })
	pub.mu.Lock()
	pub.writeErr, pub.nextErr = nil, errors.New("server gone")
	pub.mu.Unlock()
	writeSegment(t, e, "no seq")
	eventually(t, func() bool { return ctr.segmentsLost.Load() == 2 })
	pub.mu.Lock()
	pub.nextErr = nil
	pub.mu.Unlock()
	writeSegment(t, e, "fine")
	if err := e.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := pub.sent(); len(got) != 2 || got[1].String() != "fine" {
		t.Fatalf("sent %v, want the failed one and fine", got)
	}
	if ctr.segmentsOut.Load() != 1 || ctr.segmentsLost.Load() != 2 {
		t.Errorf("out %d lost %d, want 1 and 2", ctr.segmentsOut.Load(), ctr.segmentsLost.Load())
	}
}

func TestClosingTheEgressGivesUpWhenTheNetworkNeverComesBack(t *testing.T) {
	pub := &fakePublisher{}
	e, _, _ := newTestEgress(t, pub, 1<<20)
	pub.block()
	writeSegment(t, e, "stuck")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("close = %v, want the deadline", err)
	}
	pub.unblock() // lets the sender finish, so nothing leaks
	if err := e.close(context.Background()); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestASegmentTheEncoderLeftOpenEndsWhenTheNextOneStarts(t *testing.T) {
	pub := &fakePublisher{}
	e, ctr, _ := newTestEgress(t, pub, 1<<20)
	io.WriteString(e.segment(), "abandoned") // never closed
	if err := writeSegment(t, e, "next"); err != nil {
		t.Fatal(err)
	}
	if err := e.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := pub.sent()
	if len(got) != 2 || got[0].String() != "abandoned" || got[1].String() != "next" {
		t.Fatalf("sent %v, want both segments in order", got)
	}
	if ctr.segmentsOut.Load() != 2 {
		t.Errorf("segments out %d, want 2", ctr.segmentsOut.Load())
	}
}

func TestClosingTheEgressEndsTheLastSegmentWhenTheEncoderLeftItOpen(t *testing.T) {
	pub := &fakePublisher{}
	e, ctr, _ := newTestEgress(t, pub, 1<<20)
	io.WriteString(e.segment(), "header only") // the muxer failed to start: never closed
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.close(ctx); err != nil {
		t.Fatalf("close with the last segment left open = %v, want it drained", err)
	}
	if got := pub.sent(); len(got) != 1 || got[0].String() != "header only" || !got[0].closed {
		t.Fatalf("sent %v, want the open segment finished", got)
	}
	if ctr.segmentsOut.Load() != 1 {
		t.Errorf("segments out %d, want 1", ctr.segmentsOut.Load())
	}
}

func TestAnAbandonedEgressAbortsTheSegmentOnTheWireAndCountsTheRestLost(t *testing.T) {
	pub := &fakePublisher{}
	e, ctr, _ := newTestEgress(t, pub, 1<<20)
	pub.block()
	io.WriteString(e.segment(), "on the wire") // not finished by the encoder yet
	eventually(t, func() bool { return len(pub.sent()) == 1 })
	for _, s := range []string{"queued", "queued too"} {
		if err := writeSegment(t, e, s); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("close = %v, want the deadline", err)
	}
	e.abandon()
	pub.unblock() // the stuck write returns, as when the publisher closes
	if err := e.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := pub.sent()
	if len(got) != 1 || !errors.Is(got[0].aborted, errOutputAbandoned) {
		t.Fatalf("sent %v, want only the first segment, aborted", got)
	}
	if ctr.segmentsLost.Load() != 3 || ctr.segmentsOut.Load() != 0 {
		t.Errorf("lost %d out %d, want 3 and 0", ctr.segmentsLost.Load(), ctr.segmentsOut.Load())
	}
	if e.heldBytes() != 0 {
		t.Errorf("%d bytes still held", e.heldBytes())
	}
}

func TestWithoutAnOutputBufferTheEncoderWritesStraightToThePublisher(t *testing.T) {
	for _, buffer := range []int{-1, 0} {
		name := map[int]string{-1: "with the buffer off", 0: "with the default buffer"}[buffer]
		t.Run(name+", every frame comes out in order", func(t *testing.T) {
			pl := newPipeline(t, Funcs{}, Config{OutputBuffer: buffer})
			pl.load()
			pl.start(pl.request())
			if got := pl.p.running().egress != nil; got != (buffer >= 0) {
				t.Fatalf("egress in use: %v, want %v", got, buffer >= 0)
			}
			pl.feed("v=5 a=2 pts=0", "v=5 a=2 pts=5")
			pl.endInput()
			out := pl.read("out")
			if err := out.waitEnd(t); !errors.Is(err, trickle.ErrStreamClosed) {
				t.Fatalf("the output ended with %v, want the end of the stream", err)
			}
			if got, want := ptsOf(video(parseOut(t, out.lines()))), seq(0, 10); !slices.Equal(got, want) {
				t.Errorf("video PTS out: %v, want %v", got, want)
			}
		})
	}
}

func TestASegmentTheServerTakesNothingOfIsGivenUpAfterTheStallTimeout(t *testing.T) {
	pub := &fakePublisher{}
	e, ctr, _ := newStallingEgress(t, pub, 1<<20, 50*time.Millisecond)
	pub.block()
	if err := writeSegment(t, e, "stuck"); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return ctr.segmentsLost.Load() == 1 })
	pub.unblock()
	if err := writeSegment(t, e, "next"); err != nil {
		t.Fatal(err)
	}
	if err := e.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := pub.sent()
	if len(got) != 2 || !errors.Is(got[0].cancelled, errOutputStalled) || got[1].String() != "next" || got[1].cancelled != nil {
		t.Fatalf("sent %v, want the stuck segment cancelled for the stall and the next one whole", got)
	}
	if ctr.segmentsOut.Load() != 1 || ctr.segmentsLost.Load() != 1 {
		t.Errorf("out %d lost %d, want 1 and 1", ctr.segmentsOut.Load(), ctr.segmentsLost.Load())
	}
}

func TestAnAbortTheServerNeverLetsEndIsGivenUpAfterTheStallTimeout(t *testing.T) {
	pub := &fakePublisher{abortHangs: true}
	e, ctr, _ := newStallingEgress(t, pub, 8, 50*time.Millisecond)
	w := startOnTheWire(t, e, pub)
	// Past the buffer: the segment is dropped and, its head being on the
	// wire already, aborted; the abort hangs until the segment is given
	// up.
	if _, err := io.WriteString(w, "123456789"); !errors.Is(err, errOutputBackedUp) {
		t.Fatalf("overflowing write = %v, want errOutputBackedUp", err)
	}
	w.Close()
	if err := writeSegment(t, e, "next"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.close(ctx); err != nil {
		t.Fatalf("the egress is still stuck in the abort: %v", err)
	}
	got := pub.sent()
	if len(got) != 2 || !errors.Is(got[0].aborted, errOutputBackedUp) || !errors.Is(got[0].cancelled, errOutputStalled) || got[1].String() != "next" {
		t.Fatalf("sent %v, want the dropped segment aborted and given up, then the next one whole", got)
	}
	if ctr.segmentsOut.Load() != 1 || ctr.segmentsLost.Load() != 1 {
		t.Errorf("out %d lost %d, want 1 and 1", ctr.segmentsOut.Load(), ctr.segmentsLost.Load())
	}
}

func TestTimeTheEncoderTakesIsNotTakenForAStalledServer(t *testing.T) {
	pub := &fakePublisher{}
	e, ctr, _ := newStallingEgress(t, pub, 1<<20, 200*time.Millisecond)
	w := e.segment()
	// Each write is taken within the timeout, the whole segment well
	// after it.
	for range 5 {
		io.WriteString(w, "part")
		time.Sleep(100 * time.Millisecond)
	}
	w.Close()
	if err := e.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := pub.sent(); len(got) != 1 || got[0].String() != "partpartpartpartpart" || got[0].cancelled != nil {
		t.Fatalf("sent %v, want the segment whole", got)
	}
	if ctr.segmentsOut.Load() != 1 {
		t.Errorf("segments out %d, want 1", ctr.segmentsOut.Load())
	}
}
