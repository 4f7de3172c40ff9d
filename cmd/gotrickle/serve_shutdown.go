package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gotrickle/gotrickle/pkg/processor"
)

// shutdownProcessor is serve's shutdown after the first signal, ordered to
// lose the least. The listener closes first, so no new request (a start)
// comes in. The stream stops as POST /stream/stop stops it; its drain is
// abandoned with a quarter of bound still left, which is kept for what
// matters more than the last queued frames: the encoder flush and the close
// of the output channel, which tell readers the stream has ended. Then the
// requests in flight finish, and the processor's Run ends, which stops a
// stream that a start in flight may have begun meanwhile.
func shutdownProcessor(ctx context.Context, bound time.Duration, hs *http.Server, p *processor.Processor,
	cancelRun context.CancelFunc, runDone <-chan error) error {
	httpDone := make(chan error, 1)
	go func() { httpDone <- hs.Shutdown(ctx) }()
	stopCtx := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		stopCtx, cancel = context.WithDeadline(ctx, dl.Add(-bound/4))
		defer cancel()
	}
	stopErr := p.Stop(stopCtx)
	if errors.Is(stopErr, processor.ErrNoStream) {
		stopErr = nil
	}
	httpErr := <-httpDone
	if httpErr != nil {
		// Out of time with requests still running: cut them.
		_ = hs.Close()
	}
	cancelRun()
	return errors.Join(stopErr, httpErr, <-runDone)
}
