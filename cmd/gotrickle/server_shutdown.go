package main

import (
	"context"
	"net/http"
	"time"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// closeLinger is how long server keeps answering after it has ended every
// channel: a reader whose segment just ended sends its next GET only then,
// and that request must get the end of the stream, not a refused
// connection that looks like a failure.
const closeLinger = time.Second

// shutdownTrickle is server's shutdown after the first signal: channels
// end first (a subscriber's GET already waiting is answered with the end of
// the stream), the server goes on answering for closeLinger (or until ctx
// is nearly done) so that readers' next requests learn the end too (a 404
// for a channel a reader has seen is its end), then the server closes (503
// to anything later) and the listener with it.
func shutdownTrickle(ctx context.Context, srv *trickle.Server, hs *http.Server) error {
	for _, name := range srv.Channels() {
		srv.CloseChannel(name)
	}
	linger := closeLinger
	if d, ok := ctx.Deadline(); ok {
		linger = min(linger, time.Until(d)/4)
	}
	select {
	case <-time.After(linger):
	case <-ctx.Done():
	}
	srv.Close()
	if err := hs.Shutdown(ctx); err != nil {
		_ = hs.Close()
		return err
	}
	return nil
}
