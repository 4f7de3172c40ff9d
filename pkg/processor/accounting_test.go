package processor

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// These tests check the accounting of docs/reliability.md: every frame and
// input segment ends in exactly one outcome, and the outcomes add up to
// what came in.

// checkSums fails the test unless c's outcomes add up to its totals and
// nothing is still in flight (the stream has ended).
func checkSums(t *testing.T, c Counters) {
	t.Helper()
	if got := c.VideoOut + c.VideoSkipped + c.VideoDropped + c.VideoLost; got != c.VideoIn || c.VideoInFlight != 0 {
		t.Errorf("video: out %d + skipped %d + dropped %d + lost %d = %d, in %d, in flight %d; want the sum = in and none in flight",
			c.VideoOut, c.VideoSkipped, c.VideoDropped, c.VideoLost, got, c.VideoIn, c.VideoInFlight)
	}
	if got := c.AudioOut + c.AudioSkipped + c.AudioDropped + c.AudioLost; got != c.AudioIn+c.AudioAdded || c.AudioInFlight != 0 {
		t.Errorf("audio: out %d + skipped %d + dropped %d + lost %d = %d, in %d + added %d, in flight %d; want the sums equal and none in flight",
			c.AudioOut, c.AudioSkipped, c.AudioDropped, c.AudioLost, got, c.AudioIn, c.AudioAdded, c.AudioInFlight)
	}
}

// runToEnd feeds bodies, ends the input and waits for the output channel
// to end; it returns the output frames and the final counters.
func runToEnd(t *testing.T, pl *pipeline, req StartRequest, bodies ...string) ([]outFrame, Counters) {
	t.Helper()
	pl.start(req)
	pl.feed(bodies...)
	pl.endInput()
	out := pl.read("out")
	if err := out.waitEnd(t); !errors.Is(err, trickle.ErrStreamClosed) {
		t.Fatalf("output ended with %v, want the end of the stream", err)
	}
	eventually(t, func() bool { return pl.stream().finished() })
	return parseOut(t, out.lines()), pl.counters()
}

