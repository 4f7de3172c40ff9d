package media

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/fakes/trickleserver"
	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// Over a real trickle channel: a publisher streams fixture segments in
// TS-packet bursts, a subscriber feeds each segment's body to the decoder,
// and the fake server's recorder says when each segment's last byte left
// the server. Every frame of the segment must be out of the decoder
// shortly after that, not a segment later.
func TestOverTrickleEachSegmentsFramesLeaveAtItsLastByte(t *testing.T) {
	segs := fixtureSegments(t, "h264-aac-320x240", time.Second)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	fake := trickleserver.New(trickleserver.Config{Trickle: trickle.ServerConfig{Autocreate: true, Logger: quiet}})
	hs := httptest.NewServer(fake)
	defer func() { fake.Close(); hs.Close() }()
	if err := fake.Trickle().CreateChannel("in", trickle.ContentTypeMPEGTS); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sub, err := trickle.NewSubscriber(trickle.SubscriberConfig{URL: hs.URL + "/in", Start: trickle.StartAt(0), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	pub, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: hs.URL + "/in", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(context.Background())

	go func() {
		for _, s := range segs {
			b, err := s.Bytes()
			if err != nil {
				return
			}
			w, err := pub.Next(ctx)
			if err != nil {
				return
			}
			for off := 0; off < len(b); off += 1316 {
				w.Write(b[off:min(off+1316, len(b))])
				time.Sleep(time.Millisecond) // arrive over time, as live media does
			}
			w.Close()
		}
	}()

	d, err := NewDecoder(DecoderConfig{Width: 160, Height: 120, MaxFramerate: NoFramerateCap})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	lastOut := make([]time.Time, len(segs))
	for i, s := range segs {
		seg, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		if _, err := d.DecodeSegment(ctx, seg, Handlers{Video: func(v *frame.Video) error {
			n++
			lastOut[i] = time.Now()
			v.Release()
			return nil
		}}); err != nil {
			t.Fatal(err)
		}
		seg.Close()
		if n != s.VideoFrames {
			t.Fatalf("segment %d: %d frames, the manifest says %d", i, n, s.VideoFrames)
		}
	}
	checked := 0
	for _, r := range fake.Requests() {
		if r.Method != "GET" || !r.HasSeq || r.Seq < 0 || int(r.Seq) >= len(segs) || r.BytesOut == 0 {
			continue
		}
		checked++
		if lag := lastOut[r.Seq].Sub(r.LastByteOut); lag > 100*time.Millisecond {
			t.Errorf("segment %d: its last frame left the decoder %v after the server sent its last byte", r.Seq, lag)
		}
	}
	if checked != len(segs) {
		t.Fatalf("the recorder shows %d segment GETs with data, want %d", checked, len(segs))
	}
}
