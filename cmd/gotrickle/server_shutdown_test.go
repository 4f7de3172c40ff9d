package main

import (
	"bytes"
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/gotrickle/gotrickle/internal/mpegts"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// gotrickle server on SIGTERM, with a segment half written: the reader
// gets the bytes written so far, then the end of the stream (not a refused
// connection), and the server exits 0 within its bound.
func TestServerEndsEveryChannelOnSIGTERM(t *testing.T) {
	const bound = 5 * time.Second
	srv := startChild(t, true, "server", "--addr", "127.0.0.1:0", "--shutdown-timeout", bound.String())
	ch := srv.url + "/live"
	createChannels(t, srv.url+"/", "live")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pub, err := trickle.NewPublisher(ctx, trickle.PublisherConfig{URL: ch, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(ctx)
	for _, b := range [][]byte{bytes.Repeat([]byte{1}, 1000), bytes.Repeat([]byte{2}, 500)} {
		if _, err := pub.Write(ctx, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	w, err := pub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	half := bytes.Repeat([]byte{3}, 700)
	if _, err := w.Write(half); err != nil {
		t.Fatal(err)
	}
	got := make(chan channelResult, 1)
	firstBytes := make(chan struct{}, 8)
	go func() {
		segs, err := readAll(ctx, ch, func(seg int, _ []byte, _ time.Time) {
			if seg == 2 {
				firstBytes <- struct{}{}
			}
		}, nil)
		got <- channelResult{segs, err}
	}()
	select {
	case <-firstBytes:
	case <-time.After(10 * time.Second):
		t.Fatal("the reader never got the segment being written")
	}
	at := srv.signal(t, syscall.SIGTERM)
	code := srv.wait(t, bound+5*time.Second)
	took := srv.at.Sub(at)
	if code != 0 || took > bound {
		t.Fatalf("exit %d after %v, want 0 within %v\n%s", code, took, bound, srv.stderr)
	}
	t.Logf("server: exit 0 %v after SIGTERM", took.Round(time.Millisecond))
	r := <-got
	if !errors.Is(r.err, trickle.ErrStreamClosed) {
		t.Fatalf("the reader ended with %v, want the end of the stream", r.err)
	}
	if len(r.segs) != 3 || len(r.segs[0]) != 1000 || len(r.segs[1]) != 500 || !bytes.Equal(r.segs[2], half) {
		lens := []int{}
		for _, s := range r.segs {
			lens = append(lens, len(s))
		}
		t.Fatalf("read segments of %v bytes, want [1000 500 700]", lens)
	}
	w.Close()
}

// gotrickle publish on SIGTERM: the segment being written is finished
// (whole TS packets, every frame in it complete), the channel is closed so
// readers see the end of the stream, and the command exits 0.
func TestPublishEndsTheStreamOnSIGTERM(t *testing.T) {
	base := trickleServer(t)
	createChannels(t, base, "in")
	path, _ := fixturePath(t, "h264-aac-320x240")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got := make(chan channelResult, 1)
	thirdSeg := make(chan struct{}, 64)
	go func() {
		segs, err := readAll(ctx, base+"in", func(seg int, _ []byte, _ time.Time) {
			if seg == 2 {
				thirdSeg <- struct{}{}
			}
		}, nil)
		got <- channelResult{segs, err}
	}()
	time.Sleep(200 * time.Millisecond)
	pub := startChild(t, false, "publish", "--loop", path, base+"in")
	select {
	case <-thirdSeg:
	case <-time.After(20 * time.Second):
		t.Fatalf("the third segment never started\n%s", pub.stderr)
	}
	time.Sleep(300 * time.Millisecond) // into the segment
	at := pub.signal(t, syscall.SIGTERM)
	code := pub.wait(t, 15*time.Second)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, pub.stderr)
	}
	r := <-got
	if !errors.Is(r.err, trickle.ErrStreamClosed) {
		t.Fatalf("the reader ended with %v, want the end of the stream", r.err)
	}
	for i, s := range r.segs {
		if _, err := mpegts.VideoFrames(s); err != nil || len(s) == 0 {
			t.Errorf("segment %d of %d (%d bytes): %v", i, len(r.segs), len(s), err)
		}
	}
	if n := decodeWhole(t, r.segs[len(r.segs)-1:]); n == 0 {
		t.Errorf("the last segment has no frame")
	}
	t.Logf("publish: exit 0 %v after SIGTERM, %d segments", pub.at.Sub(at).Round(time.Millisecond), len(r.segs))
}