func TestAccounting(t *testing.T) {
	t.Run("every frame of a passthrough stream comes out and the totals match the input", func(t *testing.T) {
		pl := newPipeline(t, Funcs{}, Config{})
		pl.load()
		frames, c := runToEnd(t, pl, pl.request(), "v=6 a=3 pts=0", "v=6 a=3 pts=6", "v=6 a=3 pts=12")
		checkSums(t, c)
		if c.VideoIn != 18 || c.VideoOut != 18 || c.AudioIn != 9 || c.AudioOut != 9 || c.SegmentsIn != 3 ||
			c.InputSegmentsLost != 0 || c.CorruptInput != 0 || c.VideoLost+c.AudioLost != 0 {
			t.Errorf("counters %s: want 18 video and 9 audio frames in and out, 3 segments, nothing lost", asJSON(c))
		}
		if n := len(video(frames)); uint64(n) != c.VideoOut {
			t.Errorf("%d video frames on the wire, video_frames_out says %d", n, c.VideoOut)
		}
	})

	t.Run("dropped, failed, panicking and expanding handlers leave every frame in one outcome", func(t *testing.T) {
		boom := errors.New("boom")
		pl := newPipeline(t, Funcs{
			Video: func(_ context.Context, f *frame.Video) (*frame.Video, error) {
				switch f.PTS % 4 {
				case 0:
					return nil, ErrDrop
				case 1:
					return nil, boom
				case 2:
					panic("kaboom")
				}
				return nil, nil
			},
			Audio: func(_ context.Context, a *frame.Audio) ([]*frame.Audio, error) {
				switch (a.PTS / 960) % 5 {
				case 0:
					return nil, ErrDrop
				case 1:
					return []*frame.Audio{}, nil
				case 2:
					return nil, boom
				case 3:
					second := a.Clone()
					second.PTS += 480
					return []*frame.Audio{a, second}, nil
				}
				return nil, nil
			},
		}, Config{})
		pl.load()
		frames, c := runToEnd(t, pl, pl.request(), "v=8 a=5 pts=0", "v=8 a=5 pts=8")
		checkSums(t, c)
		// Video: PTS 0..15, a quarter each dropped, failed (passed
		// through), panicked (passed through) and passed.
		if c.VideoIn != 16 || c.VideoDropped != 4 || c.VideoFailed != 8 || c.VideoOut != 12 {
			t.Errorf("video counters %s: want 16 in, 4 dropped, 8 failed and 12 out", asJSON(c))
		}
		// Audio: per segment 5 frames, one each dropped, emptied, failed,
		// doubled and passed: 10 in, 4 dropped, 2 added, 8 out.
		if c.AudioIn != 10 || c.AudioDropped != 4 || c.AudioAdded != 2 || c.AudioFailed != 2 || c.AudioOut != 8 {
			t.Errorf("audio counters %s: want 10 in, 4 dropped, 2 added, 2 failed and 8 out", asJSON(c))
		}
		if v, a := len(video(frames)), len(audio(frames)); uint64(v) != c.VideoOut || uint64(a) != c.AudioOut {
			t.Errorf("%d video and %d audio frames on the wire, the counters say %d and %d", v, a, c.VideoOut, c.AudioOut)
		}
	})

	t.Run("frames a slow handler falls behind on are skipped and counted", func(t *testing.T) {
		pl := newPipeline(t, Funcs{Video: func(context.Context, *frame.Video) (*frame.Video, error) {
			time.Sleep(15 * time.Millisecond)
			return nil, nil
		}}, Config{VideoQueue: 2, MaxLag: 20 * time.Millisecond})
		pl.load()
		_, c := runToEnd(t, pl, pl.request(), "v=40 pts=0", "v=40 pts=40")
		checkSums(t, c)
		if c.VideoIn != 80 || c.VideoSkipped == 0 || c.VideoOut == 0 {
			t.Errorf("counters %s: want 80 in, some skipped and some out", asJSON(c))
		}
	})

	t.Run("frames the encoder cannot take are lost, not out", func(t *testing.T) {
		pl := newPipeline(t, Funcs{}, Config{})
		pl.codecs.encodeErr = errors.New("no encoder today")
		pl.load()
		req := pl.request()
		pl.start(req)
		pl.feed("v=5 a=2 pts=0", "v=5 a=2 pts=5")
		pl.endInput()
		eventually(t, func() bool { return pl.stream().finished() })
		c := pl.counters()
		checkSums(t, c)
		if c.VideoIn != 10 || c.VideoLost != 10 || c.AudioLost != 4 || c.VideoOut+c.AudioOut != 0 || c.EncodeErrors != 14 {
			t.Errorf("counters %s: want 10 video and 4 audio frames lost, none out, 14 encode errors", asJSON(c))
		}
	})

	t.Run("a segment the decoder rejects is counted corrupt and the next one decodes", func(t *testing.T) {
		pl := newPipeline(t, Funcs{}, Config{})
		pl.load()
		_, c := runToEnd(t, pl, pl.request(), "v=3 pts=0", "fail=1", "v=3 pts=3")
		checkSums(t, c)
		if c.SegmentsIn != 3 || c.CorruptInput != 1 || c.DecodeErrors != 1 || c.VideoOut != 6 {
			t.Errorf("counters %s: want 3 segments in, 1 corrupt with 1 decode error, 6 frames out", asJSON(c))
		}
	})

	t.Run("the output carries contiguous seqs and every segment is counted sent", func(t *testing.T) {
		pl := newPipeline(t, Funcs{}, Config{})
		pl.load()
		_, c := runToEnd(t, pl, pl.request(), "v=9 pts=0", "v=9 pts=9")
		out := pl.read("out")
		// The fake encoder cuts a segment every 4 video frames: 18 frames
		// make 5 segments, read from seq 0 with no gap (the reader reads
		// seq after seq; a gap would have ended it with an error).
		if got := len(out.segments()); got != 5 || c.SegmentsOut != 5 || c.SegmentsLost != 0 {
			t.Errorf("%d segments read, counters %s: want 5 read and 5 sent, none lost", got, asJSON(c))
		}
		if last := out.lastSeq.Load(); last != 4 {
			t.Errorf("the last output seq is %d, want 4 (0..4, contiguous)", last)
		}
	})
}

