package media

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/pkg/frame"
)

// Every frame of a segment leaves the decoder once the segment's last byte
// has arrived: nothing waits for the next segment. Bytes are fed through a
// pipe in TS-packet bursts, as a trickle body arrives, and each frame's
// emit time is compared with the moment the segment ended.
func TestASegmentsFramesLeaveWhenItsLastByteArrives(t *testing.T) {
	segs := fixtureSegments(t, "h264-aac-320x240", time.Second)
	d, err := NewDecoder(DecoderConfig{MaxFramerate: NoFramerateCap, Width: 160, Height: 120})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for i, seg := range segs[:min(3, len(segs))] {
		b, err := seg.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		want := seg.VideoFrames
		pr, pw := io.Pipe()
		ended := make(chan time.Time, 1)
		go func() {
			for off := 0; off < len(b); off += 1316 {
				pw.Write(b[off:min(off+1316, len(b))])
			}
			ended <- time.Now()
			pw.Close()
		}()
		var emits []time.Time
		_, err = d.DecodeSegment(context.Background(), pr, Handlers{Video: func(v *frame.Video) error {
			emits = append(emits, time.Now())
			v.Release()
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		end := <-ended
		if len(emits) != want {
			t.Fatalf("segment %d: %d frames out, the manifest counts %d", i, len(emits), want)
		}
		if lag := emits[len(emits)-1].Sub(end); lag > 100*time.Millisecond {
			t.Fatalf("segment %d: its last frame left %v after its last byte", i, lag)
		}
	}
}
