package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gotrickle/gotrickle/pkg/api"
	"github.com/gotrickle/gotrickle/pkg/effect"
	"github.com/gotrickle/gotrickle/pkg/frame"
	"github.com/gotrickle/gotrickle/pkg/media"
	"github.com/gotrickle/gotrickle/pkg/processor"
)

type serveFlags struct {
	addr, handler string
	apiCfg        api.Config
	procCfg       processor.Config
	codecs        media.Codecs
	log           logFlags
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run a stream processor with PyTrickle's HTTP API",
		Long: `Run a stream processor: it waits for POST /stream/start, subscribes to the
trickle channel at subscribe_url, runs the chosen handler on every frame, and
publishes H.264 + audio MPEG-TS segments to publish_url. The HTTP API is PyTrickle's
(/stream/start, /stream/stop, /stream/params, /stream/status, /health, /version,
/app-version, /hardware/info, /hardware/stats, /live-video-to-video) plus /metrics.

Handlers: ` + strings.Join(effect.Names(), ", ") + `.

PyTrickle's README drives its server at /api/stream/...: pass --route-prefix /api
to use those commands unchanged. Prints "listening http://ADDR" once it accepts
connections; SIGINT or SIGTERM stops the stream (finishing its output) and exits.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := f.log.logger(c.ErrOrStderr())
			if err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			h, err := effect.Lookup(f.handler)
			if err != nil {
				return fmt.Errorf("%w: --handler: %w", errUsage, err)
			}
			f.procCfg.Logger, f.apiCfg.Logger = log, log
			f.procCfg.Codecs = f.codecs
			if f.apiCfg.Version == "" {
				f.apiCfg.Version = version
			}
			return runProcessor(c.Context(), c, f.addr, h, f.procCfg, f.apiCfg)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.addr, "addr", "0.0.0.0:8000", "host:port of the HTTP API (PyTrickle's default; port 0 picks a free one)")
	fl.StringVar(&f.handler, "handler", "passthrough", "the frame handler: "+strings.Join(effect.Names(), ", "))
	fl.StringVar(&f.apiCfg.RoutePrefix, "route-prefix", "/", "path before /stream/..., e.g. /api")
	fl.StringVar(&f.apiCfg.Pipeline, "pipeline", "", "pipeline name for /version (default $PIPELINE or byoc)")
	fl.StringVar(&f.apiCfg.ModelID, "model-id", "", "model_id for /version (default $CAPABILITY_NAME or $MODEL_ID)")
	fl.StringVar(&f.apiCfg.AppVersion, "app-version", "0.0.1", "version reported by /app-version")
	fl.IntVar(&f.procCfg.Width, "width", 512, "default frame width handlers see (start params width/height override)")
	fl.IntVar(&f.procCfg.Height, "height", 512, "default frame height handlers see")
	fl.IntVar(&f.procCfg.MaxFramerate, "max-framerate", 24, "default input frame-rate cap (params max_framerate overrides it, live)")
	fl.DurationVar(&f.procCfg.MaxLag, "max-lag", 500*time.Millisecond, "skip a video frame that waited longer than this for the handler")
	fl.DurationVar(&f.procCfg.StopTimeout, "stop-timeout", 5*time.Second, "longest a stop may take to drain decoded frames")
	fl.StringVar(&f.codecs.Encoder.Preset, "preset", "superfast", "libx264 preset")
	fl.StringVar(&f.codecs.Encoder.Tune, "tune", "zerolatency", "libx264 tune (none for none)")
	fl.DurationVar(&f.codecs.Encoder.GOP, "gop", 2*time.Second, "time between IDR frames; output segments are cut at them")
	fl.IntVar(&f.codecs.Encoder.CRF, "crf", 23, "libx264 constant rate factor")
	fl.StringVar(&f.codecs.Encoder.AudioCodec, "audio-codec", "opus", "output audio codec: opus or aac")
	fl.IntVar(&f.codecs.Decoder.Threads, "decoder-threads", 0, "decoder threads (0: one per core)")
	fl.IntVar(&f.codecs.Encoder.Threads, "encoder-threads", 0, "libx264 threads (0: one per core)")
	f.log.register(c)
	return c
}

// runProcessor serves h's processor until ctx ends.
func runProcessor(ctx context.Context, c *cobra.Command, addr string, h any, pc processor.Config, ac api.Config) error {
	if pc.MaxFramerate < 1 || pc.MaxFramerate > 60 {
		return fmt.Errorf("%w: --max-framerate %d: want 1..60", errUsage, pc.MaxFramerate)
	}
	if pc.Width < 1 || pc.Height < 1 || pc.Width > frame.MaxDimension || pc.Height > frame.MaxDimension {
		return fmt.Errorf("%w: --width/--height %dx%d: want 1..%d", errUsage, pc.Width, pc.Height, frame.MaxDimension)
	}
	p, err := processor.New(h, pc)
	if err != nil {
		return err
	}
	srv := api.New(p, ac)
	p.SetObserver(srv.Observer())
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	runDone := make(chan error, 1)
	go func() { runDone <- p.Run(runCtx) }()
	fmt.Fprintf(c.OutOrStdout(), "listening http://%s\n", ln.Addr())
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	pc.Logger.Info("shutting down")
	cancelRun() // stops the stream, finishing its output
	runErr := <-runDone
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if serr := hs.Shutdown(sctx); serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, runErr)
}
