package trickleserver

import (
	"context"
	"time"
)

// pause waits for d, cut short when the request ends or the server closes,
// so that no injected delay outlives what it delays.
func (s *Server) pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-s.done:
	}
}
