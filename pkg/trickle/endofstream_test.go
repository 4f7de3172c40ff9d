package trickle

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPublisherReportsTheEndWhenTheChannelEndsUnderItsPreconnect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, _, pub, _ := newPair(t, ServerConfig{}, Start{})
	if _, err := pub.Write(ctx, strings.NewReader("zero")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // the POST for seq 1 is waiting on the server
	srv.CloseChannel("ch")
	_, err := pub.Write(ctx, strings.NewReader("one"))
	if !errors.Is(err, ErrStreamClosed) {
		t.Fatalf("got %v, want ErrStreamClosed", err)
	}
	if _, err := pub.Write(ctx, strings.NewReader("two")); !errors.Is(err, ErrStreamClosed) {
		t.Fatalf("a later segment: %v, want ErrStreamClosed", err)
	}
}
