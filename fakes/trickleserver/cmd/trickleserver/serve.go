package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gotrickle/gotrickle/fakes/trickleserver"
	"github.com/gotrickle/gotrickle/pkg/trickle"
)

// shutdownGrace is how long requests get to finish after a signal. The
// fake is closed first, which releases every parked reader and writer, so
// only requests in the middle of a transfer can take this long.
const shutdownGrace = 5 * time.Second

// serve runs the fake until ctx ends.
func serve(ctx context.Context, o options, stdout, stderr io.Writer) error {
	log := newLogger(o, stderr)
	fake := trickleserver.New(trickleserver.Config{
		Trickle: trickle.ServerConfig{
			BasePath:        o.basePath,
			RingSize:        o.ringSize,
			IdleTimeout:     o.idleTimeout,
			MaxSegmentBytes: o.maxSegmentBytes,
			Autocreate:      o.autocreate,
			Logger:          log,
		},
		Faults:    o.faults,
		Mutations: o.mutations,
	})
	defer fake.Close()
	for _, name := range o.channels {
		if err := fake.Trickle().CreateChannel(name, trickle.ContentTypeMPEGTS); err != nil {
			return fmt.Errorf("create channel %q: %w", name, err)
		}
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	base := fake.Trickle().Config().BasePath
	// Scripts wait for this line, so it comes first and alone on stdout.
	if _, err := fmt.Fprintf(stdout, "listening http://%s%s\n", ln.Addr(), base); err != nil {
		ln.Close()
		return fmt.Errorf("stdout: %w", err)
	}
	log.Info("serving", "addr", ln.Addr().String(), "base_path", base,
		"faults", len(o.faults), "mutations", fmt.Sprint(o.mutations))

	hs := &http.Server{
		Handler:           fake,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	fake.Close()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
		<-served
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

func newLogger(o options, w io.Writer) *slog.Logger {
	ho := &slog.HandlerOptions{Level: o.logLevel}
	if o.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}
