package main

import (
	"context"
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
		addr     string
		cfg      trickle.ServerConfig
		logCfg   logFlags
		shutdown time.Duration
	)
	c := &cobra.Command{
		Use:   "server",
		Short: "Run a trickle server",
		Long: `Run a trickle server: channels of numbered segments, each written with one
streaming POST and fanned out to GET readers while it is written (docs/spec/trickle.md).
Prints "listening http://ADDR/BASE" on stdout once it accepts connections.

Shutdown: the first SIGINT or SIGTERM ends every channel (readers get the bytes
written so far, then the end of the stream), lets requests in flight finish and
exits 0, within --shutdown-timeout. A second signal exits at once: 130 after
SIGINT, 143 after SIGTERM.

Exit status: 0 shut down cleanly, 1 failed (or the shutdown overran
--shutdown-timeout), 2 bad command line, 130/143 a second signal.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := logCfg.logger(c.ErrOrStderr())
			if err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			if err := checkShutdownTimeout(shutdown); err != nil {
				return err
			}
			cfg.Logger = log
			fromEnv(c, "publish-token", envPublishToken, &cfg.PublishToken)
			fromEnv(c, "subscribe-token", envSubscribeToken, &cfg.SubscribeToken)
			return serve(c.Context(), c, addr, cfg, shutdown)
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
	f.IntVar(&cfg.MaxChannels, "max-channels", trickle.DefaultMaxChannels, "most channels at once; creating more gets 503 (negative: no limit)")
	f.IntVar(&cfg.MaxSubscribers, "max-subscribers", trickle.DefaultMaxSubscribers,
		"most segment GETs open at once per channel (a subscriber holds two); more get 503 (negative: no limit)")
	f.StringVar(&cfg.PublishToken, "publish-token", "", "bearer token POST and DELETE need (prefer $"+envPublishToken+")")
	f.StringVar(&cfg.SubscribeToken, "subscribe-token", "", "bearer token GET needs; the publish token works too (prefer $"+envSubscribeToken+")")
	addShutdownFlag(c, &shutdown, "end every channel, let requests in flight finish")
	logCfg.register(c)
	return c
}

func serve(ctx context.Context, c *cobra.Command, addr string, cfg trickle.ServerConfig, bound time.Duration) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := trickle.NewServer(cfg)
	// No ReadTimeout or WriteTimeout: segment POSTs and GETs stream for as
	// long as a segment lasts. Idle keep-alive connections are dropped.
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Fprintf(c.OutOrStdout(), "listening http://%s%s\n", ln.Addr(), srv.Config().BasePath)
	select {
	case err := <-errc:
		srv.Close()
		return err
	case <-ctx.Done():
	}
	cfg.Logger.Info("shutting down", "cause", context.Cause(ctx), "shutdown_timeout", bound)
	return shutdownWithin(ctx, bound, cfg.Logger, func(sctx context.Context) error {
		return shutdownTrickle(sctx, srv, hs)
	})
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
