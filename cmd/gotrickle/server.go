package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/gotrickle/gotrickle/pkg/trickle"
)

func newServerCmd() *cobra.Command {
	var (
		addr   string
		cfg    trickle.ServerConfig
		logCfg logFlags
	)
	c := &cobra.Command{
		Use:   "server",
		Short: "Run a trickle server",
		Long: `Run a trickle server: channels of numbered segments, each written with one
streaming POST and fanned out to GET readers while it is written (docs/spec/trickle.md).
Prints "listening http://ADDR/BASE" on stdout once it accepts connections; SIGINT or
SIGTERM ends every channel and shuts down.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := logCfg.logger(c.ErrOrStderr())
			if err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			cfg.Logger = log
			return serve(c.Context(), c, addr, cfg)
		},
	}
	f := c.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8935", "host:port to listen on (port 0 picks a free one)")
	f.StringVar(&cfg.BasePath, "base-path", "/", "URL path prefix of the trickle endpoints, e.g. /ai/trickle/")
	f.IntVar(&cfg.RingSize, "ring-size", 5, "segments held per channel; older ones answer 470")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", 5*time.Minute, "close a channel after this long with nothing written (negative: never)")
	f.Int64Var(&cfg.MaxSegmentBytes, "max-segment-bytes", 32<<20, "largest segment; larger POSTs get 413 (negative: no limit)")
	f.DurationVar(&cfg.FirstByteKeepalive, "keepalive", 10*time.Second, "interval of 100 Continue to POSTs waiting for their first byte (negative: none)")
	f.BoolVar(&cfg.Autocreate, "autocreate", true, "let POST /{channel} and segment POSTs create channels")
	logCfg.register(c)
	return c
}

func serve(ctx context.Context, c *cobra.Command, addr string, cfg trickle.ServerConfig) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := trickle.NewServer(cfg)
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Fprintf(c.OutOrStdout(), "listening http://%s%s\n", ln.Addr(), srv.Config().BasePath)
	select {
	case err := <-errc:
		srv.Close()
		return err
	case <-ctx.Done():
	}
	cfg.Logger.Info("shutting down")
	srv.Close() // ends every channel, releasing waiting readers and writers
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// logFlags are the logging flags every long-running command takes.
type logFlags struct {
	format, level string
}

func (l *logFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&l.format, "log-format", "text", "log format on stderr: text or json")
	c.Flags().StringVar(&l.level, "log-level", "info", "log level: debug, info, warn or error")
}

func (l *logFlags) logger(w interface{ Write([]byte) (int, error) }) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(l.level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", l.level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch l.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", l.format)
}