// A handler that hangs costs the frame it holds; frames pass through until
// it returns, and only one call is ever outstanding.
func TestAHandlerThatHangsPastTheDeadline(t *testing.T) {
	release := make(chan struct{})
	var (
		running, maxRunning atomic.Int32
		handled             atomic.Int32
		mu                  sync.Mutex
		seen                []int64
	)
	pl := newPipeline(t, Funcs{Video: func(ctx context.Context, f *frame.Video) (*frame.Video, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := maxRunning.Load()
			if n <= m || maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		mu.Lock()
		seen = append(seen, f.PTS)
		mu.Unlock()
		if f.PTS == 2 {
			select { // hang until the test lets go (or the stream ends)
			case <-release:
			case <-ctx.Done():
			}
		}
		f.Pix[0] = 7 // processed frames are marked
		handled.Add(1)
		return f, nil
	}}, Config{HandlerTimeout: 50 * time.Millisecond})
	pl.load()
	req := pl.request()
	req.EventsURL = pl.url("events")
	pl.start(req)
	pl.feed("v=6 pts=0")
	// PTS 0 and 1 are processed, 2 hangs, 3..5 pass through unmarked.
	eventually(t, func() bool { return pl.counters().VideoOut >= 5 })
	close(release)
	// The late call has returned once the guard lets calls through again.
	eventually(t, func() bool { return handled.Load() == 3 && !pl.stream().videoCalls.busy.Load() })
	pl.feed("v=4 pts=6")
	pl.endInput()
	out := pl.read("out")
	if err := out.waitEnd(t); !errors.Is(err, trickle.ErrStreamClosed) {
		t.Fatalf("output ended with %v", err)
	}
	c := pl.counters()
	checkSums(t, c)
	v := video(parseOut(t, out.lines()))
	if got, want := ptsOf(v), []int64{0, 1, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(got, want) {
		t.Errorf("output PTS %v, want %v (PTS 2 is lost in the hung call)", got, want)
	}
	if got, want := firstBytes(v), []int{7, 7, fakeFill, fakeFill, fakeFill, 7, 7, 7, 7}; !slices.Equal(got, want) {
		t.Errorf("first pixel bytes %v, want %v: passed through while hung, processed after", got, want)
	}
	if c.HandlerTimeouts != 1 || c.VideoLost != 1 || c.VideoFailed != 3 || c.VideoOut != 9 {
		t.Errorf("counters %s: want 1 timeout, 1 frame lost, 3 failed (passed through) and 9 out", asJSON(c))
	}
	if m := maxRunning.Load(); m != 1 {
		t.Errorf("%d handler calls ran at once, want 1", m)
	}
	mu.Lock()
	if !slices.Equal(seen, []int64{0, 1, 2, 6, 7, 8, 9}) {
		t.Errorf("the handler saw PTS %v, want 0 1 2 then 6..9 (none while hung)", seen)
	}
	mu.Unlock()
	errs := eventsOfType(pl.allEvents(), "handler_error")
	if len(errs) == 0 || !strings.Contains(errs[0].Event["error"].(string), "timed out") {
		t.Errorf("handler_error events %s, want the first to report the timeout", asJSON(errs))
	}
}

func TestCallGuard(t *testing.T) {
	t.Run("a call within the deadline returns its own result", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var g callGuard
			boom := errors.New("boom")
			if err := g.call(time.Second, func() error { time.Sleep(500 * time.Millisecond); return boom }, func() {
				t.Error("late ran for a call that returned in time")
			}); !errors.Is(err, boom) {
				t.Errorf("call = %v, want the handler's error", err)
			}
		})
	})
	t.Run("a call past the deadline is abandoned and the next is refused until it returns", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var g callGuard
			release := make(chan struct{})
			var lateRan atomic.Bool
			start := time.Now()
			err := g.call(time.Second, func() error { <-release; return nil }, func() { lateRan.Store(true) })
			if !errors.Is(err, errHandlerTimeout) || time.Since(start) != time.Second {
				t.Errorf("call = %v after %v, want errHandlerTimeout after 1s", err, time.Since(start))
			}
			ran := false
			if err := g.call(time.Second, func() error { ran = true; return nil }, nil); !errors.Is(err, errHandlerBusy) || ran {
				t.Errorf("a call while the late one runs = %v (ran %v), want errHandlerBusy without running", err, ran)
			}
			close(release)
			synctest.Wait()
			if !lateRan.Load() {
				t.Error("late did not run when the abandoned call returned")
			}
			if err := g.call(time.Second, func() error { ran = true; return nil }, nil); err != nil || !ran {
				t.Errorf("a call after the late one returned = %v (ran %v), want it run", err, ran)
			}
		})
	})
	t.Run("a panic is an error, with or without a deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var g callGuard
			for _, d := range []time.Duration{0, time.Second} {
				if err := g.call(d, func() error { panic("kaboom") }, nil); err == nil || !strings.Contains(err.Error(), "kaboom") {
					t.Errorf("timeout %v: call = %v, want the panic as an error", d, err)
				}
			}
		})
	})
}
