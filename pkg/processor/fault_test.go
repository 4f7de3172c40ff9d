package processor_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/fakes/trickleserver"
	"github.com/gotrickle/gotrickle/fixtures"
	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/processor"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// TestFault is the fault matrix of docs/reliability.md: each case runs a
// live stream through the real processor (FFmpeg codecs) against fake
// trickle servers on loopback with one fault, asserts the documented
// outcome and the accounting (fault_rig_test.go), and logs its figure as
// "FAULT <case> | <outcome> | <recovery> | <losses>".
//
// The input is 10 segments of 0.5 s (15 frames at 30 fps, 256×144, with
// AAC audio) published at live pace; faults hit segment 3 (the fourth)
// unless said otherwise.
func TestFault(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault matrix runs live streams for about two minutes")
	}
	const faultSeg = 3
	at := func(n int64) *int64 { return &n }
	bytesAt := func(n int64) *int64 { return &n }
	in := generatedInput(t)
	// A segment's frames have PTS from this one (time base 1/90000).
	segPTS := func(i int) int64 { return 90000 + int64(i*rigSegFrames)*90000/rigFPS }

	// everyFedFrameDecoded: nothing was lost on the input side.
	everyFedFrameDecoded := func(t *testing.T, res faultResult) {
		t.Helper()
		c := res.c
		if c.VideoIn+c.VideoCapped != uint64(res.fedVideo) || c.InputSegmentsLost != 0 || c.CorruptInput != 0 {
			t.Errorf("%d of %d video frames decoded, %d input segments lost, %d corrupt: want every frame, none lost or corrupt",
				c.VideoIn+c.VideoCapped, res.fedVideo, c.InputSegmentsLost, c.CorruptInput)
		}
	}
	// everyDecodedFrameOut: all that did not come out was skipped to keep
	// up (a loaded machine), never lost.
	everyDecodedFrameOut := func(t *testing.T, res faultResult) {
		t.Helper()
		if c := res.c; c.VideoOut+c.VideoSkipped != c.VideoIn || c.VideoOut == 0 {
			t.Errorf("video: %d in, %d out, %d skipped, %d lost, %d dropped: want every frame out or skipped",
				c.VideoIn, c.VideoOut, c.VideoSkipped, c.VideoLost, c.VideoDropped)
		}
	}
	// recoversWithin: output frames came again within limit of the fault,
	// plus the longest pause before it (a loaded machine pauses too). Each
	// limit is the pause the fault makes by design plus 2 s of slack; the
	// figures in docs/reliability.md are the measured pauses.
	recoversWithin := func(t *testing.T, res faultResult, limit time.Duration) {
		t.Helper()
		if res.freeze > limit+res.baseline {
			t.Errorf("the output froze for %v after the fault, want at most %v + %v (the longest pause before it)",
				res.freeze, limit, res.baseline)
		}
		if res.state != processor.StateIdle {
			t.Errorf("health after the input ended: %s, want IDLE", res.state)
		}
	}

	t.Run("input_5xx", func(t *testing.T) {
		// The server answers the GET of one segment with 503 twice: the
		// subscriber retries after 300 and 600 ms and reads it whole.
		res := runFault(t, faultCase{name: "input_5xx",
			inFaults: []trickleserver.Fault{{Method: "GET", Channel: "in", Seq: at(faultSeg), Status: http.StatusServiceUnavailable, Times: 2}}})
		everyFedFrameDecoded(t, res)
		everyDecodedFrameOut(t, res)
		recoversWithin(t, res, 3*time.Second)
		res.figure(t, "input_5xx", "recovered")
	})

	t.Run("input_drop_mid_segment", func(t *testing.T) {
		// The connection drops halfway through a segment's body: the rest
		// of that segment is lost, counted corrupt, and the next decodes.
		res := runFault(t, faultCase{name: "input_drop_mid_segment",
			inFaults: []trickleserver.Fault{{Method: "GET", Channel: "in", Seq: at(faultSeg),
				DropAfterBytes: bytesAt(int64(len(in.segs[faultSeg]) / 2))}}})
		c := res.c
		missing := res.fedVideo - int(c.VideoIn+c.VideoCapped)
		if c.CorruptInput != 1 || c.InputSegmentsLost != 0 || missing <= 0 || missing > in.video[faultSeg] {
			t.Errorf("%d corrupt, %d lost input segments, %d frames not decoded: want the one cut segment corrupt and 1..%d of its frames missing",
				c.CorruptInput, c.InputSegmentsLost, missing, in.video[faultSeg])
		}
		everyDecodedFrameOut(t, res)
		recoversWithin(t, res, 3*time.Second)
		res.figure(t, "input_drop_mid_segment", "recovered")
	})

	t.Run("input_stall", func(t *testing.T) {
		// The server stops sending a segment halfway and holds the
		// connection: after InputStallTimeout (1 s here) the processor
		// abandons it and reads the next, which the ring still holds.
		res := runFault(t, faultCase{name: "input_stall", cfg: processor.Config{InputStallTimeout: time.Second},
			inFaults: []trickleserver.Fault{{Method: "GET", Channel: "in", Seq: at(faultSeg),
				StallAfterBytes: bytesAt(int64(len(in.segs[faultSeg]) / 2))}}})
		c := res.c
		if c.InputStalls != 1 || c.CorruptInput != 1 || c.InputSegmentsLost != 0 {
			t.Errorf("%d stalls, %d corrupt, %d lost input segments: want the stalled one abandoned and none lost",
				c.InputStalls, c.CorruptInput, c.InputSegmentsLost)
		}
		if res.freeze < 900*time.Millisecond {
			t.Errorf("the output froze for %v, less than the 1 s stall timeout", res.freeze)
		}
		everyDecodedFrameOut(t, res)
		recoversWithin(t, res, 3*time.Second)
		res.figure(t, "input_stall", "recovered")
	})

	t.Run("input_470", func(t *testing.T) {
		// The server answers 470 late (1.2 s), when it has moved on: the
		// subscriber jumps to the live edge and the seqs it jumped over
		// are counted lost.
		res := runFault(t, faultCase{name: "input_470",
			inFaults: []trickleserver.Fault{{Method: "GET", Channel: "in", Seq: at(faultSeg), Latency: 1200 * time.Millisecond,
				Status: trickle.StatusSequenceNonexistent}}})
		c := res.c
		if c.InputSegmentsLost == 0 || c.SegmentsIn+c.InputSegmentsLost != uint64(res.fedSegs) {
			t.Errorf("%d input segments read, %d lost, %d published: want some lost and every published one read or lost",
				c.SegmentsIn, c.InputSegmentsLost, res.fedSegs)
		}
		everyDecodedFrameOut(t, res)
		recoversWithin(t, res, 3500*time.Millisecond)
		res.figure(t, "input_470", "recovered")
	})

	t.Run("input_restart", func(t *testing.T) {
		// The input server goes away for 1 s and comes back empty; the
		// gateway re-creates the channel and publishes on from the next
		// seq. The subscriber retries and finds the live edge again.
		var restarted time.Time
		res := runFault(t, faultCase{name: "input_restart",
			before: func(r *rig, i int) {
				if i != 5 {
					return
				}
				restarted = time.Now()
				r.faultAt(restarted)
				if err := r.in.restart(time.Second); err != nil {
					t.Errorf("restarting the input server: %v", err)
				}
			}})
		c := res.c
		if c.SegmentsIn+c.InputSegmentsLost+c.CorruptInput < 6 || c.VideoOut <= uint64(5*rigSegFrames) {
			t.Errorf("counters %+v: want the stream read on after the restart", c)
		}
		if got := c.SegmentsIn + c.InputSegmentsLost; got > uint64(res.fedSegs) {
			t.Errorf("%d input segments read or lost, %d published", got, res.fedSegs)
		}
		everyDecodedFrameOut(t, res)
		recoversWithin(t, res, 6*time.Second)
		res.figure(t, "input_restart", "recovered")
	})

	t.Run("output_rejects_posts", func(t *testing.T) {
		// Every POST of output seq 1 gets 503: the publisher retries, then
		// gives the segment up and publishes on from seq 2. The encoder
		// does not wait for the retries (the egress queues its
		// segments), so no frame is skipped.
		res := runFault(t, faultCase{name: "output_rejects_posts",
			outFaults: []trickleserver.Fault{{Method: "POST", Channel: "out", Seq: at(1), Status: http.StatusServiceUnavailable}}})
		if c := res.c; c.SegmentsLost != 1 || !slices.Equal(res.outLost, []int64{1}) || len(res.outSeqs) < 2 {
			t.Errorf("output seqs sent %v, lost %v (counted %d): want seq 1 lost and the stream published on", res.outSeqs, res.outLost, c.SegmentsLost)
		}
		everyFedFrameDecoded(t, res)
		everyDecodedFrameOut(t, res)
		recoversWithin(t, res, 4*time.Second)
		res.figure(t, "output_rejects_posts", "recovered")
	})

	t.Run("output_drops_posts", func(t *testing.T) {
		// The connection of output seq 1 drops after 4 KiB: the segment
		// is closed on the server and counted lost, seq 2 follows.
		res := runFault(t, faultCase{name: "output_drops_posts",
			outFaults: []trickleserver.Fault{{Method: "POST", Channel: "out", Seq: at(1), DropAfterBytes: bytesAt(4096)}}})
		if c := res.c; c.SegmentsLost != 1 || !slices.Equal(res.outLost, []int64{1}) || len(res.outSeqs) < 2 {
			t.Errorf("output seqs sent %v, lost %v (counted %d): want seq 1 lost and the stream published on", res.outSeqs, res.outLost, c.SegmentsLost)
		}
		everyFedFrameDecoded(t, res)
		everyDecodedFrameOut(t, res)
		recoversWithin(t, res, 3*time.Second)
		res.figure(t, "output_drops_posts", "recovered")
	})

	t.Run("output_stalls", func(t *testing.T) {
		// POST out/1 is never answered (the server holds it for a
		// minute). The encoder goes on, its segments queuing behind seq
		// 1, which is given up after OutputStallTimeout (1 s here, 5 s
		// by default); the rest follow.
		res := runFault(t, faultCase{name: "output_stalls",
			cfg:       processor.Config{OutputStallTimeout: time.Second},
			outFaults: []trickleserver.Fault{{Method: "POST", Channel: "out", Seq: at(1), Latency: time.Minute}}})
		if c := res.c; !slices.Equal(res.outLost, []int64{1}) || c.SegmentsLost != 1 || len(res.outSeqs) < 3 {
			t.Errorf("output seqs sent %v, lost %v (counted %d): want seq 1 lost and the stream published on", res.outSeqs, res.outLost, c.SegmentsLost)
		}
		everyFedFrameDecoded(t, res)
		everyDecodedFrameOut(t, res)
		recoversWithin(t, res, 4*time.Second)
		res.figure(t, "output_stalls", "recovered")
	})

	t.Run("output_stalls_with_no_stall_timeout", func(t *testing.T) {
		// As above with OutputStallTimeout off: the segments queue behind
		// seq 1 until the end of the input; the stop gives them
		// StopTimeout, then drops them and closes the publisher, which
		// cancels the stalled POST. Before the output queue the encoder,
		// and then the stop, waited as long as the server held the POST.
		res := runFault(t, faultCase{name: "output_stalls_with_no_stall_timeout", unsentLost: true,
			cfg:       processor.Config{StopTimeout: time.Second, OutputStallTimeout: -1},
			outFaults: []trickleserver.Fault{{Method: "POST", Channel: "out", Seq: at(1), Latency: time.Minute}}})
		// (The POST opened ahead for seq 2, cancelled with the rest, may
		// show on the server as a failed seq too.)
		if c := res.c; !slices.Equal(res.outSeqs, []int64{0}) || !slices.Contains(res.outLost, 1) || c.SegmentsOut != 1 || c.SegmentsLost < 2 {
			t.Errorf("output seqs sent %v, lost %v (counted %d lost): want seq 0 sent, seq 1 lost and the segments queued behind it counted lost",
				res.outSeqs, res.outLost, c.SegmentsLost)
		}
		everyFedFrameDecoded(t, res)
		everyDecodedFrameOut(t, res)
		// StopTimeout for the queue, up to 1 s for its abort, StopTimeout
		// for the publisher's Close: about 3 s.
		if res.endedAfterInput > 10*time.Second {
			t.Errorf("the stream ended %v after its input, want the stop's bounds (about 3 s)", res.endedAfterInput)
		}
		t.Logf("output_stalls_with_no_stall_timeout: the stream ended %d ms after its input", res.endedAfterInput.Milliseconds())
		res.figure(t, "output_stalls_with_no_stall_timeout", "stop bounded")
	})

	t.Run("control_garbage", func(t *testing.T) {
		// The control channel carries a message that is not JSON, then a
		// valid one: the first is skipped, the second applied.
		var mu sync.Mutex
		var got []processor.Params
		res := runFault(t, faultCase{name: "control_garbage", control: true,
			handler: processor.Funcs{Params: func(_ context.Context, p processor.Params) error {
				mu.Lock()
				got = append(got, p)
				mu.Unlock()
				return nil
			}},
			before: func(r *rig, i int) {
				switch i {
				case faultSeg:
					r.faultAt(time.Now())
					r.post("control", 0, "{this is not json\x00\xff")
				case faultSeg + 1:
					r.post("control", 1, `{"after_garbage": 1}`)
				}
			}})
		mu.Lock()
		if len(got) != 1 || got[0]["after_garbage"] != float64(1) {
			t.Errorf("parameter updates %v, want only the valid message", got)
		}
		mu.Unlock()
		everyFedFrameDecoded(t, res)
		everyDecodedFrameOut(t, res)
		recoversWithin(t, res, 2500*time.Millisecond)
		res.figure(t, "control_garbage", "unaffected")
	})

	t.Run("control_5xx", func(t *testing.T) {
		// The control server answers every GET with 503: the reader gives
		// up after its retries and the stream goes on without control.
		res := runFault(t, faultCase{name: "control_5xx", control: true,
			outFaults: []trickleserver.Fault{{Method: "GET", Channel: "control", Status: http.StatusServiceUnavailable}}})
		everyFedFrameDecoded(t, res)
		everyDecodedFrameOut(t, res)
		recoversWithin(t, res, 2500*time.Millisecond)
		res.figure(t, "control_5xx", "unaffected")
	})

	t.Run("control_goes_away", func(t *testing.T) {
		// The gateway closes the control channel: the session is over and
		// the stream ends cleanly (PyTrickle ends it too).
		var out *rigServer
		res := runFault(t, faultCase{name: "control_goes_away", control: true, ends: true,
			before: func(r *rig, i int) {
				if i == faultSeg {
					out = r.out
					r.faultAt(time.Now())
					r.out.server().Trickle().CloseChannel("control")
				}
			}})
		if res.ended > 3*time.Second {
			t.Errorf("the stream ended %v after the control channel closed, want within 3 s", res.ended)
		}
		if res.state != processor.StateIdle {
			t.Errorf("health after the stream ended: %s, want IDLE", res.state)
		}
		if _, closed, ok := out.server().Trickle().Latest("out"); ok && !closed {
			t.Error("the output channel is still open after the stream ended")
		}
		everyDecodedFrameOut(t, res)
		res.figure(t, "control_goes_away", "ended cleanly")
	})

	t.Run("events_5xx", func(t *testing.T) {
		// The events server refuses every POST: events are counted failed
		// and the video is untouched.
		res := runFault(t, faultCase{name: "events_5xx", events: true,
			outFaults: []trickleserver.Fault{{Method: "POST", Channel: "events", Status: http.StatusServiceUnavailable}}})
		if res.c.EventsFailed == 0 {
			t.Errorf("counters %+v: want events counted failed", res.c)
		}
		everyFedFrameDecoded(t, res)
		everyDecodedFrameOut(t, res)
		recoversWithin(t, res, 2500*time.Millisecond)
		res.figure(t, "events_5xx", "unaffected")
	})

	t.Run("data_5xx", func(t *testing.T) {
		// The data server refuses every POST: data segments are counted
		// failed and the video is untouched.
		res := runFault(t, faultCase{name: "data_5xx", data: true,
			outFaults: []trickleserver.Fault{{Method: "POST", Channel: "data", Status: http.StatusServiceUnavailable}},
			before:    func(r *rig, _ int) { r.p.SendData("item") }})
		if res.c.DataFailed == 0 {
			t.Errorf("counters %+v: want data segments counted failed", res.c)
		}
		everyFedFrameDecoded(t, res)
		everyDecodedFrameOut(t, res)
		recoversWithin(t, res, 2500*time.Millisecond)
		res.figure(t, "data_5xx", "unaffected")
	})

	// faultyFrames makes a video handler fail on segments 3 and 4.
	faultyFrames := func(f *frame.Video) bool { return f.PTS >= segPTS(faultSeg) && f.PTS < segPTS(faultSeg+2) }
	for _, tc := range []struct {
		name string
		fail func() error
	}{
		{"handler_errors", func() error { return errors.New("model failed") }},
		{"handler_panics", func() error { panic("model crashed") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The failing frames pass through unchanged, counted and
			// reported; nothing is lost.
			res := runFault(t, faultCase{name: tc.name,
				before: func(r *rig, i int) {
					if i == faultSeg {
						r.faultAt(time.Now())
					}
				},
				handler: processor.Funcs{Video: func(_ context.Context, f *frame.Video) (*frame.Video, error) {
					if faultyFrames(f) {
						return nil, tc.fail()
					}
					return nil, nil
				}}})
			c := res.c
			if c.VideoFailed == 0 || c.VideoFailed > uint64(2*rigSegFrames) || len(res.handlerErr) == 0 {
				t.Errorf("%d frames failed, %d handler_error events: want 1..%d failed and reported", c.VideoFailed,
					len(res.handlerErr), 2*rigSegFrames)
			}
			everyFedFrameDecoded(t, res)
			everyDecodedFrameOut(t, res)
			recoversWithin(t, res, 2500*time.Millisecond)
			res.figure(t, tc.name, "passed through")
		})
	}

	t.Run("handler_hangs", func(t *testing.T) {
		// The handler hangs for 2 s on the first frame of segment 3 with
		// HandlerTimeout 500 ms: that frame is lost, the frames after it
		// pass through until the call returns, then the handler runs again.
		res := runFault(t, faultCase{name: "handler_hangs", cfg: processor.Config{HandlerTimeout: 500 * time.Millisecond},
			before: func(r *rig, i int) {
				if i == faultSeg {
					r.faultAt(time.Now())
				}
			},
			handler: processor.Funcs{Video: func(ctx context.Context, f *frame.Video) (*frame.Video, error) {
				if f.PTS == segPTS(faultSeg) {
					select {
					case <-time.After(2 * time.Second):
					case <-ctx.Done():
					}
				}
				return nil, nil
			}}})
		c := res.c
		if c.HandlerTimeouts != 1 || c.VideoLost != 1 || c.VideoFailed == 0 {
			t.Errorf("%d timeouts, %d frames lost, %d failed: want one timeout, its frame lost, frames passed through while it hung",
				c.HandlerTimeouts, c.VideoLost, c.VideoFailed)
		}
		if len(res.handlerErr) == 0 || !strings.Contains(res.handlerErr[0].msg, "timed out") {
			t.Errorf("handler_error events %+v, want one reporting the timeout", res.handlerErr)
		}
		if c.VideoOut+c.VideoSkipped+c.VideoLost != c.VideoIn {
			t.Errorf("video: %d in, %d out, %d skipped, %d lost", c.VideoIn, c.VideoOut, c.VideoSkipped, c.VideoLost)
		}
		everyFedFrameDecoded(t, res)
		recoversWithin(t, res, 2500*time.Millisecond)
		res.figure(t, "handler_hangs", "passed through")
	})

	t.Run("decoder_garbage", func(t *testing.T) {
		// A segment of 64 KiB of random bytes (fixtures/broken-garbage)
		// arrives between two good ones: it is counted corrupt and the
		// stream decodes on; no good frame is lost.
		m, err := fixtures.Load()
		if err != nil {
			t.Fatal(err)
		}
		fx, err := m.Fixture("broken-garbage")
		if err != nil {
			t.Fatal(err)
		}
		garbage, err := fx.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		res := runFault(t, faultCase{name: "decoder_garbage",
			segments: func(in *rigInput) []feedSeg {
				f := in.feed()
				return slices.Insert(f, faultSeg, feedSeg{body: garbage})
			},
			before: func(r *rig, i int) {
				if i == faultSeg {
					r.faultAt(time.Now())
				}
			}})
		c := res.c
		if c.CorruptInput != 1 || c.InputSegmentsLost != 0 || c.VideoIn+c.VideoCapped != uint64(res.fedVideo) {
			t.Errorf("%d corrupt, %d lost input segments, %d of %d frames decoded: want the garbage corrupt and every good frame decoded",
				c.CorruptInput, c.InputSegmentsLost, c.VideoIn+c.VideoCapped, res.fedVideo)
		}
		everyDecodedFrameOut(t, res)
		recoversWithin(t, res, 2500*time.Millisecond)
		res.figure(t, "decoder_garbage", "recovered")
	})

	t.Run("decoder_no_keyframes", func(t *testing.T) {
		// Segments 3..5 lose their IDR (with SPS and PPS): 1.5 s of video
		// with no keyframe. Their pictures cannot be decoded and are
		// counted as decode errors; audio goes on; video resumes at the
		// keyframe of segment 6.
		res := runFault(t, faultCase{name: "decoder_no_keyframes",
			segments: func(in *rigInput) []feedSeg {
				f := in.feed()
				for i := faultSeg; i < faultSeg+3; i++ {
					f[i] = feedSeg{body: stripKeyframe(in.segs[i]), audio: in.audio[i], destroyed: in.video[i]}
				}
				return f
			},
			before: func(r *rig, i int) {
				if i == faultSeg {
					r.faultAt(time.Now())
				}
			}})
		c := res.c
		if c.CorruptInput != 3 || c.DecodeErrors == 0 || c.VideoIn+c.VideoCapped != uint64(res.fedVideo) {
			t.Errorf("%d corrupt segments, %d decode errors, %d of %d decodable frames decoded: want the 3 keyless segments corrupt and every other frame decoded",
				c.CorruptInput, c.DecodeErrors, c.VideoIn+c.VideoCapped, res.fedVideo)
		}
		if c.AudioIn < uint64(res.fedAudio)*9/10 {
			t.Errorf("%d of %d audio frames decoded: audio must go on without video keyframes", c.AudioIn, res.fedAudio)
		}
		everyDecodedFrameOut(t, res)
		recoversWithin(t, res, 3500*time.Millisecond)
		res.figure(t, "decoder_no_keyframes", "recovered at the next keyframe")
	})
}
