package main

import (
	"context"
	"net/http"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// shutdownTrickle is server's shutdown after the first signal. Channels end
// before the listener closes: a subscriber has its next GET waiting already,
// and that request is answered with the end of the stream, where one sent
// after the close would be refused and look like a failure.
func shutdownTrickle(ctx context.Context, srv *trickle.Server, hs *http.Server) error {
	srv.Close()
	if err := hs.Shutdown(ctx); err != nil {
		_ = hs.Close()
		return err
	}
	return nil
}
