package trickle

import (
	"context"
	"errors"
	"net"
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

func TestClosingAPublisherIsBoundedByItsContextWhenTheServerStalls(t *testing.T) {
	cases := []struct {
		name  string
		bytes int // written before Close; enough to fill the socket buffers when large
	}{
		{"while a write is stuck on a full connection", 64 << 20},
		{"while the last segment waits for an answer that never comes", 1 << 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := silentServer(t)
			pub, err := NewPublisher(context.Background(), PublisherConfig{URL: base + "/ch", Logger: discardLogger()})
			if err != nil {
				t.Fatal(err)
			}
			w, err := pub.Next(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			writing := make(chan struct{})
			go func() {
				defer close(writing)
				chunk := make([]byte, 1<<20)
				for sent := 0; sent < tc.bytes; sent += len(chunk) {
					if _, err := w.Write(chunk[:min(len(chunk), tc.bytes-sent)]); err != nil {
						return
					}
				}
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
